//! `hilt report verify` on a real run folder: one signed run of the binary
//! against a PTY-backed device, then copies of its folder tampered with one
//! way each. Keys come from `openssl genpkey -algorithm ed25519`, which
//! nobody here wrote, and the fingerprint hilt names is the one openssl's
//! own DER output hashes to.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hilt_cli::{text, HILT};
use pty_device::{board_file, Behaviour, PtyDevice};

const PASSWORD_ENV: &str = "HILT_RV_PASSWORD";
const PASSWORD: &str = "correct-horse-7";
const KEY_ENV: &str = "HILT_RV_SIGN_KEY";

fn openssl(args: &[&str], dir: &Path) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs `openssl` on PATH (scripts/install-deps.sh installs it): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
    out
}

/// `NAME.pem` (private) and `NAME.pub.pem` (public) in `dir`; returns the
/// fingerprint as `SHA256:<hex of the SubjectPublicKeyInfo DER>`, computed
/// from openssl's DER output.
fn keypair(dir: &Path, name: &str) -> String {
    let private = format!("{name}.pem");
    let public = format!("{name}.pub.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", &private], dir);
    openssl(&["pkey", "-in", &private, "-pubout", "-out", &public], dir);
    let der = format!("{name}.der");
    openssl(
        &[
            "pkey", "-in", &private, "-pubout", "-outform", "DER", "-out", &der,
        ],
        dir,
    );
    let out = openssl(&["dgst", "-sha256", "-r", &der], dir);
    let hex = text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string();
    format!("SHA256:{hex}")
}

