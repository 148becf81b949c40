//! Negative images: the forging recipes (a)–(k) of firmware-formats.md 4.1.
//!
//! Each recipe starts from a genuine image and breaks exactly one thing, so a
//! device that accepts the result has a specific, nameable hole. The output
//! is the image proper: bytes after the TLV area of the original (slot
//! padding and trailer from `imgtool --pad`) are dropped; pad the result again
//! if a whole slot image is needed.
//!
//! Recipes that re-sign ([`Forgery::needs_genuine_key`]) make images that are
//! cryptographically valid; only a device's policy (rollback protection,
//! UUID checks, header checks) can reject them, and `imgtool verify` accepts
//! them.

use crate::errors::ForgeError;
use crate::image::{Image, Version};
use crate::keys::{KeyKind, SigningKey};
use crate::sign::{assemble, Parts};
use crate::tlv;

/// One forging recipe. The letter in brackets is the recipe in firmware-formats.md 4.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgery {
    /// (a) Zero the SHA256 TLV's bytes. Rejected at the hash step.
    ZeroedHash,
    /// (b) Flip the lowest bit of the payload's middle byte, keeping hash and
    /// signature. Rejected at the hash step.
    TamperedPayload,
    /// (c) Flip the lowest bit of the signature's last byte (for ECDSA that
    /// keeps the DER valid and changes `s`). Rejected at the signature step.
    BadSignature,
    /// (d) Re-sign with a fresh key of the same algorithm, with that key's
    /// KEYHASH. Rejected at the key-hash step (no trusted key named).
    WrongKey,
    /// (d, variant) Re-sign with a fresh key but keep the original KEYHASH, so
    /// the image names the trusted key. Rejected at the signature step.
    WrongKeyKeepKeyHash,
    /// (e) Drop the signature TLVs and fix `it_tlv_tot`; hash and KEYHASH stay.
    /// Rejected at the signature step (missing).
    Unsigned,
    /// (f) Truncate the file in the middle of the payload (header unchanged).
    Truncated,
    /// (f, variant) Add 4096 to `ih_img_size` without re-signing, so the
    /// header points past the end of the image.
    LyingImgSize,
    /// (g) Lower version and optionally SEC_CNT, correctly re-signed with the
    /// genuine key. `version` must be lower than the original's and
    /// `security_counter`, if given, lower than the original's SEC_CNT.
    /// `None` keeps the original SEC_CNT ("older version, same counter",
    /// which hardware rollback protection legitimately accepts).
    Rollback {
        /// The lower version to write.
        version: Version,
        /// The lower SEC_CNT to write, or `None` to keep the original's.
        security_counter: Option<u32>,
    },
    /// (h) Raise the protected SEC_CNT by one (lower it, at `u32::MAX`)
    /// without re-signing: the edit that makes an image look newer than it
    /// is, so a bootloader that trusts unverified metadata takes it past
    /// anti-rollback. Rejected at the hash step.
    EditedSecurityCounter,
    /// (i) Set ENCRYPTED_AES128 in `ih_flags` on the plaintext image and
    /// re-sign with the genuine key, so only the flag is wrong: a bootloader
    /// without encryption support must refuse the header, one with it finds no
    /// key TLV (or decrypts plaintext into garbage).
    EncryptedFlag,
    /// (j) Add 4 to `ih_protect_tlv_size` (subtract, if that overflows)
    /// without re-signing. Rejected at the TLV info step.
    InconsistentProtectTlvSize,
    /// (k) Replace (or add) the protected UUID_CID, re-signed with the genuine
    /// key. `cid: None` uses the bitwise complement of the original CID, or
    /// [`WRONG_CLASS_UUID`] if the original has none.
    WrongClassUuid {
        /// The wrong class UUID to write.
        cid: Option<[u8; 16]>,
    },
}

