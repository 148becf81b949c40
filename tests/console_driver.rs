//! The console driver end to end, through the `hilt` binary against PTY
//! test devices: a console that prints `Last login: ...` and a message of
//! the day after a login, one that also takes root/root, one without
//! login, and a board file whose prompt is no regular expression. The
//! saved console transcripts in the run folder are the evidence checked.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::Ordering;

use pty_device::{board_file, board_file_with_console, empty_logins_in, Behaviour, PtyDevice};

use hilt_cli::text;
const PASSWORD_ENV: &str = "HILT_E2E_PASSWORD";
const PASSWORD: &str = "correct-horse-7";

fn hilt(args: &[&str], dir: &Path) -> Output {
    hilt_cli::hilt_with(args, dir, &[(PASSWORD_ENV, PASSWORD)])
}

/// Runs `checks` on `board`; exit code, record and stdout.
fn run(dir: &Path, board: &Path, checks: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut suite = String::from("suite: console\ntitle: console driver\nchecks:\n");
    for c in checks {
        suite.push_str(&format!("  - check: {c}\n"));
    }
    let suite_path = dir.join("console-suite.yaml");
    std::fs::write(&suite_path, suite).expect("write suite");
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite_path.display().to_string(),
        ],
        dir,
    );
    let run = std::fs::read_dir(dir.join("hilt-out"))
        .expect("hilt-out exists")
        .flatten()
        .next()
        .expect("one run folder")
        .path();
    let bytes = std::fs::read(run.join("record.json")).expect("record.json");
    let record = serde_json::from_slice(&bytes).expect("record is JSON");
    (
        out.status.code(),
        record,
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Every console transcript saved in the run folder.
fn transcripts(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("hilt-out")];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("console-") && n.ends_with(".log"))
            {
                let body = std::fs::read_to_string(&path).expect("read transcript");
                found.push((path, body));
            }
        }
    }
    found
}

/// The transcripts exist, show the device's `Last login:` line, and send
/// no empty line at a login prompt.
fn assert_clean_logins(dir: &Path, device: &PtyDevice) {
    let saved = transcripts(dir);
    assert!(!saved.is_empty(), "no console transcript saved");
    assert!(
        saved
            .iter()
            .any(|(_, t)| t.contains("18:01:02 UTC 2026 on pts/3")),
        "the device's last-login line is in the evidence"
    );
    for (path, body) in &saved {
        assert_eq!(
            empty_logins_in(body),
            Vec::<String>::new(),
            "empty user name sent in {}:\n{body}",
            path.display()
        );
        assert!(!body.contains(PASSWORD), "password in {}", path.display());
    }
    assert_eq!(
        device.empty_logins.load(Ordering::SeqCst),
        0,
        "the device saw an empty user name"
    );
}

fn last_login_device(dir: &Path, default_root: bool) -> PtyDevice {
    PtyDevice::start(
        dir,
        "a",
        Behaviour {
            last_login_motd: true,
            default_root,
            ..Behaviour::default()
        },
    )
}

#[test]
fn au01_logs_in_cleanly_past_a_last_login_line_and_motd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = last_login_device(dir.path(), false);
    let board = board_file(dir.path(), "motd", &device, PASSWORD_ENV);
    let (code, rec, out) = run(dir.path(), &board, &["logical_access::default_credentials"]);
    assert_eq!(rec["trials"][0]["verdict"], "PASS", "{out}\n{rec:#}");
    assert_eq!(code, Some(0), "{out}");
    assert_clean_logins(dir.path(), &device);
}

#[test]
fn au01_fails_a_console_that_also_accepts_root_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = last_login_device(dir.path(), true);
    let board = board_file(dir.path(), "root", &device, PASSWORD_ENV);
    let (code, rec, out) = run(dir.path(), &board, &["logical_access::default_credentials"]);
    assert_eq!(rec["trials"][0]["verdict"], "FAIL", "{out}\n{rec:#}");
    assert!(
        rec["trials"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("root/root"),
        "{rec:#}"
    );
    assert_eq!(code, Some(1), "{out}");
    assert_clean_logins(dir.path(), &device);
}

#[test]
fn a_console_without_login_is_judged_not_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(
        dir.path(),
        "open",
        Behaviour {
            login: false,
            ..Behaviour::default()
        },
    );
    let board = board_file_with_console(
        dir.path(),
        "open",
        &device,
        PASSWORD_ENV,
        r#"{ prompt: "dev> ", wake: enter }"#,
    );
    let check = hilt(
        &["board", "check", &board.display().to_string()],
        dir.path(),
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let (_, rec, out) = run(
        dir.path(),
        &board,
        &[
            "logical_access::serial_login_required",
            "device_identification::logical_identifier",
        ],
    );
    let verdict = |name: &str| {
        rec["trials"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"].as_str().is_some_and(|n| n.contains(name)))
            .map(|t| t["verdict"].clone())
    };
    // AU-09 judges the open console; a check that needs a shell uses it.
    assert_eq!(
        verdict("serial_login_required"),
        Some("FAIL".into()),
        "{out}\n{rec:#}"
    );
    assert_eq!(
        verdict("logical_identifier"),
        Some("PASS".into()),
        "{out}\n{rec:#}"
    );
}

#[test]
fn an_invalid_prompt_pattern_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "bad", Behaviour::default());
    let board = board_file_with_console(
        dir.path(),
        "bad",
        &device,
        PASSWORD_ENV,
        "\n    login: \"login: \"\n    password: \"Password: \"\n    prompt: \"[root@dev ~# \"",
    );
    let out = hilt(
        &["board", "check", &board.display().to_string()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let line = std::fs::read_to_string(&board)
        .expect("board file")
        .lines()
        .position(|l| l.trim_start().starts_with("prompt:"))
        .map(|i| i + 1)
        .expect("prompt line");
    assert!(
        stdout.contains(&format!("{}:{line}:", board.display()))
            && stdout.contains("declares.console.prompt")
            && stdout.contains("regular expression"),
        "{stdout}"
    );
}

#[test]
fn an_empty_line_wake_is_refused_on_a_console_with_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "w", Behaviour::default());
    let board = board_file_with_console(
        dir.path(),
        "w",
        &device,
        PASSWORD_ENV,
        r#"{ login: "login: ", password: "Password: ", prompt: "dev> ", wake: enter }"#,
    );
    let out = hilt(
        &["board", "check", &board.display().to_string()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("declares.console.wake"), "{stdout}");
}

#[test]
fn a_dialogue_with_a_placeholder_it_cannot_fill_names_its_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "d", Behaviour::default());
    let board = board_file_with_console(
        dir.path(),
        "d",
        &device,
        PASSWORD_ENV,
        r#"{ login: "login: ", password: "Password: ", prompt: "dev> ", reboot: "reboot {new}" }"#,
    );
    let out = hilt(
        &["board", "check", &board.display().to_string()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("declares.console.reboot") && stdout.contains("{new}"),
        "{stdout}"
    );
}
