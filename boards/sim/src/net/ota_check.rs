//! The update-check client of the `second-tls-client` shape: a second
//! outgoing TLS client beside telemetry, as a device that asks its vendor's
//! update service for new firmware.
//!
//! Every [`shape::INTERVAL_S`] seconds it connects from the board's
//! address to its server fixed in the firmware ([`shape::server`]: no
//! setting), does a TLS handshake (TLS 1.2 or 1.3) validating the chain
//! against the same service CA as telemetry (`telemetry-ca.pem`) and the
//! name `ota.hilt.test`, then sends
//! `GET /ota/v1/latest?device=<device id> HTTP/1.1` and reads the status
//! line of the answer (up to 4 KiB, then closes). The handshake is the
//! telemetry client's (`super::telemetry::handshake`), so the `ota-*`
//! flaws behave as the matching `tls-*` flaws do there, on this client only.
//!
//! Every TLS failure goes to the event log as a security event
//! (`tls_verification_failed` or `tls_handshake_failed`, severity 4,
//! source `ota-check`); other outcomes are not logged.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::pki::Pki;
use super::telemetry::{self, ClientFlaws, Outcome};
use super::{event_kind, netns, NetConfig, NetMode, Shutdown};
use crate::device_api::{DeviceApi, Personality};
use crate::shapes::second_tls_client as shape;

/// The largest answer read from the update service.
const MAX_ANSWER: u64 = 4096;

/// How the firmware's update-check client deals with its server.
pub fn flaws(p: &Personality) -> ClientFlaws {
    ClientFlaws {
        accept_any: p.ota_accepts_untrusted,
        skip_hostname: p.ota_skips_hostname_check,
        ignore_expiry: false,
        version_fallback: p.ota_version_fallback,
    }
}

/// One update check: the TLS session, the request, the status line.
fn attempt(
    api: &dyn DeviceApi,
    cfg: &NetConfig,
    tls: &Arc<ClientConfig>,
    flaws: ClientFlaws,
    sd: &Arc<Shutdown>,
) -> Outcome {
    let server = shape::server(cfg.index, cfg.mode == NetMode::Loopback);
    let Ok(server_name) = ServerName::try_from(shape::SERVER_NAME) else {
        return Outcome::Failed {
            reason: format!("{} is not a valid name", shape::SERVER_NAME),
        };
    };
    let (mut s, _guard) =
        match telemetry::handshake(cfg, tls, flaws, server, shape::SERVER_NAME, server_name, sd) {
            Ok(session) => session,
            Err(outcome) => return outcome,
        };
    let request = format!(
        "GET /ota/v1/latest?device={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        api.identity().device_id,
        shape::SERVER_NAME
    );
    let mut answer = Vec::new();
    let exchanged = s
        .write_all(request.as_bytes())
        .and_then(|()| s.flush())
        .and_then(|()| (&mut s).take(MAX_ANSWER).read_to_end(&mut answer));
    s.conn.send_close_notify();
    let _ = s.flush();
    match exchanged {
        Ok(_) if answer.starts_with(b"HTTP/1.") => Outcome::Sent { server },
        Ok(_) => Outcome::Failed {
            reason: format!("{server}: not an HTTP answer"),
        },
        Err(e) => Outcome::Failed {
            reason: format!("update check with {server}: {e}"),
        },
    }
}

/// TLS failures are security events; nothing else is logged.
fn record(api: &dyn DeviceApi, outcome: &Outcome) {
    match outcome {
        Outcome::CertificateRejected { reason, .. } => api.record_event(
            4,
            event_kind::TLS_VERIFICATION_FAILED,
            "ota-check",
            &format!("update server certificate rejected: {reason}"),
        ),
        Outcome::HandshakeFailed { reason, .. } => api.record_event(
            4,
            event_kind::TLS_HANDSHAKE_FAILED,
            "ota-check",
            &format!("update server TLS handshake failed: {reason}"),
        ),
        _ => {}
    }
}

/// Starts the client on its own thread, in the board's namespace.
pub(crate) fn spawn(
    api: Arc<dyn DeviceApi>,
    cfg: NetConfig,
    ns: Option<PathBuf>,
    pki: Arc<Pki>,
    flaws: ClientFlaws,
    sd: Arc<Shutdown>,
) -> std::io::Result<JoinHandle<()>> {
    let tls = telemetry::client_config(pki.telemetry_roots(), flaws)
        .map_err(|e| std::io::Error::other(format!("update-check TLS configuration: {e}")))?;
    std::thread::Builder::new()
        .name("net-ota-check".into())
        .spawn(move || {
            if let Some(p) = ns {
                if netns::enter(&p).is_err() {
                    return;
                }
            }
            let every = Duration::from_secs(shape::INTERVAL_S);
            // First check shortly after boot.
            if sd.sleep(Duration::from_millis(700)) {
                return;
            }
            while !sd.is_stopped() {
                let outcome = attempt(api.as_ref(), &cfg, &tls, flaws, &sd);
                if sd.is_stopped() {
                    return;
                }
                record(api.as_ref(), &outcome);
                if sd.sleep(every) {
                    return;
                }
            }
        })
}
