//! End-to-end tests of the `hilt` binary against PTY-backed test devices
//! (the simulated reference board has tests of its own in tests/sim.rs).

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pty_device::{board_file, Behaviour, PtyDevice};

use hilt_cli::{record, text, HILT};
const PASSWORD_ENV: &str = "HILT_E2E_PASSWORD";
const PASSWORD: &str = "correct-horse-7";

fn hilt(args: &[&str], dir: &Path) -> Output {
    hilt_cli::hilt_with(args, dir, &[(PASSWORD_ENV, PASSWORD)])
}

fn suite(dir: &Path, checks: &[&str]) -> PathBuf {
    hilt_cli::write_suite(dir, "e2e", Some(60), checks)
}

/// `--list` output: the trial names, in order.
fn listed(args: &[&str], dir: &Path, boards: &[PathBuf], suite: &Path) -> Vec<String> {
    let mut all: Vec<String> = vec!["run".into()];
    for b in boards {
        all.push("--board".into());
        all.push(b.display().to_string());
    }
    all.push("--suite".into());
    all.push(suite.display().to_string());
    all.push("--".into());
    all.push("--list".into());
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = hilt(&refs, dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut names: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test").map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn filters_select_what_cargo_test_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let b = PtyDevice::start(dir.path(), "b", Behaviour::default());
    let boards = [
        board_file(dir.path(), "sim-a", &a, PASSWORD_ENV),
        board_file(dir.path(), "sim-b", &b, PASSWORD_ENV),
    ];
    let suite = suite(
        dir.path(),
        &[
            "device_identification::logical_identifier",
            "logical_access::serial_login_required",
            "logical_access::default_credentials",
        ],
    );
    let all = |names: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let everything = all(&[
        "sim-a::device_identification::logical_identifier",
        "sim-a::logical_access::serial_login_required",
        "sim-a::logical_access::default_credentials",
        "sim-b::device_identification::logical_identifier",
        "sim-b::logical_access::serial_login_required",
        "sim-b::logical_access::default_credentials",
    ]);
    let d = dir.path();
    assert_eq!(listed(&[], d, &boards, &suite), everything);
    // Substring filter.
    assert_eq!(
        listed(&["logical_access"], d, &boards, &suite),
        all(&[
            "sim-a::logical_access::serial_login_required",
            "sim-a::logical_access::default_credentials",
            "sim-b::logical_access::serial_login_required",
            "sim-b::logical_access::default_credentials",
        ])
    );
    assert_eq!(
        listed(&["sim-b::"], d, &boards, &suite).len(),
        3,
        "a board prefix selects that board"
    );
    // --exact needs the whole name.
    assert_eq!(
        listed(
            &["--exact", "sim-a::logical_access::serial_login_required"],
            d,
            &boards,
            &suite
        ),
        all(&["sim-a::logical_access::serial_login_required"])
    );
    assert!(listed(&["--exact", "serial_login_required"], d, &boards, &suite).is_empty());
    // --skip removes substring matches, and may repeat.
    assert_eq!(
        listed(
            &["--skip", "default_credentials", "--skip", "sim-b"],
            d,
            &boards,
            &suite
        ),
        all(&[
            "sim-a::device_identification::logical_identifier",
            "sim-a::logical_access::serial_login_required",
        ])
    );
    // --exact --skip removes only the exact name.
    assert_eq!(
        listed(
            &[
                "--exact",
                "--skip",
                "sim-a::logical_access::serial_login_required"
            ],
            d,
            &boards,
            &suite
        )
        .len(),
        5
    );
    // A filter and a skip together.
    assert_eq!(
        listed(&["identifier", "--skip", "sim-a"], d, &boards, &suite),
        all(&["sim-b::device_identification::logical_identifier"])
    );
    // Several filters: a trial runs when any matches (so each board of a
    // rack can run a check of its own); --exact and --skip apply to each.
    assert_eq!(
        listed(
            &[
                "--exact",
                "sim-a::logical_access::serial_login_required",
                "--test-threads",
                "2",
                "sim-b::device_identification::logical_identifier",
            ],
            d,
            &boards,
            &suite
        ),
        all(&[
            "sim-a::logical_access::serial_login_required",
            "sim-b::device_identification::logical_identifier",
        ])
    );
    assert_eq!(
        listed(
            &["default_credentials", "identifier", "--skip", "sim-b"],
            d,
            &boards,
            &suite
        ),
        all(&[
            "sim-a::device_identification::logical_identifier",
            "sim-a::logical_access::default_credentials",
        ])
    );
}

#[test]
fn a_filtered_run_records_exactly_the_selected_trials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(
        dir.path(),
        &[
            "device_identification::logical_identifier",
            "logical_access::serial_login_required",
        ],
    );
    let out = hilt(
        &[
            "run",
            "--board",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
            "--",
            "serial_login",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let rec = record(dir.path());
    let trials = rec["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 1);
    assert_eq!(
        trials[0]["name"],
        "sim-a::logical_access::serial_login_required"
    );
    assert_eq!(trials[0]["verdict"], "PASS");
    assert_eq!(rec["complete"], true);
}

#[test]
fn a_flawed_device_fails_and_sets_exit_code_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flawed = Behaviour {
        default_admin: true,
        ..Behaviour::default()
    };
    let a = PtyDevice::start(dir.path(), "a", flawed);
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(dir.path(), &["logical_access::default_credentials"]);
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("FAIL"), "{stdout}");
    let rec = record(dir.path());
    assert_eq!(rec["trials"][0]["verdict"], "FAIL");
    assert!(rec["trials"][0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("admin"));
    // The JUnit file names the failure.
    let run = PathBuf::from(rec["boards"][0]["file"].as_str().unwrap_or(""));
    assert!(run.exists());
}

#[test]
fn secrets_reach_neither_output_nor_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(
        dir.path(),
        &[
            "device_identification::logical_identifier",
            "logical_access::serial_login_required",
            "logical_access::default_credentials",
        ],
    );
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(PASSWORD));
    assert!(!text(&out.stderr).contains(PASSWORD));
    let mut checked = 0;
    let mut stack = vec![dir.path().join("hilt-out")];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !text(&bytes).contains(PASSWORD),
                    "secret in {}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 5,
        "record, junit and transcripts were written ({checked})"
    );
}

