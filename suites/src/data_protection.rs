//! Data Protection (NIST IR 8259A DP-1, DP-2, DP-3): the device's TLS
//! server, its TLS client under man-in-the-middle attack, and credentials
//! on the wire.

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::{Board, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::tls::{self, TlsClientConfig, Trust};

use crate::api::{self, net_fault};
use crate::console;

mod downgrade;
mod mitm;
mod passive;
pub use downgrade::TlsDowngrade;
pub use mitm::{TlsClientMitm, TLS_MITM_CHAIN, TLS_MITM_SELF_SIGNED};
pub use passive::PassiveTraffic;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(PassiveTraffic),
        Arc::new(CleartextCredentials),
        Arc::new(TlsServer),
        Arc::new(TlsClientMitm(&TLS_MITM_SELF_SIGNED)),
        Arc::new(TlsClientMitm(&TLS_MITM_CHAIN)),
        Arc::new(TlsDowngrade),
        Arc::new(UnauthenticatedErase),
    ]
}

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
        let capture = passive::BoardCapture::start(ctx, "logins")?;
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

/// DP-10: erasing the device (factory reset) over the network needs
/// authorization. A marker setting written with authorization must survive
/// the unauthenticated attempt.
pub struct UnauthenticatedErase;

static UNAUTHENTICATED_ERASE: CheckMeta = CheckMeta {
    name: "unauthenticated_erase",
    capability: Capability::DataProtection,
    catalogue_id: "DP-10",
    title: "Factory reset over the network needs authorization",
    expected: "an unauthenticated reset request is refused and the device's settings are still there afterwards",
    nistir_8259a: &["DP-2", "DC-2"],
    en_303_645: &["5.5-5"],
    ts_103_701: &["5.5-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

impl Check for UnauthenticatedErase {
    fn meta(&self) -> &CheckMeta {
        &UNAUTHENTICATED_ERASE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        let reset = board
            .spec
            .declares
            .factory_reset
            .as_ref()
            .and_then(|f| f.http.as_ref());
        let config = board
            .spec
            .declares
            .configuration
            .as_ref()
            .and_then(|c| c.http.as_ref());
        if reset.is_none() {
            return Applicability::not_applicable(
                "no network factory reset declared (declares.factory_reset.http)",
                &["declares.factory_reset.http"],
            );
        }
        if config.is_none() {
            return Applicability::not_applicable(
                "no HTTP configuration declared to mark the device with",
                &["declares.configuration.http"],
            );
        }
        api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use crate::api::Auth;
        use hilt_net::http::HttpRequest;
        let decl = &ctx.board().spec.declares;
        let reset = decl.factory_reset.as_ref().and_then(|f| f.http.clone());
        let config = decl.configuration.clone();
        let (Some(reset), Some(config)) = (reset, config) else {
            return Err(CheckError::Harness(
                "declaration changed under the check".into(),
            ));
        };
        let path = config
            .http
            .map(|h| h.path)
            .ok_or_else(|| CheckError::Harness("no config path".into()))?;
        let target = api::target(ctx)?;
        let original = api::config_value(ctx, &target, &path, &config.parameter)?;
        let marker = serde_json::json!({ config.parameter.clone(): config.test_value.clone() });
        let set = api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&marker),
            Auth::Declared,
        )?;
        let marked = api::config_value(ctx, &target, &path, &config.parameter)?;
        if marked != config.test_value {
            return Err(CheckError::Board(format!(
                "an authorized write of the marker did not take (answer {}, reads {marked:?})",
                set.status
            )));
        }
        let attempt = api::send(ctx, &target, HttpRequest::post(reset.clone()), Auth::None)?;
        // A reset, had it happened, reboots the device: give it time to show.
        ctx.sleep(Duration::from_secs(2))?;
        let mut after = None;
        for _ in 0..10 {
            match api::config_value(ctx, &target, &path, &config.parameter) {
                Ok(v) => {
                    after = Some(v);
                    break;
                }
                Err(CheckError::Board(_)) => ctx.sleep(Duration::from_secs(1))?,
                Err(e) => return Err(e),
            }
        }
        let after = after.ok_or_else(|| {
            CheckError::Board("the API did not answer after the reset attempt".into())
        })?;
        let observed = format!(
            "marker {}={:?} set; POST {reset} without credentials -> {}; {} afterwards {after:?}",
            config.parameter, config.test_value, attempt.status, config.parameter
        );
        let restore = serde_json::json!({ config.parameter.clone(): original });
        api::send(
            ctx,
            &target,
            HttpRequest::put(path).json(&restore),
            Auth::Declared,
        )?;
        if after == config.test_value {
            Ok(Finding::pass(
                "the unauthenticated reset was refused; the settings are intact",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "an unauthenticated request erased the device's settings",
                observed,
            ))
        }
    }
}
