use std::time::Duration;

use hilt_harness::board::{Board, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::error::NetError;
use hilt_net::suites;
use hilt_net::tls::{
    self, HelloAnswer, HelloProbe, LegacyVersion, TlsClientConfig, Trust, Versions,
};
use hilt_net::Link;
use hilt_net::Stop;
use serde::Serialize;

use crate::api::{self, net_fault};

/// DP-02: every TLS service the device declares uses current TLS with a
/// valid chain.
pub struct TlsServer;

static TLS_SERVER: CheckMeta = CheckMeta {
    name: "tls_server",
    capability: Capability::DataProtection,
    catalogue_id: "DP-02",
    title: "TLS server: current protocol versions, strong keys, valid chain",
    expected: "on every declared TLS service, each version tried on a connection of its own: SSL 3.0, TLS 1.0 and TLS 1.1 refused, TLS 1.2 or 1.3 accepted with an AEAD suite; a TLS 1.2 hello offering only NULL/EXPORT/RC4/DES/3DES/anon suites refused; a chain that verifies to the manufacturer CA, keys of at least P-256 or RSA-2048. A probe with no answer counts as refused only when modern handshakes complete before and after it",
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

/// What one TLS service showed: problems (device failures), probes that
/// could not be judged (no answer, and the service not shown alive around
/// them), and notes.
struct ServiceJudgement {
    problems: Vec<String>,
    undetermined: Vec<String>,
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
                    if !judged.undetermined.is_empty() {
                        let why = format!(
                            "{service} on port {port}: {}",
                            judged.undetermined.join("; ")
                        );
                        undetermined.get_or_insert(CheckError::Board(why));
                    }
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
        // A service that could not be judged leaves the check open; an
        // INCONCLUSIVE trial keeps no observed text, so the table goes
        // into its reason.
        if let Some(error) = undetermined {
            return Err(error.map_text(|why| format!("{why} (observed: {observed})")));
        }
        Ok(Finding::pass(
            format!(
                "each of {} declared TLS service(s): SSL 3.0, TLS 1.0 and 1.1 refused, TLS 1.2+ accepted, no weak suite chosen, strong key, chain verifies",
                services.len()
            ),
            observed,
        ))
    }
}

/// Bound on one hand-built hello probe (answer and close).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a version (or suite) probe ended, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum RowResult {
    Accepted,
    Refused,
    /// No ServerHello and no alert.
    NoAnswer,
}

/// One row of the per-version (and per-suite-class) table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    /// "SSL 3.0" ... "TLS 1.3", or the suite class tried at TLS 1.2.
    probe: String,
    /// How it was offered.
    offered: &'static str,
    result: RowResult,
    /// The alert's name, when the answer was one.
    alert: Option<&'static str>,
    /// The version and suite the server chose, when it chose.
    chosen: Option<String>,
    detail: String,
}

impl Row {
    fn from_hello(probe: String, offered: &'static str, p: &HelloProbe) -> Self {
        let result = match p.answer {
            HelloAnswer::ServerHello if p.accepted => RowResult::Accepted,
            HelloAnswer::ServerHello | HelloAnswer::Alert => RowResult::Refused,
            HelloAnswer::Closed | HelloAnswer::Silent | HelloAnswer::Garbled => RowResult::NoAnswer,
        };
        let chosen = p.server_version.filter(|_| p.accepted).map(|v| {
            let suite = p.cipher_suite.map(suites::suite_name).unwrap_or_default();
            format!("{} {suite}", suites::version_name(v))
                .trim_end()
                .to_string()
        });
        Self {
            probe,
            offered,
            result,
            alert: p.alert.map(|a| a.name),
            chosen,
            detail: p.note.clone(),
        }
    }

    fn from_record(probe: String, offered: &'static str, r: &tls::TlsRecord) -> Self {
        let (result, alert, detail) = match &r.outcome {
            tls::HandshakeOutcome::Completed => {
                (RowResult::Accepted, None, "handshake completed".into())
            }
            tls::HandshakeOutcome::Failed {
                alert_received: Some(a),
                ..
            } => (
                RowResult::Refused,
                Some(a.name),
                format!("refused with alert {}", a.name),
            ),
            tls::HandshakeOutcome::Failed {
                alert_sent: Some(a),
                error,
                ..
            } => (
                RowResult::Refused,
                None,
                format!(
                    "answered, then aborted by this client ({}): {error}",
                    a.name
                ),
            ),
            tls::HandshakeOutcome::Failed { error, .. } => {
                (RowResult::NoAnswer, None, error.clone())
            }
        };
        let chosen = r.completed().then(|| {
            let version = match r.protocol_version.as_deref() {
                Some("TLSv1_3") => "TLS 1.3".to_string(),
                Some("TLSv1_2") => "TLS 1.2".to_string(),
                other => other.unwrap_or_default().to_string(),
            };
            format!("{version} {}", r.cipher_suite.clone().unwrap_or_default())
        });
        Self {
            probe,
            offered,
            result,
            alert,
            chosen,
            detail,
        }
    }

