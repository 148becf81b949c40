//! The health check a board passes before its suite: its console
//! answers, its declared services answer, it runs its golden image. What
//! to ask a board lives with the drivers (`hilt-suites`); the runner only
//! calls it and quarantines a board that fails, so one broken board of a
//! rack costs its own trials and not the others'.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hilt_reports::{BoardHealthRecord, HealthItem, HealthStatus};

use crate::board::Board;
use crate::context::CheckContext;
use crate::evidence::EvidenceSink;
use crate::stop::{instant_after, Interruption, StopSignal};

/// Bound on the whole health check of one board (a console wake, a few
/// service exchanges and an image read-back take seconds on a live board).
pub const HEALTH_BUDGET: Duration = Duration::from_secs(60);

/// Asks a board whether it can take its suite.
pub trait HealthCheck: Send + Sync {
    /// Every part checked, in order. A part the board cannot tell is
    /// `Unknown`, never `Ok`.
    fn check(&self, ctx: &mut CheckContext) -> Vec<HealthItem>;
}

/// Why a board with these findings is quarantined, if it is.
pub fn quarantine_reason(items: &[HealthItem]) -> Option<String> {
    let failed: Vec<String> = items
        .iter()
        .filter(|i| i.status == HealthStatus::Failed)
        .map(|i| format!("{}: {}", i.what, i.detail))
        .collect();
    (!failed.is_empty()).then(|| format!("failed its health check ({})", failed.join("; ")))
}

/// How long past its budget the check may take to notice the deadline.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `check` on `board` in a thread of its own (a panic or a hang is
/// the board's quarantine, not the run's end), bounded by
/// [`HEALTH_BUDGET`]. Evidence goes to `evidence/<board>/health/`.
pub fn run(
    check: Arc<dyn HealthCheck>,
    board: Arc<Board>,
    run_dir: &Path,
    interrupted: &Interruption,
) -> BoardHealthRecord {
    let stop = StopSignal::new(instant_after(HEALTH_BUDGET), interrupted.flag());
    let sink = EvidenceSink::new(run_dir, board.name(), "health", board.secret_values());
    let mut ctx = CheckContext::new(board.clone(), Default::default(), &[], stop, sink);
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("health-{}", board.name()))
        .spawn(move || {
            let items = panic::catch_unwind(AssertUnwindSafe(|| check.check(&mut ctx)));
            let (evidence, _identity, _saved) = ctx.finish();
            let items = items.unwrap_or_else(|payload| {
                vec![HealthItem {
                    what: "health check".into(),
                    status: HealthStatus::Failed,
                    detail: format!(
                        "the harness failed during the health check: {}",
                        crate::runner::panic_message(&payload)
                    ),
                }]
            });
            let _ = tx.send((items, evidence));
        });
    let (items, evidence) = match spawned {
        Err(e) => (
            vec![failed(format!("cannot start the health check: {e}"))],
            Vec::new(),
        ),
        Ok(_) => rx
            .recv_timeout(HEALTH_BUDGET.saturating_add(GRACE))
            .unwrap_or_else(|_| {
                let why = format!(
                    "did not finish within {} s; the board is in an unknown state",
                    HEALTH_BUDGET.as_secs()
                );
                (vec![failed(why)], Vec::new())
            }),
    };
    let scrubber = crate::scrub::Scrubber::new(&board.secret_values());
    let items: Vec<HealthItem> = items
        .into_iter()
        .map(|i| HealthItem {
            detail: scrubber.scrub_text(&i.detail),
            ..i
        })
        .collect();
    BoardHealthRecord {
        quarantined: quarantine_reason(&items),
        items,
        evidence,
    }
}

fn failed(detail: String) -> HealthItem {
    HealthItem {
        what: "health check".into(),
        status: HealthStatus::Failed,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(what: &str, status: HealthStatus) -> HealthItem {
        HealthItem {
            what: what.into(),
            status,
            detail: format!("{what} detail"),
        }
    }

    #[test]
    fn only_failed_parts_quarantine() {
        let fine = [
            item("console", HealthStatus::Ok),
            item("running image", HealthStatus::Unknown),
        ];
        assert_eq!(quarantine_reason(&fine), None);
        let broken = [
            item("console", HealthStatus::Failed),
            item("service http 80/tcp", HealthStatus::Ok),
            item("running image", HealthStatus::Failed),
        ];
        assert_eq!(
            quarantine_reason(&broken).as_deref(),
            Some("failed its health check (console: console detail; running image: running image detail)")
        );
    }
}
