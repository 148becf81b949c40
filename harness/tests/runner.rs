//! The runner's fail-closed behaviour against PTY-backed test devices:
//! panics, timeouts and lost consoles never become PASS, boards run in
//! parallel while each board's checks never overlap, and secrets never
//! reach the record.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::runner::{self, Restore, RunConfig};
use hilt_harness::stop::Interruption;
use hilt_harness::suite::Suite;
use hilt_harness::{Capability, Check, CheckError, CheckMeta, Finding, Verdict};
use hilt_reports::reporter::Reporters;
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
        match dialogue::login(console, &decl, "admin", &password, Duration::from_secs(5))? {
            LoginOutcome::LoggedIn => {}
            other => return Ok(Finding::fail("login refused", format!("{other:?}"))),
        }
        let id = dialogue::command(console, &decl, "id", Duration::from_secs(5))?;
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
    run_with(dir, boards, checks, Extra::default())
}

/// What a test adds to the plain run: its own checks, a restore strategy,
/// an interruption it raises itself.
#[derive(Default)]
struct Extra {
    checks: Vec<Arc<dyn Check>>,
    restore: Option<Arc<dyn Restore>>,
    interruption: Interruption,
}

fn run_with(
    dir: &Path,
    boards: &[PathBuf],
    checks: &[(&str, u64)],
    extra: Extra,
) -> (i32, RunRecord) {
    let mut registry = registry();
    registry.extend(extra.checks);
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
    let outcome = runner::run(
        RunConfig {
            boards,
            suite,
            checks: registry,
            rack_checks: Vec::new(),
            out_root: dir.join("out"),
            test_args: args,
            filters: Vec::new(),
            command: vec!["test".into()],
            interrupted: extra.interruption,
            restore: extra.restore,
            health: None,
            description: Default::default(),
        },
        Reporters::files(),
    )
    .expect("run completes");
    let run_dir = outcome.run_dir;
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

/// What a destructive test check does after registering its undo step.
#[derive(Clone, Copy)]
enum Then {
    Pass,
    Hang,
    Fail,
    Panic,
}

/// How its undo step goes.
#[derive(Clone, Copy)]
enum Undo {
    /// Logs in and reads the console back (`id`): the real path.
    ReadsBack,
    Fails,
    Panics,
}

/// "Changes a setting" (registers its undo first, as real checks do),
/// then passes, hangs, fails or panics. Counts how often its undo ran.
struct ChangesThen {
    meta: CheckMeta,
    then: Then,
    undo: Undo,
    undone: Arc<AtomicUsize>,
}

fn changes_then(
    name: &'static str,
    then: Then,
    undo: Undo,
) -> (Arc<ChangesThen>, Arc<AtomicUsize>) {
    let undone = Arc::new(AtomicUsize::new(0));
    let mut meta = meta(name);
    meta.destructive = true;
    let check = ChangesThen {
        meta,
        then,
        undo,
        undone: undone.clone(),
    };
    (Arc::new(check), undone)
}

impl Check for ChangesThen {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }
    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (undo, undone) = (self.undo, self.undone.clone());
        ctx.on_undo("setting:test", "test setting back to \"off\"", move |ctx| {
            undone.fetch_add(1, Ordering::SeqCst);
            match undo {
                Undo::ReadsBack => {
                    let decl = ctx.console_decl()?;
                    let password = ctx.password("admin")?;
                    let console = ctx.console()?;
                    dialogue::login(console, &decl, "admin", &password, Duration::from_secs(5))?;
                    let id = console.command("id", &decl.prompt, Duration::from_secs(5))?;
                    console.send_line("logout")?;
                    if id.contains("device_id") {
                        Ok(())
                    } else {
                        Err(CheckError::Board(format!("read back {id:?}")))
                    }
                }
                Undo::Fails => Err(CheckError::Board("the setting still reads \"on\"".into())),
                Undo::Panics => panic!("simulated bug in an undo step"),
            }
        });
        match self.then {
            Then::Pass => Ok(Finding::pass("changed and observed", "")),
            Then::Fail => Err(CheckError::Board("the device stopped answering".into())),
            Then::Panic => panic!("simulated bug after a change"),
            Then::Hang => {
                let console = ctx.console()?;
                console.expect("a prompt that never comes", Duration::from_secs(3600))?;
                Ok(Finding::pass("impossible", ""))
            }
        }
    }
}

/// A board restore strategy with a bug.
struct PanickingRestore;
impl Restore for PanickingRestore {
    fn restore(&self, _ctx: &mut CheckContext) -> Result<(), CheckError> {
        panic!("simulated bug in the restore strategy")
    }
}

