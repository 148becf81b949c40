//! Running the plan: one worker thread per board (so a board is never
//! shared), each check in a thread of its own (so a panic or a hang is
//! contained), and an event for everything that happens, to the reporters.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hilt_reports::events::RunEvent;
use hilt_reports::reporter::Reporter;
use hilt_reports::{
    ApplicabilityRecord, BoardLeft, RunRecord, SuiteInfo, ToolInfo, TrialRecord, Verdict,
    RECORD_FORMAT, RECORD_SCHEMA_VERSION,
};
use sha2::{Digest, Sha256};

use super::aftercare::{self, panic_message, RESTORE_BUDGET};
use super::events::EventStream;
use super::plan::{Plan, PlannedTrial};
use super::{Restore, RunConfig, RunError, RunOutcome};
use crate::board::Board;
use crate::check::{Applicability, CheckError, Finding};
use crate::context::CheckContext;
use crate::evidence::EvidenceSink;
use crate::registry::Registry;
use crate::stop::{instant_after, Interruption, StopSignal};

/// How long a check may overrun its deadline while its transports notice
/// the deadline and return, before the board is declared wedged.
const GRACE: Duration = Duration::from_secs(5);

/// Exit code of a run interrupted by Ctrl-C (128 + SIGINT, as shells
/// report it; other signals give 128 + their number).
pub const INTERRUPTED_EXIT: i32 = 130;

/// Why a board cannot take more checks.
#[derive(Debug, Clone)]
enum BoardHealth {
    Usable,
    Unusable(String),
}

pub fn run(config: RunConfig, reporter: Box<dyn Reporter>) -> Result<RunOutcome, RunError> {
    let plan = plan(&config)?;
    let board_limit = config
        .test_args
        .test_threads
        .unwrap_or(plan.boards.len())
        .max(1);

    let started = Instant::now();
    let run_id = new_run_id();
    let run_dir = config.out_root.join(&run_id);
    std::fs::create_dir_all(&run_dir).map_err(|source| RunError::OutDir {
        path: run_dir.clone(),
        source,
    })?;
    let events = Arc::new(EventStream::start(
        reporter,
        run_dir.clone(),
        plan.reported(),
        initial_record(&config, &plan, &run_id),
        started,
    ));

    let slots = Arc::new(Slots::new(board_limit));
    let mut workers = Vec::new();
    for (index, trials) in plan.per_board.iter().enumerate() {
        let worker = BoardWorker {
            board: plan.boards[index].clone(),
            trials: trials.iter().filter(|t| t.selected).cloned().collect(),
            events: events.clone(),
            slots: slots.clone(),
            interrupted: config.interrupted.clone(),
            run_dir: run_dir.clone(),
            restore: config.restore.clone(),
            health: config.health.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("board-{}", plan.boards[index].name()))
            .spawn(move || worker.run())
            .map_err(|e| RunError::Plan(format!("cannot start board worker: {e}")))?;
        workers.push(handle);
    }
    for worker in workers {
        let _ = worker.join();
    }
    // Rack-wide trials need every board's results: they run once the
    // workers are done.
    let interrupted = config.interrupted.is_raised();
    if !interrupted {
        for trial in plan.rack.iter().filter(|t| t.selected) {
            events.emit(RunEvent::TrialStarted {
                board: None,
                name: trial.name.clone(),
                check: trial.check.meta().id(),
            });
            let record = run_rack_trial(trial, &events);
            events.emit(RunEvent::TrialFinished {
                trial: Box::new(record),
                identity: BTreeMap::new(),
            });
        }
    }

    if interrupted && !events.interruption_recorded() {
        events.emit(RunEvent::RunInterrupted {
            reason: format!("interrupted by {}", config.interrupted.signal_name()),
        });
    }
    let finished = events.snapshot().trials.len();
    events.emit(RunEvent::RunFinished {
        finished_at: now_rfc3339(),
        complete: !interrupted && finished == plan.selected_count(),
    });
    if let Some(e) = events.take_error() {
        return Err(RunError::Report(e));
    }
    let exit_code = if interrupted {
        config.interrupted.exit_code()
    } else {
        events.snapshot().exit_code()
    };
    Ok(RunOutcome { run_dir, exit_code })
}

