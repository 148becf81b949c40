//! The runner's fail-closed behaviour against PTY-backed test devices:
//! panics, timeouts and lost consoles never become PASS, boards run in
//! parallel while each board's checks never overlap, and secrets never
//! reach the record.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::runner::{self, RunConfig};
use hilt_harness::suite::Suite;
use hilt_harness::transport::serial::{self, LoginOutcome};
use hilt_harness::{Capability, Check, CheckError, CheckMeta, Finding, Verdict};
use hilt_reports::RunRecord;
use support::pty_device::{board_file, Behaviour, PtyDevice};

fn meta(name: &'static str) -> CheckMeta {
    CheckMeta {
        name,
        capability: Capability::LogicalAccess,
        catalogue_id: "T-00",
        title: "test check",
        expected: "the device behaves",
        nistir_8259a: &[],
        en_303_645: &[],
        ts_103_701: &[],
        cra_annex_i: &[],
        destructive: false,
        default_timeout: Duration::from_secs(10),
        params: &[],
    }
}

/// Logs in with the declared account and reads the id: PASS when it works.
struct Login(CheckMeta);
impl Check for Login {
    fn meta(&self) -> &CheckMeta {
        &self.0
    }
    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let decl = ctx.console_decl()?;
        let password = ctx.password("admin")?;
        let console = ctx.console()?;
        match serial::login(console, &decl, "admin", &password, Duration::from_secs(5))? {
            LoginOutcome::LoggedIn => {}
            other => return Ok(Finding::fail("login refused", format!("{other:?}"))),
        }
        let id = console.command("id", &decl.prompt, Duration::from_secs(5))?;
        console.send_line("logout")?;
        Ok(Finding::pass("logged in", id))
    }
}

/// Reads the console again and again (a long check), to be cut off by a
/// device that dies.
struct ReadForever(CheckMeta);
impl Check for ReadForever {
    fn meta(&self) -> &CheckMeta {
        &self.0
    }
    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let console = ctx.console()?;
        for _ in 0..100 {
            console.send_line("")?;
            console.expect("login: |dev> ", Duration::from_secs(2))?;
        }
        Ok(Finding::pass("console answered 100 times", ""))
    }
}

struct Panics(CheckMeta);
impl Check for Panics {
    fn meta(&self) -> &CheckMeta {
        &self.0
    }
    fn run(&self, _ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let device_said: Option<&str> = None;
        // A harness bug, e.g. an unwrap on something absent.
        let _ = device_said
            .map(str::len)
            .filter(|_| false)
            .ok_or(())
            .map_err(|_| ());
        panic!("simulated harness bug")
    }
}

/// Waits for a prompt the device never shows; bounded by the stop signal.
struct WaitsForNothing(CheckMeta);
impl Check for WaitsForNothing {
    fn meta(&self) -> &CheckMeta {
        &self.0
    }
    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let console = ctx.console()?;
        console.expect("a prompt that never comes", Duration::from_secs(3600))?;
        Ok(Finding::pass("impossible", ""))
    }
}

/// Ignores the stop signal entirely (a wedged transport).
struct IgnoresDeadline(CheckMeta);
impl Check for IgnoresDeadline {
    fn meta(&self) -> &CheckMeta {
        &self.0
    }
    fn run(&self, _ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        std::thread::sleep(Duration::from_secs(9));
        Ok(Finding::pass("too late to count", ""))
    }
}

fn registry() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(Login(meta("login"))),
        Arc::new(Login(meta("login_again"))),
        Arc::new(Login(meta("login_third"))),
        Arc::new(ReadForever(meta("read_forever"))),
        Arc::new(Panics(meta("panics"))),
        Arc::new(WaitsForNothing(meta("waits_for_nothing"))),
        Arc::new(IgnoresDeadline(meta("ignores_deadline"))),
    ]
}

fn suite_file(dir: &Path, checks: &[(&str, u64)]) -> PathBuf {
    let mut text = String::from("suite: test\ntitle: test suite\nchecks:\n");
    for (check, timeout) in checks {
        text.push_str(&format!(
            "  - check: logical_access::{check}\n    timeout_s: {timeout}\n"
        ));
    }
    let path = dir.join("suite.yaml");
    std::fs::write(&path, text).expect("write suite");
    path
}

fn run(dir: &Path, boards: &[PathBuf], checks: &[(&str, u64)]) -> (i32, RunRecord) {
    let registry = registry();
    let ids: Vec<String> = registry.iter().map(|c| c.meta().id()).collect();
    let suite = Suite::load(&suite_file(dir, checks), &ids).expect("suite loads");
    let boards = boards
        .iter()
        .map(|f| Board::load(f).expect("board loads"))
        .collect();
    let args = libtest_mimic::Arguments {
        quiet: true,
        ..Default::default()
    };
    let outcome = runner::run(RunConfig {
        boards,
        suite,
        checks: registry,
        rack_checks: Vec::new(),
        out_root: dir.join("out"),
        test_args: args,
        command: vec!["test".into()],
        interrupted: hilt_harness::stop::Interruption::new(),
        restore: None,
        print_trials: false,
    })
    .expect("run completes");
    let run_dir = outcome.run_dir.expect("a run folder");
    let record = RunRecord::read(&run_dir.join("record.json")).expect("record readable");
    (outcome.exit_code, record)
}

