//! Every error type of the crate, in one place.
//!
//! Messages name the field and the byte offset that is wrong, because the
//! input is usually a hostile or broken file and the reader needs to find the
//! bad bytes with a hex dump.

use std::fmt;

use crate::image::{IMAGE_MAGIC, IMAGE_MAGIC_V1};
use crate::keys::KeyKind;

/// Which of the two TLV areas a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlvAreaKind {
    /// The protected area (info magic 0x6908), covered by the image hash.
    Protected,
    /// The unprotected area (info magic 0x6907), holding hash, key hash and signature.
    Unprotected,
}

impl fmt::Display for TlvAreaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlvAreaKind::Protected => "protected",
            TlvAreaKind::Unprotected => "unprotected",
        })
    }
}

/// Why a byte string is not a well-formed MCUboot image.
///
/// Offsets are byte offsets from the start of the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than the fixed 32-byte header.
    #[error("file is {len} bytes, shorter than the 32-byte MCUboot image header")]
    TooShort {
        /// Length of the input.
        len: usize,
    },
    /// `ih_magic` is not `IMAGE_MAGIC`.
    #[error("ih_magic 0x{found:08x} at offset 0x00 is not the MCUboot image magic 0x{IMAGE_MAGIC:08x}{}", magic_hint(*found))]
    BadMagic {
        /// The value found (read little-endian).
        found: u32,
    },
    /// `ih_hdr_size` is smaller than the header itself.
    #[error("ih_hdr_size 0x{hdr_size:x} at offset 0x08 is smaller than the 32-byte image header")]
    HeaderTooSmall {
        /// The value found.
        hdr_size: u16,
    },
    /// `ih_hdr_size` points past the end of the input.
    #[error(
        "ih_hdr_size 0x{hdr_size:x} at offset 0x08 runs past the end of the file (len 0x{len:x})"
    )]
    HeaderPastEnd {
        /// The value found.
        hdr_size: u16,
        /// Length of the input.
        len: usize,
    },
    /// `ih_hdr_size + ih_img_size` points past the end of the input.
    #[error("ih_img_size 0x{img_size:x} at offset 0x0c runs past the end of the file (payload would end at 0x{end:x}, len 0x{len:x})")]
    ImageSizePastEnd {
        /// The value found.
        img_size: u32,
        /// Where the payload would end (`ih_hdr_size + ih_img_size`).
        end: u64,
        /// Length of the input.
        len: usize,
    },
    /// The 4-byte TLV info header does not fit in the input.
    #[error("{area} TLV info header expected at offset 0x{offset:x} runs past the end of the file (len 0x{len:x})")]
    TlvInfoPastEnd {
        /// Which area's info header was expected.
        area: TlvAreaKind,
        /// Where it was expected.
        offset: usize,
        /// Length of the input.
        len: usize,
    },
    /// Right after the payload is neither TLV info magic.
    #[error("TLV info magic 0x{found:04x} at offset 0x{offset:x} (ih_hdr_size + ih_img_size) is neither 0x6908 (protected) nor 0x6907 (unprotected)")]
    TlvInfoMagic {
        /// Where the magic was read.
        offset: usize,
        /// The value found.
        found: u16,
    },
    /// After the protected area, the unprotected info magic is missing.
    #[error("TLV info magic 0x{found:04x} at offset 0x{offset:x} (end of the protected TLV area) is not 0x6907")]
    UnprotectedTlvInfoMagic {
        /// Where the magic was read.
        offset: usize,
        /// The value found.
        found: u16,
    },
    /// `ih_protect_tlv_size` disagrees with the protected area's `it_tlv_tot`.
    #[error("ih_protect_tlv_size 0x{header:x} at offset 0x0a does not match it_tlv_tot 0x{area:x} of the protected TLV area at offset 0x{offset:x}")]
    ProtectSizeMismatch {
        /// `ih_protect_tlv_size` from the header.
        header: u16,
        /// `it_tlv_tot` from the protected info header.
        area: u16,
        /// Offset of the protected info header.
        offset: usize,
    },
    /// `ih_protect_tlv_size` is non-zero but there is no protected area.
    #[error("ih_protect_tlv_size 0x{header:x} at offset 0x0a announces a protected TLV area, but offset 0x{offset:x} holds the unprotected TLV info magic 0x6907")]
    ProtectSizeWithoutArea {
        /// `ih_protect_tlv_size` from the header.
        header: u16,
        /// Offset of the (unprotected) info header found instead.
        offset: usize,
    },
    /// `it_tlv_tot` is smaller than the info header it includes.
    #[error("{area} TLV area it_tlv_tot 0x{tlv_tot:x} at offset 0x{field_offset:x} is smaller than its own 4-byte info header")]
    TlvTotTooSmall {
        /// Which area.
        area: TlvAreaKind,
        /// The value found.
        tlv_tot: u16,
        /// Offset of the `it_tlv_tot` field.
        field_offset: usize,
    },
    /// The area announced by `it_tlv_tot` runs past the end of the input.
    #[error("{area} TLV area at offset 0x{offset:x} with it_tlv_tot 0x{tlv_tot:x} runs past the end of the file (len 0x{len:x})")]
    TlvAreaPastEnd {
        /// Which area.
        area: TlvAreaKind,
        /// Offset of the area's info header.
        offset: usize,
        /// The area's `it_tlv_tot`.
        tlv_tot: u16,
        /// Length of the input.
        len: usize,
    },
    /// Fewer than 4 bytes are left in the area for a TLV header.
    #[error("{area} TLV area has {left} stray byte(s) at offset 0x{offset:x}, too few for a 4-byte TLV header (area ends at 0x{area_end:x})")]
    TlvHeaderPastAreaEnd {
        /// Which area.
        area: TlvAreaKind,
        /// Offset of the stray bytes.
        offset: usize,
        /// How many bytes are left.
        left: usize,
        /// End of the area.
        area_end: usize,
    },
    /// A TLV's `it_len` runs past the end of its area.
    #[error("{area} TLV at offset 0x{offset:x} (it_type 0x{kind:02x}, it_len 0x{len:x}) runs past the end of its area at 0x{area_end:x}")]
    TlvPastAreaEnd {
        /// Which area.
        area: TlvAreaKind,
        /// Offset of the TLV header.
        offset: usize,
        /// Its `it_type`.
        kind: u16,
        /// Its `it_len`.
        len: u16,
        /// End of the area.
        area_end: usize,
    },
}

