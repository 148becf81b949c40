use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::tls::{TlsClientConfig, Trust};

use super::capture;
use crate::api::{self, net_fault};
use crate::console;

/// AU-05: credentials never cross the network in cleartext. hilt logs in
/// to every open port that speaks HTTP while capturing the board's
/// traffic, then searches the capture for the password.
pub struct CleartextCredentials;

static CLEARTEXT_CREDENTIALS: CheckMeta = CheckMeta {
    name: "cleartext_credentials",
    capability: Capability::DataProtection,
    catalogue_id: "AU-05",
    title: "Credentials are never sent in cleartext",
    expected:
        "a capture of logins on every HTTP(S) service of the board holds no password in any form",
    nistir_8259a: &["DP-1"],
    en_303_645: &["5.1-3", "5.5-7"],
    ts_103_701: &["5.5-7-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for CleartextCredentials {
    fn meta(&self) -> &CheckMeta {
        &CLEARTEXT_CREDENTIALS
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board
            .spec
            .hardware
            .network
            .as_ref()
            .and_then(|n| n.capture_interface())
            .is_none()
        {
            return Applicability::not_applicable(
                "no capture interface wired (hardware.network.interface or capture)",
                &["hardware.network.interface", "hardware.network.capture"],
            );
        }
        api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use hilt_capture::NamedSecret;
        use hilt_net::http::{self, HttpOptions, HttpRequest, HttpTarget};
        use hilt_net::scan::{scan_tcp, TcpScanOptions};
        let network = ctx
            .board()
            .spec
            .hardware
            .network
            .clone()
            .ok_or_else(|| CheckError::Harness("no network".into()))?;
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let link = api::link(ctx)?;
        let stop = api::stop(ctx);
        let open = scan_tcp(&link, &TcpScanOptions::default(), &stop)
            .map_err(net_fault)?
            .open;
        let capture = capture::BoardCapture::start(ctx, "logins")?;
        let interface = capture.interface.clone();
        let options = HttpOptions {
            timeout: Duration::from_secs(5),
            ..HttpOptions::default()
        };
        let mut tried = Vec::new();
        let mut unfinished = Vec::new();
        for port in open {
            let addr = link.to(port);
            let tls = TlsClientConfig::new(network.address.to_string(), Trust::InspectOnly);
            // Only HTTP services get credentials: probe without them first.
            let https = HttpTarget::https(&link, port, tls);
            let plain = HttpTarget::http(&link, port);
            let target = if http::request(&https, &HttpRequest::get("/"), &options, &stop).is_ok() {
                Some((https, "https"))
            } else if http::request(&plain, &HttpRequest::get("/"), &options, &stop).is_ok() {
                Some((plain, "http"))
            } else {
                None
            };
            if let Some((target, scheme)) = target {
                let login = HttpRequest::get("/api/v1/status").basic_auth(&user, password.expose());
                match http::request(&target, &login, &options, &stop) {
                    Ok(r) => tried.push(format!("{scheme}://{addr} -> {}", r.status)),
                    // A login that never completed put nothing on the wire
                    // to judge: the capture proves nothing about it.
                    Err(e) => unfinished.push(format!("{scheme}://{addr}: {e}")),
                }
            }
        }
        let (packets, report) = capture.finish(
            ctx,
            "login.pcap",
            "capture of the logins (password bytes masked)",
            vec![NamedSecret::new(
                "account password",
                password.expose().as_bytes().to_vec(),
            )],
        )?;
        let frames: Vec<u64> = report
            .secrets
            .iter()
            .filter(|h| h.found)
            .flat_map(|h| h.frames.clone())
            .collect();
        let observed = format!(
            "logins: {}; captured {} packets; password found in frames {:?}",
            if tried.is_empty() {
                "none (no HTTP service answered)".to_string()
            } else {
                tried.join(", ")
            },
            packets,
            frames
        );
        if !unfinished.is_empty() {
            return Err(CheckError::Board(format!(
                "logins did not complete ({}); cannot judge ({observed})",
                unfinished.join("; ")
            )));
        }
        if tried.is_empty() {
            return Err(CheckError::Board(format!(
                "no HTTP service answered; nothing was tested ({observed})"
            )));
        }
        if packets == 0 {
            return Err(CheckError::Board(format!(
                "the capture on {interface} saw no packets; cannot judge ({observed})"
            )));
        }
        if frames.is_empty() {
            Ok(Finding::pass(
                "the password appears in no captured frame",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "the password crossed the network in cleartext",
                observed,
            ))
        }
    }
}
