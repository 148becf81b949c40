//! Helpers for the tests that compare hilt-image with imgtool (MCUboot's own
//! signing tool, which nobody here wrote).
//!
//! imgtool is required: if it cannot be run, the tests fail with a message
//! saying how to install it (`pip install imgtool`); they never skip. Set
//! `HILT_IMGTOOL` to use an imgtool other than the one on `PATH`.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use hilt_image::{KeyKind, SigningKey, TrustedKey};

/// The command that runs imgtool (program and leading arguments), checked once:
/// `$HILT_IMGTOOL`, else `imgtool` on PATH, else `python3 -m imgtool.main`
/// (pip may put the script outside PATH).
pub fn imgtool_command() -> &'static [String] {
    static CHECKED: OnceLock<Vec<String>> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let candidates: Vec<Vec<String>> = match std::env::var("HILT_IMGTOOL") {
            Ok(exe) => vec![vec![exe]],
            Err(_) => vec![
                vec!["imgtool".to_string()],
                vec!["python3".into(), "-m".into(), "imgtool.main".into()],
            ],
        };
        let mut tried = Vec::new();
        for cmd in candidates {
            match Command::new(&cmd[0])
                .args(&cmd[1..])
                .arg("version")
                .output()
            {
                Ok(o) if o.status.success() => return cmd,
                Ok(o) => tried.push(format!(
                    "`{} version` failed: {}",
                    cmd.join(" "),
                    text(&o).trim()
                )),
                Err(e) => tried.push(format!("`{}` could not be run: {e}", cmd.join(" "))),
            }
        }
        panic!(
            "imgtool (MCUboot's signing tool) is required by these tests and was not found:\n  {}\n\
             Install it with `pip install imgtool` (CI installs it), or set HILT_IMGTOOL.",
            tried.join("\n  ")
        )
    })
}

/// Runs imgtool with `args`; returns the raw output.
pub fn imgtool(args: &[&str]) -> Output {
    let cmd = imgtool_command();
    Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?} {args:?}: {e}"))
}

/// Runs imgtool and panics with its output unless it succeeds.
pub fn imgtool_ok(args: &[&str]) -> String {
    let o = imgtool(args);
    let text = text(&o);
    assert!(o.status.success(), "imgtool {args:?} failed:\n{text}");
    text
}

/// stdout and stderr of a command, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A key made by `imgtool keygen`, with its files and hilt's view of it.
pub struct ImgtoolKey {
    pub kind: KeyKind,
    /// PKCS#8 private key PEM, as written by `imgtool keygen`.
    pub private_pem: PathBuf,
    /// SPKI public key PEM, as written by `imgtool getpub --encoding pem`.
    pub public_pem: PathBuf,
    pub signing: SigningKey,
    pub trusted: TrustedKey,
}

/// Generates a key with `imgtool keygen` in `dir` and loads both halves into hilt.
pub fn keygen(dir: &Path, kind: KeyKind, name: &str) -> ImgtoolKey {
    let private_pem = dir.join(format!("{name}.pem"));
    let public_pem = dir.join(format!("{name}.pub.pem"));
    imgtool_ok(&["keygen", "-t", kind.name(), "-k", s(&private_pem)]);
    imgtool_ok(&[
        "getpub",
        "-k",
        s(&private_pem),
        "--encoding",
        "pem",
        "-o",
        s(&public_pem),
    ]);
    let signing = SigningKey::from_pem(&read_text(&private_pem))
        .unwrap_or_else(|e| panic!("hilt cannot load imgtool's {kind} private key: {e}"));
    let trusted = TrustedKey::from_pem(&read_text(&public_pem))
        .unwrap_or_else(|e| panic!("hilt cannot load imgtool's {kind} public key: {e}"));
    assert_eq!(signing.kind(), kind);
    assert_eq!(
        signing.trusted_key(),
        trusted,
        "private and public halves disagree"
    );
    ImgtoolKey {
        kind,
        private_pem,
        public_pem,
        signing,
        trusted,
    }
}

/// Outcome of `imgtool verify -k KEY IMAGE`.
pub struct ImgtoolVerdict {
    pub accepted: bool,
    pub output: String,
}

pub fn imgtool_verify(key: &Path, image: &Path) -> ImgtoolVerdict {
    let o = imgtool(&["verify", "-k", s(key), s(image)]);
    let output = text(&o);
    let accepted = o.status.success() && output.contains("Image was correctly validated");
    ImgtoolVerdict { accepted, output }
}

/// `imgtool dumpinfo -f json IMAGE`, parsed.
pub fn dumpinfo_json(image: &Path) -> serde_json::Value {
    let out = imgtool(&["dumpinfo", "-f", "json", s(image)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dumpinfo failed: {}", text(&out));
    // dumpinfo prints nothing but the JSON document on stdout.
    let start = stdout.find('{').unwrap_or(0);
    serde_json::from_str(&stdout[start..])
        .unwrap_or_else(|e| panic!("dumpinfo JSON does not parse ({e}):\n{stdout}"))
}

/// `imgtool dumpinfo IMAGE` in its human format.
pub fn dumpinfo_human(image: &Path) -> String {
    imgtool_ok(&["dumpinfo", s(image)])
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

pub fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

pub fn write(p: &Path, bytes: &[u8]) {
    std::fs::write(p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic payload of `len` bytes (xorshift), so failures reproduce.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