fn magic_hint(found: u32) -> &'static str {
    if found == IMAGE_MAGIC_V1 {
        " (0x96f3b83c is the obsolete v1 magic)"
    } else if found == IMAGE_MAGIC.swap_bytes() {
        " (it is the magic byte-swapped: a big-endian image, which hilt does not support)"
    } else if found == 0xffff_ffff {
        " (erased flash: there is no image here)"
    } else {
        ""
    }
}

/// Why a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not PEM, or has a label hilt does not read.
    #[error("not a usable PEM key: {0}")]
    Pem(String),
    /// The PEM holds an encrypted private key.
    #[error("encrypted private keys are not supported; decrypt it first (e.g. `openssl pkcs8 -in KEY -out PLAIN`)")]
    Encrypted,
    /// The key is well-formed but of an algorithm hilt does not sign or verify with.
    #[error("not an Ed25519 or ECDSA P-256 key (hilt signs and verifies only those; RSA and P-384 are not supported): {0}")]
    Unsupported(String),
    /// Encoding a key failed.
    #[error("could not encode the key: {0}")]
    Encode(String),
}

/// Why an image could not be signed or assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The header size is smaller than the 32-byte header.
    #[error("header size 0x{0:x} is smaller than the 32-byte image header")]
    HeaderSize(u16),
    /// The payload does not fit `ih_img_size` (u32).
    #[error("payload of {0} bytes does not fit the 32-bit ih_img_size")]
    PayloadTooLarge(usize),
    /// A TLV's data does not fit `it_len`, or an area does not fit `it_tlv_tot` (u16).
    #[error("{area} TLV area would be {size} bytes, more than the 16-bit it_tlv_tot allows")]
    TlvAreaTooLarge {
        /// Which area.
        area: TlvAreaKind,
        /// The size it would have.
        size: usize,
    },
    /// Alignment is not one of 1, 2, 4, 8, 16, 32.
    #[error("alignment {0} is not one of 1, 2, 4, 8, 16, 32")]
    Align(u32),
    /// Image plus trailer do not fit the slot.
    #[error("image size 0x{image:x} + trailer 0x{trailer:x} exceeds the slot size 0x{slot:x}")]
    SlotTooSmall {
        /// Image length.
        image: usize,
        /// Trailer length.
        trailer: usize,
        /// Slot size.
        slot: usize,
    },
    /// Signing failed inside the crypto library.
    #[error("signing failed: {0}")]
    Crypto(String),
}

