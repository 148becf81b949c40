//! Arbitrary bytes through the MCUboot parser, verifier and byte-level
//! forgeries. Nothing may panic, and a successful parse may only describe
//! bytes that exist.
#![no_main]

use std::sync::OnceLock;

use hilt_image::{forge, verify, ForgeKeys, Forgery, Image, TrustedKey};
use libfuzzer_sys::fuzz_target;

// TEST ONLY public key (an imgtool-generated Ed25519 key that signs nothing real).
const TEST_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAwd7R62abSHohr+OmxpQ8bTpyirJFJqfTaNcLdBx5Kxs=
-----END PUBLIC KEY-----
";

fn key() -> &'static TrustedKey {
    static KEY: OnceLock<TrustedKey> = OnceLock::new();
    KEY.get_or_init(|| TrustedKey::from_pem(TEST_KEY).expect("built-in test key"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = Image::parse(data) {
        assert!(img.payload.end <= data.len());
        assert!(img.end() <= data.len());
        for t in img.tlvs() {
            assert_eq!(data.get(t.data_range()), Some(t.data.as_slice()));
        }
        let _ = (img.security_counter(), img.uuid_cid(), img.signature_kind());
        // Byte-level recipes need no keys; they must cope with any image that parses.
        for recipe in [
            Forgery::ZeroedHash,
            Forgery::TamperedPayload,
            Forgery::BadSignature,
            Forgery::Unsigned,
            Forgery::Truncated,
            Forgery::LyingImgSize,
            Forgery::EditedSecurityCounter,
            Forgery::InconsistentProtectTlvSize,
        ] {
            let _ = forge(data, &recipe, &ForgeKeys::default());
        }
    }
    let _ = hilt_image::SlotTrailer::read(data);
    if let Err(e) = verify(data, key()) {
        let _ = e.to_string();
    }
});
