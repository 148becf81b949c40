//! What a run reports as it goes: the runner emits these events, one
//! stream per run, and reporters (`reporter`) consume them. The runner
//! never prints or writes a report itself (cargo-nextest's shape).
//!
//! The run record is the fold of this stream ([`RunRecord::apply`]): the
//! runner keeps the record current with it and hands it to every reporter
//! beside each event, so reports that render a record (JSON, JUnit, the
//! summary) render the same one a later `hilt report render` reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::record::{BoardHealthRecord, RunRecord, TrialRecord};

/// One thing that happened in a run, in the order it happened.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run folder exists and the plan is fixed; `record` is the
    /// record's head (boards, suite, environment) with no trial yet.
    RunStarted {
        run_dir: PathBuf,
        plan: RunPlan,
        record: Box<RunRecord>,
    },
    /// A board's worker got its slot (`--test-threads`) and starts its trials.
    BoardStarted { board: String },
    /// The health check before a board's suite (`--health-check`) ended;
    /// a failed one is followed by `BoardQuarantined`.
    BoardHealthChecked {
        board: String,
        health: Box<BoardHealthRecord>,
    },
    /// A board takes no more checks: it failed its health check, or a
    /// check left it changed or wedged. Its remaining trials still end, as
    /// INCONCLUSIVE.
    BoardQuarantined { board: String, reason: String },
    /// A trial starts (rack-wide trials have `board` None).
    TrialStarted {
        board: Option<String>,
        name: String,
        check: String,
    },
    /// A trial ended, with its record entry and what it observed about the
    /// board's identity (`BoardInfo::observe`).
    TrialFinished {
        trial: Box<TrialRecord>,
        identity: BTreeMap<String, String>,
    },
    /// A board's worker ended: its trials that did not finish never will.
    BoardFinished { board: String },
    /// A signal stopped the run; `reason` names it (and the trial it
    /// stopped, when it stopped one).
    RunInterrupted { reason: String },
    /// The last event: no trial runs any more.
    RunFinished {
        finished_at: String,
        /// Every selected trial finished and nothing interrupted the run.
        complete: bool,
    },
}

/// The selected trials of a run, as reporters need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPlan {
    /// Board names, in the order given.
    pub boards: Vec<String>,
    /// Selected trials in reporting order: interleaved across boards (A1,
    /// B1, A2, B2, ..., close to the order they finish), rack-wide last.
    pub trials: Vec<PlannedTrial>,
}

/// One selected trial of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTrial {
    /// `board::capability::check`.
    pub name: String,
    /// The board it runs on; None for a rack-wide trial.
    pub board: Option<String>,
    /// The board file declares what makes the check NOT_APPLICABLE
    /// (libtest shows such trials as ignored).
    pub not_applicable: bool,
}

impl RunPlan {
    /// How many selected trials run on `board`.
    pub fn trials_on(&self, board: &str) -> usize {
        self.trials
            .iter()
            .filter(|t| t.board.as_deref() == Some(board))
            .count()
    }
}

impl RunRecord {
    /// Folds one event into the record: the record of a run is what its
    /// event stream adds up to.
    pub fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { record, .. } => *self = (**record).clone(),
            RunEvent::TrialFinished { trial, identity } => {
                if let Some(board) = self.boards.iter_mut().find(|b| b.name == trial.board) {
                    board.observe(identity);
                }
                self.trials.push((**trial).clone());
            }
            RunEvent::BoardHealthChecked { board, health } => {
                if let Some(info) = self.boards.iter_mut().find(|b| &b.name == board) {
                    info.health = Some((**health).clone());
                }
            }
            RunEvent::RunInterrupted { reason } => self.interrupted = Some(reason.clone()),
            RunEvent::RunFinished {
                finished_at,
                complete,
            } => {
                self.finished_at = Some(finished_at.clone());
                self.complete = *complete;
            }
            RunEvent::BoardStarted { .. }
            | RunEvent::BoardQuarantined { .. }
            | RunEvent::TrialStarted { .. }
            | RunEvent::BoardFinished { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    #[test]
    fn the_record_is_the_fold_of_the_events() {
        let head = sample_one_board_record(vec![]);
        let trial = sample_trial("b", "AU-09", &[], &[], Verdict::Fail);
        let events = [
            RunEvent::RunStarted {
                run_dir: "out/r".into(),
                plan: RunPlan::default(),
                record: Box::new(head),
            },
            RunEvent::BoardStarted { board: "b".into() },
            RunEvent::TrialFinished {
                trial: Box::new(trial),
                identity: [("firmware_version".to_string(), "2.0".to_string())].into(),
            },
            RunEvent::RunInterrupted {
                reason: "interrupted by SIGINT".into(),
            },
            RunEvent::RunFinished {
                finished_at: "2026-01-01T00:00:09Z".into(),
                complete: false,
            },
        ];
        let mut record = sample_record(vec![], vec![]);
        for event in &events {
            record.apply(event);
        }
        assert_eq!(record.trials.len(), 1);
        assert_eq!(record.boards[0].firmware_version.as_deref(), Some("2.0"));
        assert_eq!(record.interrupted.as_deref(), Some("interrupted by SIGINT"));
        assert_eq!(record.finished_at.as_deref(), Some("2026-01-01T00:00:09Z"));
        assert!(!record.complete);
        assert_eq!(record.exit_code(), 1);
    }
}