/// The trials `config` selects, without running any (`--list`).
pub fn plan(config: &RunConfig) -> Result<Plan, RunError> {
    let registry =
        Registry::new(config.checks.clone(), config.rack_checks.clone()).map_err(RunError::Plan)?;
    Plan::build(
        &config.boards,
        &config.suite,
        &registry,
        &config.test_args,
        &config.filters,
    )
    .map_err(RunError::Plan)
}

/// Runs one rack-wide check on the record as it stands (every board done).
fn run_rack_trial(trial: &super::plan::RackTrial, events: &EventStream) -> TrialRecord {
    crate::rack::judge::rack_trial(
        &trial.name,
        &trial.check,
        &events.snapshot(),
        events.started,
    )
}

/// Where a trial's applicability came from: the board file decided before
/// anything was sent, or the check found at run time that the device
/// lacks what it acts on.
fn applicability(trial: &PlannedTrial, verdict: Verdict) -> ApplicabilityRecord {
    match &trial.applicability {
        Applicability::NotApplicable(why) => ApplicabilityRecord {
            applies: false,
            source: "board_file".into(),
            enabled_by: why.enabled_by.clone(),
        },
        Applicability::Applicable if verdict == Verdict::NotApplicable => ApplicabilityRecord {
            applies: false,
            source: "device".into(),
            enabled_by: Vec::new(),
        },
        Applicability::Applicable => ApplicabilityRecord {
            applies: true,
            source: "board_file".into(),
            enabled_by: Vec::new(),
        },
    }
}

pub(crate) fn error_text(err: CheckError) -> String {
    match err {
        CheckError::Board(s)
        | CheckError::Harness(s)
        | CheckError::NotApplicable(s)
        | CheckError::Stopped(s) => s,
    }
}

/// Limits how many boards run at once (`--test-threads`).
struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            changed: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.changed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    fn release(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.changed.notify_one();
    }
}

struct BoardWorker {
    board: Arc<Board>,
    trials: Vec<PlannedTrial>,
    events: Arc<EventStream>,
    slots: Arc<Slots>,
    interrupted: Interruption,
    run_dir: std::path::PathBuf,
    restore: Option<Arc<dyn Restore>>,
    health: Option<Arc<dyn crate::rack::health::HealthCheck>>,
}

/// What one check's thread hands back.
struct Returned {
    result: Result<Finding, CheckError>,
    evidence: Vec<hilt_reports::EvidenceRecord>,
    identity: BTreeMap<String, String>,
    /// How the board was left (undo steps and restore strategy).
    left: Option<BoardLeft>,
}

/// Messages from a check's thread: the check itself ended (its aftercare
/// starts, on a budget of its own), then everything is done.
enum Report {
    CheckEnded,
    Done(Box<Returned>),
}

/// What the worker concluded about one trial.
struct Outcome {
    result: Result<Finding, CheckError>,
    evidence: Vec<hilt_reports::EvidenceRecord>,
    identity: BTreeMap<String, String>,
    left: Option<BoardLeft>,
    health: Option<BoardHealth>,
}

impl Outcome {
    fn without_run(result: Result<Finding, CheckError>) -> Self {
        Self {
            result,
            evidence: Vec::new(),
            identity: BTreeMap::new(),
            left: None,
            health: None,
        }
    }
}

/// Ends a board's worker whatever happens: marks the board done (the
/// reporting side waits for it) and frees its slot, even after a panic.
struct WorkerEnd<'a>(&'a BoardWorker);

impl Drop for WorkerEnd<'_> {
    fn drop(&mut self) {
        let worker = self.0;
        worker.events.emit(RunEvent::BoardFinished {
            board: worker.board.name().to_string(),
        });
        worker.slots.release();
    }
}

