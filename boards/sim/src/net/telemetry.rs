//! The TLS telemetry client: MQTT 3.1.1 over TLS.
//!
//! Every `telemetry_interval_s` seconds (configuration, clamped to
//! 1..=3600; 5 when unset), and at once (within about 100 ms) when `telemetry_server`,
//! `telemetry_server_name` or `telemetry_interval_s` changes (then the
//! interval again from there), the device connects from inside its namespace to
//! `telemetry_server` (`host:port`, IP literal; unset or empty: the host
//! side of its link, port 8883; `off`: no telemetry), does a TLS handshake
//! (TLS 1.2 or 1.3) validating the server's chain against the telemetry CA
//! (`telemetry-ca.pem` in the runtime folder) and its name against
//! `telemetry_server_name` (default `telemetry.hilt.test`; an IP literal
//! there is checked against the certificate's IP addresses), then sends
//! MQTT CONNECT (client id = device id, clean session), waits for CONNACK
//! and publishes one JSON line at QoS 0 on topic `hilt/<device id>/telemetry`:
//!
//! ```json
//! {"device_id":"...","firmware_version":"1.0.0","status":"normal","timestamp":"2026-11-25T08:30:12.123456Z","uptime_s":42}
//! ```
//! then DISCONNECT and TLS close_notify.
//!
//! With the `fixed-telemetry` shape the server and the interval are built
//! in ([`FixedServer`]; see `crate::shapes::fixed_telemetry`) and neither
//! is a setting.
//!
//! The flaws:
//! - `tls-accepts-untrusted`: any certificate is accepted (the client still
//!   checks that the server holds the certificate's key);
//! - `tls-skips-hostname-check`: the chain to the telemetry CA and the
//!   validity dates are checked, but a certificate for another name is
//!   taken (rustls's `NotValidForName` overruled);
//! - `tls-ignores-expiry`: chain and name are checked, but an expired or
//!   not yet valid certificate is taken (checked as at a moment inside its
//!   validity);
//! - `tls-version-fallback`: when a handshake fails because the server
//!   chose a version below TLS 1.2 or sent a `protocol_version` alert, the
//!   client at once opens a second connection and sends a hand-built TLS 1.0
//!   ClientHello (record and `client_version` 0x0301, no
//!   `supported_versions`, suites 0x002f, 0x0035, 0x000a and the
//!   renegotiation SCSV, SNI), nothing else; it closes once the answer is
//!   in or after 2 s. The reference does not retry before its interval.
//!
//! Outcomes go to the event log: every TLS failure as a security event
//! (`tls_verification_failed` for a rejected certificate, `tls_handshake_failed`
//! for any other handshake failure; severity 4); a delivered report
//! (`telemetry_sent`) or an unreachable/non-MQTT server (`telemetry_failed`),
//! both severity 6, only when the outcome differs from the previous attempt's,
//! so a healthy device does not fill its log every five seconds.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::pki::{Pki, DEFAULT_TELEMETRY_SERVER_NAME};
use super::{configured_destination, event_kind, netns, ConnGuard, NetConfig, Shutdown};
use crate::device_api::{config_key, DeviceApi, Personality};

/// Default server port (MQTT over TLS).
pub const DEFAULT_PORT: u16 = 8883;
/// Default seconds between reports.
pub const DEFAULT_INTERVAL_S: u64 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A server and interval built into the firmware (the `fixed-telemetry`
/// shape): no setting changes where or how often the client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedServer {
    pub server: SocketAddr,
    pub interval: Duration,
}

/// A client's TLS session over TCP.
pub(super) type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Telemetry is switched off (`telemetry_server` = `off`).
    Disabled,
    /// Report delivered.
    Sent { server: SocketAddr },
    /// The server's certificate was rejected.
    CertificateRejected { server: SocketAddr, reason: String },
    /// Another TLS handshake failure.
    HandshakeFailed { server: SocketAddr, reason: String },
    /// Not reachable, misconfigured, or not speaking MQTT.
    Failed { reason: String },
}

