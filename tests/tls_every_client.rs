//! DP-03, DP-04 and DP-06 judge every declared TLS client (issue 9).
//!
//! Against the simulated board's `second-tls-client` shape (telemetry,
//! reached through its setting, and an update check, `ota-check`, whose
//! server 198.18.<i>.11:8443 is fixed and taken over on the link):
//! - a flaw in the second client alone FAILs DP-03, naming that client,
//!   with the first client's PASS and both clients' evidence kept;
//! - a second client that never comes (the board file names another
//!   address) leaves DP-03 INCONCLUSIVE, though the first client held.
//!
//! Needs root (namespaces).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{record, text, HILT};

/// Board indices of this file (the tlsall range, 60..=79).
const FLAWED_INDEX: u32 = 71;
const UNMET_INDEX: u32 = 72;

struct Sim {
    runtime: PathBuf,
    board: PathBuf,
}

impl Sim {
    fn up(dir: &Path, index: u32, flaw: Option<&str>) -> Self {
        let runtime = dir.join("rt");
        let mut cmd = Command::new(Path::new(HILT).with_file_name("hilt-sim"));
        cmd.args([
            "up",
            "--count",
            "1",
            "--fresh",
            "--shape",
            "second-tls-client",
        ])
        .args(["--base-index", &index.to_string(), "--runtime-dir"])
        .arg(&runtime);
        if let Some(flaw) = flaw {
            cmd.args(["--flaw", flaw]);
        }
        let out = cmd
            .output()
            .expect("hilt-sim runs (cargo build --workspace --bins first)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let board = runtime.join(format!("sim-{index}")).join("board.yaml");
        assert!(board.is_file(), "{}", text(&out.stdout));
        Self { runtime, board }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(HILT).with_file_name("hilt-sim"))
            .args(["down", "--runtime-dir"])
            .arg(&self.runtime)
            .output();
    }
}

/// Runs DP-03 on `board`; the trial's verdict, reason and observation.
fn dp03(dir: &Path, board: &Path) -> (String, String, String) {
    let out = Command::new(HILT)
        .arg("run")
        .arg("-b")
        .arg(board)
        .arg("--out")
        .arg(dir.join("hilt-out"))
        .args(["--", "DP-03"])
        .output()
        .expect("hilt runs");
    let record = record(dir);
    let trial = &record["trials"][0];
    let field = |name: &str| trial[name].as_str().unwrap_or_default().to_string();
    let verdict = field("verdict");
    assert!(!verdict.is_empty(), "{}", text(&out.stdout));
    (verdict, field("reason"), field("observed"))
}

#[test]
fn a_flaw_in_the_second_client_alone_fails_and_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), FLAWED_INDEX, Some("ota-accepts-untrusted"));
    let (verdict, reason, observed) = dp03(dir.path(), &sim.board);
    assert_eq!(verdict, "FAIL", "{reason}");
    assert!(reason.starts_with("ota-check: "), "{reason}");
    assert!(!reason.contains("telemetry"), "{reason}");
    assert!(
        observed.contains("telemetry: ") && observed.contains("ota-check: "),
        "{observed}"
    );
    // Each client's meetings are kept under its own name.
    let evidence: Vec<String> = walk(&dir.path().join("hilt-out"));
    for name in [
        "rogue-telemetry-self_signed.json",
        "rogue-ota-check-self_signed.json",
    ] {
        assert!(
            evidence.iter().any(|e| e.ends_with(name)),
            "{name} missing: {evidence:?}"
        );
    }
}

#[test]
fn a_second_client_that_never_comes_keeps_the_first_clients_pass_from_standing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), UNMET_INDEX, None);
    let declared = format!("198.18.{UNMET_INDEX}.11:8443");
    let original = std::fs::read_to_string(&sim.board).expect("board file");
    assert!(original.contains(&declared), "{original}");
    // The device calls .11; the board file says .12: nobody comes there.
    let board = dir.path().join("board.yaml");
    std::fs::write(
        &board,
        original.replace(&declared, &format!("198.18.{UNMET_INDEX}.12:8443")),
    )
    .expect("write board file");
    let (verdict, reason, _) = dp03(dir.path(), &board);
    assert_eq!(verdict, "INCONCLUSIVE", "{reason}");
    assert!(reason.contains("ota-check: "), "{reason}");
    assert!(reason.contains("never connected"), "{reason}");
    assert!(reason.contains("clients that held: telemetry"), "{reason}");
}

/// Every file path below `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