impl BoardWorker {
    fn run(self) {
        self.slots.acquire();
        let _end = WorkerEnd(&self);
        self.events.emit(RunEvent::BoardStarted {
            board: self.board.name().to_string(),
        });
        let mut health = BoardHealth::Usable;
        if let Some(why) = self.health_check() {
            self.quarantine(&mut health, why);
        }
        for trial in &self.trials {
            if self.interrupted.is_raised() {
                break;
            }
            // A panic anywhere in the worker (not only in the check) ends
            // this trial as ERROR; the board's other trials go on.
            let recorded = std::cell::Cell::new(false);
            let step = panic::catch_unwind(AssertUnwindSafe(|| {
                self.run_trial(trial, &mut health, &recorded)
            }));
            match step {
                Ok(TrialEnd::Next) => {}
                Ok(TrialEnd::Stop) => break,
                Err(payload) => {
                    if !recorded.get() {
                        self.finished(self.died(trial, &panic_message(&payload)), BTreeMap::new());
                    }
                    // The board may be mid-change: trust it no further.
                    self.quarantine(
                        &mut health,
                        format!(
                            "the harness failed during {} and the board's state is unknown",
                            trial.name
                        ),
                    );
                }
            }
        }
    }

    /// The health check before the board's suite, when it has trials to
    /// run; its findings go to the record. Returns why the board is
    /// quarantined, if it is.
    fn health_check(&self) -> Option<String> {
        let check = self.health.clone()?;
        let runs_any = self
            .trials
            .iter()
            .any(|t| t.applicability == Applicability::Applicable && t.setup_fault.is_none());
        if !runs_any || self.interrupted.is_raised() {
            return None;
        }
        let found =
            crate::rack::health::run(check, self.board.clone(), &self.run_dir, &self.interrupted);
        let quarantined = found.quarantined.clone();
        self.events.emit(RunEvent::BoardHealthChecked {
            board: self.board.name().to_string(),
            health: Box::new(found),
        });
        quarantined.map(|why| format!("quarantined: {why}"))
    }

    fn run_trial(
        &self,
        trial: &PlannedTrial,
        health: &mut BoardHealth,
        recorded: &std::cell::Cell<bool>,
    ) -> TrialEnd {
        self.events.emit(RunEvent::TrialStarted {
            board: Some(self.board.name().to_string()),
            name: trial.name.clone(),
            check: trial.check.meta().id(),
        });
        let started_at = now_rfc3339();
        let start = Instant::now();
        let mut outcome = match (&trial.applicability, &*health) {
            (Applicability::NotApplicable(why), _) => {
                Outcome::without_run(Err(CheckError::NotApplicable(why.reason.clone())))
            }
            (_, _) if trial.setup_fault.is_some() => {
                Outcome::without_run(Err(CheckError::Harness(format!(
                    "board file reference broken, nothing was sent to the device: {}",
                    trial.setup_fault.as_deref().unwrap_or_default()
                ))))
            }
            (_, BoardHealth::Unusable(why)) => {
                Outcome::without_run(Err(CheckError::Board(format!("board unavailable: {why}"))))
            }
            _ => self.execute(trial),
        };
        if let Some(BoardHealth::Unusable(why)) = outcome.health.take() {
            self.quarantine(health, why);
        }
        let identity = std::mem::take(&mut outcome.identity);
        let interrupted_mid_check =
            self.interrupted.is_raised() && matches!(outcome.result, Err(CheckError::Stopped(_)));
        let mut record = self.trial_record(trial, outcome, started_at, start);
        if interrupted_mid_check {
            // Not a finished trial, but the record keeps what happened to
            // the board (its undo steps ran) and which trial it was.
            let why = format!(
                "interrupted by {} during {}",
                self.interrupted.signal_name(),
                trial.name
            );
            record.reason = format!("{why}; nothing was established");
            self.events.emit(RunEvent::RunInterrupted { reason: why });
        }
        recorded.set(true);
        self.finished(record, identity);
        if interrupted_mid_check {
            TrialEnd::Stop
        } else {
            TrialEnd::Next
        }
    }