#[test]
fn sigint_leaves_an_incomplete_record_with_every_finished_trial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = Behaviour {
        answer_delay: Duration::from_millis(15),
        ..Behaviour::default()
    };
    let a = PtyDevice::start(dir.path(), "a", slow);
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(
        dir.path(),
        &[
            "non_technical::support_period",
            "logical_access::serial_login_required",
            "logical_access::default_credentials",
            "device_identification::logical_identifier",
        ],
    );
    let child = Command::new(HILT)
        .args([
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ])
        .current_dir(dir.path())
        .env(PASSWORD_ENV, PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until two trials are in the record, then interrupt the third.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        if let Some(run) = std::fs::read_dir(dir.path().join("hilt-out"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
        {
            if let Ok(bytes) = std::fs::read(run.path().join("record.json")) {
                if let Ok(rec) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    if rec["trials"].as_array().map_or(0, Vec::len) >= 2 {
                        break;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let rec = record(dir.path());
    assert_eq!(rec["complete"], false);
    assert!(
        rec["interrupted"].as_str().unwrap_or("").contains("SIGINT"),
        "{rec}"
    );
    let trials = rec["trials"].as_array().expect("trials");
    assert!(trials.len() >= 2 && trials.len() < 4, "{trials:?}");
    assert_eq!(trials[0]["name"], "sim-a::non_technical::support_period");
    assert_eq!(
        trials[1]["name"],
        "sim-a::logical_access::serial_login_required"
    );
    assert_eq!(trials[1]["verdict"], "PASS");
    assert!(rec["finished_at"].is_string());
    assert!(std::fs::read_dir(dir.path().join("hilt-out"))
        .expect("out")
        .flatten()
        .any(|r| r.path().join("junit.xml").is_file()));
}

#[test]
fn board_check_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "board: x\nmodel: m\nhardware:\n  serial: { port: /dev/x, baud: fast }\n",
    )
    .expect("write");
    let out = hilt(&["board", "check", &bad.display().to_string()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:4:", bad.display()))
            && stdout.contains("hardware.serial.baud"),
        "{stdout}"
    );
}

#[test]
fn shipped_board_files_and_suites_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let boards: Vec<String> = std::fs::read_dir(root.join("boards"))
        .expect("boards/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    if !boards.is_empty() {
        let mut args = vec!["board", "check"];
        args.extend(boards.iter().map(String::as_str));
        let out = hilt(&args, root);
        // The files they name under /run/hilt exist only while the
        // simulated boards run; anything else must load.
        let stdout = text(&out.stdout);
        let other_errors: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("error") && !l.contains("/run/hilt/"))
            .collect();
        assert!(other_errors.is_empty(), "{stdout}");
    }
    for suite in ["nistir-8259a", "etsi-en-303-645", "quick"] {
        let out = hilt(&["list", "--suite", suite], root);
        assert!(out.status.success(), "{suite}: {}", text(&out.stderr));
    }
}

#[test]
fn schema_describes_board_and_suite_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in ["board", "suite"] {
        let out = hilt(&["schema", kind], dir.path());
        assert!(out.status.success());
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["additionalProperties"], false,
            "unknown keys rejected in {kind}"
        );
    }
}

