use std::time::Duration;

use hilt_harness::board::{Board, Dialogue};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::events_path;
use crate::console;
use crate::open_console::{
    combine, has_console, login_first, refused, unauthenticated_shell, PathResult,
};

/// CS-03: the event log and the status are not readable without
/// authentication, over every declared path: the API, and the console
/// (a shell reached without a login must not print them).
pub struct StateReadRequiresAuth;

static STATE_READ_AUTH: CheckMeta = CheckMeta {
    name: "state_read_requires_auth",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-03",
    title: "Event log and status are not readable without authentication",
    expected: "unauthenticated reads of the event log and status are refused (401/403 on the API; no output on a console shell reached without login) and disclose nothing",
    nistir_8259a: &["CS-3"],
    en_303_645: &["5.6-2"],
    ts_103_701: &["5.6-2-2"],
    cra_annex_i: &["d"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for StateReadRequiresAuth {
    fn meta(&self) -> &CheckMeta {
        &STATE_READ_AUTH
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if !console_reads(board).is_empty() {
            return Applicability::Applicable;
        }
        if events_path(board).is_none()
            && board
                .spec
                .declares
                .state
                .as_ref()
                .and_then(|s| s.http.as_ref())
                .is_none()
        {
            return Applicability::not_applicable(
                "no event log or status declared on the API or the console",
                &[
                    "declares.logging.event_log.http",
                    "declares.state.http",
                    "declares.logging.event_log.console",
                    "declares.state.console",
                ],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let mut paths = Vec::new();
        if !console_reads(ctx.board()).is_empty() {
            paths.push(console_read(ctx)?);
        }
        let api_declared = events_path(ctx.board()).is_some()
            || ctx
                .board()
                .spec
                .declares
                .state
                .as_ref()
                .is_some_and(|s| s.http.is_some());
        if api_declared && crate::api::needs_api(ctx.board()) == Applicability::Applicable {
            paths.push(PathResult::from_finding(api_read(ctx)?));
        }
        Ok(combine(paths, "unauthenticated reads were refused"))
    }
}

/// The console dialogues that print the log or the state, by name.
fn console_reads(board: &Board) -> Vec<(&'static str, Dialogue)> {
    if !has_console(board) {
        return Vec::new();
    }
    let declares = &board.spec.declares;
    let log = declares
        .logging
        .as_ref()
        .and_then(|l| l.event_log.as_ref())
        .and_then(|e| e.console.clone());
    let state = declares.state.as_ref().and_then(|s| s.console.clone());
    [("event log", log), ("state", state)]
        .into_iter()
        .filter_map(|(name, d)| Some((name, d?)))
        .collect()
}

/// The console path: a shell reached without credentials must not print
/// the log or the state.
fn console_read(ctx: &mut CheckContext) -> Result<PathResult, CheckError> {
    let Some(decl) = unauthenticated_shell(ctx)? else {
        return Ok(login_first());
    };
    let mut leaked = Vec::new();
    let mut notes = Vec::new();
    for (name, dialogue) in console_reads(ctx.board()) {
        let output = console::ask(ctx, &decl, &dialogue)?;
        let lines = output.lines().filter(|l| !l.trim().is_empty()).count();
        if refused(&output) {
            notes.push(format!(
                "console without login: `{}` refused ({output:?})",
                dialogue.first_line()
            ));
        } else {
            notes.push(format!(
                "console without login: `{}` printed {lines} lines",
                dialogue.first_line()
            ));
            leaked.push(format!("the {name} on the console without login"));
        }
    }
    let observed = notes.join("; ");
    Ok(if leaked.is_empty() {
        PathResult::held(observed)
    } else {
        PathResult::failed(
            format!("readable without authentication: {}", leaked.join(", ")),
            observed,
        )
    })
}

/// The API path.
fn api_read(ctx: &mut CheckContext) -> Result<Finding, CheckError> {
    use crate::api::{self, Auth};
    use hilt_net::http::HttpRequest;
    // Each resource on the API it names.
    let mut paths = Vec::new();
    if let Some(events) = events_path(ctx.board()) {
        paths.push((events, api::for_event_log(ctx)?));
    }
    if let Some(state) = ctx
        .board()
        .spec
        .declares
        .state
        .as_ref()
        .and_then(|s| s.http.clone())
    {
        paths.push((state, api::for_state(ctx)?));
    }
    let mut leaked = Vec::new();
    let mut notes = Vec::new();
    for (path, target) in &paths {
        // Positive control: with authorization the resource exists.
        let authorized = api::send(ctx, target, HttpRequest::get(path.clone()), Auth::Declared)?;
        if authorized.status != 200 {
            return Err(CheckError::Board(format!(
                "authorized GET {path} answered {}; cannot judge the refusal",
                authorized.status
            )));
        }
        let anonymous = api::send(ctx, target, HttpRequest::get(path.clone()), Auth::None)?;
        notes.push(format!(
            "GET {path}: authorized {} ({} bytes), anonymous {} ({} bytes)",
            authorized.status,
            authorized.body.len(),
            anonymous.status,
            anonymous.body.len()
        ));
        if (200..300).contains(&anonymous.status) {
            leaked.push(path.clone());
        }
    }
    let observed = notes.join("; ");
    if leaked.is_empty() {
        Ok(Finding::pass(
            "unauthenticated reads were refused",
            observed,
        ))
    } else {
        Ok(Finding::fail(
            format!("readable without authentication: {}", leaked.join(", ")),
            observed,
        ))
    }
}
