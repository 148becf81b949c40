//! Cybersecurity State Awareness (NIST IR 8259A CS-1 to CS-5).

use std::sync::Arc;

use hilt_harness::board::Board;
use hilt_harness::Check;

mod cs01_failed_login_logged;
mod cs02_degraded_state_reported;
mod cs03_state_read_requires_auth;
mod cs04_log_clear_requires_auth;
mod cs05_remote_logging;
mod cs06_reported_image_matches;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(cs01_failed_login_logged::FailedLoginLogged),
        Arc::new(cs02_degraded_state_reported::DegradedStateReported),
        Arc::new(cs03_state_read_requires_auth::StateReadRequiresAuth),
        Arc::new(cs04_log_clear_requires_auth::LogTamperRefused),
        Arc::new(cs05_remote_logging::RemoteLogging),
        Arc::new(cs06_reported_image_matches::ReportedImageMatches),
    ]
}

fn events_path(board: &Board) -> Option<String> {
    board
        .spec
        .declares
        .logging
        .as_ref()?
        .event_log
        .as_ref()?
        .http
        .clone()
}
