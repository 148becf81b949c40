//! Cybersecurity State Awareness (NIST IR 8259A CS-1 to CS-5).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::Image;

use crate::console;
use crate::software_update::{attempt_update, golden, running, smp_applicable, tampered_payload};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(FailedLoginLogged),
        Arc::new(DegradedStateReported),
        Arc::new(StateReadRequiresAuth),
        Arc::new(LogTamperRefused),
        Arc::new(RemoteLogging),
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

/// CS-01: security events appear in the device's event log, with a time:
/// a failed login, a rejected update and a denied configuration change,
/// each where the device gives hilt a way to cause it.
pub struct FailedLoginLogged;

static FAILED_LOGIN_LOGGED: CheckMeta = CheckMeta {
    name: "failed_login_logged",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-01",
    title: "Failed logins, rejected updates and denied configuration changes are logged",
    expected: "for each of a failed login, a rejected update and a denied configuration change that hilt can cause, a new event naming it, with a timestamp, appears in the log",
    nistir_8259a: &["CS-1"],
    en_303_645: &["5.7-2", "5.10-1"],
    ts_103_701: &["5.10-1-2"],
    cra_annex_i: &["d", "l"],
    destructive: false,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

/// A security event CS-01 causes, and the words that name it in a log line.
struct SecurityEvent {
    what: &'static str,
    /// Any of these (the subject) ...
    subject: &'static [&'static str],
    /// ... together with any of these (the refusal).
    refusal: &'static [&'static str],
}

const FAILED_LOGIN: SecurityEvent = SecurityEvent {
    what: "failed login",
    subject: &["login", "auth"],
    refusal: &["fail", "incorrect", "denied", "invalid", "wrong"],
};

const REJECTED_UPDATE: SecurityEvent = SecurityEvent {
    what: "rejected update",
    subject: &["update", "upload", "image", "firmware"],
    refusal: &[
        "reject",
        "fail",
        "denied",
        "invalid",
        "refus",
        "malformed",
        "unauthor",
    ],
};

const DENIED_CONFIGURATION: SecurityEvent = SecurityEvent {
    what: "denied configuration change",
    subject: &["config", "setting"],
    refusal: &["denied", "reject", "fail", "refus", "unauthor"],
};

/// What the device did when asked for an event.
enum Caused {
    /// The device refused: its log must show it.
    Refused(String),
    /// The device did what was asked (another check judges that): no
    /// refusal happened, so there is nothing to log.
    Accepted(String),
}

/// The HTTP paths CS-01 can provoke refusals on: (update upload,
/// configuration resource), each when declared with an HTTPS API.
fn http_provocations(board: &Board) -> (Option<String>, Option<String>) {
    if !matches!(crate::api::needs_api(board), Applicability::Applicable) {
        return (None, None);
    }
    let decl = &board.spec.declares;
    let upload = decl
        .update
        .as_ref()
        .and_then(|u| u.http.as_ref())
        .map(|h| h.upload.clone());
    let config = decl
        .configuration
        .as_ref()
        .and_then(|c| c.http.as_ref())
        .map(|h| h.path.clone());
    (upload, config)
}

fn console_login(board: &Board) -> bool {
    matches!(&board.spec.declares.console, Some(c) if c.login.is_some())
}

fn read_log(ctx: &mut CheckContext, command: &str) -> Result<String, CheckError> {
    let decl = console::open_shell(ctx)?;
    let log = console::run(ctx, &decl, command)?;
    console::close_shell(ctx, &decl)?;
    Ok(log)
}

