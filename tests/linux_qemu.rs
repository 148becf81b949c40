//! A Linux device in QEMU (boards/linux-qemu-x86): Debian's amd64 kernel
//! and a busybox initramfs that boards/linux-qemu-x86/build-guest.sh makes
//! from Debian's packages. `hilt run` starts the machine itself, makes the
//! tap that is the board's link (198.19.10.1 on `hilt-ql0`, the guest at
//! 198.19.10.2), and runs every check of `nistir-8259a` through the CLI;
//! the verdicts must equal the board's table in docs/third-party.md, with
//! nothing INCONCLUSIVE or ERROR. Afterwards no QEMU and no tap is left.
//!
//! To stay inside its time budget on a busy 2-core host the suite runs
//! with smaller parameters where a check repeats itself (AU-01 tries the
//! first four pairs of its dictionary, ID-02 one power cycle, DP-01 a 3 s
//! window); every check still runs.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "support/third_party.rs"]
mod third_party_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hilt_cli::{text, HILT};
use third_party_support::{processes_mentioning, verdict_table};

/// The tap the board file names; 198.19.10.0/24 is this test's subnet.
const TAP: &str = "hilt-ql0";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn board_file() -> PathBuf {
    repo().join("boards/linux-qemu-x86/board.yaml")
}

/// Whether QEMU, busybox-static and root are here (else the hint, or a
/// skip with HILT_ALLOW_SKIP).
fn ready() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let busybox_static = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "busybox-static"])
        .output()
        .is_ok_and(|o| text(&o.stdout).contains("install ok installed"));
    let mut missing: Vec<&str> = ["qemu-system-x86_64", "ip", "xz", "openssl"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !busybox_static {
        missing.push("busybox-static");
    }
    if root && missing.is_empty() {
        return true;
    }
    let why = format!(
        "the Linux QEMU board needs root (for its tap) and {missing:?}: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip"
    );
    assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "{why}");
    eprintln!("note: {why}; skipping");
    false
}

