//! A forged image refused at upload counts only if the same path takes the
//! genuine image: a board file whose HTTP upload path is wrong (the device
//! refuses every upload there) leaves SU-02 INCONCLUSIVE, never PASS,
//! while the correct path PASSes. Needs root (namespaces).

use std::path::Path;
use std::process::Command;

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{record, text, HILT};

/// The simulated board's index for this file.
const INDEX: u32 = 73;

fn sim(args: &[&str], runtime: &Path) -> std::process::Output {
    Command::new(Path::new(HILT).with_file_name("hilt-sim"))
        .args(args)
        .arg("--runtime-dir")
        .arg(runtime)
        .output()
        .expect("hilt-sim runs (cargo build --workspace --bins first)")
}

/// SU-02 on `board`: (verdict, reason).
fn su02(dir: &Path, board: &Path) -> (String, String) {
    let out = Command::new(HILT)
        .arg("run")
        .arg("-b")
        .arg(board)
        .arg("--out")
        .arg(dir.join("hilt-out"))
        .args(["--", "SU-02"])
        .output()
        .expect("hilt runs");
    let record = record(dir);
    let trial = &record["trials"][0];
    let verdict = trial["verdict"].as_str().unwrap_or_default().to_string();
    assert!(!verdict.is_empty(), "{}", text(&out.stderr));
    (
        verdict,
        trial["reason"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_path_that_refuses_every_upload_proves_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: simulated boards need root for their own links");
        return;
    }
    let rt = tempfile::tempdir().expect("tempdir");
    let index = INDEX.to_string();
    let up = sim(
        &["up", "--count", "1", "--fresh", "--base-index", &index],
        rt.path(),
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let board = rt.path().join(format!("sim-{INDEX}")).join("board.yaml");
    let declared = std::fs::read_to_string(&board).expect("board file");
    assert!(
        declared.contains("/api/v1/firmware?mode=test"),
        "{declared}"
    );
    let wrong = rt.path().join("wrong-path.yaml");
    std::fs::write(
        &wrong,
        declared.replace(
            "/api/v1/firmware?mode=test",
            "/api/v1/no-such-upload?mode=test",
        ),
    )
    .expect("write board");

    let dir = tempfile::tempdir().expect("tempdir");
    let (verdict, reason) = su02(dir.path(), &wrong);
    let right_dir = tempfile::tempdir().expect("tempdir");
    let (right, right_reason) = su02(right_dir.path(), &board);
    let _ = sim(&["down"], rt.path());
    assert_eq!(verdict, "INCONCLUSIVE", "{reason}");
    assert!(
        reason.contains("no-such-upload") && reason.contains("proves nothing"),
        "{reason}"
    );
    assert_eq!(right, "PASS", "{right_reason}");
}
