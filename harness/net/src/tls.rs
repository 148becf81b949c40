//! TLS client (rustls, ring provider) that records what was negotiated and
//! what the peer presented, plus probes for which protocol versions and
//! cipher suites a server accepts.
//!
//! Trust is explicit: [`Trust::Anchors`] verifies the chain against a PEM
//! file of trust anchors and the server name; [`Trust::InspectOnly`]
//! records the chain and trusts nothing about it (handshake signatures are
//! still checked). Either way the presented chain is recorded, also when
//! verification fails.
//!
//! Limit: rustls implements only TLS 1.2 and 1.3 with AEAD suites, so it
//! cannot offer SSL 3.0, TLS 1.0/1.1 or weak suites. [`probe_hello`] fills
//! that gap: it sends a hand-built ClientHello (built by
//! [`clienthello::build_client_hello`]) and reads the ServerHello version
//! and suite or the alert (bounded parsing, no handshake).
//!
//! Every connection here is closed, and its close seen through (bounded,
//! [`close_through`]), before the function returns, so that a server that
//! serves one connection at a time (`openssl s_server`, many
//! microcontroller stacks) is free for the next probe.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;

use crate::certinfo::CertInfo;
use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;
use crate::{clienthello, suites};

/// How long one socket read waits before re-checking the stop signal.
pub(crate) const POLL: Duration = Duration::from_millis(25);
/// How long a closed connection's peer is given to close its side.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Largest certificate chain recorded (certificates).
const MAX_CHAIN: usize = 16;

/// A TLS alert: its code and RFC 8446 name.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Alert {
    pub code: u8,
    pub name: &'static str,
}

impl Alert {
    pub fn new(code: u8) -> Self {
        Self {
            code,
            name: alert_name(code),
        }
    }
}

/// RFC 5246 / RFC 8446 alert names.
pub fn alert_name(code: u8) -> &'static str {
    match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown_alert",
    }
}

/// Which certificates the client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// PEM file with one or more trust anchors (CA certificates).
    Anchors(PathBuf),
    /// Trust anchors given as PEM text.
    AnchorsPem(String),
    /// Trust nothing, accept everything, record the chain: for inspecting
    /// a server, never for deciding that a connection is secure.
    InspectOnly,
}

/// Protocol versions offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Versions {
    Tls12And13,
    Tls12Only,
    Tls13Only,
}

#[derive(Debug, Clone)]
pub struct TlsClientConfig {
    /// Name sent in SNI and checked against the certificate (a DNS name or an IP address).
    pub server_name: String,
    pub trust: Trust,
    /// ALPN protocols offered, e.g. `["h2", "http/1.1"]`.
    pub alpn: Vec<String>,
    pub versions: Versions,
    /// Offer only these suites (rustls names such as
    /// "TLS13_AES_128_GCM_SHA256"); empty offers all the provider has.
    pub cipher_suites: Vec<String>,
    /// Bound on TCP connect plus handshake (also bounded by the Stop).
    pub timeout: Duration,
}

impl TlsClientConfig {
    pub fn new(server_name: impl Into<String>, trust: Trust) -> Self {
        Self {
            server_name: server_name.into(),
            trust,
            alpn: Vec::new(),
            versions: Versions::Tls12And13,
            cipher_suites: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How the handshake ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HandshakeOutcome {
    Completed,
    Failed {
        error: String,
        /// The alert this client sent (e.g. unknown_ca after a failed verification).
        alert_sent: Option<Alert>,
        /// The alert the server sent.
        alert_received: Option<Alert>,
    },
}

/// What one handshake showed.
#[derive(Debug, Clone, Serialize)]
pub struct TlsRecord {
    pub peer: SocketAddr,
    pub server_name: String,
    pub trust: String,
    pub offered_versions: Versions,
    pub outcome: HandshakeOutcome,
    /// "TLSv1_3", "TLSv1_2".
    pub protocol_version: Option<String>,
    /// IANA-style rustls name, e.g. "TLS13_AES_256_GCM_SHA384".
    pub cipher_suite: Option<String>,
    pub alpn: Option<String>,
    /// Chain as presented, leaf first (recorded even when verification failed).
    pub chain: Vec<CertInfo>,
    /// True only when the chain was verified against trust anchors.
    pub verified: bool,
    pub elapsed_ms: u128,
}

impl TlsRecord {
    pub fn completed(&self) -> bool {
        self.outcome == HandshakeOutcome::Completed
    }
}

/// Records the presented chain, then verifies it (or, inspect-only, not).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.clear();
            seen.push(end_entity.clone().into_owned());
            for c in intermediates.iter().take(MAX_CHAIN - 1) {
                seen.push(c.clone().into_owned());
            }
        }
        match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Loads every certificate of a PEM text (bounded count).
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem).take(64) {
        out.push(c.map_err(|e| NetError::Setup(format!("bad certificate PEM: {e}")))?);
    }
    if out.is_empty() {
        return Err(NetError::Setup("no certificate in PEM".into()));
    }
    Ok(out)
}

