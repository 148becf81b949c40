//! Hostile input: thousands of random and mutated byte strings through
//! `Image::parse`, `verify` and `forge`, which must never panic, and whose
//! successful parses must only describe bytes that exist.
//!
//! This is the stable-toolchain stand-in for the cargo-fuzz target in
//! `harness/image/fuzz/` (which needs nightly). Deterministic: a failure
//! prints the case number and reproduces.

use hilt_image::{
    forge, sign, tlv, verify, ForgeKeys, Forgery, Image, KeyKind, SignOptions, SigningKey,
    SlotPadding, Version,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// Values that tend to break length arithmetic.
const INTERESTING_U16: [u16; 9] = [0, 1, 3, 4, 0x1f, 0x20, 0x7fff, 0xfffc, 0xffff];
const INTERESTING_U32: [u32; 8] = [
    0,
    1,
    4,
    0x1000,
    0x7fff_ffff,
    0xffff_fff0,
    0xffff_fffc,
    0xffff_ffff,
];

/// Field offsets worth mutating in a valid image.
fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    let img = Image::parse(base).ok();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.byte();
            }
            2 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            3 => {
                let n = rng.below(64);
                let extra = rng.bytes(n);
                b.extend(extra);
            }
            4 => {
                // A header u16 field: hdr_size or protect_tlv_size.
                let off = [0x08usize, 0x0a][rng.below(2)];
                let v = INTERESTING_U16[rng.below(INTERESTING_U16.len())];
                if let Some(d) = b.get_mut(off..off + 2) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
            5 => {
                // img_size or flags.
                let off = [0x0cusize, 0x10][rng.below(2)];
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                if let Some(d) = b.get_mut(off..off + 4) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
            6 => {
                // A TLV info header or TLV header length/type.
                if let Some(img) = &img {
                    let mut spots = vec![img.unprotected.offset + 2];
                    if let Some(p) = &img.protected {
                        spots.push(p.offset + 2);
                        spots.extend(p.tlvs.iter().map(|t| t.offset + 2));
                    }
                    spots.extend(img.unprotected.tlvs.iter().map(|t| t.offset + 2));
                    spots.extend(img.tlvs().map(|t| t.offset));
                    let off = spots[rng.below(spots.len())];
                    let v = INTERESTING_U16[rng.below(INTERESTING_U16.len())];
                    if let Some(d) = b.get_mut(off..off + 2) {
                        d.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            7 => {
                // Splice a random window of the image over another place.
                if b.len() > 8 {
                    let from = rng.below(b.len());
                    let to = rng.below(b.len());
                    let n = rng.below(32).min(b.len() - from).min(b.len() - to);
                    let chunk = b[from..from + n].to_vec();
                    b[to..to + n].copy_from_slice(&chunk);
                }
            }
            _ => {
                // Swap the two info magics.
                for i in 0..b.len().saturating_sub(1) {
                    if b[i] == 0x07 && b[i + 1] == 0x69 && rng.below(2) == 0 {
                        b[i] = 0x08;
                    }
                }
            }
        }
    }
    b
}

/// A successful parse must only describe bytes that exist.
fn check_invariants(case: usize, bytes: &[u8], img: &Image) {
    let len = bytes.len();
    assert!(
        img.payload.start >= 32 && img.payload.end <= len,
        "case {case}: payload"
    );
    assert!(img.hashed_range().end <= len, "case {case}: hashed range");
    assert!(
        img.end() <= len && img.trailing.end == len,
        "case {case}: end"
    );
    for t in img.tlvs() {
        let r = t.data_range();
        assert!(
            r.end <= img.end(),
            "case {case}: TLV 0x{:x} past the image",
            t.kind
        );
        assert_eq!(&bytes[r], t.data.as_slice(), "case {case}: TLV data");
    }
    if let Some(p) = &img.protected {
        assert_eq!(p.offset, img.payload.end, "case {case}");
        assert_eq!(p.end(), img.unprotected.offset, "case {case}");
        assert_eq!(p.tlv_tot, img.header.protect_tlv_size, "case {case}");
    }
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let ed = SigningKey::generate(KeyKind::Ed25519);
    let ec = SigningKey::generate(KeyKind::EcdsaP256);
    let trusted = [ed.trusted_key(), ec.trusted_key()];
    let v = Version::new(1, 2, 3, 0);
    let mut seeds = Vec::new();
    for (key, hdr) in [(&ed, 0x200u16), (&ec, 0x20)] {
        for opts in [
            SignOptions {
                version: v,
                header_size: hdr,
                ..SignOptions::default()
            },
            SignOptions {
                version: v,
                header_size: hdr,
                security_counter: Some(9),
                uuid_vid: Some([1; 16]),
                uuid_cid: Some([2; 16]),
                protected_tlvs: vec![(0xa1, vec![3; 5])],
                ..SignOptions::default()
            },
            SignOptions {
                version: v,
                header_size: hdr,
                pad: Some(SlotPadding::new(0x2000)),
                ..SignOptions::default()
            },
        ] {
            let payload_len = rng.below(600);
            let payload = rng.bytes(payload_len);
            seeds.push(sign(&payload, &opts, Some(key)).expect("seed image"));
        }
    }
    let keys = ForgeKeys {
        genuine: Some(&ed),
        fresh: Some(&ec),
    };
    let recipes = [
        Forgery::ZeroedHash,
        Forgery::TamperedPayload,
        Forgery::BadSignature,
        Forgery::WrongKeyKeepKeyHash,
        Forgery::Unsigned,
        Forgery::Truncated,
        Forgery::LyingImgSize,
        Forgery::EditedSecurityCounter,
        Forgery::EncryptedFlag,
        Forgery::InconsistentProtectTlvSize,
        Forgery::WrongClassUuid { cid: None },
    ];

    let mut parsed = 0;
    let mut verified = 0;
    let cases = 6000;
    for case in 0..cases {
        let bytes = match case % 4 {
            // Pure noise, sometimes starting with a valid magic.
            0 => {
                let n = rng.below(300);
                let mut b = rng.bytes(n);
                if rng.below(2) == 0 && b.len() >= 4 {
                    b[..4].copy_from_slice(&hilt_image::IMAGE_MAGIC.to_le_bytes());
                }
                b
            }
            _ => {
                let base = &seeds[rng.below(seeds.len())];
                mutate(&mut rng, base)
            }
        };
        if let Ok(img) = Image::parse(&bytes) {
            parsed += 1;
            check_invariants(case, &bytes, &img);
            let _ = (
                img.security_counter(),
                img.uuid_vid(),
                img.uuid_cid(),
                img.image_hash(),
                img.key_hash(),
                img.signature_kind(),
                img.tlvs().filter_map(|t| tlv::name(t.kind)).count(),
            );
            if case % 7 == 0 {
                let recipe = &recipes[rng.below(recipes.len())];
                if let Ok(f) = forge(&bytes, recipe, &keys) {
                    let _ = Image::parse(&f);
                }
            }
        }
        let _ = hilt_image::SlotTrailer::read(&bytes);
        for k in &trusted {
            match verify(&bytes, k) {
                Ok(_) => verified += 1,
                Err(e) => {
                    // Every error renders.
                    assert!(!e.to_string().is_empty(), "case {case}");
                }
            }
        }
    }
    eprintln!("{cases} inputs: {parsed} parsed, {verified} verifications passed");
    // The mutations must reach past the header checks often enough to matter.
    assert!(
        parsed > cases / 10,
        "only {parsed} of {cases} inputs parsed"
    );
    // Some mutations (e.g. of trailer padding) leave a valid image.
    assert!(verified > 0, "no mutated image still verified");
}

#[test]
fn every_header_truncation_is_an_error_not_a_panic() {
    let key = SigningKey::generate(KeyKind::Ed25519);
    let opts = SignOptions {
        security_counter: Some(1),
        ..SignOptions::default()
    };
    let image = sign(&[0xaa; 64], &opts, Some(&key)).expect("sign");
    let img = Image::parse(&image).expect("parses");
    for n in 0..img.end() {
        let e = Image::parse(&image[..n]).expect_err("a cut image must not parse");
        let msg = e.to_string();
        assert!(
            msg.contains("offset") || msg.contains("bytes"),
            "cut at {n}: {msg}"
        );
    }
    assert!(Image::parse(&image[..img.end()]).is_ok());
}