/// Accepts any server certificate: the `tls-accepts-untrusted` flaw.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The standard verifier with some of its verdicts overruled: the
/// `tls-skips-hostname-check` and `tls-ignores-expiry` flaws.
#[derive(Debug)]
struct LaxVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// A certificate for another name is taken (chain and dates checked).
    skip_hostname: bool,
    /// An expired or not yet valid certificate is taken: the chain and the
    /// name are checked as at a moment inside the certificate's validity.
    ignore_expiry: bool,
}

impl ServerCertVerifier for LaxVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as E;
        let mut when = now;
        // webpki checks a certificate's dates before its signature, so an
        // expired one is checked again as at the end (or start) of its
        // validity; a few rounds for intermediates out of date too.
        for _ in 0..4 {
            let verdict = self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                when,
            );
            let Err(rustls::Error::InvalidCertificate(e)) = verdict else {
                return verdict;
            };
            when = match e {
                E::NotValidForName | E::NotValidForNameContext { .. } if self.skip_hostname => {
                    return Ok(ServerCertVerified::assertion())
                }
                E::ExpiredContext { not_after, .. } if self.ignore_expiry => not_after,
                E::NotValidYetContext { not_before, .. } if self.ignore_expiry => not_before,
                other => return Err(rustls::Error::InvalidCertificate(other)),
            };
        }
        Err(rustls::Error::InvalidCertificate(E::Expired))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How the firmware's telemetry client deals with its server: all false
/// in the reference firmware.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientFlaws {
    /// `tls-accepts-untrusted`: any certificate.
    pub accept_any: bool,
    /// `tls-skips-hostname-check`: a trusted certificate for another name.
    pub skip_hostname: bool,
    /// `tls-ignores-expiry`: a trusted certificate out of its dates.
    pub ignore_expiry: bool,
    /// `tls-version-fallback`: a TLS 1.0 retry after a version failure.
    pub version_fallback: bool,
}

impl ClientFlaws {
    pub fn of(p: &Personality) -> ClientFlaws {
        ClientFlaws {
            accept_any: p.tls_accepts_untrusted,
            skip_hostname: p.tls_skips_hostname_check,
            ignore_expiry: p.tls_ignores_expiry,
            version_fallback: p.tls_version_fallback,
        }
    }
}

/// The client's TLS configuration: validating against `roots`, or less
/// (the flaws).
pub fn client_config(
    roots: rustls::RootCertStore,
    flaws: ClientFlaws,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let cfg = if flaws.accept_any {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else if flaws.skip_hostname || flaws.ignore_expiry {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(format!("telemetry verifier: {e}")))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LaxVerifier {
                inner,
                skip_hostname: flaws.skip_hostname,
                ignore_expiry: flaws.ignore_expiry,
            }))
            .with_no_client_auth()
    } else {
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// Whether a failed handshake failed over the protocol version: the server
/// chose a version below TLS 1.2, or said `protocol_version` (70).
fn version_failure(e: &rustls::Error) -> bool {
    use rustls::{AlertDescription, PeerIncompatible};
    matches!(
        e,
        rustls::Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13)
            | rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
    )
}

/// How long the fallback connection waits for the server's answer.
const FALLBACK_WAIT: Duration = Duration::from_secs(2);

/// `tls-version-fallback`: a new connection to `server` carrying a TLS 1.0
/// ClientHello and nothing else, closed once the answer is in (or after
/// [`FALLBACK_WAIT`]). Says what came back.
fn legacy_fallback(cfg: &NetConfig, server: SocketAddr, name: &str, sd: &Arc<Shutdown>) -> String {
    let mut tcp = match connect_from(cfg.board_addr(), server, CONNECT_TIMEOUT, sd) {
        Ok(s) => s,
        Err(e) => return format!("connecting: {e}"),
    };
    let _reg = sd.register(&tcp);
    let _ = tcp.set_write_timeout(Some(FALLBACK_WAIT));
    let sni = name.parse::<std::net::IpAddr>().is_err().then_some(name);
    let answer = super::tls_legacy::legacy_probe(&mut tcp, sni, FALLBACK_WAIT);
    let _ = tcp.shutdown(std::net::Shutdown::Both);
    answer.to_string()
}