fn trial<'a>(record: &'a RunRecord, name: &str) -> &'a hilt_reports::TrialRecord {
    record
        .trials
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no trial {name} in {:?}", record.trials))
}

const PASSWORD_ENV: &str = "HILT_TEST_RUNNER_PASSWORD";

fn setup() -> tempfile::TempDir {
    std::env::set_var(PASSWORD_ENV, "correct-horse-7");
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn a_panicking_check_is_an_error_and_the_board_carries_on() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (code, record) = run(dir.path(), &[board], &[("panics", 10), ("login", 10)]);
    let panicked = trial(&record, "dev::logical_access::panics");
    assert_eq!(panicked.verdict, Verdict::Error);
    assert!(
        panicked.reason.contains("simulated harness bug"),
        "{}",
        panicked.reason
    );
    assert_eq!(
        trial(&record, "dev::logical_access::login").verdict,
        Verdict::Pass
    );
    assert_eq!(code, 2);
    assert!(record.complete);
}

#[test]
fn a_check_past_its_timeout_is_inconclusive_with_the_reason() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (code, record) = run(
        dir.path(),
        &[board],
        &[("waits_for_nothing", 1), ("login", 10)],
    );
    let late = trial(&record, "dev::logical_access::waits_for_nothing");
    assert_eq!(late.verdict, Verdict::Inconclusive);
    assert!(late.reason.contains("timeout of 1 s"), "{}", late.reason);
    // The transcript of the failed wait is still evidence.
    assert!(!late.evidence.is_empty(), "transcript kept");
    assert_eq!(
        trial(&record, "dev::logical_access::login").verdict,
        Verdict::Pass
    );
    assert_eq!(code, 2);
}

#[test]
fn a_check_that_ignores_its_deadline_wedges_only_its_board() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (_, record) = run(
        dir.path(),
        &[board],
        &[("ignores_deadline", 1), ("login", 10)],
    );
    let wedged = trial(&record, "dev::logical_access::ignores_deadline");
    assert_eq!(wedged.verdict, Verdict::Inconclusive);
    assert!(wedged.reason.contains("nor stopped"), "{}", wedged.reason);
    let after = trial(&record, "dev::logical_access::login");
    assert_eq!(
        after.verdict,
        Verdict::Inconclusive,
        "an unknown board state is not PASS"
    );
    assert!(
        after.reason.contains("board unavailable"),
        "{}",
        after.reason
    );
}

#[test]
fn losing_the_serial_device_mid_check_is_inconclusive() {
    let dir = setup();
    let behaviour = Behaviour {
        die_after_lines: Some(5),
        ..Behaviour::default()
    };
    let device = PtyDevice::start(dir.path(), "dev", behaviour);
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (code, record) = run(dir.path(), &[board], &[("read_forever", 20)]);
    let lost = trial(&record, "dev::logical_access::read_forever");
    assert_eq!(lost.verdict, Verdict::Inconclusive, "{lost:?}");
    assert!(
        lost.reason.contains("serial console lost"),
        "{}",
        lost.reason
    );
    assert_eq!(code, 2);
}

#[test]
fn boards_run_in_parallel_but_each_board_one_check_at_a_time() {
    let dir = setup();
    let slow = Behaviour {
        answer_delay: Duration::from_millis(40),
        ..Behaviour::default()
    };
    let a = PtyDevice::start(dir.path(), "a", slow.clone());
    let b = PtyDevice::start(dir.path(), "b", slow);
    let boards = [
        board_file(dir.path(), "a", &a, PASSWORD_ENV),
        board_file(dir.path(), "b", &b, PASSWORD_ENV),
    ];
    let checks = [("login", 20), ("login_again", 20), ("login_third", 20)];
    let (code, record) = run(dir.path(), &boards, &checks);
    assert_eq!(code, 0, "{:#?}", record.trials);
    assert_eq!(record.trials.len(), 6);
    let span = |board: &str| -> Vec<(u64, u64)> {
        let mut spans: Vec<(u64, u64)> = record
            .trials
            .iter()
            .filter(|t| t.board == board)
            .map(|t| (t.start_offset_ms, t.end_offset_ms))
            .collect();
        spans.sort();
        spans
    };
    for board in ["a", "b"] {
        let spans = span(board);
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "checks on {board} overlap: {spans:?}"
            );
        }
    }
    let (a_spans, b_spans) = (span("a"), span("b"));
    let a_whole = (a_spans[0].0, a_spans[2].1);
    let b_whole = (b_spans[0].0, b_spans[2].1);
    assert!(
        a_whole.0 < b_whole.1 && b_whole.0 < a_whole.1,
        "boards did not run at the same time: a {a_whole:?} b {b_whole:?}"
    );
}

#[test]
fn the_secret_never_reaches_the_record_or_evidence() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (_, record) = run(dir.path(), &[board], &[("login", 10)]);
    assert_eq!(
        trial(&record, "dev::logical_access::login").verdict,
        Verdict::Pass
    );
    let mut files = vec![];
    collect(&dir.path().join("out"), &mut files);
    assert!(
        files.len() >= 3,
        "record, junit and a transcript: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).expect("read output");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("correct-horse-7"),
            "secret in {}",
            file.display()
        );
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
