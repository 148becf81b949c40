//! A downgrade rogue server (catalogue check DP-06): it answers a device's
//! ClientHello with TLS 1.0, or with the weakest cipher suite the device
//! offered, and records whether the device refuses.
//!
//! Per connection it reads the ClientHello (reassembled over records,
//! bounded), records what the client offered, sends a downgraded first
//! flight by hand (ServerHello, Certificate, ServerKeyExchange when the
//! suite needs one and it can be made, ServerHelloDone), then reads the
//! client's next record: an alert (refused), a ClientKeyExchange or other
//! handshake message (the client went on with the downgraded handshake),
//! application data, plaintext, EOF or nothing. The server never completes
//! a handshake; it only needs to see whether the client would.
//!
//! The certificate chain comes from the configuration: a chain for the
//! right name from a CA the device trusts makes the certificate the one
//! thing that is fine, so only the downgrade is left to refuse. With an RSA
//! leaf the server prefers static-RSA suites (no ServerKeyExchange to
//! sign); given the leaf's key it also signs ECDHE parameters, in TLS 1.2
//! only (the TLS 1.0 signatures, MD5+SHA-1 RSA and ECDSA-SHA-1, are not
//! available from ring).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::ring as provider;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use serde::Serialize;

use crate::certinfo::CertInfo;
use crate::clienthello::{
    escape_bytes, handshake_name, to_records, ClientHelloInfo, HelloAssembler, HelloParse,
    MAX_FRAGMENT, PLAINTEXT_KEEP,
};
use crate::error::NetError;
use crate::link::Link;
use crate::recorder::{Accepted, Limits, RecordingServer};
use crate::stop::Stop;
use crate::suites::{
    self, key_exchange, needs_tls12, ser_suite, ser_version, KeyExchange, Weakness, SSL_3_0,
    TLS_1_0, TLS_1_1, TLS_1_2,
};
use crate::tls::{alert_name, certs_from_pem, Alert, POLL};

/// Connection records kept; later connections are counted, not stored.
const MAX_RECORDS: usize = 1024;
/// Bytes of the client's reaction buffered (one record header and the
/// first bytes of its body are all that is needed).
const REACTION_KEEP: usize = 4096;
/// How long to keep collecting plaintext once the first bytes are not TLS.
const PLAINTEXT_GRACE: Duration = Duration::from_millis(300);
/// Bound on writing the first flight.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the server offers instead of what the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DowngradeOffer {
    /// ServerHello version TLS 1.0 (0x0301) with a TLS 1.0-era suite the
    /// client offered: TLS_RSA_WITH_AES_128_CBC_SHA, else
    /// TLS_RSA_WITH_3DES_EDE_CBC_SHA, else the first offered suite that
    /// TLS 1.0 can carry; a suite the server can fully serve comes first.
    Tls10,
    /// ServerHello TLS 1.2 (or the client's own highest version when that
    /// is lower) with the weakest suite offered (NULL, EXPORT, RC4, DES,
    /// 3DES, anon, then CBC-SHA1; servable first). If the client offered
    /// none, TLS_RSA_WITH_3DES_EDE_CBC_SHA anyway: a compliant client must
    /// then abort (illegal_parameter).
    WeakCipher,
}

#[derive(Clone)]
pub struct DowngradeConfig {
    pub offer: DowngradeOffer,
    /// Certificate chain presented, leaf first (PEM). A chain for the
    /// right name from a CA the device trusts isolates the downgrade as
    /// the only fault. An RSA leaf is needed for static-RSA suites.
    pub chain_pem: String,
    /// The leaf's private key (PEM). Optional: with it the server signs a
    /// ServerKeyExchange for TLS 1.2 ECDHE suites.
    pub key_pem: Option<String>,
    /// Largest ClientHello read (bytes, handshake header included).
    pub max_hello_bytes: usize,
    /// How long a client may take to deliver its ClientHello.
    pub idle_timeout: Duration,
    /// How long to wait for the client's reaction to the downgraded flight.
    pub reaction_timeout: Duration,
    /// Connections served at once; more wait in the accept queue.
    pub max_active: usize,
}

impl DowngradeConfig {
    pub fn new(offer: DowngradeOffer, chain_pem: impl Into<String>) -> Self {
        Self {
            offer,
            chain_pem: chain_pem.into(),
            key_pem: None,
            max_hello_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(10),
            reaction_timeout: Duration::from_secs(3),
            max_active: 32,
        }
    }
}