/// MQTT remaining-length encoding.
fn mqtt_len(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn mqtt_str(s: &str, out: &mut Vec<u8>) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// MQTT 3.1.1 CONNECT with a clean session and a 30 s keep-alive.
pub fn mqtt_connect(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    mqtt_str("MQTT", &mut body);
    body.push(4); // protocol level 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&30u16.to_be_bytes());
    mqtt_str(client_id, &mut body);
    let mut pkt = vec![0x10];
    mqtt_len(body.len(), &mut pkt);
    pkt.extend_from_slice(&body);
    pkt
}

/// MQTT PUBLISH at QoS 0.
pub fn mqtt_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    mqtt_str(topic, &mut body);
    body.extend_from_slice(payload);
    let mut pkt = vec![0x30];
    mqtt_len(body.len(), &mut pkt);
    pkt.extend_from_slice(&body);
    pkt
}

/// MQTT DISCONNECT.
pub const MQTT_DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// The report: one JSON line.
pub fn report(api: &dyn DeviceApi) -> String {
    let id = api.identity();
    let st = api.status();
    let mut line = serde_json::json!({
        "device_id": id.device_id,
        "firmware_version": st.firmware_version,
        "status": st.health.as_str(),
        "timestamp": super::timefmt::now_rfc3339(),
        "uptime_s": st.uptime_s,
    })
    .to_string();
    line.push('\n');
    line
}

/// Connects to `server` from the board's own address (so on loopback, too,
/// its traffic carries 127.77.0.<i+2>), giving up after `timeout` or when
/// stopped.
fn connect_from(
    local: Ipv4Addr,
    server: SocketAddr,
    timeout: Duration,
    sd: &Shutdown,
) -> std::io::Result<TcpStream> {
    let SocketAddr::V4(v4) = server else {
        // IPv6 destinations: the board has no IPv6 address of its own.
        return TcpStream::connect_timeout(&server, timeout);
    };
    let last = std::io::Error::last_os_error;
    let sockaddr = |a: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket(2); the descriptor is owned by `OwnedFd` at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = sockaddr(SocketAddrV4::new(local, 0));
    // SAFETY: bind with a valid sockaddr_in of the given length.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            len,
        )
    } != 0
    {
        return Err(last());
    }
    let remote = sockaddr(v4);
    // SAFETY: connect with a valid sockaddr_in of the given length.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&remote as *const libc::sockaddr_in).cast(),
            len,
        )
    };
    if rc != 0 {
        let e = last();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let end = Instant::now() + timeout;
        loop {
            if sd.is_stopped() {
                return Err(std::io::Error::other("stopped"));
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection timed out",
                ));
            }
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = left.as_millis().min(200) as libc::c_int;
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            if n > 0 {
                break;
            }
        }
        let mut err: libc::c_int = 0;
        let mut elen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt(SO_ERROR) into a c_int of the given length.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut elen,
            )
        };
        if rc != 0 {
            return Err(last());
        }
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(err));
        }
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The rustls error inside an I/O error, if any.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A TLS session with `server`: connected from the board's address, the
/// handshake done as `tls` (and the flaws) allow. Shared by the device's
/// TLS clients (telemetry, and the `second-tls-client` shape's update
/// check). On failure, what the attempt came to.
#[allow(clippy::too_many_arguments)]
pub(super) fn handshake(
    cfg: &NetConfig,
    tls: &Arc<ClientConfig>,
    flaws: ClientFlaws,
    server: SocketAddr,
    name: &str,
    server_name: ServerName<'static>,
    sd: &Arc<Shutdown>,
) -> Result<(TlsStream, ConnGuard), Outcome> {
    let tcp = connect_from(cfg.board_addr(), server, CONNECT_TIMEOUT, sd).map_err(|e| {
        Outcome::Failed {
            reason: format!("connecting to {server}: {e}"),
        }
    })?;
    let guard = sd.register(&tcp);
    if tcp.set_read_timeout(Some(IO_TIMEOUT)).is_err()
        || tcp.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return Err(Outcome::Failed {
            reason: "socket setup failed".into(),
        });
    }
    let conn = rustls::ClientConnection::new(Arc::clone(tls), server_name).map_err(|e| {
        Outcome::Failed {
            reason: format!("TLS setup: {e}"),
        }
    })?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        if let Err(e) = s.conn.complete_io(&mut s.sock) {
            let mut reason = format!("{server} ({name}): {e}");
            return Err(match tls_error(&e) {
                Some(rustls::Error::InvalidCertificate(_)) => {
                    Outcome::CertificateRejected { server, reason }
                }
                Some(te) if flaws.version_fallback && version_failure(te) => {
                    // The flaw: like the browsers of old, try again at once
                    // with what the server seems to speak.
                    let _ = s.sock.shutdown(std::net::Shutdown::Both);
                    drop(s);
                    let answer = legacy_fallback(cfg, server, name, sd);
                    reason.push_str(&format!("; retried with TLS 1.0: {answer}"));
                    Outcome::HandshakeFailed { server, reason }
                }
                _ => Outcome::HandshakeFailed { server, reason },
            });
        }
    }
    Ok((s, guard))
}

