use std::time::Duration;

use hilt_harness::board::{Board, Dialogue, UpdatePath};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;

/// Where CS-01 reads the event log: the console's log dialogue when a
/// console is wired, else the API's event-log resource.
#[derive(Clone)]
enum LogSource {
    Console(Dialogue),
    Api(String),
}

fn console_wired(board: &Board) -> bool {
    board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some()
}

fn log_source(board: &Board) -> Option<LogSource> {
    let log = board.spec.declares.logging.as_ref()?.event_log.as_ref()?;
    if console_wired(board) {
        if let Some(command) = &log.console {
            return Some(LogSource::Console(command.clone()));
        }
    }
    let path = log.http.clone()?;
    matches!(crate::api::needs_api(board), Applicability::Applicable)
        .then_some(LogSource::Api(path))
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
/// configuration resource), each when declared with an API.
fn http_provocations(board: &Board) -> (Option<UpdatePath>, Option<String>) {
    if !matches!(crate::api::needs_api(board), Applicability::Applicable) {
        return (None, None);
    }
    let decl = &board.spec.declares;
    let upload = decl.update.as_ref().and_then(|u| {
        u.all_paths()
            .into_iter()
            .find(|p| matches!(p, UpdatePath::Http(_)))
    });
    let config = decl
        .configuration
        .as_ref()
        .and_then(|c| c.http.as_ref())
        .map(|h| h.path.clone());
    (upload, config)
}

fn console_login(board: &Board) -> bool {
    console_wired(board) && matches!(&board.spec.declares.console, Some(c) if c.login.is_some())
}

/// How CS-01 can cause a failed login: at the console's login when one is
/// wired, else with a wrong password on the API.
fn login_provocation(board: &Board) -> Option<Provocation> {
    if console_login(board) {
        return Some(Provocation::Login);
    }
    matches!(crate::api::needs_api(board), Applicability::Applicable)
        .then_some(Provocation::ApiLogin)
}

/// The event log as text, one event a line.
fn read_log(ctx: &mut CheckContext, source: &LogSource) -> Result<String, CheckError> {
    match source {
        LogSource::Console(command) => {
            let decl = console::open_shell(ctx)?;
            let log = console::ask(ctx, &decl, command)?;
            console::close_shell(ctx, &decl)?;
            Ok(log)
        }
        LogSource::Api(path) => {
            use hilt_net::http::HttpRequest;
            let target = crate::api::for_event_log(ctx)?;
            let request = HttpRequest::get(path.clone());
            let response = crate::api::send(ctx, &target, request, crate::api::Auth::Declared)?;
            if response.status != 200 {
                return Err(CheckError::Board(format!(
                    "authorized GET {path} answered {}",
                    response.status
                )));
            }
            let json = response.json().map_err(crate::api::net_fault)?;
            Ok(event_lines(&json))
        }
    }
}

/// The events of a JSON event log (the first array found: the document
/// itself or one of its fields), one a line: its time (seconds since the
/// epoch written as a UTC date) then its other fields as `key=value`.
fn event_lines(json: &serde_json::Value) -> String {
    use serde_json::Value;
    let events = match json {
        Value::Array(items) => Some(items),
        Value::Object(map) => map.values().find_map(Value::as_array),
        _ => None,
    };
    let mut out = String::new();
    for event in events.into_iter().flatten() {
        let Value::Object(fields) = event else {
            out.push_str(&format!("{event}\n"));
            continue;
        };
        let mut line = Vec::new();
        for (key, value) in fields {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let is_time = ["time", "timestamp", "ts", "date", "datetime"].contains(&key.as_str());
            match (is_time, value.as_u64().and_then(utc_date)) {
                (true, Some(date)) => line.insert(0, date),
                (true, None) => line.insert(0, text),
                _ => line.push(format!("{key}={text}")),
            }
        }
        out.push_str(&line.join(" "));
        out.push('\n');
    }
    out
}

/// Seconds since the Unix epoch as an RFC 3339 UTC date; None for 0 (no
/// clock) or out of range.
fn utc_date(seconds: u64) -> Option<String> {
    if seconds == 0 {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
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
    let note = format!(
        "{} new log line(s), {}",
        new.len(),
        hit.map(|h| format!("event: {h}"))
            .unwrap_or_else(|| "none names it".into())
    );
    let problem = match hit {
        Some(line) if has_timestamp(line) => None,
        Some(_) => Some(format!("the {} was logged without a timestamp", event.what)),
        None => Some(format!("the {} left no event in the log", event.what)),
    };
    (problem, note)
}

/// Whether a log line carries a date and time: ISO 8601 / RFC 3339
/// (`2026-12-07T01:33:10Z`, `2026-12-07 01:33`), or the BSD syslog stamp
/// of RFC 3164 that busybox `logread`, sysklogd and many embedded loggers
/// print (`Dec  7 01:33:10`). An uptime counter (`[   12.3]`) is no time.
fn has_timestamp(line: &str) -> bool {
    static PATTERNS: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    PATTERNS
        .get_or_init(|| {
            [
                r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}",
                r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d{2}:\d{2}:\d{2}\b",
            ]
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect()
        })
        .iter()
        .any(|t| t.is_match(line))
}

impl Check for FailedLoginLogged {
    fn meta(&self) -> &CheckMeta {
        &FAILED_LOGIN_LOGGED
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if log_source(board).is_none() {
            return Applicability::not_applicable(
                "no event log hilt can read: neither on a wired console (declares.logging.event_log.console) nor on an API (declares.logging.event_log.http)",
                &[
                    "declares.logging.event_log.console",
                    "declares.logging.event_log.http",
                ],
            );
        }
        let (upload, config) = http_provocations(board);
        if login_provocation(board).is_none() && upload.is_none() && config.is_none() {
            return Applicability::not_applicable(
                "nothing hilt can refuse: no console login, no API login, no update upload or configuration resource on an API",
                &[
                    "declares.console.login",
                    "declares.interfaces[].api",
                    "declares.update.paths",
                    "declares.configuration.http",
                ],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let source =
            log_source(ctx.board()).ok_or_else(|| CheckError::Harness("no event log".into()))?;
        let (upload, config) = http_provocations(ctx.board());
        let mut tested = Vec::new();
        let mut untested = Vec::new();
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut log = read_log(ctx, &source)?;
        let mut log_text = String::new();

        let provocations: [(&SecurityEvent, Option<Provocation>); 3] = [
            (&FAILED_LOGIN, login_provocation(ctx.board())),
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
                    let after = read_log(ctx, &source)?;
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
    /// A wrong password for the API's account on an authenticated
    /// resource (the state, else the event log).
    ApiLogin,
    /// An upload through this (HTTP) update path without credentials, of
    /// bytes that are no image (so even a device that took it would install
    /// nothing).
    Upload(UpdatePath),
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
            Provocation::ApiLogin => {
                let decl = &ctx.board().spec.declares;
                let path = decl
                    .state
                    .as_ref()
                    .and_then(|s| s.http.clone())
                    .or_else(|| {
                        decl.logging
                            .as_ref()
                            .and_then(|l| l.event_log.as_ref())
                            .and_then(|e| e.http.clone())
                    })
                    .ok_or_else(|| {
                        CheckError::Harness(
                            "no authenticated API resource (state or event log) to log in to"
                                .into(),
                        )
                    })?;
                let target = if decl.state.as_ref().is_some_and(|s| s.http.is_some()) {
                    api::for_state(ctx)?
                } else {
                    api::for_event_log(ctx)?
                };
                let request = HttpRequest::get(path.clone());
                let status =
                    api::send(ctx, &target, request, Auth::Wrong("Hilt-logged-attempt"))?.status;
                let user = target.account().to_string();
                if (200..300).contains(&status) {
                    return Err(CheckError::Board(format!(
                        "GET {path} with a wrong password for {user} answered {status}; AU checks cover that"
                    )));
                }
                Ok(Caused::Refused(format!(
                    "GET {path} with a wrong password for {user} -> {status}"
                )))
            }
            Provocation::Upload(path) => {
                let updater = crate::update::updater(path.clone())
                    .ok_or_else(|| CheckError::Harness("no driver for the update path".into()))?;
                let outcome = updater.upload(
                    ctx,
                    b"hilt CS-01: not a firmware image",
                    crate::update::Session::Unauthenticated,
                )?;
                let how = format!(
                    "{} without credentials: {}",
                    updater.label(),
                    outcome.note()
                );
                Ok(if outcome.taken() {
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
                let target = api::for_config(ctx)?;
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

#[cfg(test)]
mod tests {
    use super::has_timestamp;

    #[test]
    fn iso_and_syslog_stamps_are_times_and_uptime_is_not() {
        assert!(has_timestamp("2026-12-07T01:33:10Z login failed for root"));
        assert!(has_timestamp("2026-12-07 01:33 login failed"));
        // busybox logread (RFC 3164), day padded with a space or a zero
        assert!(has_timestamp(
            "Dec  7 01:33:10 hilt-linux auth.warn login[107]: invalid password for 'root' on 'ttyS0'"
        ));
        assert!(has_timestamp(
            "Jan 17 23:59:01 host sshd[1]: Failed password"
        ));
        assert!(!has_timestamp("[   12.345678] login: invalid password"));
        assert!(!has_timestamp("login[107]: invalid password for 'root'"));
        assert!(!has_timestamp("Decimal 7 01:33 is not a date"));
    }
}
