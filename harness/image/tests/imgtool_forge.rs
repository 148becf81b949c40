//! Every forging recipe (firmware-formats.md 4.1 (a)–(k)) against both
//! `imgtool verify` and hilt's own verifier.
//!
//! Recipes that only break bytes must be rejected by both, and where imgtool
//! prints a distinguishable reason, for the same reason. Recipes that re-sign
//! with the genuine key (rollback, encrypted flag, wrong class UUID) make
//! cryptographically valid images: imgtool accepts them, as it checks only
//! hash and signature; they are for the device's policy checks, which hilt
//! models with `verify_with_policy` and the header checks.

mod common;

use common::*;
use hilt_image::{
    forge, sign, verify, verify_with_policy, ForgeError, ForgeKeys, Forgery, KeyKind, ParseError,
    SignOptions, SigningKey, VerifyError, VerifyPolicy, Version,
};

const VID: [u8; 16] = *b"TESTONLY-vendor!";
const CID: [u8; 16] = *b"TESTONLY-class-1";

/// What imgtool is expected to say.
#[derive(Debug, Clone, Copy)]
enum Imgtool {
    /// Rejects, printing this message.
    Rejects(&'static str),
    /// Rejects, with no message of its own: imgtool 2.5 crashes with
    /// `struct.error` when the TLV info lies past the end of the file.
    RejectsWithoutReason,
    /// Accepts: the image is validly signed by the genuine key.
    Accepts,
}

const INVALID_HASH: &str = "Image has an invalid hash";
const NO_SIGNATURE: &str = "No signature found for the given key";

fn original_options() -> SignOptions {
    let version = Version::new(1, 2, 3, 0);
    SignOptions {
        version,
        security_counter: Some(version.auto_security_counter()),
        uuid_vid: Some(VID),
        uuid_cid: Some(CID),
        ..SignOptions::default()
    }
}

/// Checks hilt's verdict on a forged image; returns a description on mismatch.
type HiltCheck = fn(&Result<hilt_image::VerifyReport, VerifyError>) -> bool;

fn cases() -> Vec<(Forgery, Imgtool, HiltCheck)> {
    vec![
        (Forgery::ZeroedHash, Imgtool::Rejects(INVALID_HASH), |r| {
            matches!(r, Err(VerifyError::HashMismatch { .. }))
        }),
        (
            Forgery::TamperedPayload,
            Imgtool::Rejects(INVALID_HASH),
            |r| matches!(r, Err(VerifyError::HashMismatch { .. })),
        ),
        (Forgery::BadSignature, Imgtool::Rejects(NO_SIGNATURE), |r| {
            matches!(r, Err(VerifyError::SignatureInvalid { .. }))
        }),
        (Forgery::WrongKey, Imgtool::Rejects(NO_SIGNATURE), |r| {
            matches!(r, Err(VerifyError::KeyHashMismatch { .. }))
        }),
        (
            Forgery::WrongKeyKeepKeyHash,
            Imgtool::Rejects(NO_SIGNATURE),
            |r| matches!(r, Err(VerifyError::SignatureInvalid { .. })),
        ),
        (Forgery::Unsigned, Imgtool::Rejects(NO_SIGNATURE), |r| {
            matches!(r, Err(VerifyError::SignatureMissing { .. }))
        }),
        (Forgery::Truncated, Imgtool::RejectsWithoutReason, |r| {
            matches!(
                r,
                Err(VerifyError::Header(ParseError::ImageSizePastEnd { .. }))
            )
        }),
        (Forgery::LyingImgSize, Imgtool::RejectsWithoutReason, |r| {
            matches!(
                r,
                Err(VerifyError::Header(ParseError::ImageSizePastEnd { .. }))
            )
        }),
        (
            Forgery::Rollback {
                version: Version::new(1, 1, 0, 0),
                security_counter: Some(Version::new(1, 1, 0, 0).auto_security_counter()),
            },
            Imgtool::Accepts,
            |r| matches!(r, Ok(rep) if rep.version == Version::new(1, 1, 0, 0)),
        ),
        (
            Forgery::EditedSecurityCounter,
            Imgtool::Rejects(INVALID_HASH),
            |r| matches!(r, Err(VerifyError::HashMismatch { .. })),
        ),
        (Forgery::EncryptedFlag, Imgtool::Accepts, |r| {
            matches!(r, Err(VerifyError::Encrypted { key_tlv: None, .. }))
        }),
        (
            Forgery::InconsistentProtectTlvSize,
            Imgtool::Rejects(INVALID_HASH),
            |r| {
                matches!(
                    r,
                    Err(VerifyError::TlvInfo(ParseError::ProtectSizeMismatch { .. }))
                )
            },
        ),
        (
            Forgery::WrongClassUuid { cid: None },
            Imgtool::Accepts,
            |r| matches!(r, Ok(rep) if rep.uuid_cid.is_some() && rep.uuid_cid != Some(CID)),
        ),
    ]
}

#[test]
fn every_recipe_is_covered() {
    let mut letters: Vec<char> = cases().iter().map(|(f, ..)| f.recipe()).collect();
    letters.dedup();
    assert_eq!(letters, ('a'..='k').collect::<Vec<_>>());
}

fn run_all(kind: KeyKind) -> usize {
    let dir = tempdir();
    let key = keygen(dir.path(), kind, "genuine");
    let fresh = SigningKey::generate(kind);
    let fresh_pem = dir.path().join("fresh.pem");
    write(&fresh_pem, fresh.to_pkcs8_pem().expect("encode").as_bytes());
    let original =
        sign(&payload(4096, 42), &original_options(), Some(&key.signing)).expect("sign original");
    let original_path = dir.path().join("original.bin");
    write(&original_path, &original);
    assert!(imgtool_verify(&key.private_pem, &original_path).accepted);
    verify(&original, &key.trusted).expect("original verifies in hilt");

    let keys = ForgeKeys {
        genuine: Some(&key.signing),
        fresh: Some(&fresh),
    };
    let mut checked = 0;
    for (recipe, expect_imgtool, hilt_ok) in cases() {
        let label = format!("{kind} ({}) {}", recipe.recipe(), recipe.name());
        let forged = forge(&original, &recipe, &keys)
            .unwrap_or_else(|e| panic!("{label}: forge failed: {e}"));
        assert_ne!(forged, original, "{label}: forgery changed nothing");
        let path = dir.path().join(format!("{}.bin", recipe.name()));
        write(&path, &forged);

        let theirs = imgtool_verify(&key.public_pem, &path);
        match expect_imgtool {
            Imgtool::Rejects(msg) => {
                assert!(!theirs.accepted, "{label}: imgtool accepted the forgery");
                assert!(
                    theirs.output.contains(msg),
                    "{label}: imgtool rejected for another reason (expected {msg:?}):\n{}",
                    theirs.output
                );
            }
            Imgtool::RejectsWithoutReason => {
                assert!(!theirs.accepted, "{label}: imgtool accepted the forgery");
            }
            Imgtool::Accepts => assert!(
                theirs.accepted,
                "{label}: imgtool rejected a correctly re-signed image:\n{}",
                theirs.output
            ),
        }

        let ours = verify(&forged, &key.trusted);
        assert!(hilt_ok(&ours), "{label}: hilt's verdict was {ours:?}");
        checked += 1;

        // Recipe-specific cross-checks.
        match &recipe {
            Forgery::WrongKey | Forgery::WrongKeyKeepKeyHash => {
                // Both are validly signed by the fresh key, so imgtool (which
                // ignores KEYHASH) accepts both with that key. hilt also
                // checks the KEYHASH, so it accepts only the plain variant.
                let v = imgtool_verify(&fresh_pem, &path);
                assert!(
                    v.accepted,
                    "{label}: not a valid image for the fresh key:\n{}",
                    v.output
                );
                let with_fresh = verify(&forged, &fresh.trusted_key());
                if recipe == Forgery::WrongKey {
                    assert!(with_fresh.is_ok(), "{label}: {with_fresh:?}");
                } else {
                    assert!(
                        matches!(with_fresh, Err(VerifyError::KeyHashMismatch { .. })),
                        "{label}: {with_fresh:?}"
                    );
                }
            }
            Forgery::Rollback { .. } => {
                let policy = VerifyPolicy {
                    min_security_counter: Some(Version::new(1, 2, 3, 0).auto_security_counter()),
                    ..VerifyPolicy::default()
                };
                let r = verify_with_policy(&forged, &key.trusted, &policy);
                assert!(
                    matches!(r, Err(VerifyError::SecurityCounter { .. })),
                    "{label}: {r:?}"
                );
            }
            Forgery::WrongClassUuid { .. } => {
                let policy = VerifyPolicy {
                    uuid_vid: Some(VID),
                    uuid_cid: Some(CID),
                    ..VerifyPolicy::default()
                };
                let r = verify_with_policy(&forged, &key.trusted, &policy);
                assert!(
                    matches!(
                        r,
                        Err(VerifyError::UuidMismatch {
                            tlv: hilt_image::tlv::UUID_CID,
                            ..
                        })
                    ),
                    "{label}: {r:?}"
                );
                // The original meets the same policy.
                verify_with_policy(&original, &key.trusted, &policy)
                    .expect("original meets policy");
            }
            _ => {}
        }
    }
    checked
}

#[test]
fn ed25519_forgeries_are_rejected_by_imgtool_and_hilt() {
    assert_eq!(run_all(KeyKind::Ed25519), 13);
}

#[test]
fn ecdsa_p256_forgeries_are_rejected_by_imgtool_and_hilt() {
    assert_eq!(run_all(KeyKind::EcdsaP256), 13);
}

#[test]
fn forgeries_of_imgtool_signed_images_work_too() {
    // The original comes from imgtool (randomised ECDSA), not from hilt.
    let dir = tempdir();
    let key = keygen(dir.path(), KeyKind::EcdsaP256, "genuine");
    let input = dir.path().join("in.bin");
    let original_path = dir.path().join("original.bin");
    write(&input, &payload(3000, 5));
    imgtool_ok(&[
        "sign",
        "-k",
        s(&key.private_pem),
        "--pad-header",
        "-H",
        "0x200",
        "-S",
        "0x20000",
        "-v",
        "1.2.3",
        "-s",
        "auto",
        "--pad",
        s(&input),
        s(&original_path),
    ]);
    let original = read(&original_path);
    let keys = ForgeKeys {
        genuine: Some(&key.signing),
        fresh: None,
    };
    for recipe in [Forgery::BadSignature, Forgery::Unsigned, Forgery::WrongKey] {
        let forged = forge(&original, &recipe, &keys).expect("forge");
        let path = dir.path().join(format!("{}.bin", recipe.name()));
        write(&path, &forged);
        let v = imgtool_verify(&key.public_pem, &path);
        assert!(
            !v.accepted,
            "{}: imgtool accepted:\n{}",
            recipe.name(),
            v.output
        );
        assert!(verify(&forged, &key.trusted).is_err(), "{}", recipe.name());
    }
    // The slot padding is not carried into forgeries.
    let forged = forge(&original, &Forgery::ZeroedHash, &keys).expect("forge");
    assert!(forged.len() < original.len());
}

#[test]
fn recipes_that_need_the_genuine_key_say_so() {
    let key = SigningKey::generate(KeyKind::Ed25519);
    let original = sign(&payload(100, 1), &original_options(), Some(&key)).expect("sign");
    for recipe in [
        Forgery::EncryptedFlag,
        Forgery::WrongClassUuid { cid: None },
        Forgery::Rollback {
            version: Version::new(0, 1, 0, 0),
            security_counter: None,
        },
    ] {
        assert!(recipe.needs_genuine_key());
        assert_eq!(
            forge(&original, &recipe, &ForgeKeys::default()),
            Err(ForgeError::NeedsGenuineKey {
                recipe: recipe.name()
            })
        );
    }
    let keys = ForgeKeys {
        genuine: Some(&key),
        fresh: None,
    };
    // A "rollback" to a newer version is refused.
    let not_lower = Forgery::Rollback {
        version: Version::new(1, 2, 3, 0),
        security_counter: None,
    };
    assert!(matches!(
        forge(&original, &not_lower, &keys),
        Err(ForgeError::NotApplicable { .. })
    ));
    // Older version, same counter: valid, and accepted by a counter-only policy.
    let same_counter = Forgery::Rollback {
        version: Version::new(1, 0, 0, 0),
        security_counter: None,
    };
    let forged = forge(&original, &same_counter, &keys).expect("forge");
    let policy = VerifyPolicy {
        min_security_counter: Some(Version::new(1, 2, 3, 0).auto_security_counter()),
        ..VerifyPolicy::default()
    };
    let report = verify_with_policy(&forged, &key.trusted_key(), &policy).expect("same counter");
    assert_eq!(report.version, Version::new(1, 0, 0, 0));
    // Recipes on images that lack what they edit.
    let bare = sign(&payload(100, 1), &SignOptions::default(), None).expect("unsigned");
    for recipe in [
        Forgery::BadSignature,
        Forgery::Unsigned,
        Forgery::EditedSecurityCounter,
    ] {
        assert!(matches!(
            forge(&bare, &recipe, &keys),
            Err(ForgeError::NotApplicable { .. })
        ));
    }
}