    /// "TLS 1.0: refused (alert protocol_version)".
    fn line(&self) -> String {
        let what = match (self.result, self.alert, &self.chosen) {
            (RowResult::Accepted, _, Some(c)) => format!("accepted ({c})"),
            (RowResult::Accepted, _, None) => "accepted".into(),
            (RowResult::Refused, Some(a), _) => format!("refused (alert {a})"),
            (RowResult::Refused, None, _) => format!("refused ({})", self.detail),
            (RowResult::NoAnswer, _, _) => format!("no answer ({})", self.detail),
        };
        format!("{}: {what}", self.probe)
    }
}

/// The evidence of one service's probes.
#[derive(Debug, Serialize)]
struct VersionTable<'a> {
    port: u16,
    rows: &'a [Row],
    /// A modern handshake completed before the probes / after them.
    alive_before: bool,
    alive_after: bool,
    probes: &'a [HelloProbe],
}

/// A probe's error, naming the probe.
fn probe_fault(what: &str, e: NetError) -> CheckError {
    match net_fault(e) {
        CheckError::Board(why) => CheckError::Board(format!("{what}: {why}")),
        CheckError::Harness(why) => CheckError::Harness(format!("{what}: {why}")),
        other => other,
    }
}

/// A rustls handshake offering `versions` (inspect-only trust: the point
/// is what the server accepts), closed and its close seen through.
fn modern(
    link: &Link,
    port: u16,
    name: &str,
    versions: Versions,
    stop: &Stop,
) -> Result<tls::TlsRecord, CheckError> {
    let mut cfg = TlsClientConfig::new(name, Trust::InspectOnly);
    cfg.versions = versions;
    let what = format!("the {versions:?} handshake");
    tls::connect(link, port, &cfg, stop)
        .and_then(tls::TlsConnection::closed_record)
        .map_err(|e| probe_fault(&what, e))
}

