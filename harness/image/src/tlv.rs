//! TLV type numbers (`it_type`) and header flag bits (`ih_flags`), as MCUboot's
//! `image.h` defines them.
//!
//! MCUboot's design document lists UUID_VID / UUID_CID as 0x80 / 0x81, but
//! `image.h` and imgtool use 0x74 / 0x75; these follow the code.

/// SHA-256 of the signing key's public key (SubjectPublicKeyInfo DER for Ed25519 and ECDSA).
pub const KEYHASH: u16 = 0x01;
/// The full public key (used with `MCUBOOT_HW_KEY`).
pub const PUBKEY: u16 = 0x02;
/// SHA-256 of header + payload + protected TLV area.
pub const SHA256: u16 = 0x10;
/// SHA-384 image hash.
pub const SHA384: u16 = 0x11;
/// SHA-512 image hash.
pub const SHA512: u16 = 0x12;
/// RSA-2048 PSS signature (256 bytes).
pub const RSA2048_PSS: u16 = 0x20;
/// ECDSA-224 signature (no longer supported by MCUboot).
pub const ECDSA224: u16 = 0x21;
/// ECDSA P-256 or P-384 signature, DER-encoded.
pub const ECDSA_SIG: u16 = 0x22;
/// RSA-3072 PSS signature (384 bytes).
pub const RSA3072_PSS: u16 = 0x23;
/// Ed25519 signature (64 bytes) over the SHA-256 image hash.
pub const ED25519: u16 = 0x24;
/// Marks a "pure" signature over the image itself instead of its hash.
pub const SIG_PURE: u16 = 0x25;
/// Encrypted image key, RSA-2048 OAEP.
pub const ENC_RSA2048: u16 = 0x30;
/// Encrypted image key, AES key wrap.
pub const ENC_KW: u16 = 0x31;
/// Encrypted image key, ECIES P-256.
pub const ENC_EC256: u16 = 0x32;
/// Encrypted image key, ECIES X25519.
pub const ENC_X25519: u16 = 0x33;
/// Encrypted image key, ECIES X25519 with HMAC-SHA512.
pub const ENC_X25519_SHA512: u16 = 0x34;
/// Dependency on another image's version (protected).
pub const DEPENDENCY: u16 = 0x40;
/// Security counter, u32 (protected).
pub const SEC_CNT: u16 = 0x50;
/// Measured-boot record, CBOR (protected).
pub const BOOT_RECORD: u16 = 0x60;
/// Decompressed size (compressed images).
pub const DECOMP_SIZE: u16 = 0x70;
/// Hash of the decompressed image.
pub const DECOMP_SHA: u16 = 0x71;
/// Signature of the decompressed image.
pub const DECOMP_SIGNATURE: u16 = 0x72;
/// Compressed-then-decrypted size.
pub const COMP_DEC_SIZE: u16 = 0x73;
/// Vendor UUID, 16 bytes (protected).
pub const UUID_VID: u16 = 0x74;
/// Image class UUID, 16 bytes (protected).
pub const UUID_CID: u16 = 0x75;

/// `ih_flags`: position-independent code (unsupported by MCUboot).
pub const F_PIC: u32 = 0x1;
/// `ih_flags`: payload encrypted with AES-128-CTR.
pub const F_ENCRYPTED_AES128: u32 = 0x4;
/// `ih_flags`: payload encrypted with AES-256-CTR.
pub const F_ENCRYPTED_AES256: u32 = 0x8;
/// `ih_flags`: not bootable (e.g. a data image).
pub const F_NON_BOOTABLE: u32 = 0x10;
/// `ih_flags`: load into RAM at `ih_load_addr` before running.
pub const F_RAM_LOAD: u32 = 0x20;
/// `ih_flags`: built for the flash address in `ih_load_addr`.
pub const F_ROM_FIXED: u32 = 0x100;
/// `ih_flags`: LZMA1-compressed payload.
pub const F_COMPRESSED_LZMA1: u32 = 0x200;
/// `ih_flags`: LZMA2-compressed payload.
pub const F_COMPRESSED_LZMA2: u32 = 0x400;
/// `ih_flags`: compressed with the ARM Thumb filter.
pub const F_COMPRESSED_ARM_THUMB_FLT: u32 = 0x800;

/// Both encryption flags.
pub const F_ENCRYPTED: u32 = F_ENCRYPTED_AES128 | F_ENCRYPTED_AES256;

/// The name MCUboot / imgtool use for a TLV type, if it is a known one.
pub fn name(kind: u16) -> Option<&'static str> {
    Some(match kind {
        KEYHASH => "KEYHASH",
        PUBKEY => "PUBKEY",
        SHA256 => "SHA256",
        SHA384 => "SHA384",
        SHA512 => "SHA512",
        RSA2048_PSS => "RSA2048_PSS",
        ECDSA224 => "ECDSA224",
        ECDSA_SIG => "ECDSA_SIG",
        RSA3072_PSS => "RSA3072_PSS",
        ED25519 => "ED25519",
        SIG_PURE => "SIG_PURE",
        ENC_RSA2048 => "ENC_RSA2048",
        ENC_KW => "ENC_KW",
        ENC_EC256 => "ENC_EC256",
        ENC_X25519 => "ENC_X25519",
        ENC_X25519_SHA512 => "ENC_X25519_SHA512",
        DEPENDENCY => "DEPENDENCY",
        SEC_CNT => "SEC_CNT",
        BOOT_RECORD => "BOOT_RECORD",
        DECOMP_SIZE => "DECOMP_SIZE",
        DECOMP_SHA => "DECOMP_SHA",
        DECOMP_SIGNATURE => "DECOMP_SIGNATURE",
        COMP_DEC_SIZE => "COMP_DEC_SIZE",
        UUID_VID => "UUID_VID",
        UUID_CID => "UUID_CID",
        _ => return None,
    })
}

/// Whether a TLV type carries a signature (RSA, ECDSA, Ed25519).
pub fn is_signature(kind: u16) -> bool {
    matches!(
        kind,
        RSA2048_PSS | ECDSA224 | ECDSA_SIG | RSA3072_PSS | ED25519
    )
}

/// Whether a TLV type carries an encrypted image key.
pub fn is_encryption_key(kind: u16) -> bool {
    matches!(
        kind,
        ENC_RSA2048 | ENC_KW | ENC_EC256 | ENC_X25519 | ENC_X25519_SHA512
    )
}