/// The class UUID [`Forgery::WrongClassUuid`] writes into images that had
/// none: 16 recognisable ASCII bytes, `hilt-wrong-class`.
pub const WRONG_CLASS_UUID: [u8; 16] = *b"hilt-wrong-class";

/// Keys a forgery may use.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForgeKeys<'a> {
    /// The genuine signing key (a vendor test key), for the re-signing recipes.
    pub genuine: Option<&'a SigningKey>,
    /// The attacker's key for [`Forgery::WrongKey`]; generated if `None`.
    pub fresh: Option<&'a SigningKey>,
}

impl Forgery {
    /// Short kebab-case name (for the CLI and evidence file names).
    pub fn name(&self) -> &'static str {
        match self {
            Forgery::ZeroedHash => "zeroed-hash",
            Forgery::TamperedPayload => "tampered-payload",
            Forgery::BadSignature => "bad-signature",
            Forgery::WrongKey => "wrong-key",
            Forgery::WrongKeyKeepKeyHash => "wrong-key-keep-keyhash",
            Forgery::Unsigned => "unsigned",
            Forgery::Truncated => "truncated",
            Forgery::LyingImgSize => "lying-img-size",
            Forgery::Rollback { .. } => "rollback",
            Forgery::EditedSecurityCounter => "edited-security-counter",
            Forgery::EncryptedFlag => "encrypted-flag",
            Forgery::InconsistentProtectTlvSize => "inconsistent-protect-tlv-size",
            Forgery::WrongClassUuid { .. } => "wrong-class-uuid",
        }
    }

    /// The recipe letter in firmware-formats.md 4.1.
    pub fn recipe(&self) -> char {
        match self {
            Forgery::ZeroedHash => 'a',
            Forgery::TamperedPayload => 'b',
            Forgery::BadSignature => 'c',
            Forgery::WrongKey | Forgery::WrongKeyKeepKeyHash => 'd',
            Forgery::Unsigned => 'e',
            Forgery::Truncated | Forgery::LyingImgSize => 'f',
            Forgery::Rollback { .. } => 'g',
            Forgery::EditedSecurityCounter => 'h',
            Forgery::EncryptedFlag => 'i',
            Forgery::InconsistentProtectTlvSize => 'j',
            Forgery::WrongClassUuid { .. } => 'k',
        }
    }

    /// Whether the recipe re-signs with the genuine key ([`ForgeKeys::genuine`]).
    pub fn needs_genuine_key(&self) -> bool {
        matches!(
            self,
            Forgery::Rollback { .. } | Forgery::EncryptedFlag | Forgery::WrongClassUuid { .. }
        )
    }
}

