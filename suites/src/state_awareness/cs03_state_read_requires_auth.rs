use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::events_path;

/// CS-03: the event log and the status are not readable without authentication.
pub struct StateReadRequiresAuth;

static STATE_READ_AUTH: CheckMeta = CheckMeta {
    name: "state_read_requires_auth",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-03",
    title: "Event log and status are not readable without authentication",
    expected: "unauthenticated reads of the event log and status are refused (401/403) and disclose nothing",
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
                "no HTTP event log or status declared",
                &["declares.logging.event_log.http", "declares.state.http"],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
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
            let authorized =
                api::send(ctx, target, HttpRequest::get(path.clone()), Auth::Declared)?;
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
}
