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
//! cannot offer TLS 1.0/1.1 or weak suites. [`probe_legacy_hello`] fills
//! that gap: it sends a hand-built TLS 1.0/1.1 ClientHello and reads the
//! ServerHello version or the alert (bounded parsing, no handshake).

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

/// How long one socket read waits before re-checking the stop signal.
pub(crate) const POLL: Duration = Duration::from_millis(25);
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
    let stream = completed.then_some(TlsStream { conn, sock, stop });
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
    let tls13 = connect(link, port, &cfg, stop)?.record;
    cfg.versions = Versions::Tls12Only;
    let tls12 = connect(link, port, &cfg, stop)?.record;
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
        let rec = connect(link, port, &cfg, stop)?.record;
        out.push((name, rec.completed()));
    }
    Ok(out)
}

/// A legacy protocol version for [`probe_legacy_hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LegacyVersion {
    Tls10,
    Tls11,
}

impl LegacyVersion {
    fn wire(self) -> u16 {
        match self {
            LegacyVersion::Tls10 => 0x0301,
            LegacyVersion::Tls11 => 0x0302,
        }
    }
}

/// What a server answered to a legacy ClientHello.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LegacyProbe {
    pub offered: LegacyVersion,
    /// Version in the ServerHello, when one came (0x0301 = TLS 1.0).
    pub server_version: Option<u16>,
    pub cipher_suite: Option<u16>,
    pub alert: Option<Alert>,
    /// True when the server chose the offered legacy version (or older).
    pub accepted: bool,
    pub note: String,
}

/// Cipher suites offered in the legacy hello (RFC 2246/4346/4492 suites
/// a TLS 1.0/1.1 server commonly has).
const LEGACY_SUITES: [u16; 10] = [
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a, 0x0005,
];

/// Builds a TLS 1.0/1.1 ClientHello record (RFC 2246 section 7.4.1.2, with
/// SNI, supported groups, point formats and renegotiation_info extensions).
pub fn legacy_client_hello(version: LegacyVersion, server_name: &str) -> Vec<u8> {
    let v = version.wire();
    let mut body = Vec::new();
    body.extend_from_slice(&v.to_be_bytes());
    body.extend_from_slice(&pseudo_random_32());
    body.push(0); // session id
    body.extend_from_slice(&((LEGACY_SUITES.len() * 2) as u16).to_be_bytes());
    for s in LEGACY_SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    let name = server_name.as_bytes();
    let is_ip = server_name.parse::<std::net::IpAddr>().is_ok();
    if !is_ip && !name.is_empty() && name.len() < 256 {
        let n = name.len() as u16;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(n + 5).to_be_bytes());
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.push(0); // host_name
        ext.extend_from_slice(&n.to_be_bytes());
        ext.extend_from_slice(name);
    }
    // supported_groups: x25519, secp256r1, secp384r1
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
    ]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // renegotiation_info: empty
    ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8]; // client_hello
    let len = body.len() as u32;
    hs.extend_from_slice(&len.to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22u8];
    rec.extend_from_slice(&v.to_be_bytes());
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn pseudo_random_32() -> [u8; 32] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_be_bytes());
    }
    out
}

/// Sends a legacy ClientHello and reads the first record of the answer.
pub fn probe_legacy_hello(
    link: &Link,
    port: u16,
    server_name: &str,
    version: LegacyVersion,
    timeout: Duration,
    stop: &Stop,
) -> Result<LegacyProbe, NetError> {
    let stop = stop.within(timeout);
    let mut sock = tcp_connect(link, port, &stop)?;
    let hello = legacy_client_hello(version, server_name);
    sock.write_all(&hello)
        .map_err(|e| NetError::io("sending ClientHello", e))?;
    let mut result = LegacyProbe {
        offered: version,
        server_version: None,
        cipher_suite: None,
        alert: None,
        accepted: false,
        note: String::new(),
    };
    let header = match read_exact_bounded(&mut sock, 5, &stop)? {
        Some(h) => h,
        None => {
            result.note = "connection closed without an answer".into();
            return Ok(result);
        }
    };
    let ctype = header[0];
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if !(20..=24).contains(&ctype) || header[1] != 3 || len > 16384 + 2048 {
        result.note = format!(
            "not a TLS record (first bytes {})",
            crate::certinfo::to_hex(&header)
        );
        return Ok(result);
    }
    let body = match read_exact_bounded(&mut sock, len.min(4096), &stop)? {
        Some(b) => b,
        None => {
            result.note = "record cut short".into();
            return Ok(result);
        }
    };
    match ctype {
        21 if body.len() >= 2 => {
            result.alert = Some(Alert::new(body[1]));
            result.note = format!("server refused with alert {}", alert_name(body[1]));
        }
        22 if body.len() >= 4 && body[0] == 2 => {
            // ServerHello: version(2) random(32) sid_len(1) sid cipher(2)
            let hs = &body[4..];
            if hs.len() >= 2 {
                let sv = u16::from_be_bytes([hs[0], hs[1]]);
                result.server_version = Some(sv);
                result.accepted = sv <= version.wire();
                if let Some(&sid_len) = hs.get(34) {
                    let at = 35 + usize::from(sid_len);
                    if let (Some(a), Some(b)) = (hs.get(at), hs.get(at + 1)) {
                        result.cipher_suite = Some(u16::from_be_bytes([*a, *b]));
                    }
                }
                result.note = format!("ServerHello version {sv:#06x}");
            }
        }
        _ => result.note = format!("unexpected record type {ctype}"),
    }
    Ok(result)
}

/// Reads exactly `n` bytes; `None` on EOF before that.
fn read_exact_bounded(
    sock: &mut TcpStream,
    n: usize,
    stop: &Stop,
) -> Result<Option<Vec<u8>>, NetError> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        match sock.read(&mut buf[got..]) {
            Ok(0) => return Ok(None),
            Ok(k) => got += k,
            Err(e) if is_wait(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(NetError::io("reading the answer", e)),
        }
    }
    Ok(Some(buf))
}
