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

/// Where the state is read: the console's state dialogue when a console
/// is wired, else the API's state resource.
enum StateSource {
    Console(Dialogue),
    Api(String),
}

/// The state source and the degraded marker.
fn state_source(board: &Board) -> Option<(StateSource, String)> {
    let state = board.spec.declares.state.as_ref()?;
    let degraded = state.degraded.clone()?;
    let console_wired =
        board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some();
    if let (true, Some(command)) = (console_wired, &state.console) {
        return Some((StateSource::Console(command.clone()), degraded));
    }
    let path = state.http.clone()?;
    matches!(crate::api::needs_api(board), Applicability::Applicable)
        .then_some((StateSource::Api(path), degraded))
}

/// The state as the device reports it (the API's answer body as text).
fn read_state(ctx: &mut CheckContext, source: &StateSource) -> Result<String, CheckError> {
    match source {
        StateSource::Console(command) => {
            let decl = console::open_shell(ctx)?;
            let state = console::ask(ctx, &decl, command)?;
            console::close_shell(ctx, &decl)?;
            Ok(state)
        }
        StateSource::Api(path) => {
            let target = crate::api::for_state(ctx)?;
            let request = hilt_net::http::HttpRequest::get(path.clone());
            let response = crate::api::send(ctx, &target, request, crate::api::Auth::Declared)?;
            if response.status != 200 {
                return Err(CheckError::Board(format!(
                    "authorized GET {path} answered {}",
                    response.status
                )));
            }
            Ok(response.text())
        }
    }
}

impl Check for DegradedStateReported {
    fn meta(&self) -> &CheckMeta {
        &DEGRADED_STATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if state_source(board).is_none() {
            return Applicability::not_applicable(
                "no state hilt can read with a degraded marker: neither a state dialogue on a wired console (declares.state.console) nor a state resource on an API (declares.state.http), with declares.state.degraded",
                &[
                    "declares.state.console",
                    "declares.state.http",
                    "declares.state.degraded",
                ],
            );
        }
        update::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (source, degraded) = state_source(ctx.board())
            .ok_or_else(|| CheckError::Harness("no state source".into()))?;
        let before = read_state(ctx, &source)?;
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
        let after = read_state(ctx, &source)?;
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
