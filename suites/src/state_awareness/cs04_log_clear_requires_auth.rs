use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::events_path;

/// CS-04: the event log cannot be cleared without authentication.
pub struct LogTamperRefused;

static LOG_TAMPER: CheckMeta = CheckMeta {
    name: "log_clear_requires_auth",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-04",
    title: "Event log cannot be cleared without authentication",
    expected: "an unauthenticated clear is refused and every event is still there when read with authorization",
    nistir_8259a: &["CS-4"],
    en_303_645: &[],
    ts_103_701: &[],
    cra_annex_i: &["f"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

fn event_count(json: &serde_json::Value) -> Option<usize> {
    match json {
        serde_json::Value::Array(a) => Some(a.len()),
        serde_json::Value::Object(o) => o.values().find_map(|v| v.as_array().map(Vec::len)),
        _ => None,
    }
}

impl Check for LogTamperRefused {
    fn meta(&self) -> &CheckMeta {
        &LOG_TAMPER
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if events_path(board).is_none() {
            return Applicability::not_applicable(
                "no HTTP event log declared (declares.logging.event_log.http)",
                &["declares.logging.event_log.http"],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use crate::api::{self, net_fault, Auth};
        use hilt_net::http::HttpRequest;
        let path = events_path(ctx.board()).ok_or_else(|| CheckError::Harness("no path".into()))?;
        let target = api::for_event_log(ctx)?;
        let read = |ctx: &mut CheckContext| -> Result<usize, CheckError> {
            let r = api::send(ctx, &target, HttpRequest::get(path.clone()), Auth::Declared)?;
            if r.status != 200 {
                return Err(CheckError::Board(format!(
                    "authorized GET {path} answered {}",
                    r.status
                )));
            }
            event_count(&r.json().map_err(net_fault)?)
                .ok_or_else(|| CheckError::Board(format!("{path} returned no list of events")))
        };
        // Make sure there is something to protect: a failed authentication
        // is an event every logging device records.
        api::send(
            ctx,
            &target,
            HttpRequest::get(path.clone()),
            Auth::Wrong("Hilt-log-probe"),
        )?;
        let before = read(ctx)?;
        if before == 0 {
            return Ok(Finding::fail(
                "the device keeps no events, even of a failed authentication; there is no log to protect",
                "0 events after a failed authentication",
            ));
        }
        let attempt = api::send(ctx, &target, HttpRequest::delete(path.clone()), Auth::None)?;
        let after = read(ctx)?;
        let observed = format!(
            "{before} events before; DELETE without credentials -> {}; {after} events after",
            attempt.status
        );
        if after < before {
            Ok(Finding::fail(
                "the event log was cleared without authentication",
                observed,
            ))
        } else {
            Ok(Finding::pass(
                "the clear was refused and no event was lost",
                observed,
            ))
        }
    }
}