fn left(trial: &hilt_reports::TrialRecord) -> &hilt_reports::BoardLeft {
    trial
        .board_left
        .as_ref()
        .unwrap_or_else(|| panic!("no board_left in {trial:?}"))
}

#[test]
fn undo_steps_run_after_a_timeout_an_error_and_a_panic() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (hang, hang_undone) = changes_then("changes_then_hangs", Then::Hang, Undo::ReadsBack);
    let (fail, fail_undone) = changes_then("changes_then_fails", Then::Fail, Undo::ReadsBack);
    let (panic, panic_undone) = changes_then("changes_then_panics", Then::Panic, Undo::ReadsBack);
    let extra = Extra {
        checks: vec![hang, fail, panic],
        ..Extra::default()
    };
    let (_, record) = run_with(
        dir.path(),
        &[board],
        &[
            ("changes_then_hangs", 2),
            ("changes_then_fails", 10),
            ("changes_then_panics", 10),
            ("login", 10),
        ],
        extra,
    );
    let timed_out = trial(&record, "dev::logical_access::changes_then_hangs");
    assert_eq!(timed_out.verdict, Verdict::Inconclusive);
    assert!(
        timed_out.reason.contains("timeout of 2 s") && timed_out.reason.contains("waiting for"),
        "the reason says what was waited for: {}",
        timed_out.reason
    );
    for (name, undone, verdict) in [
        ("changes_then_hangs", &hang_undone, Verdict::Inconclusive),
        ("changes_then_fails", &fail_undone, Verdict::Inconclusive),
        ("changes_then_panics", &panic_undone, Verdict::Error),
    ] {
        let t = trial(&record, &format!("dev::logical_access::{name}"));
        assert_eq!(t.verdict, verdict, "{t:?}");
        assert_eq!(undone.load(Ordering::SeqCst), 1, "{name}: undo ran once");
        assert!(left(t).restored, "{name}: {:?}", t.board_left);
        assert!(
            left(t).note.contains("test setting back"),
            "{:?}",
            t.board_left
        );
    }
    // The board was left as found, so it takes more checks.
    assert_eq!(
        trial(&record, "dev::logical_access::login").verdict,
        Verdict::Pass
    );
    assert!(trial(&record, "dev::logical_access::login")
        .board_left
        .is_none());
}

#[test]
fn an_interrupted_destructive_check_is_undone_and_the_record_names_the_signal() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (hang, undone) = changes_then("changes_then_hangs", Then::Hang, Undo::ReadsBack);
    let interruption = Interruption::new();
    let raiser = interruption.clone();
    // What the SIGTERM handler does, a moment into the check.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        raiser.raise(15);
    });
    let started = std::time::Instant::now();
    let (code, record) = run_with(
        dir.path(),
        &[board],
        &[("changes_then_hangs", 60), ("login", 10)],
        Extra {
            checks: vec![hang],
            interruption,
            ..Extra::default()
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped promptly"
    );
    assert_eq!(code, 143, "128 + SIGTERM");
    assert!(!record.complete);
    let why = record.interrupted.clone().unwrap_or_default();
    assert!(
        why.contains("SIGTERM") && why.contains("changes_then_hangs"),
        "{why}"
    );
    let stopped = trial(&record, "dev::logical_access::changes_then_hangs");
    assert_eq!(stopped.verdict, Verdict::Inconclusive);
    assert_eq!(
        undone.load(Ordering::SeqCst),
        1,
        "the undo ran despite the interruption"
    );
    assert!(left(stopped).restored, "{:?}", stopped.board_left);
    assert!(
        record.trials.iter().all(|t| !t.name.ends_with("::login")),
        "nothing started after"
    );
}