/// One telemetry attempt (from whatever namespace the thread is in).
pub fn attempt(
    api: &dyn DeviceApi,
    cfg: &NetConfig,
    tls: &Arc<ClientConfig>,
    flaws: ClientFlaws,
    fixed: Option<FixedServer>,
    sd: &Arc<Shutdown>,
) -> Outcome {
    let default = SocketAddr::V4(SocketAddrV4::new(cfg.host_addr(), DEFAULT_PORT));
    let configured = match fixed {
        Some(f) => Ok(Some(f.server)),
        None => configured_destination(api, config_key::TELEMETRY_SERVER, Some(default), cfg.mode),
    };
    let server = match configured {
        Ok(Some(a)) => a,
        Ok(None) => return Outcome::Disabled,
        Err(reason) => return Outcome::Failed { reason },
    };
    let name = api
        .config_get(config_key::TELEMETRY_SERVER_NAME)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_TELEMETRY_SERVER_NAME.to_string());
    let Ok(server_name) = ServerName::try_from(name.clone()) else {
        return Outcome::Failed {
            reason: format!("telemetry_server_name {name:?} is not a valid name"),
        };
    };
    let (mut s, _guard) = match handshake(cfg, tls, flaws, server, &name, server_name, sd) {
        Ok(session) => session,
        Err(outcome) => return outcome,
    };
    let id = api.identity().device_id;
    let mqtt = |s: &mut TlsStream| -> std::io::Result<()> {
        s.write_all(&mqtt_connect(&id))?;
        s.flush()?;
        let mut ack = [0u8; 4];
        s.read_exact(&mut ack)?;
        if ack[0] != 0x20 || ack[1] != 0x02 {
            return Err(std::io::Error::other("not an MQTT CONNACK"));
        }
        if ack[3] != 0 {
            return Err(std::io::Error::other(format!(
                "CONNACK refused, return code {}",
                ack[3]
            )));
        }
        let topic = format!("hilt/{id}/telemetry");
        s.write_all(&mqtt_publish(&topic, report(api).as_bytes()))?;
        s.flush()?;
        // QoS 0: delivered once written. Closing is best effort (a
        // server may hang up first).
        let _ = s.write_all(&MQTT_DISCONNECT);
        s.conn.send_close_notify();
        let _ = s.flush();
        Ok(())
    };
    match mqtt(&mut s) {
        Ok(()) => Outcome::Sent { server },
        Err(e) => Outcome::Failed {
            reason: format!("MQTT with {server}: {e}"),
        },
    }
}

