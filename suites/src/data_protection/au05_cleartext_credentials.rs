use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::tls::{TlsClientConfig, Trust};

use super::capture;
use crate::api::{self, net_fault};

/// AU-05: credentials never cross the network in cleartext. While the
/// board's traffic is captured, hilt logs in to every declared API (each
/// with its own authentication and account), to every undeclared open
/// port that speaks HTTP (with the first API's), and to every other
/// declared interface that takes a password and runs by default (telnet,
/// through its login driver, with its declared account), then searches
/// the capture for everything that proved the account: the password, a
/// bearer token, a session cookie, a Digest response (a hash of the
/// password that can be guessed offline). A plain-HTTP API fails whatever
/// its scheme; so does a telnet login.
pub struct CleartextCredentials;

static CLEARTEXT_CREDENTIALS: CheckMeta = CheckMeta {
    name: "cleartext_credentials",
    capability: Capability::DataProtection,
    catalogue_id: "AU-05",
    title: "Credentials are never sent in cleartext",
    expected:
        "a capture of logins on every HTTP(S) service of the board holds no credential (password, token, session cookie, Digest response) in any form",
    nistir_8259a: &["DP-1"],
    en_303_645: &["5.1-3", "5.5-7"],
    ts_103_701: &["5.5-7-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

/// The declared interfaces, other than APIs, that take a password and that
/// hilt can log in to (a login driver serves them), running by default.
fn login_interfaces(board: &Board) -> impl Iterator<Item = &hilt_harness::board::InterfaceDecl> {
    board.spec.declares.interfaces.iter().filter(|i| {
        i.api.is_none()
            && !i.speaks_tls()
            && i.enabled_by_default
            && i.auth == hilt_harness::board::AuthRequirement::Required
            && hilt_harness::driver::login::has_probe(i)
    })
}

impl Check for CleartextCredentials {
    fn meta(&self) -> &CheckMeta {
        &CLEARTEXT_CREDENTIALS
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match capture::needs_capture(board) {
            Applicability::Applicable if login_interfaces(board).next().is_some() => {
                Applicability::Applicable
            }
            // The reason names the API: the interface a board most often lacks.
            Applicability::Applicable => api::needs_api(board),
            na => na,
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use hilt_capture::NamedSecret;
        use hilt_net::http::{self, HttpOptions, HttpRequest, HttpTarget};
        use hilt_net::scan::{scan_tcp, TcpScanOptions};
        let link = api::link(ctx)?;
        let stop = api::stop(ctx);
        // Every declared API, each with its own authentication and account.
        let mut apis = Vec::new();
        for declared in ctx.board().spec.apis() {
            let port = declared.port();
            apis.push(api::target_for(
                ctx,
                Some(&hilt_harness::board::ApiRef::Port(port)),
            )?);
        }
        let first = apis.first().cloned();
        let open = match first {
            Some(_) => {
                scan_tcp(&link, &TcpScanOptions::default(), &stop)
                    .map_err(net_fault)?
                    .open
            }
            None => Vec::new(),
        };
        let capture = capture::BoardCapture::start(ctx, "logins")?;
        let interface = capture.interface.clone();
        let options = HttpOptions {
            timeout: Duration::from_secs(5),
            ..HttpOptions::default()
        };
        // A service the board file does not declare that speaks HTTP may be
        // the API again (a plain-HTTP copy): it gets the first API's login.
        for port in open {
            let Some(first) = &first else { break };
            if apis.iter().any(|a| a.target().port == port) {
                continue;
            }
            let tls = TlsClientConfig::new(link.board().to_string(), Trust::InspectOnly);
            let https = HttpTarget::https(&link, port, tls);
            let plain = HttpTarget::http(&link, port);
            if http::request(&https, &HttpRequest::get("/"), &options, &stop).is_ok() {
                apis.push(first.at(https));
            } else if http::request(&plain, &HttpRequest::get("/"), &options, &stop).is_ok() {
                apis.push(first.at(plain));
            }
        }
        let mut tried = Vec::new();
        let mut unfinished = Vec::new();
        let mut proofs: Vec<(String, String)> = Vec::new();
        for target in &apis {
            let target = target.clone().with_timeout(Duration::from_secs(5));
            let path = target
                .read_paths()
                .first()
                .cloned()
                .unwrap_or_else(|| "/".into());
            match api::send_reply(ctx, &target, HttpRequest::get(&path), api::Auth::Declared) {
                Ok(reply) => {
                    tried.push(format!(
                        "{} GET {path} -> {}",
                        target.label(),
                        reply.response.status
                    ));
                    // One search per value: the same password sent to two
                    // services is one secret, found in whichever frames.
                    for (what, value) in reply.proofs {
                        if !proofs.iter().any(|(_, v)| *v == value) {
                            proofs.push((format!("{what} of {}", target.account()), value));
                        }
                    }
                }
                // A login that never completed put nothing on the wire
                // to judge: the capture proves nothing about it.
                Err(e) => unfinished.push(format!("{}: {e}", target.label())),
            }
        }
        // Every other interface that takes a password: one login with its
        // declared account, through the interface's login driver.
        let declared: Vec<_> = login_interfaces(ctx.board()).cloned().collect();
        for iface in &declared {
            let label = format!(
                "{} {}/{}",
                iface.service,
                iface.port,
                format!("{:?}", iface.protocol).to_ascii_lowercase()
            );
            let Some(user) = hilt_harness::driver::login::interface_account(ctx.board(), iface)
            else {
                unfinished.push(format!("{label}: no account declared for it"));
                continue;
            };
            let password = ctx.password(&user)?;
            let scrubber = ctx.evidence().scrubber().clone();
            let attempt = {
                let target = hilt_harness::driver::login::Target {
                    board: ctx.board(),
                    interface: iface,
                    link: &link,
                    stop: ctx.stop(),
                    scrubber: scrubber.clone(),
                };
                hilt_harness::driver::login::probe_for(target).and_then(|probe| match probe {
                    Some(mut probe) => probe.attempt(&user, &password).map(Some),
                    None => Ok(None),
                })
            };
            match attempt {
                Ok(Some(attempt)) => {
                    let outcome = match &attempt.outcome {
                        hilt_harness::driver::login::Outcome::Accepted => "logged in".to_string(),
                        hilt_harness::driver::login::Outcome::Refused(why) => {
                            format!("refused ({why})")
                        }
                        hilt_harness::driver::login::Outcome::Unknown(why) => {
                            format!("no clear answer ({why})")
                        }
                    };
                    ctx.evidence().text(
                        &format!("{}-{}-login.txt", iface.service, iface.port),
                        "text/plain",
                        &format!("the login as {user} on {label}"),
                        &scrubber.scrub_text(&attempt.transcript),
                    )?;
                    tried.push(format!("{label} as {user}: {outcome}"));
                    let value = password.expose().to_string();
                    if !proofs.iter().any(|(_, v)| *v == value) {
                        proofs.push((format!("password of {user}"), value));
                    }
                }
                Ok(None) => unfinished.push(format!("{label}: hilt has no login driver for it")),
                Err(hilt_harness::driver::login::LoginError::Stopped(why)) => {
                    return Err(CheckError::Stopped(why))
                }
                Err(e) => unfinished.push(format!("{label}: {e}")),
            }
        }
        let (packets, report) = capture.finish(
            ctx,
            "login.pcap",
            "capture of the logins (credential bytes masked)",
            proofs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| NamedSecret::new(n, v.as_bytes().to_vec()))
                .collect(),
        )?;
        // The first frame a credential crossed in, for a lab to open.
        let first = report
            .secrets
            .iter()
            .flat_map(|h| h.frames.iter().copied())
            .min();
        if let Some(frame) = first {
            ctx.evidence()
                .locate("login.pcap", hilt_harness::evidence::Locator::Frame(frame));
        }
        let found: Vec<String> = report
            .secrets
            .iter()
            .filter(|h| h.found)
            .map(|h| format!("{} in frames {:?}", h.label, h.frames))
            .collect();
        let observed = format!(
            "logins: {}; captured {} packets; looked for: {}; found: {}",
            if tried.is_empty() {
                "none".to_string()
            } else {
                tried.join(", ")
            },
            packets,
            proofs
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if found.is_empty() {
                "nothing".to_string()
            } else {
                found.join("; ")
            }
        );
        if !unfinished.is_empty() {
            return Err(CheckError::Board(format!(
                "logins did not complete ({}); cannot judge ({observed})",
                unfinished.join("; ")
            )));
        }
        if packets == 0 {
            return Err(CheckError::Board(format!(
                "the capture on {interface} saw no packets; cannot judge ({observed})"
            )));
        }
        if found.is_empty() {
            Ok(Finding::pass(
                "no credential (password, token, session cookie or Digest response) appears in any captured frame",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!(
                    "credentials crossed the network in cleartext: {}",
                    found.join("; ")
                ),
                observed,
            ))
        }
    }
}