/// Names of the cipher suites the ring provider offers.
pub fn supported_cipher_suites() -> Vec<String> {
    provider::ALL_CIPHER_SUITES
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

fn build_config(
    cfg: &TlsClientConfig,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
) -> Result<ClientConfig, NetError> {
    let mut prov = provider::default_provider();
    if !cfg.cipher_suites.is_empty() {
        prov.cipher_suites = provider::ALL_CIPHER_SUITES
            .iter()
            .filter(|s| {
                cfg.cipher_suites
                    .iter()
                    .any(|n| *n == format!("{:?}", s.suite()))
            })
            .copied()
            .collect();
        if prov.cipher_suites.is_empty() {
            return Err(NetError::Setup(format!(
                "none of {:?} is a suite rustls offers ({:?})",
                cfg.cipher_suites,
                supported_cipher_suites()
            )));
        }
    }
    let prov = Arc::new(prov);
    let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.versions {
        Versions::Tls12And13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Versions::Tls12Only => &[&rustls::version::TLS12],
        Versions::Tls13Only => &[&rustls::version::TLS13],
    };
    let inner = match &cfg.trust {
        Trust::InspectOnly => None,
        Trust::Anchors(_) | Trust::AnchorsPem(_) => {
            let pem = match &cfg.trust {
                Trust::Anchors(path) => std::fs::read(path).map_err(|e| {
                    NetError::Setup(format!("cannot read trust anchors {}: {e}", path.display()))
                })?,
                Trust::AnchorsPem(text) => text.as_bytes().to_vec(),
                Trust::InspectOnly => Vec::new(),
            };
            let mut roots = RootCertStore::empty();
            for c in certs_from_pem(&pem)? {
                roots
                    .add(c)
                    .map_err(|e| NetError::Setup(format!("bad trust anchor: {e}")))?;
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), prov.clone())
                    .build()
                    .map_err(|e| NetError::Setup(format!("verifier: {e}")))?,
            )
        }
    };
    let verifier = Arc::new(RecordingVerifier {
        inner,
        seen,
        provider: prov.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(prov)
        .with_protocol_versions(versions)
        .map_err(|e| NetError::Setup(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = cfg.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(config)
}

/// An established TLS session over TCP. Reads and writes are bounded by
/// the Stop given to [`connect`].
pub struct TlsStream {
    conn: ClientConnection,
    sock: TcpStream,
    stop: Stop,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.sock.peer_addr().ok())
            .finish()
    }
}

fn stopped(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("stopped: {why}"))
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl TlsStream {
    /// Sends close_notify (best effort).
    pub fn close(mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
    }

    /// Sends close_notify, half-closes and waits (at most `timeout`) for
    /// the server to close its side: true when that was seen. A server
    /// that serves one connection at a time is then free for the next.
    pub fn close_through(mut self, timeout: Duration) -> Result<bool, NetError> {
        self.conn.send_close_notify();
        let _ = self.conn.write_tls(&mut self.sock);
        close_through(&mut self.sock, &self.stop.within(timeout))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if let Some(why) = self.stop.reason() {
                return Err(stopped(why));
            }
            // On EOF the reader reports it next time round (Ok(0) after
            // close_notify, UnexpectedEof without).
            match self.conn.complete_io(&mut self.sock) {
                Ok(_) => {}
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if let Some(why) = self.stop.reason() {
                return Err(stopped(why));
            }
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A handshake's record and, when it completed, the open session.
#[derive(Debug)]
pub struct TlsConnection {
    pub record: TlsRecord,
    pub stream: Option<TlsStream>,
}

impl TlsConnection {
    /// The record, after closing the session (if one was opened) and
    /// seeing its close through ([`TlsStream::close_through`]).
    pub fn closed_record(self) -> Result<TlsRecord, NetError> {
        if let Some(stream) = self.stream {
            stream.close_through(CLOSE_WAIT)?;
        }
        Ok(self.record)
    }
}

fn describe(cfg: &TlsClientConfig) -> String {
    match &cfg.trust {
        Trust::Anchors(p) => format!("anchors:{}", p.display()),
        Trust::AnchorsPem(_) => "anchors:pem".into(),
        Trust::InspectOnly => "inspect-only".into(),
    }
}

/// Connects to the board's `port` through its link, runs the handshake
/// and records it. A failed handshake is an `Ok` with `outcome: Failed`;
/// `Err` means no TLS exchange happened (TCP connect failed, the link is
/// down, bad local configuration, stop).
pub fn connect(
    link: &Link,
    port: u16,
    cfg: &TlsClientConfig,
    stop: &Stop,
) -> Result<TlsConnection, NetError> {
    let started = Instant::now();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = build_config(cfg, seen.clone())?;
    let name = ServerName::try_from(cfg.server_name.clone())
        .map_err(|e| NetError::Setup(format!("bad server name {:?}: {e}", cfg.server_name)))?;
    let mut conn = ClientConnection::new(Arc::new(config), name)
        .map_err(|e| NetError::Setup(format!("TLS client: {e}")))?;
    let stop = stop.within(cfg.timeout);
    let addr = link.to(port);
    let mut sock = tcp_connect(link, port, &stop)?;
    let mut outcome = HandshakeOutcome::Completed;
    while conn.is_handshaking() {
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() && conn.wants_read() => {
                outcome = HandshakeOutcome::Failed {
                    error: "peer closed the connection during the handshake".into(),
                    alert_sent: None,
                    alert_received: None,
                };
                break;
            }
            Ok(_) => {}
            Err(e) if is_wait(&e) => {}
            Err(e) => {
                outcome = failed_outcome(&e);
                break;
            }
        }
    }
    let chain = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|c| CertInfo::from_der(c))
        .collect();
    let completed = outcome == HandshakeOutcome::Completed;
    let record = TlsRecord {
        peer: addr,
        server_name: cfg.server_name.clone(),
        trust: describe(cfg),
        offered_versions: cfg.versions,
        outcome,
        protocol_version: conn.protocol_version().map(|v| format!("{v:?}")),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite())),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        chain,
        verified: completed && !matches!(cfg.trust, Trust::InspectOnly),
        elapsed_ms: started.elapsed().as_millis(),
    };
    let stream = if completed {
        Some(TlsStream { conn, sock, stop })
    } else {
        // A failed handshake's connection is closed here, and its close
        // seen through (bounded), before the caller's next connection.
        let _ = close_through(&mut sock, &stop.within(CLOSE_WAIT));
        None
    };
    Ok(TlsConnection { record, stream })
}

