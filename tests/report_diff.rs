//! `hilt report diff` on the records of two real runs of the binary
//! against PTY-backed devices named `dut`: run A on a device with a login
//! console (AU-09 PASS, ID-01, NT-02), run B on one whose console opens a
//! shell to anyone and reports another device id (AU-09 FAIL, ID-01,
//! NT-01). About 5 s.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};

use hilt_cli::{hilt_with, run_dir, text, write_suite};
use pty_device::{board_file, board_file_with_console, Behaviour, PtyDevice};

const PASSWORD_ENV: &str = "HILT_RD_PASSWORD";
const PASSWORD: &str = "correct-horse-7";

/// Runs `checks` on the board and returns the run folder.
fn run(dir: &Path, board: &Path, checks: &[&str]) -> PathBuf {
    let suite = write_suite(dir, "rd", Some(60), checks);
    let out = hilt_with(
        &[
            "run",
            "--board",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir,
        &[(PASSWORD_ENV, PASSWORD)],
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "run: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    run_dir(dir)
}

/// `hilt report diff ARGS`: exit status, stdout, stderr.
fn diff(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["report", "diff"];
    all.extend_from_slice(args);
    let out = hilt_with(&all, Path::new("."), &[]);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn two_runs(root: &Path) -> (PathBuf, PathBuf) {
    let a = root.join("a");
    let b = root.join("b");
    std::fs::create_dir_all(&a).expect("a");
    std::fs::create_dir_all(&b).expect("b");
    let sound = PtyDevice::start(&a, "dut", Behaviour::default());
    let board = board_file(&a, "dut", &sound, PASSWORD_ENV);
    let run_a = run(
        &a,
        &board,
        &[
            "logical_access::serial_login_required",
            "device_identification::logical_identifier",
            "non_technical::vulnerability_disclosure",
        ],
    );
    drop(sound);
    let open = PtyDevice::start(
        &b,
        "dut",
        Behaviour {
            login: false,
            id: "DEV-0002".into(),
            ..Behaviour::default()
        },
    );
    let board = board_file_with_console(
        &b,
        "dut",
        &open,
        PASSWORD_ENV,
        r#"{ prompt: "dev> ", wake: enter }"#,
    );
    let run_b = run(
        &b,
        &board,
        &[
            "logical_access::serial_login_required",
            "device_identification::logical_identifier",
            "non_technical::support_period",
        ],
    );
    (run_a, run_b)
}

fn record(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("record.json")).expect("record"))
        .expect("record is JSON")
}

/// AU-09's console evidence: in run B (FAIL) its locator names the
/// transcript line where the device showed the shell prompt unasked; in
/// run A (PASS) there is no locator.
fn located_prompt(a: &Path, b: &Path) {
    let console_log = |run: &Path| -> serde_json::Value {
        let record = record(run);
        let trial = record["trials"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["catalogue_id"] == "AU-09").cloned())
            .expect("AU-09 trial");
        trial["evidence"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|e| e["path"].as_str().is_some_and(|p| p.ends_with(".log")))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no console transcript: {trial:#}"))
    };
    assert!(
        console_log(a).get("locator").is_none(),
        "{}",
        console_log(a)
    );
    let evidence = console_log(b);
    let n: usize = evidence["locator"]
        .as_str()
        .and_then(|l| l.strip_prefix("line "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line locator: {evidence}"));
    let path = b.join(evidence["path"].as_str().unwrap_or_default());
    let transcript = std::fs::read_to_string(&path).expect("transcript");
    let line = transcript.lines().nth(n - 1).unwrap_or_default();
    assert!(
        line.contains(" < ") && line.contains("dev> "),
        "line {n} of {}: {line:?}\n{transcript}",
        path.display()
    );
}

#[test]
fn diff_names_regressions_fixes_new_removed_evidence_and_board_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = two_runs(dir.path());
    let (a_s, b_s) = (a.display().to_string(), b.display().to_string());

    located_prompt(&a, &b);

    let (code, out, err) = diff(&[&a_s, &b_s]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "REGRESSED  dut AU-09 logical_access::serial_login_required: PASS -> FAIL: ",
        "NEW        dut NT-01 non_technical::support_period: DECLARED",
        "REMOVED    dut NT-02 non_technical::vulnerability_disclosure: DECLARED",
        "BOARD      dut logical_id: DEV-0001 -> DEV-0002",
        "BOARD      dut file_sha256: ",
        "EVIDENCE   dut logical_access::serial_login_required: ",
        "1 regression(s), 0 fix(es), 0 other change(s), 1 new, 1 removed, ",
        "diff: REGRESSED",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }

    // The other way round: a fix, exit 0; given as record.json files.
    let (code, out, err) = diff(&[
        &b.join("record.json").display().to_string(),
        &a.join("record.json").display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("FIXED      dut AU-09 logical_access::serial_login_required: FAIL -> PASS"),
        "{out}"
    );
    assert!(out.ends_with("diff: no regression\n"), "{out}");

    // A run against itself: nothing at all.
    let (code, out, _) = diff(&[&a_s, &a_s]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 regression(s), 0 fix(es), 0 other change(s), 0 new, 0 removed, 0 evidence file(s) changed, 0 board field(s) changed; 3 trial(s) unchanged"),
        "{out}"
    );

    // JSON: the evidence hashes are those the two records hold.
    let (code, out, err) = diff(&["--format", "json", &a_s, &b_s]);
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("diff JSON");
    assert_eq!(json["regressions"][0]["old"], "PASS", "{json:#}");
    assert_eq!(json["regressions"][0]["new"], "FAIL", "{json:#}");
    assert_eq!(json["regressions"][0]["catalogue_id"], "AU-09", "{json:#}");
    let hashes = |run: &Path| -> Vec<(String, String)> {
        record(run)["trials"]
            .as_array()
            .expect("trials")
            .iter()
            .flat_map(|t| t["evidence"].as_array().cloned().unwrap_or_default())
            .map(|e| (e["path"].to_string(), e["sha256"].to_string()))
            .collect()
    };
    let (old_hashes, new_hashes) = (hashes(&a), hashes(&b));
    let changes = json["evidence"].as_array().expect("evidence");
    assert!(!changes.is_empty(), "{json:#}");
    for change in changes {
        let path = change["path"].to_string();
        for (side, hashes) in [("old_sha256", &old_hashes), ("new_sha256", &new_hashes)] {
            let recorded = hashes.iter().find(|(p, _)| *p == path).map(|(_, h)| h);
            match recorded {
                Some(h) => assert_eq!(&change[side].to_string(), h, "{change}"),
                None => assert!(change[side].is_null(), "{change}"),
            }
        }
    }
}

#[test]
fn an_incomplete_run_or_an_unreadable_record_is_not_a_clean_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let device = PtyDevice::start(d, "dut", Behaviour::default());
    let board = board_file(d, "dut", &device, PASSWORD_ENV);
    let run = run(d, &board, &["device_identification::logical_identifier"]);
    drop(device);
    let mut rec = record(&run);

    // The same run, marked as interrupted: it cannot show that nothing regressed.
    rec["complete"] = false.into();
    rec["interrupted"] = "interrupted by SIGINT".into();
    let cut = d.join("cut.json");
    std::fs::write(&cut, rec.to_string()).expect("write");
    let run_s = run.display().to_string();
    let (code, out, _) = diff(&[&run_s, &cut.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.ends_with("diff: INCOMPLETE\n"), "{out}");

    // Usage and input errors: exit 2, naming the file.
    let missing = d.join("no-such-run");
    let (code, _, err) = diff(&[&run_s, &missing.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-run"), "{err}");
    rec["format"] = 99.into();
    let future = d.join("future.json");
    std::fs::write(&future, rec.to_string()).expect("write");
    let (code, _, err) = diff(&[&future.display().to_string(), &run_s]);
    assert_eq!(code, 2);
    assert!(err.contains("record format 99"), "{err}");
    let (code, _, _) = diff(&[&run_s]);
    assert_eq!(code, 2, "one run is a usage error");
}