#[test]
fn a_panicking_undo_or_restore_is_an_error_and_the_run_goes_on() {
    let dir = setup();
    let a = PtyDevice::start(dir.path(), "a", Behaviour::default());
    let b = PtyDevice::start(dir.path(), "b", Behaviour::default());
    let boards = [
        board_file(dir.path(), "a", &a, PASSWORD_ENV),
        board_file(dir.path(), "b", &b, PASSWORD_ENV),
    ];
    let (buggy, _) = changes_then("buggy_undo", Then::Pass, Undo::Panics);
    let (code, record) = run_with(
        dir.path(),
        &boards,
        &[("buggy_undo", 10), ("login", 10)],
        Extra {
            checks: vec![buggy],
            ..Extra::default()
        },
    );
    assert_eq!(code, 2);
    assert!(record.complete, "every trial recorded");
    for board in ["a", "b"] {
        let died = trial(&record, &format!("{board}::logical_access::buggy_undo"));
        assert_eq!(died.verdict, Verdict::Error, "{died:?}");
        assert!(
            died.reason.contains("simulated bug in an undo step"),
            "{}",
            died.reason
        );
        assert!(!left(died).restored);
        let next = trial(&record, &format!("{board}::logical_access::login"));
        assert_eq!(
            next.verdict,
            Verdict::Inconclusive,
            "an unknown board is not PASS"
        );
        assert!(next.reason.contains("buggy_undo"), "{}", next.reason);
    }

    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (changes, undone) = changes_then("changes", Then::Pass, Undo::ReadsBack);
    let (_, record) = run_with(
        dir.path(),
        &[board],
        &[("changes", 10), ("login", 10)],
        Extra {
            checks: vec![changes],
            restore: Some(Arc::new(PanickingRestore)),
            ..Extra::default()
        },
    );
    let died = trial(&record, "dev::logical_access::changes");
    assert_eq!(died.verdict, Verdict::Error, "{died:?}");
    assert!(
        died.reason
            .contains("simulated bug in the restore strategy"),
        "{}",
        died.reason
    );
    assert_eq!(
        undone.load(Ordering::SeqCst),
        1,
        "the undo ran before the restore"
    );
    assert!(!left(died).restored);
    assert!(
        left(died).note.contains("put back: test setting back"),
        "{:?}",
        died.board_left
    );
    assert!(record.complete);
}

#[test]
fn an_undo_that_cannot_put_back_leaves_the_board_unusable() {
    let dir = setup();
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let (stuck, _) = changes_then("stuck_setting", Then::Pass, Undo::Fails);
    let (_, record) = run_with(
        dir.path(),
        &[board],
        &[("stuck_setting", 10), ("login", 10)],
        Extra {
            checks: vec![stuck],
            ..Extra::default()
        },
    );
    let stuck = trial(&record, "dev::logical_access::stuck_setting");
    assert_eq!(stuck.verdict, Verdict::Inconclusive, "{stuck:?}");
    assert!(!left(stuck).restored);
    assert!(
        left(stuck).note.contains("still reads"),
        "{:?}",
        stuck.board_left
    );
    let next = trial(&record, "dev::logical_access::login");
    assert_eq!(next.verdict, Verdict::Inconclusive);
    assert!(
        next.reason.contains("left the board changed"),
        "{}",
        next.reason
    );
}

#[test]
fn an_overflowing_timeout_is_refused_before_anything_runs() {
    let dir = setup();
    let ids: Vec<String> = registry().iter().map(|c| c.meta().id()).collect();
    let path = dir.path().join("huge.yaml");
    std::fs::write(
        &path,
        format!(
            "suite: huge\ntitle: t\nchecks:\n  - check: logical_access::login\n  - check: logical_access::panics\n    timeout_s: {}\n",
            u64::MAX
        ),
    )
    .expect("write");
    let err = Suite::load(&path, &ids)
        .expect_err("refused at load")
        .to_string();
    assert!(
        err.contains("huge.yaml:6:5: field `checks[1].timeout_s`") && err.contains("86400"),
        "{err}"
    );
    // A suite built in code, past the loader, is refused by the plan and
    // never reaches a worker.
    let mut suite = Suite::load(&suite_file(dir.path(), &[("login", 10)]), &ids).expect("loads");
    suite.spec.checks[0].timeout_s = Some(u64::MAX);
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let board = Board::load(&board_file(dir.path(), "dev", &device, PASSWORD_ENV)).expect("board");
    let started = std::time::Instant::now();
    let outcome = runner::run(
        RunConfig {
            boards: vec![board],
            suite,
            checks: registry(),
            rack_checks: Vec::new(),
            out_root: dir.path().join("out"),
            test_args: libtest_mimic::Arguments {
                quiet: true,
                ..Default::default()
            },
            filters: Vec::new(),
            command: vec!["test".into()],
            interrupted: Interruption::new(),
            restore: None,
            health: None,
            description: Default::default(),
        },
        Reporters::files(),
    );
    let err = outcome.expect_err("refused by the plan").to_string();
    assert!(err.contains("above the limit"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Deadlines never overflow, whatever a caller asks for.
    let stop = hilt_harness::stop::StopSignal::after(Duration::MAX);
    assert!(stop.bound(Duration::MAX) <= stop.deadline());
}
