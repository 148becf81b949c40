//! The board is left as found: a destructive check stopped by its timeout
//! or by SIGTERM in the middle of its attack still has its changes put back
//! (verified by reading them back), and the record says so. Runs against
//! the simulated reference board (needs root: network namespaces).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

/// Board indices of this test file (198.18.21.0/24 ...).
const BASE_INDEX: &str = "21";

struct Sim {
    runtime: PathBuf,
    board: PathBuf,
}

impl Sim {
    fn up(dir: &Path) -> Self {
        let runtime = dir.join("rt");
        let out = Command::new(sim_binary())
            .args([
                "up",
                "--count",
                "1",
                "--fresh",
                "--base-index",
                BASE_INDEX,
                "--runtime-dir",
            ])
            .arg(&runtime)
            .output()
            .expect("hilt-sim runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let board = runtime.join(format!("sim-{BASE_INDEX}")).join("board.yaml");
        assert!(board.is_file(), "{}", String::from_utf8_lossy(&out.stdout));
        Self { runtime, board }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new(sim_binary())
            .args(["down", "--runtime-dir"])
            .arg(&self.runtime)
            .output();
    }
}

fn sim_binary() -> PathBuf {
    Path::new(HILT).with_file_name("hilt-sim")
}

fn hilt_run(dir: &Path, board: &Path, suite: &str) -> Command {
    let path = dir.join("suite.yaml");
    std::fs::write(&path, suite).expect("suite");
    let mut cmd = Command::new(HILT);
    cmd.arg("run")
        .arg("-b")
        .arg(board)
        .arg("--suite")
        .arg(&path)
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn last_record(dir: &Path) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .collect();
    runs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let run = runs.pop().expect("a run folder");
    serde_json::from_slice(&std::fs::read(run.join("record.json")).expect("record")).expect("JSON")
}

fn trial<'a>(record: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    record["trials"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["check"] == check))
        .unwrap_or_else(|| panic!("no {check} in {record}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn lockout_settings_are_put_back_after_a_timeout_and_after_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path());
    let au04 = "logical_access::brute_force_lockout";

    // Timeout: AU-04 shortens the lockout delay, then is cut off while it
    // waits the lock out. The next check finds the board as it was.
    let out = hilt_run(
        dir.path(),
        &sim.board,
        &format!("suite: t\ntitle: t\nchecks:\n  - check: {au04}\n    timeout_s: 3\n  - check: logical_access::password_change\n"),
    )
    .output()
    .expect("hilt runs");
    let record = last_record(dir.path());
    let cut = trial(&record, au04);
    assert_eq!(cut["verdict"], "INCONCLUSIVE", "{}", text(&out));
    let reason = cut["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("timeout of 3 s") && reason.contains("waiting for"),
        "{reason}"
    );
    assert_eq!(cut["board_left"]["restored"], true, "{cut}");
    let note = cut["board_left"]["note"].as_str().unwrap_or("");
    assert!(note.contains("lockout_delay_s back to \"30\""), "{note}");
    let next = trial(&record, "logical_access::password_change");
    assert_eq!(next["verdict"], "PASS", "{next}");
    assert_eq!(next["board_left"]["restored"], true, "{next}");

    // SIGTERM in the middle of the attack: the record is written, marked
    // incomplete, and the undo still ran.
    let child = hilt_run(
        dir.path(),
        &sim.board,
        &format!("suite: t\ntitle: t\nchecks:\n  - check: {au04}\n"),
    )
    .spawn()
    .expect("spawn");
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    let record = last_record(dir.path());
    assert_eq!(record["complete"], false);
    assert!(
        record["interrupted"]
            .as_str()
            .unwrap_or("")
            .contains("SIGTERM"),
        "{record}"
    );
    let stopped = trial(&record, au04);
    assert_eq!(stopped["verdict"], "INCONCLUSIVE", "{stopped}");
    assert_eq!(stopped["board_left"]["restored"], true, "{stopped}");
    let note = stopped["board_left"]["note"].as_str().unwrap_or("");
    assert!(note.contains("lockout_delay_s back to \"30\""), "{note}");
}