#[test]
fn a_filter_that_selects_nothing_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(dir.path(), &["logical_access::serial_login_required"]);
    let run = |filters: &[&str]| {
        let (board, suite) = (board.display().to_string(), suite.display().to_string());
        let mut args = vec!["run", "--board", &board, "--suite", &suite, "--"];
        args.extend(filters);
        hilt(&args, dir.path())
    };
    // No such id; an id of a check the suite does not run; a typo beside a
    // good filter: each is named, and nothing runs.
    for (filters, named) in [
        (&["AU-99"][..], "\"AU-99\""),
        (&["AU-07"][..], "\"AU-07\""),
        (
            &["AU-09", "serial_login_requird"][..],
            "\"serial_login_requird\"",
        ),
    ] {
        let out = run(filters);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{filters:?}: {stderr}");
        assert!(stderr.contains("no tests to run"), "{stderr}");
        assert!(stderr.contains(named), "{filters:?}: {stderr}");
        assert!(!stderr.contains("\"AU-09\""), "{stderr}");
        assert!(
            !dir.path().join("hilt-out").exists(),
            "{filters:?} left a run folder"
        );
    }
    // The same filters that match run as before.
    let out = run(&["AU-09"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        hilt(&["run", "--no-such-flag"], dir.path()).status.code(),
        Some(2)
    );
    assert_eq!(
        hilt(
            &["run", "--suite", "no-such-suite", "-b", "x.yaml"],
            dir.path()
        )
        .status
        .code(),
        Some(2)
    );
}

/// Runs one check on a board described by `board_yaml` (no device behind
/// it) and returns the exit code and the trial from the record.
fn run_one(board_yaml: &str, check: &str) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let board = dir.path().join("board.yaml");
    std::fs::write(&board, board_yaml).expect("board file");
    let suite = suite(dir.path(), &[check]);
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir.path(),
    );
    let rec = record(dir.path());
    (
        out.status.code(),
        rec["trials"][0].clone(),
        text(&out.stdout),
    )
}

#[test]
fn a_board_that_does_not_answer_never_passes_the_port_scan() {
    // Nothing listens on this loopback address: an empty scan must not
    // read as "no undeclared port open".
    let (code, trial, stdout) = run_one(
        "board: absent\nmodel: nothing\nhardware:\n  network: { address: 127.77.0.251 }\ndeclares:\n  interfaces:\n    - { port: 443, service: https }\n",
        "logical_access::open_ports",
    );
    assert_eq!(code, Some(2), "{stdout}");
    assert_eq!(trial["verdict"], "INCONCLUSIVE", "{trial}");
    // The control before the scan already finds nobody at the address.
    assert!(
        trial["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not shown alive before the observation"),
        "{trial}"
    );
}

