//! A rogue TLS server for man-in-the-middle checks.
//!
//! It listens where a device expects its server (the harness redirects the
//! device's traffic there) and presents a certificate made with rcgen in
//! one of the [`RogueCert`] modes. For every connection it records whether
//! the handshake completed, the alert the client sent (decrypted by rustls,
//! or read from a plaintext alert record), the SNI and any application data
//! the client sent (bounded). A device that completes the handshake with
//! anything but the genuine certificate, or sends data, failed the check.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::recorder::{Accepted, Limits, RecordingServer};
use crate::stop::Stop;
use crate::tls::{certs_from_pem, Alert, POLL};

/// Connections handled at once (32; more wait in the accept queue) and
/// records kept (1024; later connections are counted, not stored).
const LIMITS: Limits = Limits {
    max_active: 32,
    max_records: 1024,
    poll: POLL,
    thread_name: "hilt-rogue-tls",
    conn_thread_name: "hilt-rogue-conn",
};
/// Raw bytes kept per connection to find a plaintext alert record.
const RAW_KEEP: usize = 64 * 1024;

/// A CA certificate and its private key (PEM), e.g. a lab's copy of the
/// genuine telemetry CA.
#[derive(Clone)]
pub struct CaMaterial {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial")
            .field("cert_pem", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Which certificate the rogue server presents.
#[derive(Debug, Clone)]
pub enum RogueCert {
    /// A self-signed certificate for the right hostname.
    SelfSigned,
    /// A valid chain for the right hostname to a CA made on the spot
    /// (which the device cannot trust).
    UntrustedCa,
    /// A chain to the given CA (one the device trusts) for `wrong_name`.
    WrongHostname { ca: CaMaterial, wrong_name: String },
    /// Right hostname, validity ended in 2021. Signed by `ca` when given
    /// (then expiry is the only fault), else by a CA made on the spot.
    Expired { ca: Option<CaMaterial> },
    /// The genuine certificate chain and key (a positive control).
    Genuine { chain_pem: String, key_pem: String },
}

impl RogueCert {
    pub fn mode_name(&self) -> &'static str {
        match self {
            RogueCert::SelfSigned => "self_signed",
            RogueCert::UntrustedCa => "untrusted_ca",
            RogueCert::WrongHostname { .. } => "wrong_hostname",
            RogueCert::Expired { .. } => "expired",
            RogueCert::Genuine { .. } => "genuine",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RogueConfig {
    pub cert: RogueCert,
    /// The name the device expects (DNS name or IP address).
    pub hostname: String,
    /// ALPN protocols the server accepts (empty: none negotiated).
    pub alpn: Vec<String>,
    /// Application data bytes kept per connection.
    pub max_app_data: usize,
    /// How long a connection may stay silent before it is closed.
    pub idle_timeout: Duration,
}

impl RogueConfig {
    pub fn new(cert: RogueCert, hostname: impl Into<String>) -> Self {
        Self {
            cert,
            hostname: hostname.into(),
            alpn: Vec::new(),
            max_app_data: 64 * 1024,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// What one client did.
#[derive(Debug, Clone, Serialize)]
pub struct RogueConnection {
    pub peer: SocketAddr,
    pub accepted_unix_ms: u128,
    pub sni: Option<String>,
    pub handshake_completed: bool,
    pub protocol_version: Option<String>,
    pub cipher_suite: Option<String>,
    /// The alert the client sent, if any.
    pub alert: Option<Alert>,
    /// "tls_layer" (rustls read it, decrypting if needed) or "raw_record" (a plaintext alert record found in the bytes received).
    pub alert_source: Option<&'static str>,
    pub error: Option<String>,
    /// Application data the client sent after the handshake (bounded).
    #[serde(serialize_with = "crate::certinfo::hex")]
    pub app_data: Vec<u8>,
    pub app_data_total: u64,
    pub app_data_truncated: bool,
    /// Bytes the client sent that do not begin a TLS record: it spoke
    /// another protocol in the clear to this server (0 for a TLS client).
    pub cleartext_bytes: u64,
}

/// The certificate material a mode produced.
#[derive(Clone)]
pub struct Presented {
    pub chain: Vec<CertificateDer<'static>>,
    pub chain_pem: String,
    key_der: Vec<u8>,
}

impl Presented {
    /// The leaf's private key as PKCS#8 PEM (for servers other than the
    /// rogue server that present the same chain, e.g. the downgrade server).
    pub fn key_pem(&self) -> String {
        let b64 = crate::http::base64(&self.key_der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

fn rc(e: rcgen::Error) -> NetError {
    NetError::Setup(format!("certificate generation: {e}"))
}

fn leaf_params(name: &str) -> Result<CertificateParams, NetError> {
    let mut p = CertificateParams::new(vec![name.to_string()]).map_err(rc)?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name
        .push(DnType::OrganizationName, "hilt rogue server");
    Ok(p)
}

/// A fresh CA: (certificate PEM, key) for modes that need an untrusted issuer.
fn fresh_ca() -> Result<(String, KeyPair), NetError> {
    let key = KeyPair::generate().map_err(rc)?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name
        .push(DnType::CommonName, "hilt rogue CA (untrusted)");
    let cert = p.self_signed(&key).map_err(rc)?;
    Ok((cert.pem(), key))
}

fn issue(params: &CertificateParams, ca_pem: &str, ca_key: KeyPair) -> Result<Presented, NetError> {
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(rc)?;
    let key = KeyPair::generate().map_err(rc)?;
    let leaf = params.signed_by(&key, &issuer).map_err(rc)?;
    let chain_pem = format!("{}{}", leaf.pem(), ca_pem);
    Ok(Presented {
        chain: certs_from_pem(chain_pem.as_bytes())?,
        chain_pem,
        key_der: key.serialize_der(),
    })
}

/// Makes the certificate chain and key a mode presents for `hostname`.
pub fn make_presented(cert: &RogueCert, hostname: &str) -> Result<Presented, NetError> {
    match cert {
        RogueCert::SelfSigned => {
            let key = KeyPair::generate().map_err(rc)?;
            let c = leaf_params(hostname)?.self_signed(&key).map_err(rc)?;
            let chain_pem = c.pem();
            Ok(Presented {
                chain: certs_from_pem(chain_pem.as_bytes())?,
                chain_pem,
                key_der: key.serialize_der(),
            })
        }
        RogueCert::UntrustedCa => {
            let (ca_pem, ca_key) = fresh_ca()?;
            issue(&leaf_params(hostname)?, &ca_pem, ca_key)
        }
        RogueCert::WrongHostname { ca, wrong_name } => {
            let key = KeyPair::from_pem(&ca.key_pem).map_err(rc)?;
            issue(&leaf_params(wrong_name)?, &ca.cert_pem, key)
        }
        RogueCert::Expired { ca } => {
            let mut p = leaf_params(hostname)?;
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            match ca {
                Some(ca) => {
                    let key = KeyPair::from_pem(&ca.key_pem).map_err(rc)?;
                    issue(&p, &ca.cert_pem, key)
                }
                None => {
                    let (ca_pem, ca_key) = fresh_ca()?;
                    issue(&p, &ca_pem, ca_key)
                }
            }
        }
        RogueCert::Genuine { chain_pem, key_pem } => {
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| NetError::Setup(format!("genuine key: {e}")))?;
            Ok(Presented {
                chain: certs_from_pem(chain_pem.as_bytes())?,
                chain_pem: chain_pem.clone(),
                key_der: key.secret_der().to_vec(),
            })
        }
    }
}

/// A running rogue server. Stopped (and its thread joined) by
/// [`RogueServer::shutdown`] or on drop.
pub struct RogueServer {
    mode: &'static str,
    presented: Presented,
    server: RecordingServer<RogueConnection>,
}

impl std::fmt::Debug for RogueServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RogueServer")
            .field("addr", &self.server.local_addr())
            .field("mode", &self.mode)
            .finish()
    }
}

impl RogueServer {
    /// Listens on the link's host address and `port` (0 picks one), only
    /// through the link, and serves until shut down.
    pub fn start(link: &Link, port: u16, cfg: RogueConfig) -> Result<Self, NetError> {
        let presented = make_presented(&cfg.cert, &cfg.hostname)?;
        let key = PrivateKeyDer::try_from(presented.key_der.clone())
            .map_err(|e| NetError::Setup(format!("server key: {e}")))?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|e| NetError::Setup(format!("TLS versions: {e}")))?
                .with_no_client_auth()
                .with_single_cert(presented.chain.clone(), key)
                .map_err(|e| NetError::Setup(format!("server certificate: {e}")))?;
        config.alpn_protocols = cfg.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let config = Arc::new(config);
        let mode = cfg.cert.mode_name();
        let server = RecordingServer::start(link, port, LIMITS, move |c: Accepted<'_>| {
            serve(c.sock, c.peer, config.clone(), &cfg, c.stopping)
        })?;
        Ok(Self {
            mode,
            presented,
            server,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// The chain presented, leaf first, as PEM (evidence).
    pub fn presented_chain_pem(&self) -> &str {
        &self.presented.chain_pem
    }

    /// Connections finished so far.
    pub fn connections(&self) -> Vec<RogueConnection> {
        self.server.connections()
    }

    /// Connections accepted so far (finished or not, kept or not).
    pub fn accepted(&self) -> usize {
        self.server.accepted()
    }

    /// Waits until `n` connections have finished (or the stop fires).
    pub fn wait_for(&self, n: usize, stop: &Stop) -> Result<Vec<RogueConnection>, NetError> {
        self.server.wait_for(n, stop)
    }

    /// Stops accepting, waits for open connections, returns all records.
    pub fn shutdown(self) -> Vec<RogueConnection> {
        self.server.shutdown()
    }
}

/// Tees what the client sends into a bounded buffer.
struct Tee<'a> {
    sock: &'a mut TcpStream,
    raw: &'a mut Vec<u8>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        let room = RAW_KEEP.saturating_sub(self.raw.len());
        self.raw.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

fn wait_err(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Finds the first plaintext alert record (type 21, length 2) in what the
/// client sent.
pub fn find_plaintext_alert(raw: &[u8]) -> Option<Alert> {
    let mut at = 0;
    while at + 5 <= raw.len() {
        let ctype = raw[at];
        let len = usize::from(u16::from_be_bytes([raw[at + 3], raw[at + 4]]));
        if raw[at + 1] != 3 {
            return None;
        }
        if ctype == 21 && len == 2 {
            return raw.get(at + 6).map(|c| Alert::new(*c));
        }
        at += 5 + len;
    }
    None
}

/// Whether what a client sent cannot be the start of TLS: its first byte
/// is no TLS record type (change_cipher_spec, alert, handshake,
/// application_data) and no SSL 2.0 record header (high bit set).
fn speaks_cleartext(raw: &[u8]) -> bool {
    raw.first()
        .is_some_and(|b| !(0x14..=0x17).contains(b) && b & 0x80 == 0)
}

fn serve(
    mut sock: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    cfg: &RogueConfig,
    stopping: &AtomicBool,
) -> RogueConnection {
    let mut rec = RogueConnection {
        peer,
        accepted_unix_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        sni: None,
        handshake_completed: false,
        protocol_version: None,
        cipher_suite: None,
        alert: None,
        alert_source: None,
        error: None,
        app_data: Vec::new(),
        app_data_total: 0,
        app_data_truncated: false,
        cleartext_bytes: 0,
    };
    let _ = sock.set_nonblocking(false);
    if let Err(e) = sock
        .set_read_timeout(Some(POLL))
        .and_then(|_| sock.set_write_timeout(Some(Duration::from_secs(2))))
    {
        rec.error = Some(format!("socket: {e}"));
        return rec;
    }
    let mut conn = match ServerConnection::new(config) {
        Ok(c) => c,
        Err(e) => {
            rec.error = Some(format!("TLS server: {e}"));
            return rec;
        }
    };
    let mut raw = Vec::new();
    let mut last_activity = Instant::now();
    let mut failure: Option<io::Error> = None;
    let mut eof = false;
    while conn.is_handshaking() {
        if stopping.load(Ordering::SeqCst) || last_activity.elapsed() > cfg.idle_timeout {
            rec.error = Some("handshake did not finish in time".into());
            break;
        }
        let mut tee = Tee {
            sock: &mut sock,
            raw: &mut raw,
        };
        match conn.complete_io(&mut tee) {
            Ok((0, 0)) if conn.wants_read() => {
                eof = true;
                break;
            }
            Ok(_) => last_activity = Instant::now(),
            Err(e) if wait_err(&e) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    rec.sni = conn.server_name().map(str::to_string);
    rec.protocol_version = conn.protocol_version().map(|v| format!("{v:?}"));
    rec.cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    if let Some(e) = failure {
        let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::AlertReceived(a)) = tls {
            rec.alert = Some(Alert::new(u8::from(*a)));
            rec.alert_source = Some("tls_layer");
        }
        rec.error = Some(match tls {
            Some(t) => t.to_string(),
            None => e.to_string(),
        });
    } else if eof {
        rec.error = Some("client closed the connection during the handshake".into());
    }
    if rec.alert.is_none() {
        if let Some(a) = find_plaintext_alert(&raw) {
            rec.alert = Some(a);
            rec.alert_source = Some("raw_record");
        }
    }
    if conn.is_handshaking() {
        if speaks_cleartext(&raw) {
            rec.cleartext_bytes = raw.len() as u64;
        }
        return rec;
    }
    rec.handshake_completed = true;
    // Whatever the client sends now is what it would have told the real server.
    let mut buf = [0u8; 4096];
    last_activity = Instant::now();
    loop {
        if stopping.load(Ordering::SeqCst) || last_activity.elapsed() > cfg.idle_timeout {
            break;
        }
        match conn.reader().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                last_activity = Instant::now();
                rec.app_data_total += n as u64;
                let room = cfg.max_app_data.saturating_sub(rec.app_data.len());
                if room < n {
                    rec.app_data_truncated = true;
                }
                rec.app_data.extend_from_slice(&buf[..n.min(room)]);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.wants_read() => break,
            Ok(_) => {}
            Err(e) if wait_err(&e) => {}
            Err(e) => {
                let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                if let Some(rustls::Error::AlertReceived(a)) = tls {
                    if u8::from(*a) != 0 {
                        rec.alert = Some(Alert::new(u8::from(*a)));
                        rec.alert_source = Some("tls_layer");
                    }
                }
                break;
            }
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certinfo::CertInfo;

    #[test]
    fn modes_make_the_certificates_they_promise() {
        let ip = make_presented(&RogueCert::SelfSigned, "198.18.0.2").expect("self-signed");
        let leaf = CertInfo::from_der(&ip.chain[0]);
        assert_eq!(leaf.subject_alt_names, vec!["IP:198.18.0.2".to_string()]);
        assert!(leaf.self_signed);
        let ca = make_presented(&RogueCert::UntrustedCa, "dev.test").expect("untrusted");
        assert_eq!(ca.chain.len(), 2);
        assert!(CertInfo::from_der(&ca.chain[1]).is_ca);
        let exp = make_presented(&RogueCert::Expired { ca: None }, "dev.test").expect("expired");
        let leaf = CertInfo::from_der(&exp.chain[0]);
        assert!(leaf.not_after.contains("2021"), "{}", leaf.not_after);
        assert_eq!(leaf.subject_alt_names, vec!["DNS:dev.test".to_string()]);
    }

    #[test]
    fn plaintext_alert_finder_is_bounded() {
        assert_eq!(
            find_plaintext_alert(&[21, 3, 3, 0, 2, 2, 48]).map(|a| a.code),
            Some(48)
        );
        assert_eq!(
            find_plaintext_alert(&[22, 3, 1, 0, 1, 9, 21, 3, 3, 0, 2, 2, 45]).map(|a| a.code),
            Some(45)
        );
        assert_eq!(find_plaintext_alert(&[21, 3, 3, 0, 2, 2]), None);
        assert_eq!(find_plaintext_alert(&[22, 3, 1, 0xff, 0xff, 0]), None);
        assert_eq!(find_plaintext_alert(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn cleartext_is_told_from_tls_and_ssl2() {
        // MQTT CONNECT, an HTTP request: another protocol in the clear.
        assert!(speaks_cleartext(&[
            0x10, 0x2a, 0x00, 0x04, b'M', b'Q', b'T', b'T'
        ]));
        assert!(speaks_cleartext(b"POST /telemetry HTTP/1.1\r\n"));
        // A TLS handshake or alert record, an SSL 2.0 header, nothing at all.
        assert!(!speaks_cleartext(&[22, 3, 1, 0, 5]));
        assert!(!speaks_cleartext(&[21, 3, 3, 0, 2, 2, 48]));
        assert!(!speaks_cleartext(&[0x80, 0x2e, 0x01]));
        assert!(!speaks_cleartext(&[]));
    }
}
