//! Cybersecurity State Awareness (NIST IR 8259A CS-1 to CS-5).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::transport::serial::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::Image;
use sha2::{Digest, Sha256};

use crate::console;
use crate::software_update::{attempt_update, golden, running, smp_applicable, tampered_payload};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(FailedLoginLogged),
        Arc::new(DegradedStateReported),
        Arc::new(ReportedImageMatches),
    ]
}

fn log_command(board: &Board) -> Option<String> {
    board
        .spec
        .declares
        .logging
        .as_ref()?
        .event_log
        .as_ref()?
        .console
        .clone()
}

/// CS-01: a failed login appears in the device's event log, with a time.
pub struct FailedLoginLogged;

static FAILED_LOGIN_LOGGED: CheckMeta = CheckMeta {
    name: "failed_login_logged",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-01",
    title: "Failed login is recorded in the security event log",
    expected: "a new event naming the failed login, with a timestamp, appears in the log",
    nistir_8259a: &["CS-1"],
    en_303_645: &["5.7-2", "5.10-1"],
    ts_103_701: &["5.10-1-2"],
    cra_annex_i: &["d", "l"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
};

impl Check for FailedLoginLogged {
    fn meta(&self) -> &CheckMeta {
        &FAILED_LOGIN_LOGGED
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if log_command(board).is_none() {
            return Applicability::NotApplicable(
                "no console event log declared (declares.logging.event_log.console)".into(),
            );
        }
        match &board.spec.declares.console {
            Some(c) if c.login.is_some() => Applicability::Applicable,
            _ => Applicability::NotApplicable("the console declares no login to fail".into()),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let command =
            log_command(ctx.board()).ok_or_else(|| CheckError::Harness("no log command".into()))?;
        let user = console::account(ctx)?;
        let decl = console::open_shell(ctx)?;
        let before = console::run(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        let wrong = hilt_harness::board::Secret::from_guess("Hilt-logged-attempt");
        if console::try_login(ctx, &decl, &user, &wrong)? == LoginOutcome::LoggedIn {
            return Err(CheckError::Board(
                "a wrong password logged in; AU checks cover that".into(),
            ));
        }
        console::open_shell(ctx)?;
        let after = console::run(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        ctx.evidence().text(
            "event-log.txt",
            "text/plain",
            "event log after the failed login",
            &after,
        )?;
        let old: std::collections::HashSet<&str> = before.lines().map(str::trim).collect();
        let new: Vec<&str> = after
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !old.contains(l))
            .collect();
        let timestamp = regex::Regex::new(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
            .map_err(|e| CheckError::Harness(e.to_string()))?;
        let hit = new.iter().find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("login")
                && (l.contains("fail") || l.contains("incorrect") || l.contains("denied"))
        });
        let observed = format!(
            "{} new log lines; {}",
            new.len(),
            hit.map(|h| format!("event: {h}"))
                .unwrap_or_else(|| "none names the failed login".into())
        );
        match hit {
            Some(line) if timestamp.is_match(line) => Ok(Finding::pass(
                "the failed login was logged with a time",
                observed,
            )),
            Some(_) => Ok(Finding::fail(
                "the failed login was logged without a timestamp",
                observed,
            )),
            None => Ok(Finding::fail(
                "the failed login left no event in the log",
                observed,
            )),
        }
    }
}

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
};

fn state_command(board: &Board) -> Option<(String, String)> {
    let state = board.spec.declares.state.as_ref()?;
    Some((state.console.clone()?, state.degraded.clone()))
}

impl Check for DegradedStateReported {
    fn meta(&self) -> &CheckMeta {
        &DEGRADED_STATE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if state_command(board).is_none() {
            return Applicability::NotApplicable(
                "no console state command declared (declares.state.console)".into(),
            );
        }
        smp_applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (command, degraded) = state_command(ctx.board())
            .ok_or_else(|| CheckError::Harness("no state command".into()))?;
        let decl = console::open_shell(ctx)?;
        let before = console::run(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        if before.contains(&degraded) {
            return Err(CheckError::Board(format!(
                "the board reports {degraded:?} before the check: {before:?}"
            )));
        }
        let forged = tampered_payload(&golden(ctx)?)
            .map_err(|e| CheckError::Harness(format!("forging: {e}")))?;
        let attempt = attempt_update(ctx, &forged)?;
        console::open_shell(ctx)?;
        let after = console::run(ctx, &decl, &command)?;
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

/// CS-06: the image hash the device reports is that of the installed image.
pub struct ReportedImageMatches;

static REPORTED_IMAGE: CheckMeta = CheckMeta {
    name: "reported_image_matches",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-06",
    title: "Reported software version and hash match the installed image",
    expected: "the version and hash the device reports equal those of the image it was given",
    nistir_8259a: &["CS-1", "DI-1"],
    en_303_645: &["5.3-16"],
    ts_103_701: &["5.3-16-2"],
    cra_annex_i: &["c"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
};

impl Check for ReportedImageMatches {
    fn meta(&self) -> &CheckMeta {
        &REPORTED_IMAGE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board
            .spec
            .declares
            .state
            .as_ref()
            .and_then(|s| s.version_console.as_ref())
            .is_none()
        {
            return Applicability::NotApplicable(
                "no console version command declared (declares.state.version_console)".into(),
            );
        }
        smp_applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let command = ctx
            .board()
            .spec
            .declares
            .state
            .as_ref()
            .and_then(|s| s.version_console.clone())
            .ok_or_else(|| CheckError::Harness("no version command".into()))?;
        let image = golden(ctx)?;
        let parsed =
            Image::parse(&image).map_err(|e| CheckError::Harness(format!("golden image: {e}")))?;
        let golden_hash = image
            .get(parsed.hashed_range())
            .map(|b| hex::encode(Sha256::digest(b)))
            .unwrap_or_default();
        let v = parsed.header.version;
        let golden_version = format!("{}.{}.{}", v.major, v.minor, v.revision);
        let decl = console::open_shell(ctx)?;
        let reported = console::run(ctx, &decl, &command)?;
        let slot = running(ctx)?;
        console::close_shell(ctx, &decl)?;
        let hex64 = regex::Regex::new(r"\b[0-9a-fA-F]{64}\b")
            .map_err(|e| CheckError::Harness(e.to_string()))?;
        let reported_hash = hex64
            .find(&reported)
            .map(|m| m.as_str().to_ascii_lowercase());
        let observed = format!(
            "console reports {:?}; image state: version {} hash {}; installed (golden) image: version {golden_version} hash {golden_hash}",
            reported.trim(),
            slot.version,
            hex::encode(&slot.hash)
        );
        if hex::encode(&slot.hash) != golden_hash {
            return Err(CheckError::Board(format!(
                "the board does not run its golden image; restore it first ({observed})"
            )));
        }
        match reported_hash {
            Some(h) if h == golden_hash && reported.contains(&golden_version) => Ok(Finding::pass(
                "the reported version and hash are the installed image's",
                observed,
            )),
            Some(_) => Ok(Finding::fail(
                "the device reports a hash or version other than the installed image's",
                observed,
            )),
            None => Ok(Finding::fail("the device reports no image hash", observed)),
        }
    }
}
