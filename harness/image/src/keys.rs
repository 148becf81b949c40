//! Signing keys and trusted (public) keys, loaded from the PEM files imgtool writes.
//!
//! * `imgtool keygen -t ed25519|ecdsa-p256` writes PKCS#8 `PRIVATE KEY` PEM.
//! * `imgtool getpub --encoding pem` writes SubjectPublicKeyInfo `PUBLIC KEY` PEM.
//!
//! The KEYHASH TLV is SHA-256 over the SubjectPublicKeyInfo DER of the public
//! key, for Ed25519 and ECDSA P-256 alike (imgtool's `get_public_bytes`,
//! checked against `imgtool sign` output in this crate's tests).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use ed25519_dalek::{Signer as _, Verifier as _};
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p256::pkcs8::LineEnding;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};

use crate::errors::{hex, KeyError};
use crate::tlv;

/// The signature algorithms hilt signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Ed25519 over the SHA-256 image hash; TLV 0x24.
    Ed25519,
    /// ECDSA P-256 over the SHA-256 image hash, DER signature; TLV 0x22.
    EcdsaP256,
}

impl KeyKind {
    /// The TLV type its signatures are stored under.
    pub fn sig_tlv(self) -> u16 {
        match self {
            KeyKind::Ed25519 => tlv::ED25519,
            KeyKind::EcdsaP256 => tlv::ECDSA_SIG,
        }
    }

    /// imgtool's name for the key type (`imgtool keygen -t NAME`).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::EcdsaP256 => "ecdsa-p256",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyKind {
    type Err = KeyError;

    /// Accepts imgtool's names, `ed25519` and `ecdsa-p256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ed25519" => Ok(KeyKind::Ed25519),
            "ecdsa-p256" => Ok(KeyKind::EcdsaP256),
            other => Err(KeyError::Unsupported(format!("key type {other:?}"))),
        }
    }
}

#[derive(Clone)]
enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A private key that signs images. Its `Debug` output shows only the kind
/// and the public key hash, never the secret.
#[derive(Clone)]
pub struct SigningKey(Secret);

impl SigningKey {
    /// Loads a private key from PEM: PKCS#8 `PRIVATE KEY` (as `imgtool keygen`
    /// writes for both kinds) or SEC1 `EC PRIVATE KEY` (P-256).
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        match pem_label(pem)? {
            "PRIVATE KEY" => {
                if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
                    return Ok(SigningKey(Secret::Ed25519(k)));
                }
                p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .map(|k| SigningKey(Secret::P256(k)))
                    .map_err(|e| KeyError::Unsupported(e.to_string()))
            }
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_pem(pem)
                .map(|k| SigningKey(Secret::P256(k.into())))
                .map_err(|e| KeyError::Unsupported(e.to_string())),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
            other => Err(KeyError::Pem(format!(
                "label {other:?} is not a private key (expected PRIVATE KEY)"
            ))),
        }
    }

    /// A fresh random key from the operating system's RNG.
    pub fn generate(kind: KeyKind) -> SigningKey {
        match kind {
            KeyKind::Ed25519 => SigningKey(Secret::Ed25519(ed25519_dalek::SigningKey::generate(
                &mut OsRng,
            ))),
            KeyKind::EcdsaP256 => {
                SigningKey(Secret::P256(p256::ecdsa::SigningKey::random(&mut OsRng)))
            }
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match &self.0 {
            Secret::Ed25519(_) => KeyKind::Ed25519,
            Secret::P256(_) => KeyKind::EcdsaP256,
        }
    }

    /// The matching public key.
    pub fn trusted_key(&self) -> TrustedKey {
        match &self.0 {
            Secret::Ed25519(k) => TrustedKey(Public::Ed25519(k.verifying_key())),
            Secret::P256(k) => TrustedKey(Public::P256(*k.verifying_key())),
        }
    }

    /// The key as PKCS#8 PEM, the format `imgtool keygen` writes (so imgtool
    /// can use keys hilt generated).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let pem = match &self.0 {
            // PKCS#8 v1 without the optional public key, as imgtool writes it:
            // the v2 form ed25519-dalek would write is refused by imgtool
            // ("ASN.1 parsing error: extra data").
            Secret::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF),
            Secret::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map(|z| z.as_str().to_string())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Signs a SHA-256 image hash the way imgtool does: Ed25519 signs the
    /// 32-byte digest as its message; ECDSA P-256 signs the digest as a
    /// prehash and stores the DER encoding.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        match &self.0 {
            Secret::Ed25519(k) => Ok(k.sign(digest).to_bytes().to_vec()),
            Secret::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|e| e.to_string())?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, keyhash {})",
            self.kind(),
            hex(&self.trusted_key().key_hash())
        )
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Public {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A public key images are verified against (a board's declared trusted key).
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey(Public);

impl TrustedKey {
    /// Loads a public key from PEM: SubjectPublicKeyInfo `PUBLIC KEY` (as
    /// `imgtool getpub --encoding pem` writes), or a private key PEM whose
    /// public half is used (as `imgtool verify -k` accepts).
    pub fn from_pem(pem: &str) -> Result<TrustedKey, KeyError> {
        match pem_label(pem)? {
            "PUBLIC KEY" => {
                if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
                    return Ok(TrustedKey(Public::Ed25519(k)));
                }
                p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
                    .map(|k| TrustedKey(Public::P256(k)))
                    .map_err(|e| KeyError::Unsupported(e.to_string()))
            }
            _ => SigningKey::from_pem(pem).map(|k| k.trusted_key()),
        }
    }

    /// Loads a public key from SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<TrustedKey, KeyError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(TrustedKey(Public::Ed25519(k)));
        }
        p256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map(|k| TrustedKey(Public::P256(k)))
            .map_err(|e| KeyError::Unsupported(e.to_string()))
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match &self.0 {
            Public::Ed25519(_) => KeyKind::Ed25519,
            Public::P256(_) => KeyKind::EcdsaP256,
        }
    }

    /// The SubjectPublicKeyInfo DER encoding (what imgtool embeds and hashes).
    pub fn spki_der(&self) -> Vec<u8> {
        let der = match &self.0 {
            Public::Ed25519(k) => k.to_public_key_der(),
            Public::P256(k) => k.to_public_key_der(),
        };
        // Encoding a valid in-memory key into a growable buffer cannot fail;
        // an empty result would only make every KEYHASH comparison fail.
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// SHA-256 of [`TrustedKey::spki_der`]: the KEYHASH TLV value.
    pub fn key_hash(&self) -> [u8; 32] {
        Sha256::digest(self.spki_der()).into()
    }

    /// The key as `PUBLIC KEY` PEM, as `imgtool getpub --encoding pem` writes it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        match &self.0 {
            Public::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            Public::P256(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Whether `sig` is a valid signature of this key over the SHA-256 image
    /// hash `digest`, as MCUboot checks it.
    pub(crate) fn verify_digest(&self, digest: &[u8; 32], sig: &[u8]) -> bool {
        match &self.0 {
            Public::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify(digest, &s).is_ok()),
            Public::P256(k) => p256::ecdsa::Signature::from_der(strip_der_padding(sig))
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
        }
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TrustedKey({}, keyhash {})",
            self.kind(),
            hex(&self.key_hash())
        )
    }
}