#[test]
fn the_debug_port_check_through_a_missing_probe_is_inconclusive() {
    // AU-10 through probe-rs on a host with no such probe: the reason
    // names the probe, and the verdict is never PASS (a probe that is not
    // there refuses every read too).
    let (code, trial, stdout) = run_one(
        "board: probed\nmodel: nrf\nhardware:\n  debug: { probe: { chip: nRF52840_xxAA, selector: \"1366:1015:HILT-NONE\" } }\ndeclares: {}\n",
        "logical_access::debug_port_locked",
    );
    assert_eq!(code, Some(2), "{stdout}");
    assert_eq!(trial["verdict"], "INCONCLUSIVE", "{trial}");
    assert!(
        trial["reason"].as_str().unwrap_or("").contains("1366:1015"),
        "{trial}"
    );
}

/// A suite whose second entry carries `entry` (its lines after `- check:`).
fn suite_with(dir: &Path, check: &str, entry: &str) -> PathBuf {
    let text = format!(
        "suite: bad\ntitle: bad parameters\nchecks:\n  - check: device_identification::logical_identifier\n  - check: {check}\n{entry}"
    );
    let path = dir.join("bad.yaml");
    std::fs::write(&path, text).expect("write suite");
    path
}

#[test]
fn bad_suite_parameters_name_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let au01 = "logical_access::default_credentials";
    let cases = [
        (au01, "    params: { max_attempts: 0 }\n", "bad.yaml:6:15: field `checks[1].params.max_attempts`: 0 would let the check test nothing"),
        (au01, "    params: { max_attempt: 5 }\n", "bad.yaml:6:15: field `checks[1].params.max_attempt`: unknown parameter; did you mean `max_attempts`?"),
        (au01, "    params: { max_attempts: five }\n", "bad.yaml:6:15: field `checks[1].params.max_attempts`: expected an integer 1..=10, found a string"),
        (au01, "    params: { max_attempts: 2.5 }\n", "field `checks[1].params.max_attempts`: expected an integer"),
        (au01, "    params: { max_attempts: 11 }\n", "field `checks[1].params.max_attempts`: 11 is out of range 1..=10"),
        (au01, "    params: { colour: blue }\n", "field `checks[1].params.colour`: unknown parameter (it takes max_attempts)"),
        ("device_identification::identifier_immutable", "    params:\n      cycles: 0\n", "bad.yaml:7:7: field `checks[1].params.cycles`: 0 would let the check test nothing"),
        ("data_protection::passive_traffic", "    params: { window_s: 0 }\n", "field `checks[1].params.window_s`: 0 would let the check test nothing"),
        ("logical_access::debug_port_locked", "    params: { addresses: [] }\n", "field `checks[1].params.addresses`: an empty list would let the check test nothing"),
        ("logical_access::debug_port_locked", "    params: { addresses: [\"0xZZ\"] }\n", "field `checks[1].params.addresses`: item 0: \"0xZZ\" is not a hex address"),
        ("logical_access::open_ports", "    params: { window_s: 5 }\n", "unknown parameter (this check takes no parameters)"),
        (au01, "    timeout_s: 18446744073709551615\n", "bad.yaml:6:5: field `checks[1].timeout_s`: 18446744073709551615 s is out of range: a timeout is 1 to 86400 seconds"),
        (au01, "    timeout_s: 0\n", "field `checks[1].timeout_s`: 0 s is out of range"),
    ];
    for (check, entry, wanted) in cases {
        let path = suite_with(dir.path(), check, entry);
        let out = hilt(
            &["list", "--suite", &path.display().to_string()],
            dir.path(),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{entry}: {stderr}");
        assert!(
            stderr.contains(wanted),
            "{entry}\nwanted: {wanted}\ngot: {stderr}"
        );
    }
    // `hilt run` refuses the same suite before touching any board.
    let path = suite_with(dir.path(), au01, "    params: { max_attempts: 0 }\n");
    let out = hilt(
        &[
            "run",
            "-b",
            "no-such-board.yaml",
            "--suite",
            &path.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("checks[1].params.max_attempts"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("hilt-out").exists(), "nothing ran");
    // A good value passes, and `hilt list --params` documents the parameter.
    let path = suite_with(dir.path(), au01, "    params: { max_attempts: 3 }\n");
    let out = hilt(
        &["list", "--params", "--suite", &path.display().to_string()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("max_attempts: integer 1..=10 (default 10)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn sigterm_ends_a_run_like_ctrl_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = Behaviour {
        answer_delay: Duration::from_millis(300),
        ..Behaviour::default()
    };
    let a = PtyDevice::start(dir.path(), "a", slow);
    let board = board_file(dir.path(), "sim-a", &a, PASSWORD_ENV);
    let suite = suite(
        dir.path(),
        &[
            "non_technical::support_period",
            "logical_access::serial_login_required",
            "logical_access::default_credentials",
            "device_identification::logical_identifier",
        ],
    );
    let child = Command::new(HILT)
        .args([
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ])
        .current_dir(dir.path())
        .env(PASSWORD_ENV, PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        let trials = std::fs::read_dir(dir.path().join("hilt-out"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .and_then(|run| std::fs::read(run.path().join("record.json")).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .map_or(0, |rec| rec["trials"].as_array().map_or(0, Vec::len));
        if trials >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    let rec = record(dir.path());
    assert_eq!(rec["complete"], false);
    let why = rec["interrupted"].as_str().unwrap_or("");
    assert!(why.contains("SIGTERM"), "{rec}");
    let trials = rec["trials"].as_array().expect("trials");
    assert!(trials.len() >= 2 && trials.len() < 4, "{trials:?}");
    assert!(rec["finished_at"].is_string());
    assert!(
        text(&out.stdout).contains("record INCOMPLETE"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn catalogue_ids_select_trials_as_names_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let b = PtyDevice::start(dir.path(), "b", Behaviour::default());
    let boards = [
        board_file(dir.path(), "sim-a", &a, PASSWORD_ENV),
        board_file(dir.path(), "sim-b", &b, PASSWORD_ENV),
    ];
    let suite = suite(
        dir.path(),
        &[
            "device_identification::logical_identifier",
            "logical_access::serial_login_required",
            "logical_access::default_credentials",
        ],
    );
    let d = dir.path();
    let sorted = |names: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let au09 = sorted(&[
        "sim-a::logical_access::serial_login_required",
        "sim-b::logical_access::serial_login_required",
    ]);
    // Whole id, any case; trial names keep `capability::name`.
    assert_eq!(listed(&["AU-09"], d, &boards, &suite), au09);
    assert_eq!(listed(&["au-09"], d, &boards, &suite), au09);
    assert_eq!(listed(&["--exact", "AU-09"], d, &boards, &suite), au09);
    // A part of an id is no id (and no trial name contains it).
    assert!(listed(&["AU-0"], d, &boards, &suite).is_empty());
    // Ids and name filters mix, any of them chooses; --skip takes ids too.
    assert_eq!(
        listed(
            &["ID-01", "default_credentials", "--skip", "sim-b"],
            d,
            &boards,
            &suite
        ),
        sorted(&[
            "sim-a::device_identification::logical_identifier",
            "sim-a::logical_access::default_credentials",
        ])
    );
    assert_eq!(
        listed(&["--skip", "au-01", "--skip", "ID-01"], d, &boards, &suite),
        au09
    );
}

/// The rows of `hilt list` (header dropped), as (catalogue id, check id).
fn list_rows(args: &[&str]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = vec!["list"];
    all.extend(args);
    let out = hilt(&all, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("ID ") && header.contains("CHECK"),
        "{stdout}"
    );
    lines
        .map(|l| {
            let mut cells = l.split_whitespace();
            let id = cells.next().unwrap_or_default().to_string();
            (id, cells.next().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn list_selects_by_catalogue_id_and_shows_it() {
    let pair = |id: &str, check: &str| (id.to_string(), check.to_string());
    assert_eq!(
        list_rows(&["AU-07"]),
        [pair("AU-07", "logical_access::open_ports")]
    );
    assert_eq!(
        list_rows(&["au-07", "physical_identifier"]),
        [
            pair("ID-04", "device_identification::physical_identifier"),
            pair("AU-07", "logical_access::open_ports"),
        ]
    );
    // Rack-wide checks are listed too.
    assert_eq!(
        list_rows(&["ID-03"]),
        [pair("ID-03", "device_identification::distinct_identifiers")]
    );
    assert!(list_rows(&["--exact", "open_ports"]).is_empty());
    assert_eq!(
        list_rows(&["--exact", "logical_access::open_ports"]).len(),
        1
    );
    // Every listed check has its catalogue id in the first column.
    let every = list_rows(&[]);
    assert!(every.len() > 40, "{every:?}");
    for (id, check) in &every {
        let (prefix, number) = id.split_once('-').unwrap_or_default();
        assert!(
            prefix.len() == 2 && number.parse::<u32>().is_ok() && check.contains("::"),
            "{id} {check}"
        );
    }
}

/// `hilt board check --format json` on one board file.
fn coverage(dir: &Path, yaml: &str) -> serde_json::Value {
    let file = dir.join("board.yaml");
    std::fs::write(&file, yaml).expect("write board");
    let out = hilt(
        &[
            "board",
            "check",
            "--format",
            "json",
            &file.display().to_string(),
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    report["boards"][0].clone()
}

fn check_entry<'a>(board: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    board["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["catalogue_id"] == id))
        .unwrap_or_else(|| panic!("{id} in {board}"))
}

#[test]
fn board_check_names_each_check_that_will_not_run_and_the_field_that_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = "board: bench-1\nmodel: m\nhardware: {}\n";

    // In the terminal: the check, its id, the reason and the field.
    let file = dir.path().join("bare.yaml");
    std::fs::write(&file, bare).expect("write board");
    let out = hilt(&["board", "check", &file.display().to_string()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let au10 = stdout
        .lines()
        .find(|l| l.contains("AU-10"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        au10.contains("logical_access::debug_port_locked")
            && au10.contains("not applicable")
            && au10.contains("no debug port wired")
            && au10.contains("set hardware.debug.gdb or hardware.debug.probe"),
        "{au10}"
    );
    assert!(stdout.contains("run  NT-01"), "{stdout}");

    // As JSON: every check that will not run on a bare board names the
    // field(s) that would make it run.
    let board = coverage(dir.path(), bare);
    assert_eq!(board["board"], "bench-1");
    let checks = board["checks"].as_array().expect("checks");
    let not_applicable: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["status"] == "not_applicable")
        .collect();
    assert!(not_applicable.len() > 30, "{board}");
    for check in &not_applicable {
        let fields = check["enabled_by"].as_array().expect("enabled_by");
        assert!(
            !fields.is_empty() && check["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{check}"
        );
    }
    let au10 = check_entry(&board, "AU-10");
    assert_eq!(au10["check"], "logical_access::debug_port_locked");
    assert_eq!(
        au10["enabled_by"],
        serde_json::json!(["hardware.debug.gdb", "hardware.debug.probe"])
    );

    // Setting the named field makes the check run.
    let wired = format!("{bare}  debug: {{ gdb: \"127.0.0.1:3333\" }}\n")
        .replace("hardware: {}\n", "hardware:\n");
    let board = coverage(dir.path(), &wired);
    assert_eq!(check_entry(&board, "AU-10")["status"], "runs", "{board}");
    // One missing field at a time: with the serial line wired, the boot
    // capture names the console declaration that is still missing.
    let serial = format!(
        "{bare}  serial: {{ port: /dev/null, baud: 115200 }}\n  power: none\n  network: {{ address: 198.18.110.2, capture: hilt-cap0 }}\n"
    )
    .replace("hardware: {}\n", "hardware:\n");
    let board = coverage(dir.path(), &serial);
    assert_eq!(
        check_entry(&board, "DP-01")["enabled_by"],
        serde_json::json!(["declares.console", "declares.interfaces"]),
        "{board}"
    );

    // A declared label that is missing: the file is refused (exit 2) and
    // the check that reads it shows as ERROR, naming the field.
    let file = dir.path().join("label.yaml");
    std::fs::write(
        &file,
        format!("{bare}declares:\n  identity: {{ physical: no-label.txt, logical: [ {{ console: {{ command: id, pattern: \"(x)\" }} }} ] }}\n"),
    )
    .expect("write board");
    let out = hilt(
        &[
            "board",
            "check",
            "--format",
            "json",
            &file.display().to_string(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let id04 = check_entry(&report["boards"][0], "ID-04");
    assert_eq!(id04["status"], "setup_fault", "{id04}");
    assert!(
        id04["reason"]
            .as_str()
            .is_some_and(|r| r.contains("declares.identity.physical")),
        "{id04}"
    );
}