/// A TCP connection to the board's `port`, bound to its link.
pub(crate) fn tcp_connect(link: &Link, port: u16, stop: &Stop) -> Result<TcpStream, NetError> {
    if let Some(why) = stop.reason() {
        return Err(NetError::Stopped(why));
    }
    let sock = link.tcp_connect(port, stop.remaining())?;
    sock.set_read_timeout(Some(POLL))
        .and_then(|_| sock.set_write_timeout(Some(POLL)))
        .and_then(|_| sock.set_nodelay(true))
        .map_err(|e| NetError::io("socket options", e))?;
    Ok(sock)
}

fn failed_outcome(e: &io::Error) -> HandshakeOutcome {
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    let (alert_sent, alert_received) = match tls {
        Some(rustls::Error::AlertReceived(a)) => (None, Some(Alert::new(u8::from(*a)))),
        Some(rustls::Error::InvalidCertificate(c)) => (
            Some(Alert::new(u8::from(rustls::AlertDescription::from(
                c.clone(),
            )))),
            None,
        ),
        Some(rustls::Error::PeerIncompatible(_)) => (Some(Alert::new(40)), None),
        Some(rustls::Error::NoApplicationProtocol) => (Some(Alert::new(120)), None),
        Some(rustls::Error::InvalidMessage(_)) => (Some(Alert::new(50)), None),
        _ => (None, None),
    };
    HandshakeOutcome::Failed {
        error: match tls {
            Some(t) => t.to_string(),
            None => e.to_string(),
        },
        alert_sent,
        alert_received,
    }
}