    fn finished(&self, trial: TrialRecord, identity: BTreeMap<String, String>) {
        self.events.emit(RunEvent::TrialFinished {
            trial: Box::new(trial),
            identity,
        });
    }

    /// The board takes no more checks (its remaining trials end
    /// INCONCLUSIVE, "board unavailable").
    fn quarantine(&self, health: &mut BoardHealth, why: String) {
        if matches!(health, BoardHealth::Usable) {
            self.events.emit(RunEvent::BoardQuarantined {
                board: self.board.name().to_string(),
                reason: why.clone(),
            });
        }
        *health = BoardHealth::Unusable(why);
    }

    /// The record of a trial whose worker panicked outside the check.
    fn died(&self, trial: &PlannedTrial, why: &str) -> TrialRecord {
        let meta = trial.check.meta();
        let now = now_rfc3339();
        let offset = self.events.started.elapsed().as_millis() as u64;
        TrialRecord {
            name: trial.name.clone(),
            board: self.board.name().to_string(),
            check: meta.id(),
            catalogue_id: meta.catalogue_id.to_string(),
            title: meta.title.to_string(),
            references: meta.references(),
            applicability: Some(applicability(trial, Verdict::Error)),
            verdict: Verdict::Error,
            reason: crate::evidence::scrub(
                &format!("the board worker panicked during {}: {why}", trial.name),
                &self.board.secret_values(),
            ),
            expected: meta.expected.to_string(),
            observed: "no conclusive observation".into(),
            measurements: BTreeMap::new(),
            started_at: now.clone(),
            finished_at: now,
            start_offset_ms: offset,
            end_offset_ms: offset,
            duration_ms: 0,
            evidence: Vec::new(),
            board_left: meta.destructive.then(|| BoardLeft {
                restored: false,
                note: "unknown: the harness failed before the board could be restored".into(),
            }),
        }
    }