/// Judges the lines `after` adds to `before` for `event`: None when it is
/// logged with a time, else the problem.
fn judge_logged(event: &SecurityEvent, before: &str, after: &str) -> (Option<String>, String) {
    let old: std::collections::HashSet<&str> = before.lines().map(str::trim).collect();
    let new: Vec<&str> = after
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !old.contains(l))
        .collect();
    let hit = new.iter().find(|l| {
        let l = l.to_ascii_lowercase();
        event.subject.iter().any(|w| l.contains(w)) && event.refusal.iter().any(|w| l.contains(w))
    });
    let timestamp = regex::Regex::new(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}").ok();
    let note = format!(
        "{} new log line(s), {}",
        new.len(),
        hit.map(|h| format!("event: {h}"))
            .unwrap_or_else(|| "none names it".into())
    );
    let problem = match hit {
        Some(line) if timestamp.is_some_and(|t| t.is_match(line)) => None,
        Some(_) => Some(format!("the {} was logged without a timestamp", event.what)),
        None => Some(format!("the {} left no event in the log", event.what)),
    };
    (problem, note)
}

impl Check for FailedLoginLogged {
    fn meta(&self) -> &CheckMeta {
        &FAILED_LOGIN_LOGGED
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if log_command(board).is_none() {
            return Applicability::not_applicable(
                "no console event log declared (declares.logging.event_log.console)",
                &["declares.logging.event_log.console"],
            );
        }
        let (upload, config) = http_provocations(board);
        if !console_login(board) && upload.is_none() && config.is_none() {
            return Applicability::not_applicable(
                "nothing hilt can refuse: no console login, no HTTPS update upload, no HTTPS configuration resource",
                &[
                    "declares.console.login",
                    "declares.update.http",
                    "declares.configuration.http",
                ],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let command =
            log_command(ctx.board()).ok_or_else(|| CheckError::Harness("no log command".into()))?;
        let (upload, config) = http_provocations(ctx.board());
        let mut tested = Vec::new();
        let mut untested = Vec::new();
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut log = read_log(ctx, &command)?;
        let mut log_text = String::new();

        let provocations: [(&SecurityEvent, Option<Provocation>); 3] = [
            (
                &FAILED_LOGIN,
                console_login(ctx.board()).then_some(Provocation::Login),
            ),
            (&REJECTED_UPDATE, upload.map(Provocation::Upload)),
            (&DENIED_CONFIGURATION, config.map(Provocation::ConfigWrite)),
        ];
        for (event, provocation) in provocations {
            let Some(provocation) = provocation else {
                untested.push(format!("{} (no way declared to cause one)", event.what));
                continue;
            };
            match provocation.cause(ctx)? {
                Caused::Accepted(how) => {
                    untested.push(format!(
                        "{} ({how}: accepted, other checks judge that)",
                        event.what
                    ));
                }
                Caused::Refused(how) => {
                    let after = read_log(ctx, &command)?;
                    let (problem, note) = judge_logged(event, &log, &after);
                    notes.push(format!("{} ({how}): {note}", event.what));
                    problems.extend(problem);
                    tested.push(event.what);
                    log_text.push_str(&format!("--- after the {} ---\n{after}\n", event.what));
                    log = after;
                }
            }
        }
        ctx.evidence().text(
            "event-log.txt",
            "text/plain",
            "event log after each provoked security event",
            &log_text,
        )?;
        if tested.is_empty() {
            return Err(CheckError::Board(format!(
                "no security event could be caused: {}",
                untested.join("; ")
            )));
        }
        let mut observed = format!("tested: {}; {}", tested.join(", "), notes.join("; "));
        if !untested.is_empty() {
            observed.push_str(&format!("; not tested: {}", untested.join("; ")));
        }
        if problems.is_empty() {
            Ok(Finding::pass(
                format!("logged with a time: {}", tested.join(", ")),
                observed,
            ))
        } else {
            Ok(Finding::fail(problems.join("; "), observed))
        }
    }
}

/// How CS-01 causes a security event.
enum Provocation {
    /// A wrong password at the console login.
    Login,
    /// An upload to this path without credentials, of bytes that are no
    /// image (so even a device that took it would install nothing).
    Upload(String),
    /// A write of the declared test value to this configuration resource
    /// without credentials (put back if the device took it).
    ConfigWrite(String),
}

impl Provocation {
    fn cause(&self, ctx: &mut CheckContext) -> Result<Caused, CheckError> {
        use crate::api::{self, Auth};
        use hilt_net::http::HttpRequest;
        match self {
            Provocation::Login => {
                let user = console::account(ctx)?;
                let decl = ctx.console_decl()?;
                let wrong = hilt_harness::board::Secret::from_guess("Hilt-logged-attempt");
                match console::try_login(ctx, &decl, &user, &wrong)? {
                    LoginOutcome::LoggedIn => Err(CheckError::Board(
                        "a wrong password logged in; AU checks cover that".into(),
                    )),
                    LoginOutcome::Rejected(_) => {
                        Ok(Caused::Refused(format!("wrong password for {user}")))
                    }
                    // No login was asked for, so no failed login happened.
                    LoginOutcome::NoLoginRequired => Ok(Caused::Accepted(
                        "the console gave a shell without asking for credentials".into(),
                    )),
                }
            }
            Provocation::Upload(path) => {
                let target = api::target(ctx)?;
                let request = HttpRequest::post(path.clone())
                    .header("Content-Type", "application/octet-stream")
                    .body(b"hilt CS-01: not a firmware image".to_vec());
                let status = api::send(ctx, &target, request, Auth::None)?.status;
                let how = format!("POST {path} without credentials -> {status}");
                Ok(if (200..300).contains(&status) {
                    Caused::Accepted(how)
                } else {
                    Caused::Refused(how)
                })
            }
            Provocation::ConfigWrite(path) => {
                let (param, value) = ctx
                    .board()
                    .spec
                    .declares
                    .configuration
                    .as_ref()
                    .map(|c| (c.parameter.clone(), c.test_value.clone()))
                    .ok_or_else(|| CheckError::Harness("no configuration declared".into()))?;
                let target = api::target(ctx)?;
                let before = api::config_value(ctx, &target, path, &param)?;
                api::undo_config_write(ctx, &target, path, &param, &before);
                let body = serde_json::json!({ param.clone(): value });
                let request = HttpRequest::put(path.clone()).json(&body);
                let status = api::send(ctx, &target, request, Auth::None)?.status;
                let how = format!("PUT {path} {{{param}}} without credentials -> {status}");
                Ok(if (200..300).contains(&status) {
                    Caused::Accepted(how)
                } else {
                    Caused::Refused(how)
                })
            }
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
    params: &[],
};

fn state_command(board: &Board) -> Option<(String, String)> {
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
    params: &[],
};

impl Check for ReportedImageMatches {
    fn meta(&self) -> &CheckMeta {
        &REPORTED_IMAGE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage]
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
            return Applicability::not_applicable(
                "no console version command declared (declares.state.version_console)",
                &["declares.state.version_console"],
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
        let golden_hash = hex::encode(crate::software_update::computed_hash(&image)?);
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
        let target = api::target(ctx)?;
        let mut paths: Vec<String> = events_path(ctx.board()).into_iter().collect();
        paths.extend(
            ctx.board()
                .spec
                .declares
                .state
                .as_ref()
                .and_then(|s| s.http.clone()),
        );
        let mut leaked = Vec::new();
        let mut notes = Vec::new();
        for path in &paths {
            // Positive control: with authorization the resource exists.
            let authorized =
                api::send(ctx, &target, HttpRequest::get(path.clone()), Auth::Declared)?;
            if authorized.status != 200 {
                return Err(CheckError::Board(format!(
                    "authorized GET {path} answered {}; cannot judge the refusal",
                    authorized.status
                )));
            }
            let anonymous = api::send(ctx, &target, HttpRequest::get(path.clone()), Auth::None)?;
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
        let target = api::target(ctx)?;
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

/// CS-05: security events reach a remote collector (syslog).
pub struct RemoteLogging;

static REMOTE_LOGGING: CheckMeta = CheckMeta {
    name: "remote_logging",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-05",
    title: "Security events are sent to a remote collector",
    expected: "a failed login produces an RFC 5424 message at the configured collector",
    nistir_8259a: &["CS-5"],
    en_303_645: &["5.10-1"],
    ts_103_701: &["5.10-1-2"],
    cra_annex_i: &["l"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for RemoteLogging {
    fn meta(&self) -> &CheckMeta {
        &REMOTE_LOGGING
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board
            .spec
            .declares
            .logging
            .as_ref()
            .and_then(|l| l.syslog.as_ref())
            .is_none()
        {
            return Applicability::not_applicable(
                "no syslog export declared (declares.logging.syslog)",
                &["declares.logging.syslog"],
            );
        }
        if board
            .spec
            .hardware
            .network
            .as_ref()
            .and_then(|n| n.host_address)
            .is_none()
        {
            return Applicability::not_applicable(
                "no host address declared for the collector (hardware.network.host_address)",
                &["hardware.network.host_address"],
            );
        }
        match &board.spec.declares.console {
            Some(c) if c.login.is_some() => Applicability::Applicable,
            _ => Applicability::not_applicable(
                "no console login to produce an event with",
                &["declares.console.login"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use hilt_net::syslog::{SyslogCollector, SyslogOptions};
        let syslog = ctx
            .board()
            .spec
            .declares
            .logging
            .as_ref()
            .and_then(|l| l.syslog.clone())
            .ok_or_else(|| CheckError::Harness("no syslog".into()))?;
        let link = crate::api::listening_link(ctx)?;
        let (udp, tcp) = match syslog.protocol {
            hilt_harness::board::Transport::Udp => (Some(0), None),
            hilt_harness::board::Transport::Tcp => (None, Some(0)),
        };
        let collector = SyslogCollector::start(&link, udp, tcp, SyslogOptions::default())
            .map_err(crate::api::net_fault)?;
        let address = collector
            .udp_addr()
            .or(collector.tcp_addr())
            .ok_or_else(|| CheckError::Harness("collector has no address".into()))?;
        let decl = console::open_shell(ctx)?;
        let original = console::config_get(ctx, &decl, &syslog.collector_parameter)?;
        console::config_set_verified(
            ctx,
            &decl,
            &syslog.collector_parameter,
            &address.to_string(),
        )?;
        console::close_shell(ctx, &decl)?;
        let user = console::account(ctx)?;
        let wrong = hilt_harness::board::Secret::from_guess("Hilt-syslog-probe");
        let attempt = console::try_login(ctx, &decl, &user, &wrong)?;
        let wait = crate::api::stop(ctx);
        // "No event" counts only if the board was alive and reachable on
        // its network while the collector waited.
        let waited = crate::liveness::around(ctx, |_| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut messages = Vec::new();
            while std::time::Instant::now() < deadline && !wait.is_interrupted() {
                messages = collector.messages();
                if messages
                    .iter()
                    .any(|m| m.raw.to_ascii_lowercase().contains("login"))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(messages)
        });
        let all = collector.shutdown();
        console::open_shell(ctx)?;
        console::config_set_verified(ctx, &decl, &syslog.collector_parameter, &original)?;
        console::close_shell(ctx, &decl)?;
        if attempt == LoginOutcome::LoggedIn {
            return Err(CheckError::Board(
                "the probe login with a wrong password succeeded".into(),
            ));
        }
        let (messages, alive) = waited?;
        let text: Vec<String> = all.iter().map(|m| m.raw.clone()).collect();
        ctx.evidence().text(
            "syslog.txt",
            "text/plain",
            "messages received by the collector",
            &text.join("\n"),
        )?;
        let hit = messages
            .iter()
            .find(|m| m.raw.to_ascii_lowercase().contains("login") && m.parsed.is_some());
        let observed = format!(
            "{} messages at {address}; {alive}; {}",
            all.len(),
            hit.map(|m| format!("login event: {}", m.raw.trim()))
                .unwrap_or_else(|| "none about the failed login".into())
        );
        match hit {
            Some(_) => Ok(Finding::pass(
                "the failed login reached the collector as RFC 5424",
                observed,
            )),
            None => Ok(Finding::fail(
                "no security event reached the collector",
                observed,
            )),
        }
    }
}
