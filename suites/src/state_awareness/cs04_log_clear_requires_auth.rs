use std::time::Duration;

use hilt_harness::board::{Board, Dialogue};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::events_path;
use crate::console;
use crate::open_console::{
    combine, has_console, log_lines, login_first, unauthenticated_shell, PathResult,
};

/// CS-04: the event log cannot be cleared without authentication, over
/// every declared path: the API, and the console (a shell reached without
/// a login must not clear it).
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
        if console_clear(board).is_some() {
            return Applicability::Applicable;
        }
        if events_path(board).is_none() {
            return Applicability::not_applicable(
                "no event log declared that can be cleared: neither on the API (declares.logging.event_log.http) nor on the console (declares.logging.event_log.console and console_clear)",
                &[
                    "declares.logging.event_log.http",
                    "declares.logging.event_log.console_clear",
                ],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let mut paths = Vec::new();
        if let Some((log, clear)) = console_clear(ctx.board()) {
            paths.push(console_clear_attempt(ctx, &log, &clear)?);
        }
        if events_path(ctx.board()).is_some()
            && crate::api::needs_api(ctx.board()) == Applicability::Applicable
        {
            paths.push(PathResult::from_finding(api_clear(ctx)?));
        }
        Ok(combine(
            paths,
            "every clear without authentication was refused and no event was lost",
        ))
    }
}

/// The console's log and clear dialogues, when both are declared.
fn console_clear(board: &Board) -> Option<(Dialogue, Dialogue)> {
    if !has_console(board) {
        return None;
    }
    let log = board.spec.declares.logging.as_ref()?.event_log.as_ref()?;
    Some((log.console.clone()?, log.console_clear.clone()?))
}

/// The console path: in a shell reached without credentials, the clear
/// dialogue must not remove an event. Events are made first where the
/// board file gives a way (a setting changed and put back).
fn console_clear_attempt(
    ctx: &mut CheckContext,
    log: &Dialogue,
    clear: &Dialogue,
) -> Result<PathResult, CheckError> {
    let Some(decl) = unauthenticated_shell(ctx)? else {
        return Ok(login_first());
    };
    let first = log_lines(&console::ask(ctx, &decl, log)?);
    let setting = ctx
        .board()
        .spec
        .declares
        .configuration
        .as_ref()
        .filter(|c| c.console.is_some())
        .map(|c| (c.parameter.clone(), c.test_value.clone()));
    if let Some((param, value)) = &setting {
        let original = console::config_get(ctx, &decl, param)?;
        console::config_set(ctx, &decl, param, value)?;
        console::config_set_verified(ctx, &decl, param, &original)?;
    }
    let before = log_lines(&console::ask(ctx, &decl, log)?);
    let events: Vec<String> = if setting.is_some() {
        before
            .iter()
            .filter(|l| !first.contains(l))
            .cloned()
            .collect()
    } else {
        before.clone()
    };
    if events.is_empty() {
        return Ok(PathResult::failed(
            "the console log shows no event, even of a setting changed and put back; there is no log to protect",
            format!("console without login: log before {} lines, after the setting changes {} lines", first.len(), before.len()),
        ));
    }
    let answer = console::ask(ctx, &decl, clear)?;
    let after = log_lines(&console::ask(ctx, &decl, log)?);
    let lost = events.iter().filter(|l| !after.contains(l)).count();
    let observed = format!(
        "console without login: {} events shown; `{}` answered {answer:?}; {lost} of them gone afterwards",
        events.len(),
        clear.first_line()
    );
    Ok(if lost > 0 {
        PathResult::failed(
            "the event log was cleared on the console without any login",
            observed,
        )
    } else {
        PathResult::held(observed)
    })
}

/// The API path.
fn api_clear(ctx: &mut CheckContext) -> Result<Finding, CheckError> {
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
