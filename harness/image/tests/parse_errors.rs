//! Each structural defect gives its own ParseError, naming field and offset,
//! and lands in the matching verify step. Images are built with hilt's signer
//! and then broken by hand.

use hilt_image::{
    sign, tlv, verify, Image, KeyKind, ParseError, SignOptions, SigningKey, TlvAreaKind,
    VerifyError,
};

fn key() -> SigningKey {
    SigningKey::generate(KeyKind::Ed25519)
}

fn signed(key: &SigningKey, protected: bool) -> Vec<u8> {
    let opts = SignOptions {
        security_counter: protected.then_some(3),
        uuid_cid: protected.then_some([9; 16]),
        ..SignOptions::default()
    };
    sign(&[0x5a; 100], &opts, Some(key)).expect("sign")
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn parse_err(b: &[u8]) -> ParseError {
    Image::parse(b).expect_err("must not parse")
}

#[test]
fn header_errors_name_field_and_offset() {
    let k = key();
    let good = signed(&k, false);

    let mut b = good.clone();
    put16(&mut b, 0x08, 0x10);
    let e = parse_err(&b);
    assert_eq!(e, ParseError::HeaderTooSmall { hdr_size: 0x10 });
    assert!(
        e.to_string().contains("ih_hdr_size 0x10 at offset 0x08"),
        "{e}"
    );
    assert!(matches!(
        verify(&b, &k.trusted_key()),
        Err(VerifyError::Header(_))
    ));

    let mut b = good.clone();
    b[0x0c..0x10].copy_from_slice(&0xffff_ff00u32.to_le_bytes());
    let e = parse_err(&b);
    assert!(matches!(
        e,
        ParseError::ImageSizePastEnd {
            img_size: 0xffff_ff00,
            ..
        }
    ));
    let msg = e.to_string();
    assert!(
        msg.starts_with("ih_img_size 0xffffff00 at offset 0x0c runs past the end of the file")
            && msg.contains(&format!("len 0x{:x}", b.len())),
        "{msg}"
    );

    let mut b = good.clone();
    b[0] = 0x3c; // IMAGE_MAGIC_V1
    let e = parse_err(&b);
    assert!(e.to_string().contains("obsolete v1 magic"), "{e}");
    assert!(matches!(
        verify(&b, &k.trusted_key()),
        Err(VerifyError::Magic(_))
    ));

    let mut b = good.clone();
    b[..4].copy_from_slice(&hilt_image::IMAGE_MAGIC.to_be_bytes());
    assert!(parse_err(&b).to_string().contains("big-endian"));
}

#[test]
fn tlv_info_errors_name_field_and_offset() {
    let k = key();
    let tk = k.trusted_key();
    let good = signed(&k, true);
    let img = Image::parse(&good).expect("parses");
    let prot = img.protected.clone().expect("protected area");
    let unprot_off = img.unprotected.offset;

    // Header and protected area disagree.
    let mut b = good.clone();
    put16(&mut b, 0x0a, prot.tlv_tot + 4);
    assert_eq!(
        parse_err(&b),
        ParseError::ProtectSizeMismatch {
            header: prot.tlv_tot + 4,
            area: prot.tlv_tot,
            offset: prot.offset
        }
    );
    assert!(matches!(verify(&b, &tk), Err(VerifyError::TlvInfo(_))));

    // A protected size with no protected area.
    let plain = signed(&k, false);
    let plain_img = Image::parse(&plain).expect("parses");
    let mut b = plain.clone();
    put16(&mut b, 0x0a, 8);
    assert_eq!(
        parse_err(&b),
        ParseError::ProtectSizeWithoutArea {
            header: 8,
            offset: plain_img.unprotected.offset
        }
    );

    // Neither magic after the payload.
    let mut b = good.clone();
    put16(&mut b, prot.offset, 0x1234);
    assert_eq!(
        parse_err(&b),
        ParseError::TlvInfoMagic {
            offset: prot.offset,
            found: 0x1234
        }
    );
    let e = parse_err(&b).to_string();
    assert!(e.contains(&format!("offset 0x{:x}", prot.offset)), "{e}");

    // The unprotected magic missing after the protected area.
    let mut b = good.clone();
    put16(&mut b, unprot_off, 0x6908);
    assert_eq!(
        parse_err(&b),
        ParseError::UnprotectedTlvInfoMagic {
            offset: unprot_off,
            found: 0x6908
        }
    );

    // it_tlv_tot smaller than the info header.
    let mut b = good.clone();
    put16(&mut b, unprot_off + 2, 2);
    assert_eq!(
        parse_err(&b),
        ParseError::TlvTotTooSmall {
            area: TlvAreaKind::Unprotected,
            tlv_tot: 2,
            field_offset: unprot_off + 2
        }
    );

    // The unprotected area runs past the end of the file.
    let mut b = good.clone();
    put16(&mut b, unprot_off + 2, img.unprotected.tlv_tot + 1);
    assert!(matches!(
        parse_err(&b),
        ParseError::TlvAreaPastEnd {
            area: TlvAreaKind::Unprotected,
            ..
        }
    ));

    // A TLV whose it_len runs past its area: the last protected TLV.
    let last = prot.tlvs.last().expect("protected TLVs");
    let mut b = good.clone();
    put16(&mut b, last.offset + 2, last.data.len() as u16 + 1);
    assert_eq!(
        parse_err(&b),
        ParseError::TlvPastAreaEnd {
            area: TlvAreaKind::Protected,
            offset: last.offset,
            kind: tlv::UUID_CID,
            len: last.data.len() as u16 + 1,
            area_end: prot.end(),
        }
    );

    // Stray bytes at the end of an area: grow the area by 2 bytes the file
    // has (the next area's magic), in header and area alike.
    let mut b = good.clone();
    put16(&mut b, 0x0a, prot.tlv_tot + 2);
    put16(&mut b, prot.offset + 2, prot.tlv_tot + 2);
    assert_eq!(
        parse_err(&b),
        ParseError::TlvHeaderPastAreaEnd {
            area: TlvAreaKind::Protected,
            offset: prot.end(),
            left: 2,
            area_end: prot.end() + 2,
        }
    );
}

#[test]
fn trailing_bytes_are_reported_not_rejected() {
    let k = key();
    let mut b = signed(&k, true);
    let end = b.len();
    b.extend_from_slice(&[0xff; 100]);
    let img = Image::parse(&b).expect("parses");
    assert_eq!(img.end(), end);
    assert_eq!(img.trailing, end..end + 100);
    verify(&b, &k.trusted_key()).expect("padding does not matter");
}

/// Replaces the unprotected TLV area of `image` with `entries`.
fn with_unprotected(image: &[u8], entries: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let img = Image::parse(image).expect("parses");
    let mut out = image[..img.unprotected.offset].to_vec();
    let tot: usize = 4 + entries.iter().map(|(_, d)| 4 + d.len()).sum::<usize>();
    out.extend_from_slice(&0x6907u16.to_le_bytes());
    out.extend_from_slice(&(tot as u16).to_le_bytes());
    for (k, d) in entries {
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&(d.len() as u16).to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

#[test]
fn key_and_signature_pairs_follow_mcuboot() {
    let genuine = key();
    let other = key();
    let image = signed(&genuine, true);
    let img = Image::parse(&image).expect("parses");
    let tlvs: Vec<(u16, Vec<u8>)> = img
        .unprotected
        .tlvs
        .iter()
        .map(|t| (t.kind, t.data.clone()))
        .collect();
    let (hash, keyhash, sig) = (&tlvs[0], &tlvs[1], &tlvs[2]);
    let trusted = genuine.trusted_key();

    // A second signer's pair in front of the genuine pair: still valid.
    let other_pair = (tlv::KEYHASH, other.trusted_key().key_hash().to_vec());
    let b = with_unprotected(
        &image,
        &[
            hash.clone(),
            other_pair.clone(),
            (tlv::ED25519, vec![0; 64]),
            keyhash.clone(),
            sig.clone(),
        ],
    );
    verify(&b, &trusted).expect("second pair verifies");

    // A signature not preceded by the trusted key's hash does not count.
    let b = with_unprotected(&image, &[hash.clone(), sig.clone(), keyhash.clone()]);
    assert_eq!(
        verify(&b, &trusted),
        Err(VerifyError::SignatureMissing {
            kind: KeyKind::Ed25519
        })
    );

    // PUBKEY (imgtool --public-key-format full) in place of KEYHASH.
    let b = with_unprotected(
        &image,
        &[hash.clone(), (tlv::PUBKEY, trusted.spki_der()), sig.clone()],
    );
    verify(&b, &trusted).expect("PUBKEY selects the key");

    // No hash TLV at all.
    let b = with_unprotected(&image, &[keyhash.clone(), sig.clone()]);
    assert_eq!(verify(&b, &trusted), Err(VerifyError::HashMissing));

    // No key TLV at all.
    let b = with_unprotected(&image, &[hash.clone(), sig.clone()]);
    assert_eq!(verify(&b, &trusted), Err(VerifyError::KeyHashMissing));

    // A P-256 trusted key against an Ed25519-signed image.
    let p256 = SigningKey::generate(KeyKind::EcdsaP256).trusted_key();
    assert!(matches!(
        verify(&image, &p256),
        Err(VerifyError::KeyHashMismatch { .. })
    ));
}