impl std::fmt::Debug for DowngradeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DowngradeConfig")
            .field("offer", &self.offer)
            .field("chain_pem", &self.chain_pem.len())
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .field("max_hello_bytes", &self.max_hello_bytes)
            .field("idle_timeout", &self.idle_timeout)
            .field("reaction_timeout", &self.reaction_timeout)
            .field("max_active", &self.max_active)
            .finish()
    }
}

/// What the server sent after the hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerAnswer {
    /// Nothing (no ClientHello came).
    Nothing { reason: String },
    /// A fatal alert (the hello was malformed).
    Alert { alert: Alert },
    /// The downgraded first flight.
    ServerHello {
        #[serde(serialize_with = "ser_version")]
        version: u16,
        #[serde(serialize_with = "ser_suite")]
        cipher_suite: u16,
        /// False when the client never offered the chosen suite.
        suite_offered: bool,
        /// The chosen suite's weakness class (`cbc_sha1` is legacy rather
        /// than broken; NULL to anon are what DP-06 is about).
        weakness: Option<Weakness>,
        /// Handshake messages sent, in order.
        messages: Vec<&'static str>,
        /// True when the flight is what a genuine server of this suite
        /// sends. When false (a ServerKeyExchange this server cannot make)
        /// a client may abort for that reason rather than the downgrade.
        complete_flight: bool,
        note: Option<String>,
    },
}

/// What the client did after the downgraded flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ClientReaction {
    /// The server sent no ServerHello, so there is nothing to react to.
    NotApplicable,
    /// A plaintext alert: level (1 warning, 2 fatal), description.
    Alert {
        level: u8,
        code: u8,
        name: &'static str,
    },
    /// The client went on with the downgraded handshake; `message` is the
    /// first thing it sent ("client_key_exchange", "certificate", ...).
    Continued {
        message: String,
    },
    /// Application data records (length of the first).
    ApplicationData {
        record_bytes: usize,
    },
    /// Non-TLS bytes (first ≤256, escaped).
    Plaintext {
        first_bytes: String,
    },
    /// EOF or reset without an alert.
    Closed,
    /// Silence until the reaction timeout.
    Timeout,
    Error(String),
}

/// What one client did.
#[derive(Debug, Clone, Serialize)]
pub struct DowngradeConnection {
    /// Accept order (0 = first connection this server accepted).
    pub seq: usize,
    pub peer: SocketAddr,
    pub accepted_unix_ms: u128,
    pub offer: DowngradeOffer,
    /// The parsed ClientHello: record-layer version, client_version,
    /// supported_versions, cipher suites (IANA names), SNI, ...
    pub hello: Option<ClientHelloInfo>,
    /// Why no hello was parsed (malformed, oversized, closed, timed out).
    pub hello_error: Option<String>,
    /// The first bytes were not TLS at all.
    pub plaintext: bool,
    /// First ≤256 bytes received, escaped, when no hello was parsed.
    pub first_bytes: Option<String>,
    /// Highest version offered (supported_versions taken into account), e.g. "TLS 1.3".
    pub max_offered_version: Option<String>,
    /// The hello offers nothing above TLS 1.1.
    pub offers_legacy_only: bool,
    /// Offered suites that are NULL, EXPORT, RC4, DES, 3DES or anon.
    pub weak_suites_offered: Vec<String>,
    /// Bytes that followed the hello before the server answered.
    pub pipelined_bytes: usize,
    pub answer: ServerAnswer,
    pub reaction: ClientReaction,
    pub bytes_read: u64,
}

impl DowngradeConnection {
    /// The client went on with the downgraded handshake or sent
    /// application data after the downgraded ServerHello.
    pub fn accepted_downgrade(&self) -> bool {
        matches!(self.answer, ServerAnswer::ServerHello { .. })
            && matches!(
                self.reaction,
                ClientReaction::Continued { .. } | ClientReaction::ApplicationData { .. }
            )
    }

    fn max_version_code(&self) -> Option<u16> {
        self.hello.as_ref().and_then(|h| h.max_version())
    }
}

/// Version fallback: after a connection from a peer whose hello offered
/// TLS 1.2 or later, a later connection from the same peer address offered
/// only TLS 1.1 or older, or was not TLS at all. Order is accept order.
pub fn fallback_detected(conns: &[DowngradeConnection]) -> bool {
    let mut ordered: Vec<&DowngradeConnection> = conns.iter().collect();
    ordered.sort_by_key(|c| c.seq);
    let mut modern_seen: Vec<IpAddr> = Vec::new();
    for c in ordered {
        let ip = c.peer.ip();
        if modern_seen.contains(&ip) && (c.offers_legacy_only || c.plaintext) {
            return true;
        }
        if c.max_version_code().is_some_and(|v| v >= TLS_1_2) && !modern_seen.contains(&ip) {
            modern_seen.push(ip);
        }
    }
    false
}