/// Which protocol versions a server completes a handshake with.
#[derive(Debug, Clone, Serialize)]
pub struct VersionProbe {
    pub tls13: TlsRecord,
    pub tls12: TlsRecord,
}

/// Offers TLS 1.3 only, then TLS 1.2 only (inspect-only trust: the point
/// is what the server accepts, not whom it is).
pub fn probe_versions(
    link: &Link,
    port: u16,
    server_name: &str,
    stop: &Stop,
) -> Result<VersionProbe, NetError> {
    let mut cfg = TlsClientConfig::new(server_name, Trust::InspectOnly);
    cfg.versions = Versions::Tls13Only;
    let tls13 = connect(link, port, &cfg, stop)?.closed_record()?;
    cfg.versions = Versions::Tls12Only;
    let tls12 = connect(link, port, &cfg, stop)?.closed_record()?;
    Ok(VersionProbe { tls13, tls12 })
}

/// Offers each rustls suite alone; returns (suite, accepted) pairs.
pub fn probe_cipher_suites(
    link: &Link,
    port: u16,
    server_name: &str,
    stop: &Stop,
) -> Result<Vec<(String, bool)>, NetError> {
    let mut out = Vec::new();
    for suite in provider::ALL_CIPHER_SUITES {
        let name = format!("{:?}", suite.suite());
        let mut cfg = TlsClientConfig::new(server_name, Trust::InspectOnly);
        cfg.cipher_suites = vec![name.clone()];
        cfg.versions = match suite {
            rustls::SupportedCipherSuite::Tls13(_) => Versions::Tls13Only,
            rustls::SupportedCipherSuite::Tls12(_) => Versions::Tls12Only,
        };
        let rec = connect(link, port, &cfg, stop)?.closed_record()?;
        out.push((name, rec.completed()));
    }
    Ok(out)
}

/// A legacy protocol version for [`probe_legacy_hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LegacyVersion {
    Ssl30,
    Tls10,
    Tls11,
}

impl LegacyVersion {
    /// Every legacy version, oldest first.
    pub const ALL: [LegacyVersion; 3] = [
        LegacyVersion::Ssl30,
        LegacyVersion::Tls10,
        LegacyVersion::Tls11,
    ];

    /// The version code on the wire (0x0300 = SSL 3.0).
    pub fn wire(self) -> u16 {
        match self {
            LegacyVersion::Ssl30 => suites::SSL_3_0,
            LegacyVersion::Tls10 => suites::TLS_1_0,
            LegacyVersion::Tls11 => suites::TLS_1_1,
        }
    }

    /// "SSL 3.0", "TLS 1.0", "TLS 1.1".
    pub fn name(self) -> String {
        suites::version_name(self.wire())
    }
}

/// How a server answered a hand-built ClientHello.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HelloAnswer {
    /// A ServerHello came (see `server_version`, `cipher_suite`).
    ServerHello,
    /// An alert came (see `alert`).
    Alert,
    /// The server closed or reset the connection without a TLS record.
    Closed,
    /// Nothing came within the probe's timeout.
    Silent,
    /// Bytes came that are not a ServerHello or an alert (not TLS, a
    /// record cut short, another handshake message).
    Garbled,
}

