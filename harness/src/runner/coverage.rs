//! What a run of a suite would cover on a board, decided from the board
//! file alone (`hilt board check`): the checks that will run, and for each
//! that will not, why and which board-file field would make it run.

use serde::Serialize;

use super::plan::Plan;
use crate::check::Applicability;

/// One check of the suite on one board.
#[derive(Debug, Clone, Serialize)]
pub struct CheckCoverage {
    /// `AU-10`.
    pub catalogue_id: String,
    /// `logical_access::debug_port_locked`.
    pub check: String,
    #[serde(flatten)]
    pub status: CoverageStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CoverageStatus {
    /// The check will act on the device.
    Runs,
    /// NOT_APPLICABLE before anything is sent.
    NotApplicable {
        reason: String,
        /// Board-file fields, any one of which would make it run; empty
        /// when none would.
        enabled_by: Vec<String>,
    },
    /// ERROR before anything is sent: a file or secret it needs is
    /// missing or does not load (the preflight's problems, joined).
    SetupFault { reason: String },
}

/// The coverage of `plan`'s board `board`, in suite order, followed by the
/// rack-wide checks (they run once all boards have finished).
pub fn coverage(plan: &Plan, board: usize) -> Vec<CheckCoverage> {
    let trials = plan.per_board.get(board).into_iter().flatten();
    let per_board = trials.map(|trial| {
        let meta = trial.check.meta();
        let status = match &trial.applicability {
            Applicability::Applicable => match &trial.setup_fault {
                None => CoverageStatus::Runs,
                Some(reason) => CoverageStatus::SetupFault {
                    reason: reason.clone(),
                },
            },
            Applicability::NotApplicable(why) => CoverageStatus::NotApplicable {
                reason: why.reason.clone(),
                enabled_by: why.enabled_by.clone(),
            },
        };
        CheckCoverage {
            catalogue_id: meta.catalogue_id.to_string(),
            check: meta.id(),
            status,
        }
    });
    let rack = plan.rack.iter().map(|trial| CheckCoverage {
        catalogue_id: trial.check.meta().catalogue_id.to_string(),
        check: trial.check.meta().id(),
        status: CoverageStatus::Runs,
    });
    per_board.chain(rack).collect()
}