/// Certificate, key and crypto the flights are made with.
struct Prepared {
    offer: DowngradeOffer,
    chain: Vec<CertificateDer<'static>>,
    leaf_is_rsa: bool,
    signer: Option<Arc<dyn SigningKey>>,
    provider: Arc<CryptoProvider>,
}

impl Prepared {
    fn new(cfg: &DowngradeConfig) -> Result<Self, NetError> {
        let chain = certs_from_pem(cfg.chain_pem.as_bytes())?;
        let leaf_is_rsa = CertInfo::from_der(&chain[0]).key_type.starts_with("RSA");
        let provider = Arc::new(provider::default_provider());
        let signer = match &cfg.key_pem {
            None => None,
            Some(pem) => {
                let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| NetError::Setup(format!("downgrade server key: {e}")))?;
                Some(
                    provider
                        .key_provider
                        .load_private_key(key)
                        .map_err(|e| NetError::Setup(format!("downgrade server key: {e}")))?,
                )
            }
        };
        Ok(Self {
            offer: cfg.offer,
            chain,
            leaf_is_rsa,
            signer,
            provider,
        })
    }

    /// The key exchange group for ECDHE/ECDH_anon: the client's first
    /// supported group this provider has (secp256r1 if it sent none).
    fn group(&self, h: &ClientHelloInfo) -> Option<&'static dyn SupportedKxGroup> {
        let wanted: Vec<u16> = if h.supported_groups.is_empty() {
            vec![0x0017]
        } else {
            h.supported_groups.clone()
        };
        wanted.iter().find_map(|g| {
            self.provider
                .kx_groups
                .iter()
                .find(|k| u16::from(k.name()) == *g)
                .copied()
        })
    }

    /// A signer for a TLS 1.2 ServerKeyExchange, of the given algorithm,
    /// using a scheme the client offered (PKCS#1 preferred for RSA).
    fn signer_for(&self, h: &ClientHelloInfo, alg: SignatureAlgorithm) -> Option<Box<dyn Signer>> {
        let key = self.signer.as_ref()?;
        if key.algorithm() != alg {
            return None;
        }
        let offered: Vec<SignatureScheme> = if h.signature_algorithms.is_empty() {
            vec![
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ]
        } else {
            h.signature_algorithms
                .iter()
                .map(|s| SignatureScheme::from(*s))
                .collect()
        };
        let pkcs1: Vec<SignatureScheme> = offered
            .iter()
            .copied()
            .filter(|s| {
                matches!(
                    s,
                    SignatureScheme::RSA_PKCS1_SHA256
                        | SignatureScheme::RSA_PKCS1_SHA384
                        | SignatureScheme::RSA_PKCS1_SHA512
                )
            })
            .collect();
        key.choose_scheme(&pkcs1)
            .or_else(|| key.choose_scheme(&offered))
    }

    /// Whether this server can send the complete flight `suite` needs.
    fn can_serve(&self, h: &ClientHelloInfo, suite: u16, version: u16) -> bool {
        match key_exchange(suite) {
            KeyExchange::StaticRsa => self.leaf_is_rsa,
            KeyExchange::EcdheRsa => {
                version >= TLS_1_2
                    && self.leaf_is_rsa
                    && self.group(h).is_some()
                    && self.signer_for(h, SignatureAlgorithm::RSA).is_some()
            }
            KeyExchange::EcdheEcdsa => {
                version >= TLS_1_2
                    && !self.leaf_is_rsa
                    && self.group(h).is_some()
                    && self.signer_for(h, SignatureAlgorithm::ECDSA).is_some()
            }
            KeyExchange::EcdhAnon => self.group(h).is_some(),
            KeyExchange::Tls13 | KeyExchange::Other => false,
        }
    }

    /// (version, suite) to answer with.
    fn choose(&self, h: &ClientHelloInfo) -> (u16, u16) {
        let offered: Vec<u16> = h
            .real_suites()
            .filter(|s| key_exchange(*s) != KeyExchange::Tls13)
            .collect();
        match self.offer {
            DowngradeOffer::Tls10 => {
                let priority = |s: u16| match s {
                    suites::TLS_RSA_WITH_AES_128_CBC_SHA => 0,
                    suites::TLS_RSA_WITH_3DES_EDE_CBC_SHA => 1,
                    _ if !needs_tls12(s) => 2,
                    _ => 3,
                };
                let best = offered
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, s)| (!self.can_serve(h, **s, TLS_1_0), priority(**s), *i));
                let suite = best
                    .map(|(_, s)| *s)
                    .unwrap_or(suites::TLS_RSA_WITH_AES_128_CBC_SHA);
                (TLS_1_0, suite)
            }
            DowngradeOffer::WeakCipher => {
                let version = match h.max_version() {
                    Some(v) if v >= TLS_1_2 => TLS_1_2,
                    Some(v) => v.clamp(SSL_3_0, TLS_1_1),
                    None => TLS_1_2,
                };
                let best = offered
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| version >= TLS_1_2 || !needs_tls12(**s))
                    .filter_map(|(i, s)| suites::weakness(*s).map(|w| (i, *s, w)))
                    .min_by_key(|(i, s, w)| (!self.can_serve(h, *s, version), *w, *i));
                let suite = best
                    .map(|(_, s, _)| s)
                    .unwrap_or(suites::TLS_RSA_WITH_3DES_EDE_CBC_SHA);
                (version, suite)
            }
        }
    }

    /// The downgraded flight (records) and its description.
    fn flight(&self, h: &ClientHelloInfo) -> (Vec<u8>, ServerAnswer) {
        let (version, suite) = self.choose(h);
        let kx = key_exchange(suite);
        let complete = self.can_serve(h, suite, version);
        let mut server_random = [0u8; 32];
        if self
            .provider
            .secure_random
            .fill(&mut server_random)
            .is_err()
        {
            server_random = [0x5a; 32];
        }
        let ecdh = matches!(
            kx,
            KeyExchange::EcdheRsa | KeyExchange::EcdheEcdsa | KeyExchange::EcdhAnon
        );
        let mut ext = Vec::new();
        if h.secure_renegotiation {
            ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);
        }
        if ecdh && h.extensions.contains(&11) {
            ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
        }
        let mut sh = Vec::new();
        sh.extend_from_slice(&version.to_be_bytes());
        sh.extend_from_slice(&server_random);
        sh.push(0); // no session id: never a resumption
        sh.extend_from_slice(&suite.to_be_bytes());
        sh.push(0); // null compression
        if !ext.is_empty() {
            sh.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            sh.extend_from_slice(&ext);
        }
        let mut hs = handshake(2, &sh);
        let mut messages = vec!["server_hello"];
        let mut note = None;
        if kx != KeyExchange::EcdhAnon {
            let mut list = Vec::new();
            for c in &self.chain {
                push_u24(&mut list, c.len());
                list.extend_from_slice(c);
            }
            let mut body = Vec::new();
            push_u24(&mut body, list.len());
            body.extend_from_slice(&list);
            hs.extend_from_slice(&handshake(11, &body));
            messages.push("certificate");
        }
        if complete && ecdh {
            match self.key_exchange_message(h, kx, &server_random) {
                Ok(ske) => {
                    hs.extend_from_slice(&handshake(12, &ske));
                    messages.push("server_key_exchange");
                }
                Err(e) => note = Some(format!("no ServerKeyExchange: {e}")),
            }
        } else if !complete {
            note = Some(match kx {
                KeyExchange::StaticRsa => {
                    "the leaf key is not RSA, so the client cannot encrypt a premaster secret to it"
                        .to_string()
                }
                _ => format!(
                    "{} needs a ServerKeyExchange this server cannot make (no key, wrong key type, or TLS < 1.2)",
                    suites::suite_name(suite)
                ),
            });
        }
        hs.extend_from_slice(&handshake(14, &[]));
        messages.push("server_hello_done");
        let complete = complete && note.is_none();
        let answer = ServerAnswer::ServerHello {
            version,
            cipher_suite: suite,
            suite_offered: h.offers(suite),
            weakness: suites::weakness(suite),
            messages,
            complete_flight: complete,
            note,
        };
        (to_records(version, &hs, MAX_FRAGMENT), answer)
    }

    /// ServerECDHParams (RFC 8422 5.4), signed for ECDHE (TLS 1.2 form).
    fn key_exchange_message(
        &self,
        h: &ClientHelloInfo,
        kx: KeyExchange,
        server_random: &[u8; 32],
    ) -> Result<Vec<u8>, String> {
        let group = self.group(h).ok_or("no common group")?;
        let active = group.start().map_err(|e| e.to_string())?;
        let point = active.pub_key();
        let mut params = vec![3u8]; // named_curve
        params.extend_from_slice(&u16::from(group.name()).to_be_bytes());
        params.push(u8::try_from(point.len()).map_err(|_| "public key too long")?);
        params.extend_from_slice(point);
        let alg = match kx {
            KeyExchange::EcdheRsa => SignatureAlgorithm::RSA,
            KeyExchange::EcdheEcdsa => SignatureAlgorithm::ECDSA,
            _ => return Ok(params),
        };
        let signer = self
            .signer_for(h, alg)
            .ok_or("no usable signature scheme")?;
        let mut signed = Vec::with_capacity(64 + params.len());
        signed.extend_from_slice(&h.random);
        signed.extend_from_slice(server_random);
        signed.extend_from_slice(&params);
        let sig = signer.sign(&signed).map_err(|e| e.to_string())?;
        let mut out = params;
        out.extend_from_slice(&u16::from(signer.scheme()).to_be_bytes());
        out.extend_from_slice(
            &u16::try_from(sig.len())
                .map_err(|_| "signature too long")?
                .to_be_bytes(),
        );
        out.extend_from_slice(&sig);
        Ok(out)
    }
}

