//! MCUboot image toolkit for hilt: parse, verify, sign and forge images.
//!
//! * [`Image::parse`] reads an image field for field and treats its input as
//!   hostile: it never panics and names the field and byte offset at fault.
//! * [`verify`] checks an image against a trusted key in MCUboot's order
//!   (magic, header, TLV info, SHA-256, KEYHASH, signature), with one
//!   [`VerifyError`] variant per step; [`verify_with_policy`] adds the
//!   rollback and UUID checks a device applies.
//! * [`sign`] builds an image laid out as `imgtool sign` does, signed with
//!   Ed25519 (TLV 0x24) or ECDSA P-256 (TLV 0x22).
//! * [`forge`] makes the negative images of firmware-formats.md 4.1 (a)–(k).
//!
//! ```
//! use hilt_image::{forge, sign, verify, ForgeKeys, Forgery, Image, KeyKind, SignOptions,
//!                  SigningKey, Version, VerifyError};
//!
//! // In real use: SigningKey::from_pem(&std::fs::read_to_string("root-ed25519.pem")?)
//! let key = SigningKey::generate(KeyKind::Ed25519);
//! let version = Version::new(1, 2, 3, 0);
//! let opts = SignOptions {
//!     version,
//!     security_counter: Some(version.auto_security_counter()), // imgtool -s auto
//!     ..SignOptions::default() // header 0x200, like imgtool -H 0x200 --pad-header
//! };
//! let image = sign(b"firmware", &opts, Some(&key))?;
//!
//! let parsed = Image::parse(&image)?;
//! assert_eq!(parsed.header.version.to_string(), "1.2.3+0");
//! assert_eq!(parsed.security_counter(), Some(0x0102_0003));
//! verify(&image, &key.trusted_key())?;
//!
//! let forged = forge(&image, &Forgery::TamperedPayload, &ForgeKeys::default())?;
//! assert!(matches!(
//!     verify(&forged, &key.trusted_key()),
//!     Err(VerifyError::HashMismatch { .. })
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Only little-endian images with SHA-256 hashes are supported, which is what
//! imgtool writes for Ed25519 and ECDSA P-256 keys. This crate depends on no
//! other hilt crate; the simulated board has its own, separate parser.

mod errors;
mod forge;
mod image;
mod keys;
mod sign;
pub mod tlv;
mod verify;

pub use errors::{
    ForgeError, KeyError, ParseError, SignError, TlvAreaKind, VerifyError, VersionError,
};
pub use forge::{forge, ForgeKeys, Forgery, WRONG_CLASS_UUID};
pub use image::{
    Header, Image, SignatureKind, SlotTrailer, Tlv, TlvArea, Version, IMAGE_HEADER_SIZE,
    IMAGE_MAGIC, IMAGE_MAGIC_V1, TLV_INFO_MAGIC, TLV_PROT_INFO_MAGIC,
};
pub use keys::{KeyKind, SigningKey, TrustedKey};
pub use sign::{sign, SignOptions, SlotPadding, DEFAULT_HEADER_SIZE};
pub use verify::{verify, verify_with_policy, VerifyPolicy, VerifyReport};