/// imgtool's `--pad-sig` appends zero bytes after an ECDSA DER signature (for
/// MCUboot < 1.5); the DER SEQUENCE's own length says where it ends. Only zero
/// padding is stripped, anything else is left for the DER parser to reject.
fn strip_der_padding(sig: &[u8]) -> &[u8] {
    match sig {
        [0x30, len, ..] if *len < 0x80 => {
            let end = usize::from(*len) + 2;
            match (sig.get(..end), sig.get(end..)) {
                (Some(body), Some(pad)) if pad.iter().all(|b| *b == 0) => body,
                _ => sig,
            }
        }
        _ => sig,
    }
}

/// The label of the first PEM block (`-----BEGIN LABEL-----`).
fn pem_label(pem: &str) -> Result<&str, KeyError> {
    let start = pem
        .find("-----BEGIN ")
        .ok_or_else(|| KeyError::Pem("no -----BEGIN line".to_string()))?;
    let rest = pem.get(start + "-----BEGIN ".len()..).unwrap_or_default();
    let end = rest
        .find("-----")
        .ok_or_else(|| KeyError::Pem("unterminated -----BEGIN line".to_string()))?;
    Ok(rest.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    // TEST ONLY: a public key from `imgtool keygen -t ed25519` + `imgtool getpub --encoding pem`.
    const ED_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAwd7R62abSHohr+OmxpQ8bTpyirJFJqfTaNcLdBx5Kxs=\n-----END PUBLIC KEY-----\n";
    // imgtool's KEYHASH for that key, from `imgtool dumpinfo`.
    const ED_KEYHASH: &str = "66f13059cba0a79270341827184fb9c458b3368affaccde31ae71748f4a6ef36";

    #[test]
    fn ed25519_pem_and_keyhash_match_imgtool() {
        let pk = TrustedKey::from_pem(ED_PUB).expect("test key");
        assert_eq!(pk.kind(), KeyKind::Ed25519);
        assert_eq!(hex(&pk.key_hash()), ED_KEYHASH);
        assert_eq!(pk.to_pem().expect("encode"), ED_PUB);
        assert_eq!(TrustedKey::from_spki_der(&pk.spki_der()).expect("der"), pk);
    }

    #[test]
    fn private_pem_gives_trusted_key_and_debug_hides_secret() {
        let sk = SigningKey::generate(KeyKind::Ed25519);
        let pem = sk.to_pkcs8_pem().expect("encode");
        assert_eq!(
            TrustedKey::from_pem(&pem).expect("private as trusted"),
            sk.trusted_key()
        );
        let body: String = pem
            .lines()
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        assert!(!format!("{sk:?}").contains(&body));
    }

    #[test]
    fn generated_keys_roundtrip_and_sign() {
        for kind in [KeyKind::Ed25519, KeyKind::EcdsaP256] {
            let sk = SigningKey::generate(kind);
            let again = SigningKey::from_pem(&sk.to_pkcs8_pem().expect("encode")).expect("decode");
            assert_eq!(again.trusted_key(), sk.trusted_key());
            let digest = [7u8; 32];
            let sig = sk.sign_digest(&digest).expect("sign");
            assert!(sk.trusted_key().verify_digest(&digest, &sig));
            assert!(!sk.trusted_key().verify_digest(&[8u8; 32], &sig));
            let mut padded = sig.clone();
            if kind == KeyKind::EcdsaP256 {
                padded.extend_from_slice(&[0, 0]);
                assert!(sk.trusted_key().verify_digest(&digest, &padded));
            }
        }
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(SigningKey::from_pem("").is_err());
        assert!(SigningKey::from_pem(ED_PUB).is_err());
        assert!(TrustedKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        )
        .is_err());
        assert_eq!(
            SigningKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----"
            )
            .err(),
            Some(KeyError::Encrypted)
        );
    }
}