/// Judges the TLS server on `port`: the chain against the manufacturer CA,
/// the leaf key, each protocol version on a connection of its own (SSL
/// 3.0, TLS 1.0, 1.1 hand-built; TLS 1.2 and 1.3 through rustls), and a
/// TLS 1.2 hello offering only weak suites. Every connection is closed,
/// and its close seen through, before the next one opens.
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
    .map_err(|e| probe_fault("the verified handshake", e))?;
    // Closed, and the close seen through, before the next probe: a device
    // that serves one connection at a time would leave it unanswered.
    let record = verified
        .closed_record()
        .map_err(|e| probe_fault("the verified handshake", e))?;
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
    if record.completed() && !record.verified {
        problems.push("the certificate chain does not verify to the manufacturer CA".to_string());
    }
    if record.completed() {
        notes.push(format!(
            "negotiated {} {}",
            record.protocol_version.clone().unwrap_or_default(),
            record.cipher_suite.clone().unwrap_or_default()
        ));
    } else {
        notes.push(format!("verified handshake: {:?}", record.outcome));
    }
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

    // Each version on a connection of its own, one at a time.
    let tls13 = modern(&link, port, &name, Versions::Tls13Only, &stop)?;
    let tls12 = modern(&link, port, &name, Versions::Tls12Only, &stop)?;
    let alive_before = record.completed() || tls13.completed() || tls12.completed();
    let mut probes = Vec::new();
    let mut rows = Vec::new();
    for version in LegacyVersion::ALL {
        let what = format!("the {} hello", version.name());
        let p = tls::probe_legacy_hello(&link, port, &name, version, PROBE_TIMEOUT, &stop)
            .map_err(|e| probe_fault(&what, e))?;
        rows.push(Row::from_hello(
            version.name(),
            "hand-built ClientHello (CBC, 3DES, RC4 suites)",
            &p,
        ));
        probes.push(p);
    }
    rows.push(Row::from_record(
        "TLS 1.2".into(),
        "rustls, TLS 1.2 only (AEAD suites)",
        &tls12,
    ));
    rows.push(Row::from_record(
        "TLS 1.3".into(),
        "rustls, TLS 1.3 only",
        &tls13,
    ));
    // Weak suites: a TLS 1.2 hello offering nothing else must be refused.
    let weak = tls::probe_hello(
        &link,
        port,
        &tls::probe_client_hello(suites::TLS_1_2, &tls::weak_suites(), &name),
        suites::TLS_1_2,
        PROBE_TIMEOUT,
        &stop,
    )
    .map_err(|e| probe_fault("the weak-suite hello", e))?;
    rows.push(Row::from_hello(
        "weak suites at TLS 1.2".into(),
        "hand-built TLS 1.2 ClientHello offering only NULL, EXPORT, RC4, DES, 3DES and anon suites",
        &weak,
    ));
    // CBC-SHA1 suites alone: fine beside AEAD, a failure when the server
    // has nothing better.
    let cbc = tls::probe_hello(
        &link,
        port,
        &tls::probe_client_hello(suites::TLS_1_2, &tls::cbc_sha1_suites(), &name),
        suites::TLS_1_2,
        PROBE_TIMEOUT,
        &stop,
    )
    .map_err(|e| probe_fault("the CBC-SHA1 hello", e))?;
    rows.push(Row::from_hello(
        "CBC-SHA1 suites at TLS 1.2".into(),
        "hand-built TLS 1.2 ClientHello offering only CBC suites with HMAC-SHA1",
        &cbc,
    ));
    probes.push(weak.clone());
    probes.push(cbc.clone());
    let after = modern(&link, port, &name, Versions::Tls12And13, &stop)?;
    let alive_after = after.completed();
    ctx.evidence().text(
        &format!("tls-versions-{port}.json"),
        "application/json",
        "each TLS protocol version and weak suite class offered on a connection of its own: accepted, refused (alert) or no answer",
        &serde_json::to_string_pretty(&VersionTable {
            port,
            rows: &rows,
            alive_before,
            alive_after,
            probes: &probes,
        })
        .unwrap_or_default(),
    )?;
    notes.push(format!(
        "probes: {}",
        rows.iter().map(Row::line).collect::<Vec<_>>().join(", ")
    ));
    notes.push(format!(
        "modern handshake before the probes: {}, after: {}",
        if alive_before {
            "completed"
        } else {
            "none completed"
        },
        if alive_after {
            "completed"
        } else {
            "did not complete"
        }
    ));

    // Judgement.
    let mut undetermined = Vec::new();
    let silent: Vec<String> = rows
        .iter()
        .filter(|r| r.result == RowResult::NoAnswer)
        .map(|r| format!("{} ({})", r.probe, r.detail))
        .collect();
    let bracketed = alive_before && alive_after;
    if !silent.is_empty() && !bracketed {
        undetermined.push(format!(
            "no answer to the {} probe(s): {}, and no modern handshake completed {} them: cannot tell a refusal from a lost connection",
            silent.len(),
            silent.join(", "),
            if alive_before { "after" } else { "before" }
        ));
    }
    let mut accepted_legacy: Vec<String> = Vec::new();
    for p in probes.iter().take(LegacyVersion::ALL.len()) {
        if let (true, Some(v)) = (p.accepted, p.server_version) {
            let chosen = format!(
                "{} accepted (ServerHello {} {} to a hello offering {})",
                suites::version_name(v),
                suites::version_name(v),
                p.cipher_suite.map(suites::suite_name).unwrap_or_default(),
                suites::version_name(p.offered)
            );
            if !accepted_legacy
                .iter()
                .any(|a| a.starts_with(&suites::version_name(v)))
            {
                accepted_legacy.push(chosen);
            }
        }
    }
    problems.extend(accepted_legacy);
    if weak.accepted {
        let suite = weak
            .cipher_suite
            .map(suites::suite_name)
            .unwrap_or_else(|| "an unnamed suite".into());
        let class = weak
            .cipher_suite
            .and_then(suites::weakness)
            .map(|w| format!(" ({w:?})"))
            .unwrap_or_default();
        problems.push(format!(
            "weak cipher suite accepted: {suite}{class}, chosen from a TLS 1.2 hello offering only weak suites"
        ));
    }
    let modern_accepted = tls12.completed() || tls13.completed();
    if !modern_accepted {
        let answered = [&tls12, &tls13].iter().any(|r| {
            !matches!(
                r.outcome,
                tls::HandshakeOutcome::Failed {
                    alert_sent: None,
                    alert_received: None,
                    ..
                }
            )
        });
        if cbc.accepted {
            problems.push(format!(
                "TLS 1.2 only with CBC-SHA1 suites: no AEAD handshake at TLS 1.2 or 1.3 completed, and {} was chosen from a CBC-SHA1 offer",
                cbc.cipher_suite
                    .map(suites::suite_name)
                    .unwrap_or_else(|| "a suite".into())
            ));
        } else if answered || alive_after {
            problems.push("neither TLS 1.2 nor TLS 1.3 completed a handshake".into());
        } else {
            undetermined
                .push("neither TLS 1.2 nor TLS 1.3 got an answer (no alert, no handshake)".into());
        }
    } else if !record.completed() {
        problems.push(format!(
            "the handshake with the manufacturer CA as trust anchor failed: {:?}",
            record.outcome
        ));
    }
    Ok(ServiceJudgement {
        problems,
        undetermined,
        notes,
    })
}
