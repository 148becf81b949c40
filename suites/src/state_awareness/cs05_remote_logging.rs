use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;
use crate::settings::Settings;

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
        match crate::settings::applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        if console_login(board) || api_login(board) {
            return Applicability::Applicable;
        }
        Applicability::not_applicable(
            "no login to produce an event with: no console with a login wired, and no API declared",
            &["declares.console.login", "declares.interfaces[].api"],
        )
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
        let settings = Settings::open(ctx)?;
        let original = settings.get(ctx, &syslog.collector_parameter)?;
        settings.set_verified(ctx, &syslog.collector_parameter, &address.to_string())?;
        settings.close(ctx)?;
        let accepted = failed_login(ctx)?;
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
        settings.reopen(ctx)?;
        settings.set_verified(ctx, &syslog.collector_parameter, &original)?;
        settings.close(ctx)?;
        if let Some(how) = accepted {
            return Err(CheckError::Board(format!(
                "the probe login with a wrong password succeeded ({how})"
            )));
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

fn console_login(board: &Board) -> bool {
    board.spec.hardware.serial.is_some()
        && matches!(&board.spec.declares.console, Some(c) if c.login.is_some())
}

fn api_login(board: &Board) -> bool {
    matches!(crate::api::needs_api(board), Applicability::Applicable)
}

/// Causes a failed login: a wrong password at the console's login when one
/// is wired, else on the API's authenticated state resource (or its root).
/// Some(how) when the wrong password was accepted.
fn failed_login(ctx: &mut CheckContext) -> Result<Option<String>, CheckError> {
    let wrong = "Hilt-syslog-probe";
    if console_login(ctx.board()) {
        let decl = ctx.console_decl()?;
        let user = console::account(ctx)?;
        let secret = hilt_harness::board::Secret::from_guess(wrong);
        return Ok(
            (console::try_login(ctx, &decl, &user, &secret)? == LoginOutcome::LoggedIn)
                .then(|| format!("console login as {user}")),
        );
    }
    let path = ctx
        .board()
        .spec
        .declares
        .state
        .as_ref()
        .and_then(|s| s.http.clone())
        .unwrap_or_else(|| "/".into());
    let target = crate::api::for_state(ctx)?;
    let request = hilt_net::http::HttpRequest::get(path.clone());
    let status = crate::api::send(ctx, &target, request, crate::api::Auth::Wrong(wrong))?.status;
    Ok((200..300)
        .contains(&status)
        .then(|| format!("GET {path} on {} answered {status}", target.label())))
}
