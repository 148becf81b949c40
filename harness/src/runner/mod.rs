//! The runner: turns (boards × suite) into trials named like
//! `sim-0::software_update::unsigned_image`, selects them with cargo-test
//! semantics plus catalogue ids (`select`; libtest-mimic does the plain
//! output), runs
//! each board's trials one at a time on that board's own worker, boards in
//! parallel, and keeps the run record current after every trial.
//!
//! The runner never formats reports: it fills a `RunRecord`; renderers in
//! `hilt-reports` turn it into JSON and JUnit.

mod aftercare;
mod coverage;
mod describe;
mod execute;
mod plan;
mod progress;
mod select;
mod state;

pub use aftercare::{panic_message, RESTORE_BUDGET};
pub use coverage::{coverage, CheckCoverage, CoverageStatus};
pub use describe::RunDescription;
pub use execute::INTERRUPTED_EXIT;
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
    /// Print cargo-test style lines per trial on stdout (the CLI does;
    /// embedders and tests read the record instead).
    pub print_trials: bool,
    /// The lab's statements and hilt's build, for the record.
    pub description: RunDescription,
}

#[derive(Debug)]
pub struct RunOutcome {
    /// None when only listing.
    pub run_dir: Option<PathBuf>,
    pub exit_code: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create run folder {path}: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Plan(String),
}

/// Runs the plan; returns the exit code the record calls for (128 + the
/// signal when interrupted).
pub fn run(config: RunConfig) -> Result<RunOutcome, RunError> {
    execute::run(config)
}