fn push_u24(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_be_bytes()[1..]);
}

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ];
    push_u24(&mut m, body.len());
    m.extend_from_slice(body);
    m
}

/// A running downgrade server. Stopped (and its thread joined) by
/// [`DowngradeServer::shutdown`] or on drop.
pub struct DowngradeServer {
    offer: DowngradeOffer,
    server: RecordingServer<DowngradeConnection>,
}

impl std::fmt::Debug for DowngradeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DowngradeServer")
            .field("addr", &self.server.local_addr())
            .field("offer", &self.offer)
            .finish()
    }
}

impl DowngradeServer {
    /// Listens on the link's host address and `port` (0 picks one), only
    /// through the link, and serves until shut down.
    pub fn start(link: &Link, port: u16, cfg: DowngradeConfig) -> Result<Self, NetError> {
        let prepared = Prepared::new(&cfg)?;
        let offer = cfg.offer;
        let limits = Limits {
            max_active: cfg.max_active,
            max_records: MAX_RECORDS,
            poll: POLL,
            thread_name: "hilt-downgrade",
            conn_thread_name: "hilt-downgrade-conn",
        };
        let server = RecordingServer::start(link, port, limits, move |c: Accepted<'_>| {
            serve(c.sock, c.peer, c.seq, &prepared, &cfg, c.stopping)
        })?;
        Ok(Self { offer, server })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn offer(&self) -> DowngradeOffer {
        self.offer
    }

