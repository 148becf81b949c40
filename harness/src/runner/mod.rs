//! The runner: turns (boards × suite) into trials named like
//! `sim-0::software_update::unsigned_image`, selects them with cargo-test
//! semantics plus catalogue ids (`select`), runs each board's trials one
//! at a time on that board's own worker, boards in parallel, and emits an
//! event for each step (`events`).
//!
//! The runner never prints or writes a report: the reporters of
//! `hilt_reports::reporter`, chosen by the caller, consume its events (the
//! terminal lines, `record.json`, JUnit, the manifest, the summary).

mod aftercare;
mod coverage;
mod describe;
mod events;
mod execute;
mod plan;
mod select;

pub use aftercare::{panic_message, RESTORE_BUDGET};
pub use coverage::{coverage, CheckCoverage, CoverageStatus};
pub use describe::RunDescription;
pub(crate) use execute::{error_text, now_rfc3339};
pub use execute::{plan, INTERRUPTED_EXIT};
pub use plan::{trial_name, Plan, PlannedTrial, RackTrial, RACK};
pub use select::Selection;

use std::path::PathBuf;
use std::sync::Arc;

use crate::board::Board;
use crate::check::Check;
use crate::suite::Suite;

/// Restores a board after a destructive check (golden image, power cycle).
/// Written once per kind of board, not per check (labgrid's strategies).
pub trait Restore: Send + Sync {
    /// What the strategy does, for the record (`golden image ...`).
    fn describe(&self) -> &str {
        "the board's restore strategy"
    }

    fn restore(
        &self,
        ctx: &mut crate::context::CheckContext,
    ) -> Result<(), crate::check::CheckError>;
}

pub struct RunConfig {
    pub boards: Vec<Board>,
    pub suite: Suite,
    /// Every check hilt knows; the suite selects among them.
    pub checks: Vec<Arc<dyn Check>>,
    /// Every rack-wide check hilt knows (run once, after all boards).
    pub rack_checks: Vec<Arc<dyn crate::check::RackCheck>>,
    /// Parent of the run folder (`hilt-out`).
    pub out_root: PathBuf,
    /// cargo-test style arguments (filter, `--exact`, `--skip`, `--list`,
    /// `--test-threads`, ...).
    pub test_args: libtest_mimic::Arguments,
    /// Every FILTER given (a trial runs when any matches, as with `cargo
    /// test`; a filter may be a catalogue id); empty: `test_args.filter`.
    pub filters: Vec<String>,
    /// The command line, for the record.
    pub command: Vec<String>,
    /// Raised by the SIGINT/SIGTERM handler; the run stops starting
    /// checks, stops the running ones at their next poll (their undo steps
    /// still run), and writes an incomplete record naming the signal.
    pub interrupted: crate::stop::Interruption,
    pub restore: Option<Arc<dyn Restore>>,
    /// Asked of each board before its suite; a board that fails it is
    /// quarantined (its trials INCONCLUSIVE, not run), the others go on.
    pub health: Option<Arc<dyn crate::rack::health::HealthCheck>>,
    /// The lab's statements and hilt's build, for the record.
    pub description: RunDescription,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub exit_code: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create run folder {path}: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A reporter could not write its report (`record.json`, ...).
    #[error("{0}")]
    Report(#[from] hilt_reports::reporter::ReporterError),
    #[error("{0}")]
    Plan(String),
}

/// Runs the plan, reporting to `reporter` (`Reporters::files()` for the
/// run folder's files alone); returns the exit code the record calls for
/// (128 + the signal when interrupted).
pub fn run(
    config: RunConfig,
    reporter: impl hilt_reports::reporter::Reporter + 'static,
) -> Result<RunOutcome, RunError> {
    execute::run(config, Box::new(reporter))
}