/// What a server answered to a hand-built ClientHello.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HelloProbe {
    /// The highest version offered (`client_version`).
    #[serde(serialize_with = "suites::ser_version")]
    pub offered: u16,
    pub answer: HelloAnswer,
    /// Version in the ServerHello, when one came (0x0301 = TLS 1.0).
    pub server_version: Option<u16>,
    pub cipher_suite: Option<u16>,
    pub alert: Option<Alert>,
    /// True when the server chose the offered version or an older one.
    pub accepted: bool,
    /// True when the server's side of the connection was seen closed
    /// (EOF or reset) after the answer, before the probe returned.
    pub closed_seen: bool,
    pub note: String,
}

impl HelloProbe {
    /// The server answered with TLS (a ServerHello or an alert): it was
    /// alive and heard the hello.
    pub fn answered(&self) -> bool {
        matches!(self.answer, HelloAnswer::ServerHello | HelloAnswer::Alert)
    }
}

/// What [`probe_legacy_hello`] returns.
pub type LegacyProbe = HelloProbe;

/// Cipher suites offered in the legacy hello (RFC 2246/4346/4492 suites
/// a TLS 1.0/1.1 server commonly has).
const LEGACY_SUITES: [u16; 10] = [
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a, 0x0005,
];

/// The name to send in SNI: DNS names only (RFC 6066 section 3).
fn sni_of(server_name: &str) -> Option<&str> {
    let is_ip = server_name.parse::<std::net::IpAddr>().is_ok();
    (!is_ip && !server_name.is_empty() && server_name.len() < 256).then_some(server_name)
}

/// The record version of a first flight offering `client_version`: SSL
/// 3.0 for an SSL 3.0 hello, else TLS 1.0 (what TLS clients send, and what
/// old servers still read).
fn record_version(client_version: u16) -> u16 {
    client_version.min(suites::TLS_1_0)
}

