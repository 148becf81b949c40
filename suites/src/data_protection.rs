//! Data Protection (NIST IR 8259A DP-1, DP-2, DP-3): the device's TLS
//! server, its TLS client under man-in-the-middle attack, and credentials
//! on the wire.

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::rogue::{RogueCert, RogueConfig, RogueServer};
use hilt_net::tls::{self, TlsClientConfig, Trust};

use crate::api::{self, net_fault};
use crate::console;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![Arc::new(TlsServer), Arc::new(TlsClientMitm)]
}

/// DP-02: the device's HTTPS service uses current TLS with a valid chain.
pub struct TlsServer;

static TLS_SERVER: CheckMeta = CheckMeta {
    name: "tls_server",
    capability: Capability::DataProtection,
    catalogue_id: "DP-02",
    title: "TLS server: current protocol versions, strong keys, valid chain",
    expected: "TLS 1.2 or later only (TLS 1.0 refused), a chain that verifies to the manufacturer CA, keys of at least P-256 or RSA-2048",
    nistir_8259a: &["DP-1", "DP-3"],
    en_303_645: &["5.5-1"],
    ts_103_701: &["5.5-1-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
};

impl Check for TlsServer {
    fn meta(&self) -> &CheckMeta {
        &TLS_SERVER
    }

    fn applicability(&self, board: &Board) -> Applicability {
        api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let endpoint = api::https_endpoint(ctx.board())
            .ok_or_else(|| CheckError::Harness("no endpoint".into()))?;
        let name = endpoint.ip().to_string();
        let stop = api::stop(ctx);
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        // The chain, judged against the manufacturer CA.
        let trust = match &ctx.board().spec.declares.device_ca {
            Some(ca) => Trust::Anchors(ctx.board().resolve_path(ca)),
            None => Trust::InspectOnly,
        };
        let verified = tls::connect(endpoint, &TlsClientConfig::new(name.clone(), trust), &stop)
            .map_err(net_fault)?;
        let record = verified.record;
        ctx.evidence().text(
            "tls-handshake.json",
            "application/json",
            "TLS handshake with the manufacturer CA as trust anchor",
            &serde_json::to_string_pretty(&record).unwrap_or_default(),
        )?;
        if !record.completed() {
            problems.push(format!("the handshake failed: {:?}", record.outcome));
        } else if !record.verified {
            problems
                .push("the certificate chain does not verify to the manufacturer CA".to_string());
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
            endpoint,
            &name,
            tls::LegacyVersion::Tls10,
            Duration::from_secs(5),
            &stop,
        )
        .map_err(net_fault)?;
        notes.push(format!("TLS 1.0 hello: {}", legacy.note));
        if legacy.accepted {
            problems.push("TLS 1.0 accepted".into());
        }
        let observed = notes.join("; ");
        if problems.is_empty() {
            Ok(Finding::pass(
                "TLS 1.2+ only, strong key, chain verifies",
                observed,
            ))
        } else {
            Ok(Finding::fail(problems.join("; "), observed))
        }
    }
}

/// DP-03 and DP-04: the device's TLS client refuses a man in the middle
/// (self-signed, untrusted CA, expired), and sends no data to it.
pub struct TlsClientMitm;

static TLS_CLIENT_MITM: CheckMeta = CheckMeta {
    name: "tls_client_mitm",
    capability: Capability::DataProtection,
    catalogue_id: "DP-03",
    title: "TLS client refuses a man in the middle",
    expected: "the device aborts the handshake with rogue servers (self-signed, untrusted CA, expired certificate) and sends them no data",
    nistir_8259a: &["DP-1"],
    en_303_645: &["5.5-1", "5.3-10"],
    ts_103_701: &["5.5-1-2"],
    cra_annex_i: &["e"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
};

impl Check for TlsClientMitm {
    fn meta(&self) -> &CheckMeta {
        &TLS_CLIENT_MITM
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.declares.tls_clients.is_empty() {
            return Applicability::NotApplicable(
                "the device declares no outgoing TLS connections (declares.tls_clients)".into(),
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
            return Applicability::NotApplicable(
                "no host address declared for rogue servers (hardware.network.host_address)".into(),
            );
        }
        if board
            .spec
            .declares
            .configuration
            .as_ref()
            .and_then(|c| c.console.as_ref())
            .is_none()
        {
            return Applicability::NotApplicable(
                "no console configuration to point the client at a rogue server".into(),
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let client = ctx.board().spec.declares.tls_clients[0].clone();
        let host = ctx
            .board()
            .spec
            .hardware
            .network
            .as_ref()
            .and_then(|n| n.host_address)
            .ok_or_else(|| CheckError::Harness("no host address".into()))?;
        let decl = console::open_shell(ctx)?;
        let original = console::config_get(ctx, &decl, &client.server_parameter)?;
        let interval_original = match &client.interval_parameter {
            Some(p) => {
                let v = console::config_get(ctx, &decl, p)?;
                console::config_set_verified(ctx, &decl, p, "1")?;
                Some((p.clone(), v))
            }
            None => None,
        };
        let mut results = Vec::new();
        let mut failed = Vec::new();
        let modes = [
            RogueCert::SelfSigned,
            RogueCert::UntrustedCa,
            RogueCert::Expired { ca: None },
        ];
        let mut outcome = Ok(());
        for mode in modes {
            let name = mode.mode_name();
            let server = RogueServer::start(
                std::net::SocketAddr::new(host, 0),
                RogueConfig::new(mode, client.server_name.clone()),
            )
            .map_err(net_fault)?;
            let address = server.local_addr();
            console::config_set_verified(
                ctx,
                &decl,
                &client.server_parameter,
                &address.to_string(),
            )?;
            let wait = api::stop(ctx);
            let seen = server.wait_for(1, &wait);
            let connections = server.shutdown();
            if let Err(e) = seen {
                outcome = Err(CheckError::Board(format!(
                    "the device never connected to the {name} server at {address}: {e}"
                )));
                break;
            }
            for c in &connections {
                let accepted = c.handshake_completed || c.app_data_total > 0;
                results.push(format!(
                    "{name}: handshake {}, alert {}, {} bytes of data",
                    if c.handshake_completed {
                        "completed"
                    } else {
                        "aborted"
                    },
                    c.alert
                        .map(|a| format!("{} ({})", a.name, a.code))
                        .unwrap_or_else(|| "none".into()),
                    c.app_data_total
                ));
                if accepted {
                    failed.push(name);
                }
            }
            ctx.evidence().text(
                &format!("rogue-{name}.json"),
                "application/json",
                &format!("connections to the {name} rogue server"),
                &serde_json::to_string_pretty(&connections).unwrap_or_default(),
            )?;
        }
        // Point the client back where it was, whatever happened.
        console::config_set_verified(ctx, &decl, &client.server_parameter, &original)?;
        if let Some((p, v)) = interval_original {
            console::config_set_verified(ctx, &decl, &p, &v)?;
        }
        console::close_shell(ctx, &decl)?;
        outcome?;
        let observed = results.join("; ");
        if failed.is_empty() {
            Ok(Finding::pass(
                "every rogue server was refused before any data was sent",
                observed,
            ))
        } else {
            failed.dedup();
            Ok(Finding::fail(
                format!("the device accepted rogue servers: {}", failed.join(", ")),
                observed,
            ))
        }
    }
}
