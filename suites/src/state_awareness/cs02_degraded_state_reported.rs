use std::time::Duration;

use hilt_harness::board::{Board, Dialogue, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;
use crate::software_update::forgery::tampered_payload;
use crate::update::{self, attempt, golden, updaters};

/// CS-02: after a rejected (tampered) update the device reports a degraded state.
pub struct DegradedStateReported;

static DEGRADED_STATE: CheckMeta = CheckMeta {
    name: "degraded_state_reported",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-02",
    title: "Degraded state is reported after an integrity failure",
    expected:
        "the state indicator changes to degraded after the bootloader rejects a tampered image",
    nistir_8259a: &["CS-2"],
    en_303_645: &["5.7-2"],
    ts_103_701: &["5.7-2-2"],
    cra_annex_i: &["f"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

fn state_command(board: &Board) -> Option<(Dialogue, String)> {
    let state = board.spec.declares.state.as_ref()?;
    Some((state.console.clone()?, state.degraded.clone()?))
}

impl Check for DegradedStateReported {
    fn meta(&self) -> &CheckMeta {
        &DEGRADED_STATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if state_command(board).is_none() {
            return Applicability::not_applicable(
                "no console state command with a degraded marker declared (declares.state.console, declares.state.degraded)",
                &["declares.state.console", "declares.state.degraded"],
            );
        }
        update::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (command, degraded) = state_command(ctx.board())
            .ok_or_else(|| CheckError::Harness("no state command".into()))?;
        let decl = console::open_shell(ctx)?;
        let before = console::ask(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        if before.contains(&degraded) {
            return Err(CheckError::Board(format!(
                "the board reports {degraded:?} before the check: {before:?}"
            )));
        }
        let forged = tampered_payload(&golden(ctx)?)
            .map_err(|e| CheckError::Harness(format!("forging: {e}")))?;
        // One path is enough: the integrity failure is the bootloader's.
        let paths = updaters(ctx.board());
        let path = paths
            .first()
            .ok_or_else(|| CheckError::Harness("no update path".into()))?;
        let attempt = attempt(ctx, path.as_ref(), &forged)?;
        console::open_shell(ctx)?;
        let after = console::ask(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        let observed = format!(
            "state before: {:?}; update: {}; state after: {:?}",
            before.trim(),
            attempt.observed(),
            after.trim()
        );
        if after.contains(&degraded) {
            Ok(Finding::pass(
                "the device reports the integrity failure as a degraded state",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "the state indicator did not change after the integrity failure",
                observed,
            ))
        }
    }
}
