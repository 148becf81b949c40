//! Leaving the board as found after a check: the check's undo steps
//! (newest first), then, after a destructive check, the board's restore
//! strategy (golden firmware). Both run on every exit path of the check,
//! with a budget of their own that an interruption of the run does not
//! cancel, and a panic in either is contained here.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use hilt_reports::BoardLeft;

use super::Restore;
use crate::context::CheckContext;

/// Time the undo steps and the restore strategy get after a check.
pub const RESTORE_BUDGET: Duration = Duration::from_secs(90);

/// How the aftercare went.
pub(super) struct Aftercare {
    /// None for a check that is not destructive and registered nothing.
    pub left: Option<BoardLeft>,
    /// A step panicked: a harness fault, not a board fault.
    pub panicked: bool,
}

pub(super) fn leave_as_found(
    ctx: &mut CheckContext,
    destructive: bool,
    restore: Option<&Arc<dyn Restore>>,
) -> Aftercare {
    let steps = ctx.take_undo();
    let strategy = restore.filter(|_| destructive);
    if steps.is_empty() && strategy.is_none() {
        let left = destructive.then(|| BoardLeft {
            restored: true,
            note: "the check registered no change to undo and no restore strategy is configured"
                .into(),
        });
        return Aftercare {
            left,
            panicked: false,
        };
    }
    ctx.renew_deadline_detached(RESTORE_BUDGET);
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut panicked = false;
    let mut attempt = |what: String,
                       step: &mut dyn FnMut(&mut CheckContext) -> Result<(), crate::CheckError>,
                       ctx: &mut CheckContext| {
        match panic::catch_unwind(AssertUnwindSafe(|| step(ctx))) {
            Ok(Ok(())) => done.push(what),
            Ok(Err(e)) => failed.push(format!("{what}: {e}")),
            Err(payload) => {
                panicked = true;
                failed.push(format!("{what}: panicked: {}", panic_message(&payload)));
            }
        }
    };
    for step in steps {
        let what = step.what.clone();
        let mut step = Some(step);
        attempt(
            what,
            &mut |ctx| match step.take() {
                Some(step) => step.run(ctx),
                None => Ok(()),
            },
            ctx,
        );
    }
    if let Some(restore) = strategy {
        attempt(
            restore.describe().to_string(),
            &mut |ctx| restore.restore(ctx),
            ctx,
        );
    }
    let restored = failed.is_empty();
    let note = if restored {
        format!("put back and verified: {}", done.join("; "))
    } else if done.is_empty() {
        format!("NOT put back: {}", failed.join("; "))
    } else {
        format!(
            "NOT put back: {}; put back: {}",
            failed.join("; "),
            done.join("; ")
        )
    };
    Aftercare {
        left: Some(BoardLeft { restored, note }),
        panicked,
    }
}

pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