    /// Runs one check in its own thread, bounded by its timeout, then its
    /// aftercare (undo steps, restore) on a budget of its own.
    fn execute(&self, trial: &PlannedTrial) -> Outcome {
        let meta = trial.check.meta();
        let stop = StopSignal::new(instant_after(trial.timeout), self.interrupted.flag());
        let sink = EvidenceSink::new(
            &self.run_dir,
            self.board.name(),
            &meta.id(),
            self.board.secret_values(),
        );
        let mut ctx = CheckContext::new(
            self.board.clone(),
            trial.params.clone(),
            meta.params,
            stop.clone(),
            sink,
        );
        let check = trial.check.clone();
        let restore = self.restore.clone();
        let destructive = meta.destructive;
        let (tx, rx) = mpsc::channel::<Report>();
        let spawned = std::thread::Builder::new()
            .name(trial.name.clone())
            .spawn(move || {
                let body = panic::catch_unwind(AssertUnwindSafe(|| {
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| check.run(&mut ctx)));
                    let _ = tx.send(Report::CheckEnded);
                    let mut result = match outcome {
                        Ok(result) => result,
                        Err(payload) => Err(CheckError::Harness(format!(
                            "check panicked: {}",
                            panic_message(&payload)
                        ))),
                    };
                    let care = aftercare::leave_as_found(&mut ctx, destructive, restore.as_ref());
                    if let Some(left) = care.left.as_ref().filter(|l| !l.restored) {
                        let why = format!(
                            "{RESTORE_FAILED}{} (check result before: {})",
                            left.note,
                            summarize(&result)
                        );
                        result = Err(if care.panicked {
                            CheckError::Harness(why)
                        } else {
                            CheckError::Board(why)
                        });
                    }
                    // Scrubbed here, where the trial's generated secrets are known.
                    result = ctx.scrub_outcome(result);
                    let left = care.left.map(|left| BoardLeft {
                        note: ctx.evidence().scrubber().scrub_text(&left.note),
                        ..left
                    });
                    let (evidence, identity, save_error) = ctx.finish();
                    if let (Ok(_), Some(e)) = (&result, save_error) {
                        result = Err(e);
                    }
                    Returned {
                        result,
                        evidence,
                        identity,
                        left,
                    }
                }));
                let returned = body.unwrap_or_else(|payload| Returned {
                    result: Err(CheckError::Harness(format!(
                        "the check's thread panicked after the check (evidence or restore): {}",
                        panic_message(&payload)
                    ))),
                    evidence: Vec::new(),
                    identity: BTreeMap::new(),
                    left: destructive.then(|| BoardLeft {
                        restored: false,
                        note: "unknown: the harness failed while restoring".into(),
                    }),
                });
                let _ = tx.send(Report::Done(Box::new(returned)));
            });
        if let Err(e) = spawned {
            return Outcome::without_run(Err(CheckError::Harness(format!(
                "cannot start check thread: {e}"
            ))));
        }
        let budget = trial.timeout;
        // "check did not finish within its timeout of 30 s (last step:
        // waiting for ...)", with the check's own account when it has one.
        let timeout_reason = |detail: Option<&str>| {
            let mut reason = format!(
                "check did not finish within its timeout of {} s",
                budget.as_secs_f64()
            );
            match (detail, stop.waiting()) {
                (Some(why), _) if why.contains("waiting for") => {
                    reason.push_str(&format!(" ({why})"))
                }
                (detail, waiting) => {
                    let mut parts: Vec<String> = detail.map(str::to_string).into_iter().collect();
                    parts.extend(waiting.map(|w| format!("last step: waiting for {w}")));
                    if !parts.is_empty() {
                        reason.push_str(&format!(" ({})", parts.join("; ")));
                    }
                }
            }
            reason
        };
        // The check's own time (plus a moment to report), then a grace
        // period for transports that notice the deadline late.
        let first = rx
            .recv_timeout(budget.saturating_add(Duration::from_millis(250)))
            .or_else(|_| rx.recv_timeout(GRACE));
        let (returned, late) = match first {
            Ok(Report::Done(returned)) => (Ok(*returned), false),
            Ok(Report::CheckEnded) => {
                let late = Instant::now() >= stop.deadline();
                let done = match rx.recv_timeout(RESTORE_BUDGET.saturating_add(GRACE)) {
                    Ok(Report::Done(returned)) => Ok(*returned),
                    _ => Err(format!(
                        "undoing its changes did not finish within {} s",
                        RESTORE_BUDGET.as_secs()
                    )),
                };
                (done, late)
            }
            Err(_) => (
                Err(format!("nor stopped {} s after it", GRACE.as_secs())),
                true,
            ),
        };
        let returned = match returned {
            Ok(returned) => returned,
            Err(why) => {
                let reason = if late {
                    format!("{}, {why}", timeout_reason(None))
                } else {
                    why
                };
                return Outcome {
                    result: Err(CheckError::Stopped(reason)),
                    evidence: Vec::new(),
                    identity: BTreeMap::new(),
                    left: Some(BoardLeft {
                        restored: false,
                        note: "unknown: the check or its undo steps are still running".into(),
                    }),
                    health: Some(BoardHealth::Unusable(format!(
                        "{} is still running past its timeout; the board is in an unknown state",
                        trial.name
                    ))),
                };
            }
        };
        let health = match &returned.left {
            Some(left) if !left.restored => Some(BoardHealth::Unusable(format!(
                "{} left the board changed ({})",
                trial.name, left.note
            ))),
            _ => None,
        };
        let result = match returned.result {
            Err(CheckError::Stopped(why)) if !self.interrupted.is_raised() => {
                Err(CheckError::Stopped(timeout_reason(Some(&why))))
            }
            Ok(_) if late => Err(CheckError::Stopped(timeout_reason(None))),
            other => other,
        };
        Outcome {
            result,
            evidence: returned.evidence,
            identity: returned.identity,
            left: returned.left,
            health,
        }
    }

    fn trial_record(
        &self,
        trial: &PlannedTrial,
        outcome: Outcome,
        started_at: String,
        start: Instant,
    ) -> TrialRecord {
        let meta = trial.check.meta();
        let (verdict, reason, observed, measurements, public) = match outcome.result {
            Ok(finding) => (
                finding.verdict,
                finding.reason,
                finding.observed,
                finding.measurements,
                finding.public_phrases,
            ),
            Err(err) => {
                let verdict = err.verdict();
                let reason = error_text(err);
                let observed = match verdict {
                    Verdict::NotApplicable => "not run".to_string(),
                    _ => "no conclusive observation".to_string(),
                };
                (verdict, reason, observed, BTreeMap::new(), Vec::new())
            }
        };
        // Again with the board's secrets: covers texts composed after the
        // check thread (timeouts) and results that never passed through it.
        let scrubber = crate::scrub::Scrubber::new(&self.board.secret_values());
        let scrub = |s: String| scrubber.scrub_text_except(&s, &public);
        let end = Instant::now();
        TrialRecord {
            name: trial.name.clone(),
            board: self.board.name().to_string(),
            check: meta.id(),
            catalogue_id: meta.catalogue_id.to_string(),
            title: meta.title.to_string(),
            references: meta.references(),
            applicability: Some(applicability(trial, verdict)),
            verdict,
            reason: scrub(reason),
            expected: meta.expected.to_string(),
            observed: scrub(observed),
            measurements: measurements
                .into_iter()
                .map(|(k, v)| (k, scrub(v)))
                .collect(),
            started_at,
            finished_at: now_rfc3339(),
            start_offset_ms: start.duration_since(self.events.started).as_millis() as u64,
            end_offset_ms: end.duration_since(self.events.started).as_millis() as u64,
            duration_ms: end.duration_since(start).as_millis() as u64,
            evidence: outcome.evidence,
            board_left: outcome.left.map(|left| BoardLeft {
                restored: left.restored,
                note: scrub(left.note),
            }),
        }
    }
}