/// Why [`crate::verify`] rejected an image, one variant per step in MCUboot's order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Step 1: `ih_magic` is wrong (or the file is shorter than a header).
    #[error("image magic: {0}")]
    Magic(ParseError),
    /// Step 2: header sizes do not fit the file.
    #[error("image header: {0}")]
    Header(ParseError),
    /// Step 2: the header marks the image encrypted. hilt verifies plaintext only;
    /// a bootloader without encryption support refuses such a header, and one with it
    /// would decrypt the payload before hashing.
    #[error("ih_flags 0x{flags:x} at offset 0x10 mark the image encrypted; hilt verifies plaintext images only{}", match key_tlv { Some(t) => format!(" (encryption key TLV 0x{t:02x} present)"), None => " (and no ENC_* key TLV is present, so no bootloader could decrypt it)".to_string() })]
    Encrypted {
        /// The header flags.
        flags: u32,
        /// The type of the first ENC_* TLV, if any.
        key_tlv: Option<u16>,
    },
    /// Step 3: the TLV info headers are missing or inconsistent with the header.
    #[error("TLV info: {0}")]
    TlvInfo(ParseError),
    /// Step 4: no SHA256 TLV.
    #[error("no SHA256 TLV (0x10) in the image (hilt checks SHA-256 hashed images only)")]
    HashMissing,
    /// Step 4: the SHA256 TLV does not match the hash of header + payload + protected TLVs.
    #[error("SHA256 TLV at offset 0x{offset:x} holds {}, but header + payload + protected TLVs hash to {}", hex(found), hex(computed))]
    HashMismatch {
        /// Offset of the SHA256 TLV header.
        offset: usize,
        /// What the TLV holds.
        found: Vec<u8>,
        /// What the image hashes to.
        computed: [u8; 32],
    },
    /// Step 5: no KEYHASH (nor PUBKEY) TLV.
    #[error("no KEYHASH TLV (0x01) in the image")]
    KeyHashMissing,
    /// Step 5: no KEYHASH TLV names the trusted key.
    #[error(
        "KEYHASH TLV at offset 0x{offset:x} is {}, but the trusted key hashes to {}",
        hex(found),
        hex(trusted)
    )]
    KeyHashMismatch {
        /// Offset of the (first) KEYHASH TLV header.
        offset: usize,
        /// What the TLV holds.
        found: Vec<u8>,
        /// SHA-256 of the trusted key's SubjectPublicKeyInfo DER.
        trusted: [u8; 32],
    },
    /// Step 6: no signature TLV of the trusted key's type follows the matching KEYHASH.
    #[error("no {kind} signature TLV (0x{:02x}) follows the KEYHASH of the trusted key", kind.sig_tlv())]
    SignatureMissing {
        /// The trusted key's kind.
        kind: KeyKind,
    },
    /// Step 6: the signature does not verify with the trusted key.
    #[error("{kind} signature TLV at offset 0x{offset:x} does not verify with the trusted key")]
    SignatureInvalid {
        /// The trusted key's kind.
        kind: KeyKind,
        /// Offset of the signature TLV header.
        offset: usize,
    },
    /// Policy: the protected SEC_CNT is missing or below the minimum.
    #[error("security counter {} is below the minimum {minimum}", match image { Some(c) => c.to_string(), None => "(no protected SEC_CNT TLV)".to_string() })]
    SecurityCounter {
        /// The image's protected SEC_CNT, if any.
        image: Option<u32>,
        /// The policy's minimum.
        minimum: u32,
    },
    /// Policy: a protected UUID_VID / UUID_CID is missing or different.
    #[error("{} TLV is {}, expected {}", crate::tlv::name(*tlv).unwrap_or("UUID"), match found { Some(u) => hex(u), None => "absent from the protected area".to_string() }, hex(expected))]
    UuidMismatch {
        /// `tlv::UUID_VID` or `tlv::UUID_CID`.
        tlv: u16,
        /// What the image holds.
        found: Option<[u8; 16]>,
        /// What the policy expects.
        expected: [u8; 16],
    },
}

/// Why a forgery could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    /// The original image does not parse.
    #[error("original image: {0}")]
    Parse(ParseError),
    /// The recipe re-signs and needs the genuine signing key.
    #[error("recipe {recipe} re-signs the image and needs the genuine signing key")]
    NeedsGenuineKey {
        /// The recipe's name.
        recipe: &'static str,
    },
    /// The recipe does not apply to this image or these parameters.
    #[error("recipe {recipe} does not apply: {reason}")]
    NotApplicable {
        /// The recipe's name.
        recipe: &'static str,
        /// Why.
        reason: String,
    },
    /// Re-signing failed.
    #[error("re-signing: {0}")]
    Sign(SignError),
}

/// Why a version string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {0:?}: expected major[.minor[.revision[+build]]] with major, minor < 256 and revision < 65536")]
pub struct VersionError(pub String);

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
