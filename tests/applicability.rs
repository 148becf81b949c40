//! Applicability follows the standard, not the declaration's completeness:
//! checks run, and judge, on devices whose board files leave out what the
//! check could once only read from a declaration.

#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pty_device::{board_file, Behaviour, PtyDevice};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");
const PASSWORD_ENV: &str = "HILT_APPLIC_PASSWORD";
const PASSWORD: &str = "correct-horse-7";

fn hilt(args: &[&str], dir: &Path) -> Output {
    Command::new(HILT)
        .args(args)
        .current_dir(dir)
        .env(PASSWORD_ENV, PASSWORD)
        .output()
        .expect("hilt runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn suite(dir: &Path, check: &str) -> PathBuf {
    let s = format!(
        "suite: applic\ntitle: applicability\ndefault_timeout_s: 150\nchecks:\n  - check: {check}\n"
    );
    let path = dir.join("applic-suite.yaml");
    std::fs::write(&path, s).expect("write suite");
    path
}

/// Runs one check on one board file; the exit code and the trial's record.
fn run_one(dir: &Path, board: &Path, check: &str) -> (Option<i32>, serde_json::Value, String) {
    let suite = suite(dir, check);
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir,
    );
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let run = std::fs::read_dir(dir.join("hilt-out"))
        .expect("hilt-out exists")
        .flatten()
        .next()
        .expect("one run folder")
        .path();
    let bytes = std::fs::read(run.join("record.json")).expect("record.json");
    let record: serde_json::Value = serde_json::from_slice(&bytes).expect("record is JSON");
    (out.status.code(), record["trials"][0].clone(), shown)
}

fn au04_on(behaviour: Behaviour) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "dev", behaviour);
    // The PTY board file declares passwords and no lockout.
    let board = board_file(dir.path(), "plain-login", &device, PASSWORD_ENV);
    let yaml = std::fs::read_to_string(&board).expect("board file");
    assert!(!yaml.contains("lockout:"), "{yaml}");
    run_one(dir.path(), &board, "logical_access::brute_force_lockout")
}

#[test]
fn brute_force_without_declared_lockout_fails_a_device_that_never_slows() {
    let (code, trial, shown) = au04_on(Behaviour::default());
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{shown}");
    assert_eq!(code, Some(1), "{shown}");
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no lockout or delay"), "{reason}");
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(observed.contains("10 wrong attempts"), "{observed}");
    assert!(observed.contains("no lockout declared"), "{observed}");
}

#[test]
fn brute_force_without_declared_lockout_passes_a_device_that_locks() {
    let (code, trial, shown) = au04_on(Behaviour {
        lockout: Some((5, Duration::from_secs(4))),
        ..Behaviour::default()
    });
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{shown}");
    assert_eq!(code, Some(0), "{shown}");
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(
        observed.contains("right password right after: refused"),
        "{observed}"
    );
    assert!(observed.contains("logs in"), "{observed}");
    // The board was left as found: the lock was over when the check ended.
    assert_ne!(trial["board_left"]["restored"], false, "{trial:#}");
}
