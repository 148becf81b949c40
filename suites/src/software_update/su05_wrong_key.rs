use hilt_image::{sign, SigningKey};

use super::forgery::{distinct_payload, meta, options_like, ForgedSpec};

pub(super) static WRONG_KEY: ForgedSpec = ForgedSpec {
    meta: meta(
        "wrong_key",
        "SU-05",
        "Image signed by an untrusted key is rejected",
        &["5.3-10", "5.4-4"],
        &["5.3-10-2"],
    ),
    make: wrong_key,
};

fn wrong_key(golden: &[u8]) -> Result<Vec<u8>, String> {
    let (image, payload) = distinct_payload(golden)?;
    let kind = match image.signature_kind() {
        Some(hilt_image::SignatureKind::Ecdsa) => hilt_image::KeyKind::EcdsaP256,
        _ => hilt_image::KeyKind::Ed25519,
    };
    let attacker = SigningKey::generate(kind);
    sign(&payload, &options_like(&image), Some(&attacker)).map_err(|e| e.to_string())
}