    /// Connections finished so far (in the order they finished).
    pub fn connections(&self) -> Vec<DowngradeConnection> {
        self.server.connections()
    }

    /// Connections accepted so far (finished or not, kept or not).
    pub fn accepted(&self) -> usize {
        self.server.accepted()
    }

    /// Waits until `n` connections have finished (or the stop fires).
    pub fn wait_for(&self, n: usize, stop: &Stop) -> Result<Vec<DowngradeConnection>, NetError> {
        self.server.wait_for(n, stop)
    }

    /// Stops accepting, ends open connections (within one poll interval),
    /// returns all records.
    pub fn shutdown(self) -> Vec<DowngradeConnection> {
        self.server.shutdown()
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

fn serve(
    mut sock: TcpStream,
    peer: SocketAddr,
    seq: usize,
    p: &Prepared,
    cfg: &DowngradeConfig,
    stopping: &AtomicBool,
) -> DowngradeConnection {
    let mut rec = DowngradeConnection {
        seq,
        peer,
        accepted_unix_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        offer: p.offer,
        hello: None,
        hello_error: None,
        plaintext: false,
        first_bytes: None,
        max_offered_version: None,
        offers_legacy_only: false,
        weak_suites_offered: Vec::new(),
        pipelined_bytes: 0,
        answer: ServerAnswer::Nothing {
            reason: "no ClientHello".into(),
        },
        reaction: ClientReaction::NotApplicable,
        bytes_read: 0,
    };
    let setup = sock
        .set_nonblocking(false)
        .and_then(|_| sock.set_read_timeout(Some(POLL)))
        .and_then(|_| sock.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|_| sock.set_nodelay(true));
    if let Err(e) = setup {
        rec.hello_error = Some(format!("socket: {e}"));
        return rec;
    }
    let deadline = Instant::now() + cfg.idle_timeout;
    let mut asm = HelloAssembler::new(cfg.max_hello_bytes);
    let mut buf = [0u8; 4096];
    let state = loop {
        if stopping.load(Ordering::SeqCst) {
            break Err("server stopped before a complete ClientHello".to_string());
        }
        if Instant::now() >= deadline {
            break Err(format!(
                "no complete ClientHello within {} ms",
                cfg.idle_timeout.as_millis()
            ));
        }
        match sock.read(&mut buf) {
            Ok(0) => break Err("connection closed before a complete ClientHello".into()),
            Ok(n) => {
                rec.bytes_read += n as u64;
                match asm.push(&buf[..n]) {
                    HelloParse::NeedMore => {}
                    other => break Ok(other),
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(e) if is_reset(&e) => {
                break Err("connection reset before a complete ClientHello".into())
            }
            Err(e) => break Err(format!("reading the ClientHello: {e}")),
        }
    };
    let state = match state {
        Ok(s) => s,
        Err(why) => {
            if asm.total() > 0 {
                rec.first_bytes = Some(escape_bytes(asm.head()));
            }
            rec.answer = ServerAnswer::Nothing {
                reason: why.clone(),
            };
            rec.hello_error = Some(why);
            return rec;
        }
    };
    match state {
        HelloParse::NeedMore => rec,
        HelloParse::NotTls { .. } => {
            // Collect a little more so the evidence shows what it was.
            let until = (Instant::now() + PLAINTEXT_GRACE).min(deadline);
            while asm.head().len() < PLAINTEXT_KEEP && Instant::now() < until {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                match sock.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        rec.bytes_read += n as u64;
                        asm.push(&buf[..n]);
                    }
                    Err(e) if is_wait(&e) => {}
                    Err(_) => break,
                }
            }
            rec.plaintext = true;
            rec.first_bytes = Some(escape_bytes(asm.head()));
            rec.hello_error = Some("not TLS".into());
            rec.answer = ServerAnswer::Nothing {
                reason: "the first bytes are not TLS".into(),
            };
            rec
        }
        HelloParse::Malformed(why) => {
            rec.first_bytes = Some(escape_bytes(asm.head()));
            rec.hello_error = Some(why);
            // decode_error (50), fatal, as a compliant server would send.
            let _ = sock.write_all(&[21, 3, 1, 0, 2, 2, 50]);
            rec.answer = ServerAnswer::Alert {
                alert: Alert::new(50),
            };
            rec
        }
        HelloParse::Complete { hello, trailing } => {
            rec.pipelined_bytes = trailing;
            rec.max_offered_version = hello.max_version().map(suites::version_name);
            rec.offers_legacy_only = hello.max_version().is_some_and(|v| v <= TLS_1_1);
            rec.weak_suites_offered = hello.weak_suites();
            let (wire, answer) = p.flight(&hello);
            rec.hello = Some(*hello);
            rec.answer = answer;
            rec.reaction = match sock.write_all(&wire).and_then(|_| sock.flush()) {
                Ok(()) => read_reaction(&mut sock, cfg, stopping, &mut rec.bytes_read),
                Err(e) => ClientReaction::Error(format!("sending the downgraded flight: {e}")),
            };
            rec
        }
    }
}

enum Seen {
    NeedMore,
    Done(ClientReaction),
    /// A change_cipher_spec record of this many bytes (skipped, noted).
    Ccs(usize),
    Plaintext,
}

/// Looks at the first record the client sent after the flight.
fn examine(b: &[u8]) -> Seen {
    let Some(&ctype) = b.first() else {
        return Seen::NeedMore;
    };
    if !(20..=24).contains(&ctype) {
        return Seen::Plaintext;
    }
    match b.get(1) {
        None => return Seen::NeedMore,
        Some(3) => {}
        Some(_) => return Seen::Plaintext,
    }
    let Some(h) = b.get(..5) else {
        return Seen::NeedMore;
    };
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    match ctype {
        21 if len != 2 => Seen::Done(ClientReaction::Error(format!(
            "alert record of {len} bytes (encrypted or malformed)"
        ))),
        21 => match (b.get(5), b.get(6)) {
            (Some(&level), Some(&code)) => Seen::Done(ClientReaction::Alert {
                level,
                code,
                name: alert_name(code),
            }),
            _ => Seen::NeedMore,
        },
        22 => match b.get(5) {
            _ if len == 0 => Seen::Done(ClientReaction::Error("empty handshake record".into())),
            None => Seen::NeedMore,
            Some(&t @ (11 | 15 | 16 | 20)) => Seen::Done(ClientReaction::Continued {
                message: handshake_name(t).into(),
            }),
            Some(&t) => Seen::Done(ClientReaction::Error(format!(
                "unexpected handshake message {} ({t})",
                handshake_name(t)
            ))),
        },
        23 => Seen::Done(ClientReaction::ApplicationData { record_bytes: len }),
        20 if len == 1 => {
            if b.len() >= 6 {
                Seen::Ccs(6)
            } else {
                Seen::NeedMore
            }
        }
        20 => Seen::Done(ClientReaction::Error(format!(
            "change_cipher_spec record of {len} bytes"
        ))),
        _ => Seen::Done(ClientReaction::Error("heartbeat record".into())),
    }
}

fn read_reaction(
    sock: &mut TcpStream,
    cfg: &DowngradeConfig,
    stopping: &AtomicBool,
    bytes_read: &mut u64,
) -> ClientReaction {
    let deadline = Instant::now() + cfg.reaction_timeout;
    let mut got: Vec<u8> = Vec::new();
    let mut ccs = false;
    let mut buf = [0u8; 1024];
    let ended = |ccs: bool, otherwise: ClientReaction| {
        if ccs {
            ClientReaction::Continued {
                message: "change_cipher_spec".into(),
            }
        } else {
            otherwise
        }
    };
    let mut plaintext_until: Option<Instant> = None;
    loop {
        if plaintext_until.is_none() {
            match examine(&got) {
                Seen::NeedMore => {}
                Seen::Done(r) => return r,
                Seen::Ccs(n) => {
                    ccs = true;
                    got.drain(..n);
                    continue;
                }
                Seen::Plaintext => {
                    plaintext_until = Some((Instant::now() + PLAINTEXT_GRACE).min(deadline));
                }
            }
        }
        if let Some(until) = plaintext_until {
            if got.len() >= PLAINTEXT_KEEP || Instant::now() >= until {
                return ClientReaction::Plaintext {
                    first_bytes: escape_bytes(&got[..got.len().min(PLAINTEXT_KEEP)]),
                };
            }
        }
        if stopping.load(Ordering::SeqCst) {
            return ClientReaction::Error("server stopped before the client reacted".into());
        }
        if Instant::now() >= deadline {
            return ended(ccs, ClientReaction::Timeout);
        }
        match sock.read(&mut buf) {
            Ok(0) => {
                if plaintext_until.is_some() {
                    plaintext_until = Some(Instant::now());
                    continue;
                }
                return ended(ccs, ClientReaction::Closed);
            }
            Ok(n) => {
                *bytes_read += n as u64;
                let room = REACTION_KEEP.saturating_sub(got.len());
                got.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if is_wait(&e) => {}
            Err(e) if is_reset(&e) => {
                if plaintext_until.is_some() {
                    plaintext_until = Some(Instant::now());
                    continue;
                }
                return ended(ccs, ClientReaction::Closed);
            }
            Err(e) => return ClientReaction::Error(format!("reading the reaction: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clienthello::{build_client_hello, parse_client_hello};

    fn hello(version: u16, suites: &[u16], versions: Option<&[u16]>) -> ClientHelloInfo {
        let wire = to_records(
            0x0301,
            &build_client_hello(version, suites, None, versions),
            16384,
        );
        match parse_client_hello(&wire, 16384) {
            HelloParse::Complete { hello, .. } => *hello,
            other => panic!("{other:?}"),
        }
    }

    fn prepared(offer: DowngradeOffer) -> Prepared {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["dev.test".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let mut cfg = DowngradeConfig::new(offer, cert.pem());
        cfg.key_pem = Some(key.serialize_pem());
        Prepared::new(&cfg).expect("prepared")
    }

    #[test]
    fn choices_follow_the_offer() {
        // An ECDSA leaf with its key: static RSA is not servable, ECDHE-ECDSA is (TLS 1.2).
        let p = prepared(DowngradeOffer::Tls10);
        assert!(!p.leaf_is_rsa);
        let h = hello(0x0303, &[0xc02b, 0xc009, 0x000a, 0x002f], None);
        // TLS 1.0 cannot sign ECDHE here, so nothing is servable: 0x002f first.
        assert_eq!(p.choose(&h), (TLS_1_0, 0x002f));
        let h = hello(0x0303, &[0xc02b, 0xc009], None);
        assert_eq!(
            p.choose(&h),
            (TLS_1_0, 0xc009),
            "TLS 1.0-era before TLS 1.2-only"
        );
        let h = hello(0x0303, &[0x1301, 0xc02b], Some(&[0x0304, 0x0303]));
        assert_eq!(p.choose(&h), (TLS_1_0, 0xc02b));
        let h = hello(0x0303, &[0x1301], Some(&[0x0304]));
        assert_eq!(
            p.choose(&h),
            (TLS_1_0, 0x002f),
            "nothing usable: 0x002f unoffered"
        );

        let p = prepared(DowngradeOffer::WeakCipher);
        let h = hello(0x0303, &[0xc02b, 0xc013, 0x000a, 0x0005, 0xc008], None);
        // RC4 is weakest but 3DES-ECDHE-ECDSA is servable with this key.
        assert_eq!(p.choose(&h), (TLS_1_2, 0xc008));
        let h = hello(0x0303, &[0xc02b, 0x0002, 0x0005], None);
        assert_eq!(
            p.choose(&h),
            (TLS_1_2, 0x0002),
            "nothing servable: weakest (NULL)"
        );
        let h = hello(0x0301, &[0x0005, 0x002f], None);
        assert_eq!(
            p.choose(&h),
            (TLS_1_0, 0x0005),
            "the client's own lower version"
        );
        let h = hello(0x0303, &[0xc02b, 0xc02f], None);
        assert_eq!(p.choose(&h), (TLS_1_2, 0x000a), "none weak: 3DES anyway");
        let (_, answer) = p.flight(&h);
        match answer {
            ServerAnswer::ServerHello {
                suite_offered,
                complete_flight,
                ..
            } => assert!(!suite_offered && !complete_flight),
            other => panic!("{other:?}"),
        }
        // A servable ECDHE-ECDSA suite gets a signed ServerKeyExchange.
        let h = hello(0x0303, &[0xc008], None);
        let (wire, answer) = p.flight(&h);
        match answer {
            ServerAnswer::ServerHello {
                messages,
                complete_flight,
                ..
            } => {
                assert!(complete_flight);
                assert_eq!(
                    messages,
                    vec![
                        "server_hello",
                        "certificate",
                        "server_key_exchange",
                        "server_hello_done"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(&wire[..3], &[22, 3, 3]);
    }

    fn conn(seq: usize, ip: [u8; 4], max: Option<u16>, plaintext: bool) -> DowngradeConnection {
        let hello = max.map(|v| {
            if v >= 0x0304 {
                hello(0x0303, &[0x1301], Some(&[v, 0x0303]))
            } else {
                hello(v, &[0x002f], None)
            }
        });
        DowngradeConnection {
            seq,
            peer: SocketAddr::from((ip, 40000 + seq as u16)),
            accepted_unix_ms: 0,
            offer: DowngradeOffer::Tls10,
            max_offered_version: None,
            offers_legacy_only: hello
                .as_ref()
                .and_then(|h| h.max_version())
                .is_some_and(|v| v <= TLS_1_1),
            hello,
            hello_error: None,
            plaintext,
            first_bytes: None,
            weak_suites_offered: Vec::new(),
            pipelined_bytes: 0,
            answer: ServerAnswer::Nothing {
                reason: String::new(),
            },
            reaction: ClientReaction::NotApplicable,
            bytes_read: 0,
        }
    }

    #[test]
    fn fallback_needs_modern_first_then_legacy_from_the_same_peer() {
        let a = [127, 0, 0, 1];
        let b = [127, 0, 0, 2];
        assert!(fallback_detected(&[
            conn(0, a, Some(0x0304), false),
            conn(1, a, Some(0x0301), false)
        ]));
        assert!(fallback_detected(&[
            conn(1, a, None, true),
            conn(0, a, Some(0x0303), false)
        ]));
        assert!(!fallback_detected(&[
            conn(0, a, Some(0x0301), false),
            conn(1, a, Some(0x0304), false)
        ]));
        assert!(!fallback_detected(&[
            conn(0, a, Some(0x0304), false),
            conn(1, b, Some(0x0301), false)
        ]));
        assert!(!fallback_detected(&[
            conn(0, a, Some(0x0304), false),
            conn(1, a, Some(0x0303), false)
        ]));
        assert!(!fallback_detected(&[]));
    }
}
