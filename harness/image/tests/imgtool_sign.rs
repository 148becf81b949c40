//! hilt-image against imgtool, both directions:
//! images hilt signs pass `imgtool verify` (and, for Ed25519, whose signatures
//! are deterministic, are byte-identical to `imgtool sign` output), and images
//! `imgtool sign` makes parse field for field as `imgtool dumpinfo` reports
//! them and verify with hilt's verifier.

mod common;

use common::*;
use hilt_image::{
    sign, tlv, verify, Image, KeyKind, SignOptions, SlotPadding, VerifyPolicy, Version,
};

const VID: [u8; 16] = *b"TESTONLY-vendor!";
const CID: [u8; 16] = *b"TESTONLY-class-1";
const CUSTOM_TLV: (u16, [u8; 2]) = (0xa0, [0x12, 0x34]);

/// imgtool arguments equivalent to `opts` (raw-hex UUIDs, custom TLV as 0x-integer).
fn imgtool_sign_args(opts: &SignOptions, slot_size: usize) -> Vec<String> {
    let mut a = vec![
        "--pad-header".to_string(),
        "-H".into(),
        format!("0x{:x}", opts.header_size),
        "-S".into(),
        format!("0x{slot_size:x}"),
        "-v".into(),
        opts.version.to_string(),
    ];
    if let Some(c) = opts.security_counter {
        a.extend(["-s".into(), c.to_string()]);
    }
    if let Some(v) = opts.uuid_vid {
        a.extend(["--vid".into(), hex(&v)]);
    }
    if let Some(c) = opts.uuid_cid {
        a.extend(["--cid".into(), hex(&c)]);
    }
    for (k, d) in &opts.protected_tlvs {
        a.extend([
            "--custom-tlv".into(),
            format!("0x{k:x}"),
            format!("0x{}", hex(d)),
        ]);
    }
    if let Some(p) = &opts.pad {
        a.extend([
            "--pad".into(),
            "--align".into(),
            p.align.to_string(),
            "-M".into(),
            p.max_sectors.to_string(),
        ]);
        if p.confirm {
            a.push("--confirm".into());
        }
    }
    a
}

/// The option sets every signing test runs through.
fn option_sets() -> Vec<(&'static str, SignOptions)> {
    let v = Version::new(1, 2, 3, 0);
    let plain = SignOptions {
        version: v,
        security_counter: Some(v.auto_security_counter()),
        ..SignOptions::default()
    };
    let protected = SignOptions {
        version: Version::new(2, 0, 7, 42),
        security_counter: Some(5),
        uuid_vid: Some(VID),
        uuid_cid: Some(CID),
        protected_tlvs: vec![(CUSTOM_TLV.0, CUSTOM_TLV.1.to_vec())],
        ..SignOptions::default()
    };
    let padded = SignOptions {
        version: v,
        security_counter: None,
        header_size: 0x400,
        pad: Some(SlotPadding {
            align: 4,
            confirm: true,
            ..SlotPadding::new(0x8000)
        }),
        ..SignOptions::default()
    };
    let padded_wide = SignOptions {
        version: Version::new(0, 0, 1, 0),
        header_size: 0x20,
        pad: Some(SlotPadding {
            align: 16,
            ..SlotPadding::new(0x8000)
        }),
        ..SignOptions::default()
    };
    vec![
        ("plain -s auto", plain),
        ("-s 5 --vid --cid --custom-tlv", protected),
        ("-H 0x400 --pad --align 4 --confirm", padded),
        ("-H 0x20 --pad --align 16", padded_wide),
    ]
}

const SLOT: usize = 0x8000;