/// Applies `recipe` to the genuine image `original`.
pub fn forge(
    original: &[u8],
    recipe: &Forgery,
    keys: &ForgeKeys<'_>,
) -> Result<Vec<u8>, ForgeError> {
    let img = Image::parse(original).map_err(ForgeError::Parse)?;
    let name = recipe.name();
    let not_applicable = |reason: &str| ForgeError::NotApplicable {
        recipe: name,
        reason: reason.to_string(),
    };
    let genuine = || {
        keys.genuine
            .ok_or(ForgeError::NeedsGenuineKey { recipe: name })
    };
    let mut out = original.get(..img.end()).unwrap_or_default().to_vec();
    match recipe {
        Forgery::ZeroedHash => {
            let t = img
                .tlvs()
                .find(|t| t.kind == tlv::SHA256)
                .ok_or_else(|| not_applicable("the image has no SHA256 TLV"))?;
            fill(&mut out, t.data_range(), 0);
        }
        Forgery::TamperedPayload => {
            if img.payload.is_empty() {
                return Err(not_applicable("the payload is empty"));
            }
            let mid = img.payload.start + img.payload.len() / 2;
            flip(&mut out, mid, 0x01);
        }
        Forgery::BadSignature => {
            let t = img
                .signature()
                .filter(|t| !t.data.is_empty())
                .ok_or_else(|| not_applicable("the image has no signature TLV"))?;
            flip(&mut out, t.data_range().end - 1, 0x01);
        }
        Forgery::WrongKey | Forgery::WrongKeyKeepKeyHash => {
            let keyhash = match recipe {
                Forgery::WrongKeyKeepKeyHash => Some(
                    img.key_hash()
                        .ok_or_else(|| not_applicable("the image has no KEYHASH TLV to keep"))?
                        .to_vec(),
                ),
                _ => None,
            };
            let generated;
            let fresh = match keys.fresh {
                Some(k) => k,
                None => {
                    let kind = match img.signature().map(|t| t.kind) {
                        Some(tlv::ECDSA_SIG) => KeyKind::EcdsaP256,
                        Some(tlv::ED25519) => KeyKind::Ed25519,
                        _ => keys.genuine.map_or(KeyKind::Ed25519, SigningKey::kind),
                    };
                    generated = SigningKey::generate(kind);
                    &generated
                }
            };
            out = resign(&img, original, fresh, keyhash.as_deref(), |_| {})?;
        }
        Forgery::Unsigned => {
            let kept: Vec<&crate::image::Tlv> = img
                .unprotected
                .tlvs
                .iter()
                .filter(|t| !tlv::is_signature(t.kind))
                .collect();
            if kept.len() == img.unprotected.tlvs.len() {
                return Err(not_applicable("the image has no signature TLV"));
            }
            let entries: Vec<(u16, Vec<u8>)> =
                kept.iter().map(|t| (t.kind, t.data.clone())).collect();
            let area = crate::sign::tlv_area(
                crate::image::TLV_INFO_MAGIC,
                &entries,
                crate::errors::TlvAreaKind::Unprotected,
            )
            .map_err(ForgeError::Sign)?;
            out.truncate(img.unprotected.offset);
            out.extend_from_slice(&area);
        }
        Forgery::Truncated => {
            out.truncate(img.payload.start + img.payload.len() / 2);
        }
        Forgery::LyingImgSize => {
            let lie = img
                .header
                .img_size
                .checked_add(4096)
                .ok_or_else(|| not_applicable("ih_img_size + 4096 overflows"))?;
            put(&mut out, 0x0c, &lie.to_le_bytes());
        }
        Forgery::Rollback {
            version,
            security_counter,
        } => {
            let key = genuine()?;
            if *version >= img.header.version {
                return Err(not_applicable(&format!(
                    "version {version} is not lower than the original {}",
                    img.header.version
                )));
            }
            if let (Some(new), Some(old)) = (security_counter, img.security_counter()) {
                if *new >= old {
                    return Err(not_applicable(&format!(
                        "security counter {new} is not lower than the original {old}"
                    )));
                }
            }
            let version = *version;
            let counter = *security_counter;
            out = resign(&img, original, key, None, |p| {
                p.version = version;
                if let Some(c) = counter {
                    set_protected(p, tlv::SEC_CNT, c.to_le_bytes().to_vec(), &[]);
                }
            })?;
        }
        Forgery::EditedSecurityCounter => {
            let t = img
                .protected_tlv(tlv::SEC_CNT)
                .ok_or_else(|| not_applicable("the image has no protected SEC_CNT TLV"))?;
            let old = img
                .security_counter()
                .ok_or_else(|| not_applicable("the SEC_CNT TLV is not 4 bytes"))?;
            let new = old.checked_add(1).unwrap_or(old - 1);
            put(&mut out, t.data_range().start, &new.to_le_bytes());
        }
        Forgery::EncryptedFlag => {
            let key = genuine()?;
            if img.header.flags & tlv::F_ENCRYPTED != 0 {
                return Err(not_applicable("the image is already marked encrypted"));
            }
            out = resign(&img, original, key, None, |p| {
                p.flags |= tlv::F_ENCRYPTED_AES128;
            })?;
        }
        Forgery::InconsistentProtectTlvSize => {
            let old = img.header.protect_tlv_size;
            let new = old.checked_add(4).unwrap_or(old.wrapping_sub(4));
            put(&mut out, 0x0a, &new.to_le_bytes());
        }
        Forgery::WrongClassUuid { cid } => {
            let key = genuine()?;
            let original_cid = img.uuid_cid();
            let wrong = match (cid, original_cid) {
                (Some(c), _) => *c,
                (None, Some(o)) => o.map(|b| !b),
                (None, None) => WRONG_CLASS_UUID,
            };
            if Some(wrong) == original_cid {
                return Err(not_applicable("the given UUID_CID equals the original"));
            }
            out = resign(&img, original, key, None, |p| {
                // imgtool's order: SEC_CNT, BOOT_RECORD, DEPENDENCY,
                // compression TLVs, UUID_VID, UUID_CID, custom TLVs.
                set_protected(
                    p,
                    tlv::UUID_CID,
                    wrong.to_vec(),
                    &[
                        tlv::SEC_CNT,
                        tlv::BOOT_RECORD,
                        tlv::DEPENDENCY,
                        tlv::DECOMP_SIZE,
                        tlv::DECOMP_SHA,
                        tlv::DECOMP_SIGNATURE,
                        tlv::COMP_DEC_SIZE,
                        tlv::UUID_VID,
                    ],
                );
            })?;
        }
    }
    Ok(out)
}