/// Whether a board's worker goes on after a trial.
enum TrialEnd {
    Next,
    Stop,
}

const RESTORE_FAILED: &str = "the board was not left as found: ";

fn summarize(result: &Result<Finding, CheckError>) -> String {
    match result {
        Ok(f) => f.verdict.to_string(),
        Err(e) => e.verdict().to_string(),
    }
}

fn initial_record(config: &RunConfig, plan: &Plan, run_id: &str) -> RunRecord {
    let report = config
        .description
        .report
        .clone()
        .with_defaults(&config.suite.spec.title);
    let boards = plan
        .boards
        .iter()
        .map(|b| {
            let sha = std::fs::read(&b.file)
                .map(|bytes| hex::encode(Sha256::digest(bytes)))
                .unwrap_or_default();
            super::describe::board_info(b, &report, sha)
        })
        .collect();
    let host = hostname();
    RunRecord {
        format: RECORD_FORMAT,
        schema_version: RECORD_SCHEMA_VERSION.into(),
        run_id: run_id.to_string(),
        tool: ToolInfo {
            name: "hilt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: config.command.clone(),
            host: host.clone(),
        },
        started_at: now_rfc3339(),
        finished_at: None,
        complete: false,
        interrupted: None,
        suite: SuiteInfo {
            name: config.suite.spec.suite.clone(),
            file: Some(config.suite.file.display().to_string()),
            sha256: Some(hex::encode(Sha256::digest(config.suite.text.as_bytes()))),
        },
        report,
        environment: super::describe::environment(&config.description, &plan.boards, host),
        boards,
        trials: Vec::new(),
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}

fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let salt = Sha256::digest(format!("{}-{:?}", std::process::id(), Instant::now()).as_bytes());
    format!("{stamp}-{}", &hex::encode(salt)[..6])
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