#[test]
fn hilt_signed_images_pass_imgtool_verify() {
    let dir = tempdir();
    let mut checked = 0;
    for kind in [KeyKind::Ed25519, KeyKind::EcdsaP256] {
        let key = keygen(dir.path(), kind, kind.name());
        for (i, (label, opts)) in option_sets().into_iter().enumerate() {
            let payload = payload(1000 + 37 * i, i as u64 + 1);
            let image = sign(&payload, &opts, Some(&key.signing))
                .unwrap_or_else(|e| panic!("{kind} {label}: hilt sign: {e}"));
            let path = dir.path().join(format!("hilt-{}-{i}.bin", kind.name()));
            write(&path, &image);
            for k in [&key.private_pem, &key.public_pem] {
                let v = imgtool_verify(k, &path);
                assert!(
                    v.accepted,
                    "{kind} {label}: imgtool rejected hilt's image:\n{}",
                    v.output
                );
                assert!(
                    v.output
                        .contains(&format!("Image version: {}", opts.version)),
                    "{kind} {label}: imgtool reports another version:\n{}",
                    v.output
                );
            }
            assert_matches_dumpinfo(&format!("{kind} {label} (hilt-signed)"), &path, &image);
            let report = verify(&image, &key.trusted)
                .unwrap_or_else(|e| panic!("{kind} {label}: hilt verify: {e}"));
            if let Some(pad) = &opts.pad {
                let t = hilt_image::SlotTrailer::read(&image).expect("padded image has a trailer");
                assert_eq!(t.max_align, (pad.align as usize).max(8));
                assert_eq!(t.image_ok, if pad.confirm { 1 } else { 0xff });
            }
            assert_eq!(report.version, opts.version);
            assert_eq!(report.security_counter, opts.security_counter);
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn hilt_ed25519_images_are_byte_identical_to_imgtool_sign() {
    // Ed25519 signatures are deterministic, so with the same key, payload and
    // options the whole file must match, padding and trailer included.
    let dir = tempdir();
    let key = keygen(dir.path(), KeyKind::Ed25519, "ed");
    for (i, (label, opts)) in option_sets().into_iter().enumerate() {
        let payload = payload(3000 + 11 * i, 100 + i as u64);
        let input = dir.path().join(format!("in-{i}.bin"));
        let theirs = dir.path().join(format!("imgtool-{i}.bin"));
        write(&input, &payload);
        let mut args: Vec<String> = vec!["sign".into(), "-k".into(), s(&key.private_pem).into()];
        args.extend(imgtool_sign_args(&opts, SLOT));
        args.extend([s(&input).to_string(), s(&theirs).to_string()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        imgtool_ok(&argv);
        let ours = sign(&payload, &opts, Some(&key.signing)).expect("hilt sign");
        let theirs = read(&theirs);
        assert_eq!(ours.len(), theirs.len(), "{label}: lengths differ");
        if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
            panic!("{label}: first difference at offset 0x{at:x}");
        }
    }
}

#[test]
fn hilt_ecdsa_images_match_imgtool_except_the_signature() {
    // ECDSA signatures are randomised in imgtool (deterministic RFC 6979 in
    // hilt), so compare everything the signature covers, and the key hash.
    let dir = tempdir();
    let key = keygen(dir.path(), KeyKind::EcdsaP256, "ec");
    for (i, (label, opts)) in option_sets().into_iter().enumerate() {
        let opts = SignOptions { pad: None, ..opts };
        let payload = payload(2048 + i, 200 + i as u64);
        let input = dir.path().join(format!("in-{i}.bin"));
        let theirs = dir.path().join(format!("imgtool-{i}.bin"));
        write(&input, &payload);
        let mut args: Vec<String> = vec!["sign".into(), "-k".into(), s(&key.private_pem).into()];
        args.extend(imgtool_sign_args(&opts, SLOT));
        args.extend([s(&input).to_string(), s(&theirs).to_string()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        imgtool_ok(&argv);
        let ours = sign(&payload, &opts, Some(&key.signing)).expect("hilt sign");
        let theirs = read(&theirs);
        let (a, b) = (
            Image::parse(&ours).expect("ours parses"),
            Image::parse(&theirs).expect("theirs parses"),
        );
        assert_eq!(ours[a.hashed_range()], theirs[b.hashed_range()], "{label}");
        assert_eq!(a.image_hash(), b.image_hash(), "{label}");
        assert_eq!(a.key_hash(), b.key_hash(), "{label}");
        let kinds = |i: &Image| {
            i.unprotected
                .tlvs
                .iter()
                .map(|t| t.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&a), kinds(&b), "{label}");
    }
}

/// Compares hilt's parse of `bytes` with `imgtool dumpinfo` of the same file.
fn assert_matches_dumpinfo(label: &str, path: &std::path::Path, bytes: &[u8]) {
    let img = Image::parse(bytes).unwrap_or_else(|e| panic!("{label}: hilt parse: {e}"));
    let j = dumpinfo_json(path);
    let h = &j["header"];
    let num = |v: &serde_json::Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("{label}: not a number: {v}"))
    };
    assert_eq!(
        num(&h["magic"]),
        u64::from(img.header.magic),
        "{label}: magic"
    );
    assert_eq!(
        num(&h["load_addr"]),
        u64::from(img.header.load_addr),
        "{label}: load_addr"
    );
    assert_eq!(
        num(&h["hdr_size"]),
        u64::from(img.header.hdr_size),
        "{label}: hdr_size"
    );
    assert_eq!(
        num(&h["protected_tlv_size"]),
        u64::from(img.header.protect_tlv_size),
        "{label}: protected_tlv_size"
    );
    assert_eq!(
        num(&h["img_size"]),
        u64::from(img.header.img_size),
        "{label}: img_size"
    );
    assert_eq!(
        num(&h["flags"]),
        u64::from(img.header.flags),
        "{label}: flags"
    );
    assert_eq!(
        h["version"].as_str(),
        Some(img.header.version.to_string().as_str()),
        "{label}: version"
    );

    let area = &j["tlv_area"];
    let compare_tlvs = |json: &serde_json::Value, tlvs: &[hilt_image::Tlv], which: &str| {
        let list = json
            .as_array()
            .unwrap_or_else(|| panic!("{label}: {which} not a list: {json}"));
        assert_eq!(list.len(), tlvs.len(), "{label}: {which} count");
        for (jt, t) in list.iter().zip(tlvs) {
            assert_eq!(num(&jt["type"]), u64::from(t.kind), "{label}: {which} type");
            assert_eq!(num(&jt["len"]), t.data.len() as u64, "{label}: {which} len");
            assert_eq!(
                jt["data"].as_str(),
                Some(hex(&t.data).as_str()),
                "{label}: {which} data"
            );
            let name = jt["type_name"].as_str().unwrap_or_default();
            // imgtool's names differ from image.h's in two places.
            let ours = match t.kind {
                tlv::ECDSA_SIG => Some("ECDSASIG"),
                tlv::RSA2048_PSS => Some("RSA2048"),
                k => tlv::name(k),
            };
            assert_eq!(
                ours.unwrap_or("UNKNOWN"),
                name,
                "{label}: {which} type name"
            );
        }
    };
    match &img.protected {
        Some(p) => {
            assert_eq!(
                num(&area["tlv_hdr_prot"]["magic"]),
                u64::from(p.magic),
                "{label}"
            );
            assert_eq!(
                num(&area["tlv_hdr_prot"]["tlv_tot"]),
                u64::from(p.tlv_tot),
                "{label}"
            );
            compare_tlvs(&area["tlvs_prot"], &p.tlvs, "protected TLVs");
        }
        None => {
            // dumpinfo prints an empty header object and list when there is no protected area.
            let empty = |v: &serde_json::Value| {
                v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty())
            };
            assert!(
                empty(&area["tlv_hdr_prot"]),
                "{label}: dumpinfo sees a protected area"
            );
            assert!(
                empty(&area["tlvs_prot"]),
                "{label}: dumpinfo sees protected TLVs"
            );
        }
    }
    assert_eq!(
        num(&area["tlv_hdr"]["magic"]),
        u64::from(img.unprotected.magic),
        "{label}"
    );
    assert_eq!(
        num(&area["tlv_hdr"]["tlv_tot"]),
        u64::from(img.unprotected.tlv_tot),
        "{label}"
    );
    compare_tlvs(&area["tlvs"], &img.unprotected.tlvs, "unprotected TLVs");

    // Offsets, from the human format ("#### Payload (offset: 0x200) ###").
    let human = dumpinfo_human(path);
    let offset_of = |section: &str| -> Option<usize> {
        let line = human.lines().find(|l| l.contains(section))?;
        let hexpart = line.split("offset: 0x").nth(1)?.split(')').next()?;
        usize::from_str_radix(hexpart, 16).ok()
    };
    assert_eq!(
        offset_of("#### Payload"),
        Some(img.payload.start),
        "{label}: payload offset"
    );
    assert_eq!(
        offset_of("#### Protected TLV area"),
        img.protected.as_ref().map(|p| p.offset),
        "{label}: protected area offset"
    );
    assert_eq!(
        offset_of("#### TLV area"),
        Some(img.unprotected.offset),
        "{label}: TLV area offset"
    );
    // The slot trailer, when the image was padded.
    let trailer = &j["trailer"];
    match hilt_image::SlotTrailer::read(bytes) {
        Some(t) => {
            assert_eq!(
                trailer["magic"].as_str(),
                Some(hex(&t.magic).as_str()),
                "{label}: trailer magic"
            );
            assert_eq!(
                num(&trailer["image_ok"]),
                u64::from(t.image_ok),
                "{label}: image_ok"
            );
            assert_eq!(
                num(&trailer["copy_done"]),
                u64::from(t.copy_done),
                "{label}: copy_done"
            );
            assert_eq!(
                num(&trailer["swap_info"]),
                u64::from(t.swap_info),
                "{label}: swap_info"
            );
            assert_eq!(
                num(&trailer["swap_size"]),
                u64::from(t.swap_size),
                "{label}: swap_size"
            );
        }
        None => assert!(
            img.trailing.is_empty() && trailer.as_object().is_none_or(|o| o.is_empty()),
            "{label}: dumpinfo sees a trailer hilt does not: {trailer}"
        ),
    }
    // imgtool labels the payload size too.
    assert!(
        human.contains(&format!("FW image (size: 0x{:x} Bytes)", img.payload.len())),
        "{label}: payload size"
    );
}

#[test]
fn imgtool_signed_images_parse_as_dumpinfo_reports_and_verify_in_hilt() {
    let dir = tempdir();
    let mut checked = 0;
    for kind in [KeyKind::Ed25519, KeyKind::EcdsaP256] {
        let key = keygen(dir.path(), kind, kind.name());
        let cases: Vec<(&str, Vec<&str>, Option<u32>)> = vec![
            (
                "--pad-header -H 0x200 -S 0x20000 -v 1.2.3 -s auto",
                vec![
                    "--pad-header",
                    "-H",
                    "0x200",
                    "-S",
                    "0x20000",
                    "-v",
                    "1.2.3",
                    "-s",
                    "auto",
                ],
                Some(0x0102_0003),
            ),
            (
                "-s 5 with protected custom TLV, --vid, --cid",
                vec![
                    "--pad-header",
                    "-H",
                    "0x200",
                    "-S",
                    "0x20000",
                    "-v",
                    "1.2.3+9",
                    "-s",
                    "5",
                    "--custom-tlv",
                    "0xa5",
                    "0xdeadbeef",
                    "--vid",
                    "example.com",
                    "--cid",
                    "thermostat",
                ],
                Some(5),
            ),
            (
                "--pad --confirm --align 8 -L (RAM load)",
                vec![
                    "--pad-header",
                    "-H",
                    "0x200",
                    "-S",
                    "0x10000",
                    "-v",
                    "0.9.0",
                    "--pad",
                    "--confirm",
                    "--align",
                    "8",
                    "-L",
                    "0x20000000",
                ],
                None,
            ),
        ];
        for (i, (label, extra, counter)) in cases.into_iter().enumerate() {
            let label = format!("{kind} {label}");
            let input = dir.path().join(format!("in-{}-{i}.bin", kind.name()));
            let out = dir.path().join(format!("imgtool-{}-{i}.bin", kind.name()));
            write(&input, &payload(1500 + 3 * i, 300 + i as u64));
            let mut args = vec!["sign", "-k", s(&key.private_pem)];
            args.extend(extra);
            args.extend([s(&input), s(&out)]);
            imgtool_ok(&args);
            let bytes = read(&out);
            assert_matches_dumpinfo(&label, &out, &bytes);
            let report = verify(&bytes, &key.trusted)
                .unwrap_or_else(|e| panic!("{label}: hilt rejects imgtool's image: {e}"));
            assert_eq!(report.security_counter, counter, "{label}");
            assert_eq!(report.key_hash, key.trusted.key_hash(), "{label}");
            let img = Image::parse(&bytes).expect("parsed above");
            assert_eq!(
                img.key_hash(),
                Some(key.trusted.key_hash().as_slice()),
                "{label}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn imgtool_uuids_and_flags_reach_the_policy_checks() {
    let dir = tempdir();
    let key = keygen(dir.path(), KeyKind::Ed25519, "ed");
    let input = dir.path().join("in.bin");
    let out = dir.path().join("out.bin");
    write(&input, &payload(700, 9));
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
        "1.0.0",
        "-s",
        "7",
        "--vid",
        &hex(&VID),
        "--cid",
        &hex(&CID),
        s(&input),
        s(&out),
    ]);
    let bytes = read(&out);
    let ok = VerifyPolicy {
        min_security_counter: Some(7),
        uuid_vid: Some(VID),
        uuid_cid: Some(CID),
    };
    let report = hilt_image::verify_with_policy(&bytes, &key.trusted, &ok).expect("policy met");
    assert_eq!(report.uuid_vid, Some(VID));
    assert_eq!(report.uuid_cid, Some(CID));
    let too_new = VerifyPolicy {
        min_security_counter: Some(8),
        ..VerifyPolicy::default()
    };
    assert!(matches!(
        hilt_image::verify_with_policy(&bytes, &key.trusted, &too_new),
        Err(hilt_image::VerifyError::SecurityCounter {
            image: Some(7),
            minimum: 8
        })
    ));
}

#[test]
fn ecdsa_signatures_from_imgtool_verify_repeatedly() {
    // OpenSSL's ECDSA signatures are random; sign several times so both low-
    // and high-s signatures and 70-72 byte DER lengths are exercised.
    let dir = tempdir();
    let key = keygen(dir.path(), KeyKind::EcdsaP256, "ec");
    let input = dir.path().join("in.bin");
    write(&input, &payload(512, 77));
    let mut lengths = std::collections::BTreeSet::new();
    for i in 0..8 {
        let out = dir.path().join(format!("out-{i}.bin"));
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
            s(&input),
            s(&out),
        ]);
        let bytes = read(&out);
        verify(&bytes, &key.trusted).unwrap_or_else(|e| panic!("signature {i}: {e}"));
        let img = Image::parse(&bytes).expect("parses");
        lengths.insert(img.signature().map(|t| t.data.len()));
    }
    assert!(!lengths.is_empty());
}