/// Rebuilds `img` from its parts after `edit`, signed by `key`. Header
/// fields, header padding, payload, protected TLVs and unprotected TLVs other
/// than hash, key and signature are kept.
fn resign(
    img: &Image,
    bytes: &[u8],
    key: &SigningKey,
    keyhash: Option<&[u8]>,
    edit: impl FnOnce(&mut Parts),
) -> Result<Vec<u8>, ForgeError> {
    let h = &img.header;
    let mut parts = Parts {
        load_addr: h.load_addr,
        header_size: h.hdr_size,
        flags: h.flags,
        version: h.version,
        pad1: h.pad1,
        header_fill: bytes
            .get(crate::image::IMAGE_HEADER_SIZE..img.payload.start)
            .unwrap_or_default()
            .to_vec(),
        payload: bytes.get(img.payload.clone()).unwrap_or_default().to_vec(),
        protected: img
            .protected
            .iter()
            .flat_map(|a| a.tlvs.iter())
            .map(|t| (t.kind, t.data.clone()))
            .collect(),
        unprotected_extra: img
            .unprotected
            .tlvs
            .iter()
            .filter(|t| {
                !matches!(t.kind, tlv::SHA256 | tlv::KEYHASH | tlv::PUBKEY)
                    && !tlv::is_signature(t.kind)
            })
            .map(|t| (t.kind, t.data.clone()))
            .collect(),
    };
    edit(&mut parts);
    assemble(&parts, Some(key), keyhash).map_err(ForgeError::Sign)
}

/// Replaces the first protected TLV of `kind`, or inserts it after the last
/// TLV whose type is in `after` (at the start if none is).
fn set_protected(parts: &mut Parts, kind: u16, data: Vec<u8>, after: &[u16]) {
    if let Some(entry) = parts.protected.iter_mut().find(|(k, _)| *k == kind) {
        entry.1 = data;
        return;
    }
    let at = parts
        .protected
        .iter()
        .rposition(|(k, _)| after.contains(k))
        .map_or(0, |i| i + 1);
    parts.protected.insert(at, (kind, data));
}

fn flip(out: &mut [u8], at: usize, mask: u8) {
    if let Some(b) = out.get_mut(at) {
        *b ^= mask;
    }
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

fn fill(out: &mut [u8], range: std::ops::Range<usize>, value: u8) {
    if let Some(dst) = out.get_mut(range) {
        dst.fill(value);
    }
}
