//! DP-01 watches a boot and normal operation and flags what crossed the
//! network in the clear.

use std::time::Duration;

use hilt_capture::{NamedSecret, Protocol};
use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::capture::BoardCapture;
use crate::api::{self, Auth};
use crate::console;

/// How long a board without a console may take to answer on the network
/// again after a power cycle.
const BOOT_WITHOUT_CONSOLE: Duration = Duration::from_secs(120);

/// DP-01: boot and normal operation, captured passively; every protocol
/// the device speaks is classified and plaintext ones are flagged.
pub struct PassiveTraffic;

static PASSIVE_TRAFFIC: CheckMeta = CheckMeta {
    name: "passive_traffic",
    capability: Capability::DataProtection,
    catalogue_id: "DP-01",
    title: "Traffic at boot and in operation is encrypted",
    expected: "a capture of a boot and of normal operation shows no application data in the clear (only TLS/DTLS/SSH, and DNS lookups)",
    nistir_8259a: &["DP-1"],
    en_303_645: &["5.5-1", "5.8-1", "5.8-2"],
    ts_103_701: &["5.5-1-2", "5.8-1-2", "5.8-2-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(90),
    params: &[ParamSpec {
        name: "window_s",
        meaning: "seconds of normal operation captured after the boot",
        kind: ParamKind::Integer {
            min: 1,
            max: 600,
            default: 6,
            unit: "s",
        },
    }],
};

/// Plaintext a device may legitimately send: name lookups carry no data of
/// the user's (a secret found in one is still reported).
fn allowed_in_clear(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Dns)
}

impl Check for PassiveTraffic {
    fn meta(&self) -> &CheckMeta {
        &PASSIVE_TRAFFIC
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if let na @ Applicability::NotApplicable(_) = super::capture::needs_capture(board) {
            return na;
        }
        if board.spec.hardware.power.is_none() {
            return Applicability::not_applicable(
                "capturing a boot needs power control (hardware.power)",
                &["hardware.power"],
            );
        }
        // The boot is followed on the console, or else seen to end when
        // the board answers on the network again.
        let console = board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some();
        if !console && crate::liveness::available(board).is_err() {
            return Applicability::not_applicable(
                "the end of the boot cannot be seen: neither on a console (hardware.serial, declares.console) nor by a service that shows the board alive (declares.interfaces: TLS, HTTP, SSH, telnet or FTP, enabled by default)",
                &["declares.console", "declares.interfaces"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let window = Duration::from_secs(ctx.param_u64("window_s")?);
        // Every declared account's password is looked for in the capture.
        let accounts: Vec<String> = ctx.board().spec.declares.accounts.keys().cloned().collect();
        let mut secrets = Vec::new();
        let mut known: Vec<String> = Vec::new();
        for user in &accounts {
            let password = ctx.password(user)?;
            known.push(password.expose().to_string());
            secrets.push(NamedSecret::new(
                format!("password of {user}"),
                password.expose().as_bytes().to_vec(),
            ));
        }
        let capture = BoardCapture::start(ctx, "passive")?;
        let device = capture.address;
        // Boot, then normal operation: an authorized session on the API
        // (when there is one) and the device's own background traffic.
        let board = ctx.board();
        if board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some() {
            let decl = ctx.console_decl()?;
            console::restart(ctx, &decl)?;
        } else {
            ctx.power(hilt_harness::transport::power::PowerAction::Cycle)?;
            crate::liveness::await_boot_on_network(ctx, BOOT_WITHOUT_CONSOLE)?;
        }
        let mut session = "none (no API declared)".to_string();
        if matches!(api::needs_api(ctx.board()), Applicability::Applicable) {
            let target = api::target(ctx)?;
            let path = target
                .read_paths()
                .first()
                .cloned()
                .unwrap_or_else(|| "/".into());
            let reply = api::send_reply(
                ctx,
                &target,
                hilt_net::http::HttpRequest::get(&path),
                Auth::Declared,
            )?;
            session = format!("{} GET {path} -> {}", target.label(), reply.response.status);
            // What proved the API's account must not cross in the clear either.
            for (what, value) in reply.proofs {
                if !value.is_empty() && !known.contains(&value) {
                    secrets.push(NamedSecret::new(
                        format!("API {what} ({})", target.account()),
                        value.into_bytes(),
                    ));
                }
            }
        }
        // The board must be shown alive through the window: a dead board
        // sends no plaintext either.
        let ((), alive) = crate::liveness::around(ctx, |ctx| ctx.sleep(window))?;
        let (packets, report) = capture.finish(
            ctx,
            "boot-and-operation.pcap",
            "capture of a boot and normal operation (credential bytes masked)",
            secrets,
        )?;
        let mut histogram: std::collections::BTreeMap<&str, u64> = Default::default();
        for flow in &report.flows {
            *histogram.entry(flow.protocol.name()).or_default() += flow.frames;
        }
        ctx.evidence().text(
            "flows.json",
            "application/json",
            "classified flows of the capture",
            &serde_json::to_string_pretty(&report).unwrap_or_default(),
        )?;
        let from_device = report
            .flows
            .iter()
            .filter(|f| f.client.ip() == device || f.server.ip() == device)
            .count();
        let observed = format!(
            "{packets} packets on {}, {} flows with the device; protocols (frames): {}; session: {session}; window {window:?}; {alive}",
            "the capture interface",
            from_device,
            histogram
                .iter()
                .map(|(p, n)| format!("{p} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if packets == 0 || from_device == 0 {
            return Err(CheckError::Board(format!(
                "the capture saw no traffic of the device; cannot judge ({observed})"
            )));
        }
        let offending: Vec<_> = report
            .plaintext_flows()
            .filter(|f| !allowed_in_clear(f.protocol))
            .filter(|f| f.client_bytes + f.server_bytes > 0)
            .collect();
        // The first frame that carried data in the clear, for a lab to open.
        let first = offending
            .iter()
            .filter_map(|f| f.first_data_frame)
            .chain(report.secrets.iter().flat_map(|h| h.frames.iter().copied()))
            .min();
        if let Some(frame) = first {
            ctx.evidence().locate(
                "boot-and-operation.pcap",
                hilt_harness::evidence::Locator::Frame(frame),
            );
        }
        let mut problems: Vec<String> = offending
            .iter()
            .map(|f| {
                format!(
                    "{} {:?} {} -> {} (frames {}-{}, {} bytes)",
                    f.protocol.name(),
                    f.transport,
                    f.client,
                    f.server,
                    f.first_frame,
                    f.last_frame,
                    f.client_bytes + f.server_bytes
                )
            })
            .collect();
        for hit in report.secrets.iter().filter(|h| h.found) {
            problems.push(format!(
                "the {} appears in frames {:?}",
                hit.label, hit.frames
            ));
        }
        if problems.is_empty() {
            Ok(Finding::pass(
                "no application data crossed the network in the clear",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!("data in the clear: {}", problems.join("; ")),
                observed,
            ))
        }
    }
}
