//! The plain cargo-test lines (`test sim-0::x::y ... ok`, `test result:
//! ...`), and `--format terse|json`, `--quiet` and `--list`, written by
//! libtest-mimic so they are exactly what `cargo test` users read.
//!
//! libtest-mimic runs trials itself; here each of its trials only waits
//! for the run's `TrialFinished` event of the same name, on a thread of
//! its own, so the lines appear as trials finish.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{Reporter, ReporterError};
use crate::escape::escape_controls;
use crate::events::{RunEvent, RunPlan};
use crate::record::{RunRecord, Verdict};

/// Prints the `--list` lines of a plan's trials.
pub fn list(args: &libtest_mimic::Arguments, plan: &RunPlan) {
    let args = report_only(args);
    let trials = plan
        .trials
        .iter()
        .map(|t| {
            libtest_mimic::Trial::test(t.name.clone(), || Ok(()))
                .with_ignored_flag(t.not_applicable)
        })
        .collect();
    let _listed = libtest_mimic::run(&args, trials);
}

/// libtest-mimic only reports: the runner decided which trials run and on
/// how many boards at once, so it is shown only the selected trials, one
/// at a time, and filters nothing itself.
fn report_only(args: &libtest_mimic::Arguments) -> libtest_mimic::Arguments {
    let mut args = args.clone();
    args.test_threads = Some(1);
    args.filter = None;
    args.skip.clear();
    args
}

pub struct LibtestLines {
    args: libtest_mimic::Arguments,
    results: Arc<Results>,
    printer: Option<JoinHandle<()>>,
}

/// What the waiting trials learn from the event stream.
#[derive(Default)]
struct Results {
    state: Mutex<Seen>,
    changed: Condvar,
}

#[derive(Default)]
struct Seen {
    finished: HashMap<String, (Verdict, String)>,
    boards_done: HashSet<String>,
    run_done: bool,
}

impl Results {
    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Blocks until the trial finished, or its board's worker (or the
    /// whole run) ended without it.
    fn wait_for(&self, name: &str, board: Option<&str>) -> Result<(), libtest_mimic::Failed> {
        let mut seen = self.lock();
        loop {
            if let Some((verdict, reason)) = seen.finished.get(name) {
                return match verdict {
                    Verdict::Pass | Verdict::NotApplicable | Verdict::Declared => Ok(()),
                    verdict => Err(format!("{verdict}: {}", escape_controls(reason)).into()),
                };
            }
            if seen.run_done || board.is_some_and(|b| seen.boards_done.contains(b)) {
                return Err("not run: the run was interrupted".into());
            }
            seen = self.changed.wait(seen).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl LibtestLines {
    pub fn new(args: &libtest_mimic::Arguments) -> Self {
        Self {
            args: report_only(args),
            results: Arc::default(),
            printer: None,
        }
    }

    fn start(&mut self, plan: &RunPlan) -> Result<(), ReporterError> {
        let trials = plan
            .trials
            .iter()
            .map(|planned| {
                let results = self.results.clone();
                let (name, board) = (planned.name.clone(), planned.board.clone());
                libtest_mimic::Trial::test(planned.name.clone(), move || {
                    results.wait_for(&name, board.as_deref())
                })
                .with_ignored_flag(planned.not_applicable)
            })
            .collect();
        let args = self.args.clone();
        let printer = std::thread::Builder::new()
            .name("libtest-lines".into())
            .spawn(move || {
                let _conclusion = libtest_mimic::run(&args, trials);
            })
            .map_err(|e| ReporterError {
                path: None,
                message: format!("cannot start the libtest reporter: {e}"),
            })?;
        self.printer = Some(printer);
        Ok(())
    }

    /// Lets every waiting trial end and waits for the last line.
    fn finish(&mut self) {
        self.results.update(|seen| seen.run_done = true);
        if let Some(printer) = self.printer.take() {
            let _ = printer.join();
        }
    }
}

impl Reporter for LibtestLines {
    fn report(&mut self, event: &RunEvent, _record: &RunRecord) -> Result<(), ReporterError> {
        match event {
            RunEvent::RunStarted { plan, .. } => self.start(plan)?,
            RunEvent::TrialFinished { trial, .. } => self.results.update(|seen| {
                seen.finished
                    .insert(trial.name.clone(), (trial.verdict, trial.reason.clone()));
            }),
            RunEvent::BoardFinished { board } => self.results.update(|seen| {
                seen.boards_done.insert(board.clone());
            }),
            RunEvent::RunFinished { .. } => self.finish(),
            _ => {}
        }
        Ok(())
    }
}

impl Drop for LibtestLines {
    /// A run that ended without `RunFinished` (an error) leaves no thread waiting.
    fn drop(&mut self) {
        self.finish();
    }
}
