//! `hilt image` against imgtool, which nobody here wrote: what hilt signs
//! imgtool accepts, what hilt forges imgtool rejects, what imgtool signs
//! hilt inspects and verifies.

use std::path::Path;
use std::process::{Command, Output};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (scripts/install-deps.sh installs it): {e}")
        })
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hilt_signs_and_forges_as_imgtool_judges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for kind in ["ed25519", "ecdsa-p256"] {
        ok(&run("imgtool", &["keygen", "-k", "key.pem", "-t", kind], d));
        ok(&run(
            "imgtool",
            &["getpub", "-k", "key.pem", "-e", "pem", "-o", "pub.pem"],
            d,
        ));
        std::fs::write(d.join("fw.bin"), vec![0x5a; 3000]).expect("payload");
        ok(&run(
            HILT,
            &[
                "image",
                "sign",
                "fw.bin",
                "--key",
                "key.pem",
                "--version",
                "1.2.3",
                "--security-counter",
                "auto",
                "-o",
                "signed.bin",
            ],
            d,
        ));
        ok(&run(
            "imgtool",
            &["verify", "-k", "key.pem", "signed.bin"],
            d,
        ));
        assert!(ok(&run(
            HILT,
            &["image", "verify", "signed.bin", "--key", "pub.pem"],
            d
        ))
        .contains("verifies"));

        for recipe in [
            "unsigned",
            "bad-signature",
            "tampered-payload",
            "wrong-key",
            "zeroed-hash",
        ] {
            ok(&run(
                HILT,
                &[
                    "image",
                    "forge",
                    "signed.bin",
                    "--recipe",
                    recipe,
                    "-o",
                    "forged.bin",
                ],
                d,
            ));
            let imgtool = run("imgtool", &["verify", "-k", "key.pem", "forged.bin"], d);
            assert!(
                !imgtool.status.success(),
                "imgtool accepted {recipe} ({kind})"
            );
            let hilt = run(
                HILT,
                &["image", "verify", "forged.bin", "--key", "pub.pem"],
                d,
            );
            assert_eq!(
                hilt.status.code(),
                Some(1),
                "hilt accepted {recipe} ({kind})"
            );
        }

        // An imgtool-signed image: hilt reads the version and counter it wrote.
        ok(&run(
            "imgtool",
            &[
                "sign",
                "--key",
                "key.pem",
                "--pad-header",
                "-H",
                "0x200",
                "-S",
                "0x10000",
                "-v",
                "2.5.7",
                "-s",
                "9",
                "--align",
                "4",
                "fw.bin",
                "theirs.bin",
            ],
            d,
        ));
        let shown = ok(&run(HILT, &["image", "inspect", "theirs.bin"], d));
        assert!(shown.contains("version        2.5.7+0"), "{shown}");
        assert!(shown.contains("security_cnt   9"), "{shown}");
        ok(&run(
            HILT,
            &["image", "verify", "theirs.bin", "--key", "pub.pem"],
            d,
        ));
    }
}

#[test]
fn a_malformed_image_gets_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("junk.bin"), b"not an image at all").expect("write");
    let out = run(HILT, &["image", "inspect", "junk.bin"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.bin"), "{err}");
}
