use std::time::Duration;

use hilt_harness::board::{Board, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::tls::{self, TlsClientConfig, Trust};

use crate::api::{self, net_fault};

/// DP-02: every TLS service the device declares uses current TLS with a
/// valid chain.
pub struct TlsServer;

static TLS_SERVER: CheckMeta = CheckMeta {
    name: "tls_server",
    capability: Capability::DataProtection,
    catalogue_id: "DP-02",
    title: "TLS server: current protocol versions, strong keys, valid chain",
    expected: "on every declared TLS service: TLS 1.2 or later only (TLS 1.0 refused), a chain that verifies to the manufacturer CA, keys of at least P-256 or RSA-2048",
    nistir_8259a: &["DP-1", "DP-3"],
    en_303_645: &["5.5-1"],
    ts_103_701: &["5.5-1-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

/// The declared TLS services (over TCP, on by default) of a board, with or
/// without authentication: (service name, port).
fn tls_services(board: &Board) -> Vec<(String, u16)> {
    board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default && i.speaks_tls())
        .map(|i| (i.service.clone(), i.port))
        .collect()
}

/// What one TLS service showed: problems (device failures) and notes.
struct ServiceJudgement {
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Check for TlsServer {
    fn meta(&self) -> &CheckMeta {
        &TLS_SERVER
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.network.is_none() {
            return Applicability::not_applicable(
                "no network wired (hardware.network)",
                &["hardware.network.address"],
            );
        }
        if tls_services(board).is_empty() {
            return Applicability::not_applicable(
                "no TLS service declared: no interface named https, mqtts, ... or marked tls: true",
                &["declares.interfaces[].service", "declares.interfaces[].tls"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let services = tls_services(ctx.board());
        let mut problems = Vec::new();
        let mut observed = Vec::new();
        let mut undetermined = None;
        for (service, port) in &services {
            match judge_tls_service(ctx, *port) {
                Ok(judged) => {
                    problems.extend(
                        judged
                            .problems
                            .iter()
                            .map(|p| format!("{service} on port {port}: {p}")),
                    );
                    observed.push(format!(
                        "{service} on port {port}: {}",
                        judged.notes.join("; ")
                    ));
                }
                Err(CheckError::Board(why)) => {
                    observed.push(format!("{service} on port {port}: undetermined: {why}"));
                    undetermined.get_or_insert(CheckError::Board(why));
                }
                Err(other) => return Err(other),
            }
        }
        let observed = observed.join(" | ");
        if !problems.is_empty() {
            return Ok(Finding::fail(problems.join("; "), observed));
        }
        // A service that could not be judged leaves the check open.
        if let Some(error) = undetermined {
            return Err(error);
        }
        Ok(Finding::pass(
            format!(
                "each of {} declared TLS service(s): TLS 1.2+ only, strong key, chain verifies",
                services.len()
            ),
            observed,
        ))
    }
}

/// Judges the TLS server on `port`: the chain against the manufacturer CA,
/// the leaf key, and a TLS 1.0 hello that must be refused.
fn judge_tls_service(ctx: &mut CheckContext, port: u16) -> Result<ServiceJudgement, CheckError> {
    let link = api::link(ctx)?;
    let stop = api::stop(ctx);
    let name = link.board().to_string();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let trust = match &ctx.board().spec.declares.device_ca {
        Some(ca) => Trust::Anchors(ctx.board().resolve_path(ca)),
        None => Trust::InspectOnly,
    };
    let verified = tls::connect(
        &link,
        port,
        &TlsClientConfig::new(name.clone(), trust),
        &stop,
    )
    .map_err(net_fault)?;
    // Closed before the next probe: a device that serves one connection
    // at a time would leave that probe unanswered.
    let record = verified.record;
    drop(verified.stream);
    ctx.evidence().text(
        &format!("tls-handshake-{port}.json"),
        "application/json",
        "TLS handshake with the manufacturer CA as trust anchor",
        &serde_json::to_string_pretty(&record).unwrap_or_default(),
    )?;
    if let tls::HandshakeOutcome::Failed {
        error,
        alert_sent: None,
        alert_received: None,
    } = &record.outcome
    {
        // No alert either way: the connection was lost, not refused.
        // Nothing was learnt about the device's TLS.
        return Err(CheckError::Board(format!(
            "the TLS handshake with port {port} broke off without an alert: {error}"
        )));
    }
    if !record.completed() {
        problems.push(format!("the handshake failed: {:?}", record.outcome));
    } else if !record.verified {
        problems.push("the certificate chain does not verify to the manufacturer CA".to_string());
    }
    notes.push(format!(
        "negotiated {} {}",
        record.protocol_version.clone().unwrap_or_default(),
        record.cipher_suite.clone().unwrap_or_default()
    ));
    if let Some(leaf) = record.chain.first() {
        notes.push(format!("leaf key {} {} bits", leaf.key_type, leaf.key_bits));
        let weak = match leaf.key_type.as_str() {
            t if t.contains("RSA") || t.contains("rsa") => leaf.key_bits < 2048,
            t if t.contains("EC") || t.contains("ec") => leaf.key_bits < 256,
            _ => false,
        };
        if weak {
            problems.push(format!(
                "weak key: {} {} bits",
                leaf.key_type, leaf.key_bits
            ));
        }
    } else {
        problems.push("no certificate presented".into());
    }
    // Legacy protocol: a hand-built TLS 1.0 hello must be refused.
    let legacy = tls::probe_legacy_hello(
        &link,
        port,
        &name,
        tls::LegacyVersion::Tls10,
        Duration::from_secs(5),
        &stop,
    )
    .map_err(net_fault)?;
    notes.push(format!("TLS 1.0 hello: {}", legacy.note));
    if legacy.accepted {
        problems.push("TLS 1.0 accepted".into());
    } else if legacy.alert.is_none() && legacy.server_version.is_none() && !record.completed() {
        // Neither an alert nor a ServerHello: a refusal only if a
        // modern handshake through the same path completed.
        return Err(CheckError::Board(format!(
            "the TLS 1.0 hello got no answer ({}) and no handshake with port {port} completed: cannot tell a refusal from a lost connection",
            legacy.note
        )));
    }
    Ok(ServiceJudgement { problems, notes })
}