/// Builds a ClientHello record offering `client_version` (no
/// supported_versions extension) and `cipher_suites`, with
/// [`clienthello::build_client_hello`].
pub fn probe_client_hello(
    client_version: u16,
    cipher_suites: &[u16],
    server_name: &str,
) -> Vec<u8> {
    let mut suites_offered = cipher_suites.to_vec();
    suites_offered.push(suites::TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    let hs =
        clienthello::build_client_hello(client_version, &suites_offered, sni_of(server_name), None);
    clienthello::to_records(
        record_version(client_version),
        &hs,
        clienthello::MAX_FRAGMENT,
    )
}

/// Builds an SSL 3.0/TLS 1.0/TLS 1.1 ClientHello record offering the CBC,
/// 3DES and RC4 suites servers of that era have.
pub fn legacy_client_hello(version: LegacyVersion, server_name: &str) -> Vec<u8> {
    probe_client_hello(version.wire(), &LEGACY_SUITES, server_name)
}

/// Suites of the classes a TLS server must not choose (NULL, EXPORT, RC4,
/// DES, 3DES, anon: [`suites::Weakness::is_weak`]), every one this crate
/// knows except TLS_NULL_WITH_NULL_NULL (never negotiable).
pub fn weak_suites() -> Vec<u16> {
    suites::known_suites()
        .filter(|c| *c != 0x0000)
        .filter(|c| suites::weakness(*c).is_some_and(|w| w.is_weak()))
        .collect()
}

/// Suites whose only weakness is CBC with HMAC-SHA1.
pub fn cbc_sha1_suites() -> Vec<u16> {
    suites::known_suites()
        .filter(|c| suites::weakness(*c) == Some(suites::Weakness::CbcSha1))
        .collect()
}

/// Sends a legacy ClientHello (see [`probe_hello`]).
pub fn probe_legacy_hello(
    link: &Link,
    port: u16,
    server_name: &str,
    version: LegacyVersion,
    timeout: Duration,
    stop: &Stop,
) -> Result<LegacyProbe, NetError> {
    let hello = legacy_client_hello(version, server_name);
    probe_hello(link, port, &hello, version.wire(), timeout, stop)
}

/// Sends `hello` (a first flight offering `offered`) on a connection of
/// its own, reads the first record of the answer (bounded parsing, no
/// handshake), then closes the connection and waits (within `timeout`)
/// for the server to close its side, so that a server that serves one
/// connection at a time is free for the next probe.
///
/// Silence within `timeout`, a close without a record or bytes that are
/// no answer come back as `Ok` with that [`HelloAnswer`]; `Err` means the
/// TCP connection could not be made, or the caller's stop ended it.
pub fn probe_hello(
    link: &Link,
    port: u16,
    hello: &[u8],
    offered: u16,
    timeout: Duration,
    stop: &Stop,
) -> Result<HelloProbe, NetError> {
    let probe_stop = stop.within(timeout);
    let mut sock = tcp_connect(link, port, &probe_stop)?;
    let mut result = HelloProbe {
        offered,
        answer: HelloAnswer::Silent,
        server_version: None,
        cipher_suite: None,
        alert: None,
        accepted: false,
        closed_seen: false,
        note: String::new(),
    };
    if let Err(e) = sock.write_all(hello) {
        result.answer = HelloAnswer::Closed;
        result.note = format!("the connection failed while sending the ClientHello: {e}");
        result.closed_seen = true;
        return Ok(result);
    }
    read_answer(&mut sock, offered, &probe_stop, &mut result)?;
    // Closed before the next probe, and the close seen through: a half
    // close, then whatever is left until the server's EOF (bounded).
    if !result.closed_seen {
        result.closed_seen = close_through(&mut sock, &stop.within(CLOSE_WAIT.min(timeout)))?;
    }
    Ok(result)
}

fn read_answer(
    sock: &mut TcpStream,
    offered: u16,
    stop: &Stop,
    result: &mut HelloProbe,
) -> Result<(), NetError> {
    let header = match read_exact_bounded(sock, 5, stop)? {
        Read_::Bytes(h) => h,
        Read_::Eof => {
            result.answer = HelloAnswer::Closed;
            result.closed_seen = true;
            result.note = "connection closed without an answer".into();
            return Ok(());
        }
        Read_::TimedOut => {
            result.note = "no answer within the probe's timeout".into();
            return Ok(());
        }
    };
    let ctype = header[0];
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if !(20..=24).contains(&ctype) || header[1] != 3 || len > 16384 + 2048 {
        result.answer = HelloAnswer::Garbled;
        result.note = format!(
            "not a TLS record (first bytes {})",
            crate::certinfo::to_hex(&header)
        );
        return Ok(());
    }
    let body = match read_exact_bounded(sock, len.min(4096), stop)? {
        Read_::Bytes(b) => b,
        Read_::Eof => {
            result.answer = HelloAnswer::Garbled;
            result.closed_seen = true;
            result.note = "record cut short".into();
            return Ok(());
        }
        Read_::TimedOut => {
            result.answer = HelloAnswer::Garbled;
            result.note = "record cut short (no more within the probe's timeout)".into();
            return Ok(());
        }
    };
    match ctype {
        21 if body.len() >= 2 => {
            result.answer = HelloAnswer::Alert;
            result.alert = Some(Alert::new(body[1]));
            result.note = format!("refused with alert {}", alert_name(body[1]));
        }
        22 if body.len() >= 4 + 2 && body[0] == 2 => {
            // ServerHello: version(2) random(32) sid_len(1) sid cipher(2)
            let hs = &body[4..];
            let sv = u16::from_be_bytes([hs[0], hs[1]]);
            result.answer = HelloAnswer::ServerHello;
            result.server_version = Some(sv);
            result.accepted = suites::version_rank(sv)
                .zip(suites::version_rank(offered))
                .is_some_and(|(s, o)| s <= o);
            if let Some(&sid_len) = hs.get(34) {
                let at = 35 + usize::from(sid_len);
                if let (Some(a), Some(b)) = (hs.get(at), hs.get(at + 1)) {
                    result.cipher_suite = Some(u16::from_be_bytes([*a, *b]));
                }
            }
            result.note = match (result.accepted, result.cipher_suite) {
                (true, Some(c)) => format!(
                    "accepted: ServerHello {} {}",
                    suites::version_name(sv),
                    suites::suite_name(c)
                ),
                (true, None) => format!("accepted: ServerHello {}", suites::version_name(sv)),
                (false, _) => format!(
                    "not accepted: ServerHello with {}, newer than the {} offered (a client must abort)",
                    suites::version_name(sv),
                    suites::version_name(offered)
                ),
            };
        }
        _ => {
            result.answer = HelloAnswer::Garbled;
            result.note = format!(
                "unexpected first record ({} {})",
                clienthello::content_type_name(ctype),
                body.first()
                    .map(|t| clienthello::handshake_name(*t))
                    .unwrap_or("empty")
            );
        }
    }
    Ok(())
}

/// Most bytes read (and dropped) while waiting for the server's close.
const DRAIN_LIMIT: usize = 1 << 20;

/// Half-closes `sock` and reads (dropping what comes, at most 1 MiB) until
/// the server closes or resets its side: true when that was seen, false
/// when `stop`'s bound (or the byte limit) came first. `Err` only when the
/// caller's own deadline or interruption ended the wait.
pub fn close_through(sock: &mut TcpStream, stop: &Stop) -> Result<bool, NetError> {
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    let mut dropped = 0usize;
    loop {
        match stop.reason() {
            Some(why) if why == crate::stop::TIMED_OUT => return Ok(false),
            Some(why) => return Err(NetError::Stopped(why)),
            None => {}
        }
        match sock.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                dropped += n;
                if dropped > DRAIN_LIMIT {
                    return Ok(false);
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(true),
        }
    }
}

/// What a bounded read got.
enum Read_ {
    Bytes(Vec<u8>),
    Eof,
    /// The probe's own bound passed (not the caller's).
    TimedOut,
}

/// Reads exactly `n` bytes; `Eof` on EOF or reset before that.
fn read_exact_bounded(sock: &mut TcpStream, n: usize, stop: &Stop) -> Result<Read_, NetError> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match stop.reason() {
            Some(why) if why == crate::stop::TIMED_OUT => return Ok(Read_::TimedOut),
            Some(why) => return Err(NetError::Stopped(why)),
            None => {}
        }
        match sock.read(&mut buf[got..]) {
            Ok(0) => return Ok(Read_::Eof),
            Ok(k) => got += k,
            Err(e) if is_wait(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(Read_::Eof),
            Err(e) => return Err(NetError::io("reading the answer", e)),
        }
    }
    Ok(Read_::Bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clienthello::{parse_client_hello, HelloParse};

    fn parsed(wire: &[u8]) -> crate::clienthello::ClientHelloInfo {
        match parse_client_hello(wire, 16384) {
            HelloParse::Complete { hello, trailing: 0 } => *hello,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn probe_hellos_offer_what_they_say() {
        for v in LegacyVersion::ALL {
            let h = parsed(&legacy_client_hello(v, "dev.test"));
            assert_eq!(h.client_version, v.wire());
            assert_eq!(h.max_version(), Some(v.wire()));
            // SSL 3.0 in an SSL 3.0 record, else a TLS 1.0 record.
            assert_eq!(h.record_version, v.wire().min(suites::TLS_1_0));
            assert_eq!(h.supported_versions, None);
            assert_eq!(h.sni.as_deref(), Some("dev.test"));
        }
        // No SNI for an address.
        assert_eq!(
            parsed(&legacy_client_hello(LegacyVersion::Tls10, "198.19.30.2")).sni,
            None
        );
        let weak = parsed(&probe_client_hello(
            suites::TLS_1_2,
            &weak_suites(),
            "dev.test",
        ));
        assert_eq!(weak.max_version(), Some(suites::TLS_1_2));
        let offered: Vec<u16> = weak.real_suites().collect();
        assert!(offered.len() > 40, "{offered:?}");
        assert!(offered
            .iter()
            .all(|c| suites::weakness(*c).is_some_and(|w| w.is_weak())));
        assert!(
            offered.contains(&0x003b) && offered.contains(&0x000a) && offered.contains(&0x0005)
        );
        assert!(!offered.contains(&0x0000));
        let cbc = parsed(&probe_client_hello(
            suites::TLS_1_2,
            &cbc_sha1_suites(),
            "dev.test",
        ));
        assert!(cbc
            .real_suites()
            .all(|c| suites::suite_name(c).ends_with("_CBC_SHA")));
        assert!(cbc.offers(suites::TLS_RSA_WITH_AES_128_CBC_SHA));
    }
}