/// Records `outcome` in the event log, following the module's policy.
fn record(api: &dyn DeviceApi, outcome: &Outcome, previous: Option<&Outcome>) {
    let same_kind = |a: &Outcome, b: Option<&Outcome>| match (a, b) {
        (Outcome::Sent { server: x }, Some(Outcome::Sent { server: y })) => x == y,
        (Outcome::Failed { reason: x }, Some(Outcome::Failed { reason: y })) => x == y,
        _ => false,
    };
    match outcome {
        Outcome::Disabled => {}
        Outcome::CertificateRejected { reason, .. } => api.record_event(
            4,
            event_kind::TLS_VERIFICATION_FAILED,
            "telemetry",
            &format!("telemetry server certificate rejected: {reason}"),
        ),
        Outcome::HandshakeFailed { reason, .. } => api.record_event(
            4,
            event_kind::TLS_HANDSHAKE_FAILED,
            "telemetry",
            &format!("telemetry TLS handshake failed: {reason}"),
        ),
        Outcome::Sent { server } if !same_kind(outcome, previous) => api.record_event(
            6,
            event_kind::TELEMETRY_SENT,
            "telemetry",
            &format!("telemetry delivered to {server}"),
        ),
        Outcome::Failed { reason } if !same_kind(outcome, previous) => api.record_event(
            6,
            event_kind::TELEMETRY_FAILED,
            "telemetry",
            &format!("telemetry not delivered: {reason}"),
        ),
        _ => {}
    }
}

/// How often the client looks at its settings between attempts.
const SETTINGS_POLL: Duration = Duration::from_millis(100);

/// The settings whose change starts the next attempt at once.
fn watched_settings(api: &dyn DeviceApi) -> [Option<String>; 3] {
    [
        config_key::TELEMETRY_SERVER,
        config_key::TELEMETRY_SERVER_NAME,
        config_key::TELEMETRY_INTERVAL_S,
    ]
    .map(|k| api.config_get(k))
}

/// Waits until the next attempt is due: `interval` after the last one, or
/// as soon as a watched setting differs from `seen` (the values the last
/// attempt started with), as a device applies a new server at once.
/// Returns true when stopped.
fn wait_for_next(
    api: &dyn DeviceApi,
    sd: &Shutdown,
    seen: &[Option<String>; 3],
    interval: Duration,
) -> bool {
    let due = Instant::now() + interval;
    loop {
        if watched_settings(api) != *seen {
            return sd.is_stopped();
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return sd.is_stopped();
        }
        if sd.sleep(left.min(SETTINGS_POLL)) {
            return true;
        }
    }
}

/// Seconds until the next report.
fn interval(api: &dyn DeviceApi) -> Duration {
    let s = api
        .config_get(config_key::TELEMETRY_INTERVAL_S)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_INTERVAL_S)
        .clamp(1, 3600);
    Duration::from_secs(s)
}

/// Starts the client on its own thread, which joins the board's namespace
/// first so its connections come from the board's address.
pub(crate) fn spawn(
    api: Arc<dyn DeviceApi>,
    cfg: NetConfig,
    ns: Option<PathBuf>,
    pki: Arc<Pki>,
    flaws: ClientFlaws,
    fixed: Option<FixedServer>,
    sd: Arc<Shutdown>,
) -> std::io::Result<JoinHandle<()>> {
    let tls = client_config(pki.telemetry_roots(), flaws)
        .map_err(|e| std::io::Error::other(format!("telemetry TLS configuration: {e}")))?;
    std::thread::Builder::new()
        .name("net-telemetry".into())
        .spawn(move || {
            if let Some(p) = ns {
                if netns::enter(&p).is_err() {
                    return;
                }
            }
            let mut previous: Option<Outcome> = None;
            // First report shortly after boot.
            if sd.sleep(Duration::from_millis(500)) {
                return;
            }
            while !sd.is_stopped() {
                let seen = watched_settings(api.as_ref());
                let outcome = attempt(api.as_ref(), &cfg, &tls, flaws, fixed, &sd);
                if sd.is_stopped() {
                    return;
                }
                record(api.as_ref(), &outcome, previous.as_ref());
                previous = Some(outcome);
                let every = fixed.map_or_else(|| interval(api.as_ref()), |f| f.interval);
                if wait_for_next(api.as_ref(), &sd, &seen, every) {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_packets() {
        assert_eq!(
            mqtt_connect("ab"),
            vec![0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 2, b'a', b'b']
        );
        let p = mqtt_publish("t", &[b'x'; 200]);
        // 2 + 1 + 200 = 203 = 0xcb -> 0xcb 0x01
        assert_eq!(&p[..3], &[0x30, 0xcb, 0x01]);
        assert_eq!(p.len(), 3 + 203);
    }
}
