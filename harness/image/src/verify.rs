//! Image verification in MCUboot's order.
//!
//! 1. magic; 2. header sizes and flags; 3. TLV info headers;
//! 4. SHA256 TLV present and equal to SHA-256(header + payload + protected TLVs);
//! 5. a KEYHASH TLV equal to SHA-256 of the trusted key's SubjectPublicKeyInfo;
//! 6. the signature TLV following that KEYHASH verifies with the trusted key.
//!
//! Then, only if asked through [`VerifyPolicy`], what a device's rollback
//! protection and UUID checks would compare (the protected SEC_CNT,
//! UUID_VID, UUID_CID). Each step has its own [`VerifyError`] variant.

use sha2::{Digest as _, Sha256};

use crate::errors::{ParseError, VerifyError};
use crate::image::{Header, Image, Version};
use crate::keys::{KeyKind, TrustedKey};
use crate::tlv;

/// Extra checks a device may apply after the signature (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Reject images whose protected SEC_CNT is missing or lower than this
    /// (MCUboot's hardware rollback protection accepts an equal counter).
    pub min_security_counter: Option<u32>,
    /// Reject images whose protected UUID_VID is missing or different.
    pub uuid_vid: Option<[u8; 16]>,
    /// Reject images whose protected UUID_CID is missing or different.
    pub uuid_cid: Option<[u8; 16]>,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The header version.
    pub version: Version,
    /// The header flags.
    pub flags: u32,
    /// Payload length (`ih_img_size`).
    pub img_size: u32,
    /// The protected SEC_CNT, if any.
    pub security_counter: Option<u32>,
    /// The verified SHA-256 image hash.
    pub image_hash: [u8; 32],
    /// The matching key hash (the trusted key's).
    pub key_hash: [u8; 32],
    /// The signature algorithm that verified.
    pub signature: KeyKind,
    /// Offset of the signature TLV that verified.
    pub signature_offset: usize,
    /// The protected UUID_VID, if any.
    pub uuid_vid: Option<[u8; 16]>,
    /// The protected UUID_CID, if any.
    pub uuid_cid: Option<[u8; 16]>,
    /// Offset just past the image (bytes after it are slot padding / trailer).
    pub image_end: usize,
}

/// Verifies `image` against `key` in MCUboot's order; see the module docs.
pub fn verify(image: &[u8], key: &TrustedKey) -> Result<VerifyReport, VerifyError> {
    verify_with_policy(image, key, &VerifyPolicy::default())
}

/// [`verify`], then the rollback and UUID checks `policy` asks for.
pub fn verify_with_policy(
    image: &[u8],
    key: &TrustedKey,
    policy: &VerifyPolicy,
) -> Result<VerifyReport, VerifyError> {
    // Steps 1-2: the header alone.
    let header = match Header::check(image) {
        Ok((h, _)) => h,
        Err(e @ (ParseError::TooShort { .. } | ParseError::BadMagic { .. })) => {
            return Err(VerifyError::Magic(e))
        }
        Err(e) => return Err(VerifyError::Header(e)),
    };
    // Step 2, flags: hilt (like a bootloader built without encryption
    // support) cannot check an encrypted payload.
    if header.flags & tlv::F_ENCRYPTED != 0 {
        let key_tlv = Image::parse(image).ok().and_then(|i| {
            i.tlvs()
                .find(|t| tlv::is_encryption_key(t.kind))
                .map(|t| t.kind)
        });
        return Err(VerifyError::Encrypted {
            flags: header.flags,
            key_tlv,
        });
    }
    // Step 3: the TLV areas.
    let img = Image::parse(image).map_err(VerifyError::TlvInfo)?;

    // Step 4: the image hash. Every SHA256 TLV must match, and one must exist.
    let hashed = image.get(img.hashed_range()).unwrap_or_default();
    let computed: [u8; 32] = Sha256::digest(hashed).into();
    let mut hash_found = false;
    for t in img.tlvs().filter(|t| t.kind == tlv::SHA256) {
        if t.data.as_slice() != computed.as_slice() {
            return Err(VerifyError::HashMismatch {
                offset: t.offset,
                found: t.data.clone(),
                computed,
            });
        }
        hash_found = true;
    }
    if !hash_found {
        return Err(VerifyError::HashMissing);
    }

    // Steps 5-6: as MCUboot does, a KEYHASH selects the key for the signature
    // TLV that follows it. A PUBKEY TLV equal to the trusted key counts too.
    let trusted_hash = key.key_hash();
    let trusted_der = key.spki_der();
    let kind = key.kind();
    let mut first_key_tlv = None;
    let mut key_selected = false;
    let mut key_ever_selected = false;
    let mut bad_signature = None;
    let mut verified = None;
    for t in img.tlvs() {
        match t.kind {
            tlv::KEYHASH | tlv::PUBKEY => {
                first_key_tlv.get_or_insert(t);
                key_selected = if t.kind == tlv::KEYHASH {
                    t.data.as_slice() == trusted_hash.as_slice()
                } else {
                    t.data == trusted_der
                };
                key_ever_selected |= key_selected;
            }
            k if k == kind.sig_tlv() && key_selected => {
                key_selected = false;
                if key.verify_digest(&computed, &t.data) {
                    verified = Some(t.offset);
                    break;
                }
                bad_signature.get_or_insert(t.offset);
            }
            k if tlv::is_signature(k) => key_selected = false,
            _ => {}
        }
    }
    let signature_offset = match (verified, first_key_tlv, key_ever_selected, bad_signature) {
        (Some(off), ..) => off,
        (None, None, ..) => return Err(VerifyError::KeyHashMissing),
        (None, Some(t), false, _) => {
            return Err(VerifyError::KeyHashMismatch {
                offset: t.offset,
                found: t.data.clone(),
                trusted: trusted_hash,
            })
        }
        (None, Some(_), true, Some(offset)) => {
            return Err(VerifyError::SignatureInvalid { kind, offset })
        }
        (None, Some(_), true, None) => return Err(VerifyError::SignatureMissing { kind }),
    };

    // Policy: what the device compares after the signature.
    let security_counter = img.security_counter();
    if let Some(minimum) = policy.min_security_counter {
        if security_counter.is_none_or(|c| c < minimum) {
            return Err(VerifyError::SecurityCounter {
                image: security_counter,
                minimum,
            });
        }
    }
    let uuid_vid = img.uuid_vid();
    let uuid_cid = img.uuid_cid();
    for (tlv, found, expected) in [
        (tlv::UUID_VID, uuid_vid, policy.uuid_vid),
        (tlv::UUID_CID, uuid_cid, policy.uuid_cid),
    ] {
        if let Some(expected) = expected {
            if found != Some(expected) {
                return Err(VerifyError::UuidMismatch {
                    tlv,
                    found,
                    expected,
                });
            }
        }
    }

    Ok(VerifyReport {
        version: header.version,
        flags: header.flags,
        img_size: header.img_size,
        security_counter,
        image_hash: computed,
        key_hash: trusted_hash,
        signature: kind,
        signature_offset,
        uuid_vid,
        uuid_cid,
        image_end: img.end(),
    })
}
