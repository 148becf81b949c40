//! Which trials exist, in which order, and which are selected.

use std::sync::Arc;
use std::time::Duration;

use crate::board::{Board, Reference, ReferenceProblem};
use crate::check::{Applicability, Check};
use crate::context::Params;
use crate::registry::Registry;
use crate::suite::{Suite, MAX_TIMEOUT_S};

pub fn trial_name(board: &str, check_id: &str) -> String {
    format!("{board}::{check_id}")
}

#[derive(Clone)]
pub struct PlannedTrial {
    pub name: String,
    pub board: usize,
    pub check: Arc<dyn Check>,
    pub timeout: Duration,
    pub params: Params,
    pub applicability: Applicability,
    /// Broken references of the board file this trial needs (missing label,
    /// unreadable golden image, unresolvable secret ...): the trial is
    /// ERROR without anything being sent to the device.
    pub setup_fault: Option<String>,
    /// Chosen by the filter arguments.
    pub selected: bool,
}

pub struct Plan {
    pub boards: Vec<Arc<Board>>,
    /// Per board, trials in suite order.
    pub per_board: Vec<Vec<PlannedTrial>>,
    /// Rack-wide trials, run once every board has finished.
    pub rack: Vec<RackTrial>,
}

/// The trial-name prefix of rack-wide checks.
pub const RACK: &str = "rack";

#[derive(Clone)]
pub struct RackTrial {
    pub name: String,
    pub check: Arc<dyn crate::check::RackCheck>,
    pub selected: bool,
}

impl Plan {
    pub fn build(
        boards: &[Board],
        suite: &Suite,
        registry: &Registry,
        args: &libtest_mimic::Arguments,
        filters: &[String],
    ) -> Result<Self, String> {
        let selection = super::select::Selection::new(args, filters);
        let mut seen = std::collections::BTreeSet::new();
        for board in boards {
            if !seen.insert(board.name().to_string()) {
                return Err(format!(
                    "two board files name the same board {:?} ({})",
                    board.name(),
                    board.file.display()
                ));
            }
        }
        let metas: Vec<&crate::check::CheckMeta> = registry.metas().collect();
        suite.validate_params(&metas).map_err(|e| e.to_string())?;
        let default_timeout = suite.spec.default_timeout_s.map(Duration::from_secs);
        let boards: Vec<Arc<Board>> = boards.iter().cloned().map(Arc::new).collect();
        let mut per_board = Vec::new();
        for (index, board) in boards.iter().enumerate() {
            let problems = board.preflight();
            let mut trials = Vec::new();
            for entry in &suite.spec.checks {
                if registry.rack_check(&entry.check).is_some() {
                    continue;
                }
                let check = registry
                    .check(&entry.check)
                    .ok_or_else(|| format!("suite names unknown check {:?}", entry.check))?
                    .clone();
                // The entry's own timeout wins; otherwise the check's
                // default, raised to the suite's floor for slow boards.
                let timeout = entry.timeout_s.map(Duration::from_secs).unwrap_or_else(|| {
                    let own = check.meta().default_timeout;
                    default_timeout.map_or(own, |floor| own.max(floor))
                });
                if timeout > Duration::from_secs(MAX_TIMEOUT_S) {
                    return Err(format!(
                        "{}: the timeout of {} s is above the limit of {MAX_TIMEOUT_S} s",
                        entry.check,
                        timeout.as_secs()
                    ));
                }
                let applicability = check.applicability(board);
                let setup_fault = (applicability == Applicability::Applicable)
                    .then(|| setup_fault(check.as_ref(), &problems))
                    .flatten();
                let name = trial_name(board.name(), &entry.check);
                let mut trial = PlannedTrial {
                    name,
                    board: index,
                    check,
                    timeout,
                    params: entry.params.clone(),
                    applicability,
                    setup_fault,
                    selected: false,
                };
                trial.selected = selection.selects(
                    &trial.name,
                    trial.check.meta().catalogue_id,
                    trial.is_not_applicable(),
                );
                trials.push(trial);
            }
            per_board.push(trials);
        }
        let rack: Vec<RackTrial> = suite
            .spec
            .checks
            .iter()
            .filter_map(|entry| registry.rack_check(&entry.check))
            .map(|check| {
                let name = trial_name(RACK, &check.meta().id());
                RackTrial {
                    selected: selection.selects(&name, check.meta().catalogue_id, false),
                    name,
                    check: check.clone(),
                }
            })
            .collect();
        let candidates: Vec<(&str, &str)> = per_board
            .iter()
            .flatten()
            .map(|t| (t.name.as_str(), t.check.meta().catalogue_id))
            .chain(
                rack.iter()
                    .map(|t| (t.name.as_str(), t.check.meta().catalogue_id)),
            )
            .collect();
        let unmatched = selection.unmatched(&candidates);
        if !unmatched.is_empty() && !args.list {
            return Err(format!(
                "no tests to run: no check of suite {:?} on these boards matches {}",
                suite.spec.suite,
                unmatched
                    .iter()
                    .map(|f| format!("{f:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(Self {
            boards,
            per_board,
            rack,
        })
    }

    /// Trials interleaved across boards (A1, B1, A2, B2, ...), the order in
    /// which libtest-mimic reports them, close to the order they finish.
    pub fn interleaved(&self) -> Vec<&PlannedTrial> {
        let longest = self.per_board.iter().map(Vec::len).max().unwrap_or(0);
        (0..longest)
            .flat_map(|i| self.per_board.iter().filter_map(move |t| t.get(i)))
            .collect()
    }

    /// The selected trials as reporters see them: interleaved across
    /// boards, rack-wide ones last.
    pub fn reported(&self) -> hilt_reports::events::RunPlan {
        let boards = self.boards.iter().map(|b| b.name().to_string()).collect();
        let on_boards = self
            .interleaved()
            .into_iter()
            .filter(|t| t.selected)
            .map(|t| hilt_reports::events::PlannedTrial {
                name: t.name.clone(),
                board: self.boards.get(t.board).map(|b| b.name().to_string()),
                not_applicable: t.is_not_applicable(),
            });
        let rack =
            self.rack
                .iter()
                .filter(|t| t.selected)
                .map(|t| hilt_reports::events::PlannedTrial {
                    name: t.name.clone(),
                    board: None,
                    not_applicable: false,
                });
        hilt_reports::events::RunPlan {
            boards,
            trials: on_boards.chain(rack).collect(),
        }
    }

    pub fn selected_count(&self) -> usize {
        self.per_board
            .iter()
            .flatten()
            .filter(|t| t.selected)
            .count()
            + self.rack.iter().filter(|t| t.selected).count()
    }
}

/// The broken references `check` needs, as one reason, if any.
fn setup_fault(check: &dyn Check, problems: &[ReferenceProblem]) -> Option<String> {
    let needs = |reference: Reference| {
        reference.needed_by_every_check()
            || check.uses().contains(&reference)
            // The restore after a destructive check installs the golden image.
            || (reference == Reference::GoldenImage && check.meta().destructive)
    };
    let reasons: Vec<String> = problems
        .iter()
        .filter(|p| needs(p.reference))
        .map(ToString::to_string)
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

impl PlannedTrial {
    pub fn is_not_applicable(&self) -> bool {
        matches!(self.applicability, Applicability::NotApplicable(_))
    }
}