/// Builds the guest (nothing to do when target/linux-qemu-x86 is current).
fn build_guest() {
    let out = Command::new("sh")
        .arg(repo().join("boards/linux-qemu-x86/build-guest.sh"))
        .output()
        .expect("build-guest.sh runs");
    assert!(
        out.status.success(),
        "build-guest.sh failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Deletes the tap if a failed run left it (hilt deletes the tap it made).
struct TapGuard;

impl Drop for TapGuard {
    fn drop(&mut self) {
        if tap_exists() {
            let _ = Command::new("ip")
                .args(["link", "del", "dev", TAP])
                .status();
        }
    }
}

fn tap_exists() -> bool {
    Path::new("/sys/class/net").join(TAP).exists()
}

/// `nistir-8259a` with smaller repeat counts and a timeout floor that
/// allows a boot under software emulation on a busy host.
fn suite_file(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(repo().join("suites/nistir-8259a.yaml"))
        .expect("suites/nistir-8259a.yaml");
    let params: BTreeMap<&str, &str> = [
        ("logical_access::default_credentials", "{ max_attempts: 4 }"),
        (
            "device_identification::identifier_immutable",
            "{ cycles: 1 }",
        ),
        ("data_protection::passive_traffic", "{ window_s: 3 }"),
    ]
    .into_iter()
    .collect();
    let mut suite = String::from(
        "suite: linux-qemu\ntitle: nistir-8259a with fewer repeats\ndefault_timeout_s: 150\nchecks:\n",
    );
    for line in base.lines() {
        let Some(check) = line.trim().strip_prefix("- check: ") else {
            continue;
        };
        let check = check.trim();
        suite.push_str(&format!("  - check: {check}\n"));
        if let Some(p) = params.get(check) {
            suite.push_str(&format!("    params: {p}\n"));
        }
    }
    let path = dir.join("linux-qemu-suite.yaml");
    std::fs::write(&path, suite).expect("write suite");
    path
}

/// A console transcript (`+seconds < text` from the device, `> text` to
/// it, one read a line) as one stream of the device's text.
fn device_text(transcript: &str) -> String {
    transcript
        .lines()
        .filter_map(|l| l.split_once(' ').and_then(|(_, r)| r.strip_prefix("< ")))
        .collect()
}

#[test]
fn linux_in_qemu_earns_the_verdicts_in_its_table() {
    if !ready() {
        return;
    }
    build_guest();
    let _tap = TapGuard;
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = suite_file(dir.path());
    let started = std::time::Instant::now();
    let out = Command::new(HILT)
        .args(["run", "-b"])
        .arg(board_file())
        .arg("--suite")
        .arg(&suite)
        .current_dir(dir.path())
        .output()
        .expect("hilt runs");
    let took = started.elapsed();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    eprintln!(
        "hilt run on linux-qemu-x86 took {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "FAILs and nothing worse: {stdout}\n{stderr}"
    );
    // Nothing is left: QEMU ended with the run, and the tap hilt made is gone.
    assert!(!tap_exists(), "hilt left the tap {TAP}");
    let left = processes_mentioning(&format!("ifname={TAP}"));
    assert!(left.is_empty(), "QEMU left running: {left:?}");

    let record = hilt_cli::record(dir.path());
    let doc =
        std::fs::read_to_string(repo().join("docs/third-party.md")).expect("docs/third-party.md");
    let table = verdict_table(&doc, "linux-qemu-x86")
        .expect("docs/third-party.md has a verdict table under ### linux-qemu-x86");
    let mut got = BTreeMap::new();
    for trial in record["trials"].as_array().expect("trials") {
        let id = trial["catalogue_id"].as_str().expect("id").to_string();
        let verdict = trial["verdict"].as_str().expect("verdict").to_string();
        assert!(
            !matches!(verdict.as_str(), "INCONCLUSIVE" | "ERROR"),
            "{id} {verdict}: {}",
            trial["reason"]
        );
        eprintln!(
            "  {id} {verdict} {:.1} s",
            trial["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
        );
        got.insert(id, verdict);
    }
    let differ: Vec<String> = table
        .iter()
        .filter(|(id, want)| got.get(*id) != Some(*want))
        .map(|(id, want)| format!("{id}: table {want}, run {:?}", got.get(id)))
        .chain(
            got.keys()
                .filter(|id| !table.contains_key(*id))
                .map(|id| format!("{id}: not in the table")),
        )
        .collect();
    assert!(differ.is_empty(), "verdicts differ: {differ:#?}\n{stdout}");

    // The evidence shows what the verdicts rest on: busybox's login prompt
    // and its refusal on the console (AU-09), and a telnet login (AU-05).
    let run = record["run_id"].as_str().expect("run id").to_string();
    let evidence = dir
        .path()
        .join("hilt-out")
        .join(&run)
        .join("evidence/linux-qemu-x86");
    let au09 = std::fs::read_to_string(
        evidence.join("logical_access.serial_login_required/console-1.log"),
    )
    .expect("AU-09 transcript");
    let au09 = device_text(&au09);
    assert!(au09.contains("hilt-linux login: "), "{au09}");
    assert!(au09.contains("Login incorrect"), "{au09}");
    let telnet = std::fs::read_to_string(
        evidence.join("data_protection.cleartext_credentials/telnet-23-login.txt"),
    )
    .expect("AU-05 telnet transcript");
    assert!(telnet.contains("<redacted>"), "{telnet}");

    // The root password is in no file the run wrote.
    let password = std::fs::read_to_string(repo().join("target/linux-qemu-x86/root-password"))
        .expect("root-password");
    let password = password.trim();
    assert!(password.len() >= 12, "a strong password was made");
    let mut stack = vec![dir.path().join("hilt-out")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "the root password appears in {}",
                path.display()
            );
        }
    }
}