fn verify(dir: &Path, run: &Path, key: Option<&str>) -> (i32, String) {
    let mut args = vec![
        "report".to_string(),
        "verify".to_string(),
        run.display().to_string(),
    ];
    if let Some(key) = key {
        args.push("--key".into());
        args.push(key.into());
    }
    let out = Command::new(HILT)
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("hilt runs");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A fresh copy of the pristine run folder, for one tampering.
fn copy_of(pristine: &Path, root: &Path, name: &str) -> PathBuf {
    let to = root.join(name);
    copy_dir(pristine, &to);
    to
}

#[test]
fn verify_names_every_changed_missing_or_added_file_and_the_wrong_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fp_a = keypair(d, "lab-a");
    let fp_b = keypair(d, "lab-b");

    // One real run, signed with key A read from the environment.
    let device = PtyDevice::start(d, "rv", Behaviour::default());
    let board = board_file(d, "rv-a", &device, PASSWORD_ENV);
    let suite = hilt_cli::write_suite(
        d,
        "rv",
        Some(60),
        &[
            "logical_access::serial_login_required",
            "device_identification::logical_identifier",
        ],
    );
    let key_pem = std::fs::read_to_string(d.join("lab-a.pem")).expect("key");
    let out = hilt_cli::hilt_with(
        &[
            "run",
            "--board",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
            "--sign-key",
            &format!("env:{KEY_ENV}"),
        ],
        d,
        &[(PASSWORD_ENV, PASSWORD), (KEY_ENV, key_pem.as_str())],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "run: {stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(&fp_a), "the run names its key: {stdout}");
    assert!(
        !stdout.contains("PRIVATE KEY") && !text(&out.stderr).contains("PRIVATE KEY"),
        "the key never shows"
    );
    let run = std::fs::read_dir(d.join("hilt-out"))
        .expect("hilt-out")
        .flatten()
        .next()
        .expect("one run folder")
        .path();

    // What the manifest lists: the record, junit, the HTML report, and
    // every evidence file.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).expect("manifest"))
            .expect("manifest is JSON");
    let listed: Vec<String> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    assert!(listed.contains(&"record.json".to_string()), "{listed:?}");
    assert!(listed.contains(&"junit.xml".to_string()), "{listed:?}");
    assert!(listed.contains(&"report.html".to_string()), "{listed:?}");
    let record = hilt_cli::record(d);
    let evidence: Vec<String> = record["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .flat_map(|t| t["evidence"].as_array().cloned().unwrap_or_default())
        .map(|e| e["path"].as_str().expect("path").to_string())
        .collect();
    assert!(!evidence.is_empty(), "the run left evidence: {record}");
    for path in &evidence {
        assert!(listed.contains(path), "{path} listed: {listed:?}");
    }
    assert_eq!(manifest["signature"]["key_fingerprint"], fp_a.as_str());

    // The signature is plain Ed25519 over the documented canonical bytes,
    // rebuilt here by hand: openssl verifies it with A's key, not with B's.
    let entries: Vec<String> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            format!(
                r#"{{"path":"{}","sha256":"{}","bytes":{}}}"#,
                f["path"].as_str().expect("path"),
                f["sha256"].as_str().expect("sha256"),
                f["bytes"].as_u64().expect("bytes")
            )
        })
        .collect();
    let canonical = format!(r#"{{"format":1,"files":[{}]}}"#, entries.join(","));
    std::fs::write(d.join("canonical"), canonical).expect("write");
    let signature = decode_hex(
        manifest["signature"]["value"]
            .as_str()
            .expect("signature value"),
    );
    std::fs::write(d.join("signature"), signature).expect("write");
    let pkeyutl = |public: &str| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey", public])
            .args(["-rawin", "-in", "canonical", "-sigfile", "signature"])
            .current_dir(d)
            .output()
            .expect("openssl runs")
            .status
            .success()
    };
    assert!(pkeyutl("lab-a.pub.pem"), "openssl accepts the signature");
    assert!(!pkeyutl("lab-b.pub.pem"), "openssl rejects it for key B");

    let work = d.join("copies");
    let a_pub = d.join("lab-a.pub.pem").display().to_string();
    let b_pub = d.join("lab-b.pub.pem").display().to_string();

    // Intact: exit 0, with key A and without a key (naming A).
    let (code, said) = verify(d, &run, Some(&a_pub));
    assert_eq!(code, 0, "{said}");
    assert!(said.contains(&fp_a), "{said}");
    let (code, said) = verify(d, &run, None);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("self-consistent") && said.contains(&fp_a),
        "{said}"
    );

    // Signed with A, verified with B: fails, naming both keys.
    let (code, said) = verify(d, &run, Some(&b_pub));
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("signature") && said.contains(&fp_a) && said.contains(&fp_b),
        "{said}"
    );

    // One flipped byte in each evidence file, one at a time.
    for (i, path) in evidence.iter().enumerate() {
        let copy = copy_of(&run, &work, &format!("flip-{i}"));
        let file = copy.join(path);
        let mut bytes = std::fs::read(&file).expect("evidence");
        let at = bytes.len() / 2;
        if bytes.is_empty() {
            bytes.push(0);
        } else {
            bytes[at] ^= 0x01;
        }
        std::fs::write(&file, bytes).expect("write");
        let (code, said) = verify(d, &copy, Some(&a_pub));
        assert_eq!(code, 1, "{said}");
        assert!(said.contains(&format!("changed: {path}")), "{said}");
    }

    // A deleted evidence file.
    let copy = copy_of(&run, &work, "deleted");
    std::fs::remove_file(copy.join(&evidence[0])).expect("rm");
    let (code, said) = verify(d, &copy, Some(&a_pub));
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains(&format!("missing: {}", evidence[0])),
        "{said}"
    );

    // An added file, next to the evidence.
    let copy = copy_of(&run, &work, "added");
    let extra = Path::new(&evidence[0])
        .parent()
        .map(|p| p.join("planted.txt"))
        .unwrap_or_else(|| PathBuf::from("planted.txt"));
    std::fs::write(copy.join(&extra), b"not from the run").expect("plant");
    let (code, said) = verify(d, &copy, None);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains(&format!("added: {}", extra.display())),
        "{said}"
    );

    // record.json changed (a verdict edited): fails naming it.
    let copy = copy_of(&run, &work, "record");
    let record_text = std::fs::read_to_string(copy.join("record.json")).expect("record");
    let edited = record_text.replacen("\"FAIL\"", "\"PASS\"", 1);
    let edited = if edited == record_text {
        record_text.replacen("\"reason\": \"", "\"reason\": \"edited ", 1)
    } else {
        edited
    };
    assert_ne!(edited, record_text);
    std::fs::write(copy.join("record.json"), edited).expect("write");
    let (code, said) = verify(d, &copy, Some(&a_pub));
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("changed: record.json"), "{said}");

    // The manifest's hash brought in line with a changed file, without the
    // key: the signature no longer holds.
    let copy = copy_of(&run, &work, "rehashed");
    let file = copy.join("junit.xml");
    let mut bytes = std::fs::read(&file).expect("junit");
    bytes.extend_from_slice(b"<!-- edited -->");
    std::fs::write(&file, &bytes).expect("write");
    let mut forged = manifest.clone();
    for entry in forged["files"].as_array_mut().expect("files") {
        if entry["path"] == "junit.xml" {
            entry["sha256"] = sha256_hex(&bytes, d).into();
            entry["bytes"] = bytes.len().into();
        }
    }
    std::fs::write(
        copy.join("manifest.json"),
        serde_json::to_vec_pretty(&forged).expect("json"),
    )
    .expect("write");
    let (code, said) = verify(d, &copy, None);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("altered after signing"), "{said}");
    assert!(!said.contains("changed: junit.xml"), "hashes agree: {said}");

    // An unreadable manifest is a usage-level error (2), naming it.
    let copy = copy_of(&run, &work, "garbled");
    std::fs::write(copy.join("manifest.json"), b"{ not json").expect("write");
    let (code, said) = verify(d, &copy, None);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("manifest.json"), "{said}");
    let copy = copy_of(&run, &work, "no-manifest");
    std::fs::remove_file(copy.join("manifest.json")).expect("rm");
    let (code, said) = verify(d, &copy, None);
    assert_eq!(code, 2, "{said}");

    // A key that cannot be read stops the run before it starts (exit 2),
    // and never echoes what it read.
    let out = hilt_cli::hilt_with(
        &[
            "run",
            "--board",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
            "--sign-key",
            "file:lab-a.pub.pem",
        ],
        d,
        &[(PASSWORD_ENV, PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("BEGIN"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(d.join("hilt-out")).expect("out").count(),
        1,
        "no second run folder"
    );
}

fn sha256_hex(bytes: &[u8], dir: &Path) -> String {
    let p = dir.join("hash-input");
    std::fs::write(&p, bytes).expect("write");
    let out = openssl(&["dgst", "-sha256", "-r", "hash-input"], dir);
    text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
