//! The telemetry client's TLS flaws, each against the reference, on whole
//! boards (loopback wiring): the board is pointed at servers made here, by
//! console `config set telemetry_server`, as a lab does.
//!
//! - `tls-skips-hostname-check`: a certificate from the telemetry CA for
//!   another host name is taken;
//! - `tls-ignores-expiry`: an expired or not yet valid certificate from the
//!   telemetry CA is taken;
//! - `tls-version-fallback`: after a server answered with TLS 1.0 (or a
//!   `protocol_version` alert), the client retries at once with a TLS 1.0
//!   ClientHello.
//!
//! Certificates are minted with the telemetry CA key the board publishes
//! (`telemetry-ca.key`). Board indices: 190-193.

mod common;
mod net_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::*;
use net_common::{mqtt_tls_server, Seen};
use rcgen::{date_time_ymd, CertificateParams, DistinguishedName, DnType, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const GENUINE_NAME: &str = "telemetry.hilt.test";

type Credential = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A board with its console logged in, telemetry every 60 s (so only a
/// change of server starts an attempt while a test looks).
struct Board {
    sim: Sim,
    index: u32,
    console: Console,
}

impl Board {
    fn up(index: u32, flaws: &[&str]) -> Board {
        let sim = Sim::up_with(index, 1, flaws, &["--loopback"]);
        let pw = sim.password(index);
        let mut console = sim.console(index);
        console.login("admin", &pw).expect("login");
        assert_eq!(console.cmd("config set telemetry_interval_s 60"), "ok");
        Board {
            sim,
            index,
            console,
        }
    }

    fn dir(&self) -> std::path::PathBuf {
        self.sim.board_dir(self.index)
    }

    fn point_at(&mut self, server: SocketAddr) {
        let line = format!("config set telemetry_server {server}");
        assert_eq!(self.console.cmd(&line), "ok");
    }

    /// The event-log line of `kind` that names `server`, waiting up to 5 s.
    fn event(&mut self, kind: &str, server: SocketAddr) -> Option<String> {
        let needle = server.to_string();
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.console.cmd("log");
            if let Some(l) = log
                .lines()
                .find(|l| l.contains(&format!(" {kind} ")) && l.contains(&needle))
            {
                return Some(l.to_string());
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Points the client at a telemetry server with `cred`; returns what
    /// the server saw.
    fn try_server(&mut self, cred: Credential) -> (SocketAddr, Seen) {
        let (addr, rx) = mqtt_tls_server(cred.0, cred.1);
        self.point_at(addr);
        let seen = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| Seen::Other(format!("nothing within 10 s: {e}")));
        (addr, seen)
    }

    /// The client talked to the server: it published its report.
    fn accepts(&mut self, what: &str, cred: Credential) {
        let (addr, seen) = self.try_server(cred);
        match seen {
            Seen::Published(topic, _, peer) => {
                assert!(topic.ends_with("/telemetry"), "{what}: {topic}");
                assert_eq!(peer, format!("127.77.0.{}", self.index + 2), "{what}");
            }
            other => panic!("{what}: the client should publish, the server saw {other:?}"),
        }
        assert!(
            self.event("telemetry_sent", addr).is_some(),
            "{what}: no telemetry_sent event"
        );
    }

    /// The client refused the server's certificate; returns the event.
    fn refuses(&mut self, what: &str, cred: Credential) -> String {
        let (addr, seen) = self.try_server(cred);
        assert!(
            matches!(seen, Seen::HandshakeFailed(_)),
            "{what}: the handshake should fail, the server saw {seen:?}"
        );
        self.event("tls_verification_failed", addr)
            .unwrap_or_else(|| panic!("{what}: no tls_verification_failed event"))
    }
}

fn key_der(k: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()))
}

fn leaf_params(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> CertificateParams {
    let mut p = CertificateParams::new(vec![name.to_string()]).expect("params");
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = date_time_ymd(from.0, from.1, from.2);
    p.not_after = date_time_ymd(to.0, to.1, to.2);
    p
}

/// A server credential issued by the board's telemetry CA (its published
/// TEST-ONLY key), for `name`, valid `from`..`to`; chain leaf + CA.
fn issued(dir: &Path, name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> Credential {
    let ca_key = KeyPair::from_pem(
        &std::fs::read_to_string(dir.join("telemetry-ca.key")).expect("telemetry-ca.key"),
    )
    .expect("CA key");
    // The subject the board gives its telemetry CA.
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CountryName, "ZZ");
    ca.distinguished_name.push(
        DnType::OrganizationName,
        "hilt simulated devices (TEST ONLY)",
    );
    ca.distinguished_name
        .push(DnType::CommonName, "hilt-sim Telemetry Root CA (TEST ONLY)");
    let issuer = Issuer::new(ca, ca_key);
    let k = KeyPair::generate().expect("key");
    let leaf = leaf_params(name, from, to)
        .signed_by(&k, &issuer)
        .expect("leaf");
    let ca_cert = CertificateDer::from_pem_file(dir.join("telemetry-ca.pem")).expect("CA cert");
    (vec![leaf.der().clone(), ca_cert], key_der(&k))
}

/// Valid now, for the right name: what the genuine server holds.
fn in_date(dir: &Path, name: &str) -> Credential {
    issued(dir, name, (2024, 1, 1), (2049, 1, 1))
}

fn expired(dir: &Path) -> Credential {
    issued(dir, GENUINE_NAME, (2020, 1, 1), (2021, 1, 1))
}

fn not_yet_valid(dir: &Path) -> Credential {
    issued(dir, GENUINE_NAME, (2040, 1, 1), (2045, 1, 1))
}

fn self_signed(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> Credential {
    let k = KeyPair::generate().expect("key");
    let c = leaf_params(name, from, to).self_signed(&k).expect("cert");
    (vec![c.der().clone()], key_der(&k))
}

// ------------------------------------------------------- downgrade server

/// One ClientHello as the downgrade server saw it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // fields are shown in assertion messages
struct Hello {
    peer: String,
    at: Instant,
    record_version: u16,
    client_version: u16,
    /// The supported_versions extension, if sent.
    supported_versions: Option<Vec<u16>>,
    suites: Vec<u16>,
}

impl Hello {
    fn max_version(&self) -> u16 {
        self.supported_versions
            .as_ref()
            .and_then(|v| v.iter().copied().filter(|x| x & 0xff00 == 0x0300).max())
            .unwrap_or(self.client_version)
    }
}

/// How the downgrade server answers every hello.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// TLS 1.0 ServerHello (0x002f), Certificate, ServerHelloDone, as an old
    /// server (or a downgrading attacker) answers.
    Tls10,
    /// A fatal `protocol_version` alert, as a version-intolerant server.
    ProtocolVersionAlert,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses a ClientHello record (the whole hello in one record).
fn parse_hello(rec: &[u8], peer: String) -> Option<Hello> {
    if *rec.first()? != 22 || *rec.get(5)? != 1 {
        return None;
    }
    let body = rec.get(9..)?;
    let client_version = be16(body, 0)?;
    let mut at = 34;
    at += 1 + usize::from(*body.get(at)?);
    let n = usize::from(be16(body, at)?);
    let suites = body
        .get(at + 2..at + 2 + n)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    at += 2 + n;
    at += 1 + usize::from(*body.get(at)?);
    let mut supported_versions = None;
    if let Some(total) = be16(body, at) {
        let exts = body.get(at + 2..at + 2 + usize::from(total))?;
        let mut e = 0;
        while e + 4 <= exts.len() {
            let kind = be16(exts, e)?;
            let len = usize::from(be16(exts, e + 2)?);
            let v = exts.get(e + 4..e + 4 + len)?;
            if kind == 0x002b {
                supported_versions = Some(
                    v.get(1..)?
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                );
            }
            e += 4 + len;
        }
    }
    Some(Hello {
        peer,
        at: Instant::now(),
        record_version: be16(rec, 1)?,
        client_version,
        supported_versions,
        suites,
    })
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 1];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    record(22, &m)
}

fn tls10_flight(chain: &[CertificateDer<'static>]) -> Vec<u8> {
    let mut sh = vec![3, 1];
    sh.extend_from_slice(&[0x42; 32]);
    sh.push(0);
    sh.extend_from_slice(&0x002fu16.to_be_bytes());
    sh.push(0);
    let mut certs = Vec::new();
    for c in chain {
        certs.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        certs.extend_from_slice(c);
    }
    let mut cert_body = (certs.len() as u32).to_be_bytes()[1..].to_vec();
    cert_body.extend_from_slice(&certs);
    let mut out = handshake(2, &sh);
    out.extend(handshake(11, &cert_body));
    out.extend(handshake(14, &[]));
    out
}

fn serve_downgrade(
    mut s: TcpStream,
    peer: String,
    answer: Answer,
    chain: &[CertificateDer<'static>],
) -> Option<Hello> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let mut rec = head.to_vec();
    rec.resize(5 + usize::from(u16::from_be_bytes([head[3], head[4]])), 0);
    s.read_exact(&mut rec[5..]).ok()?;
    let hello = parse_hello(&rec, peer)?;
    let out = match answer {
        Answer::Tls10 => tls10_flight(chain),
        Answer::ProtocolVersionAlert => record(21, &[2, 70]),
    };
    s.write_all(&out).ok()?;
    // Read the client's reaction until it closes (at most 3 s).
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut sink = [0u8; 1024];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    Some(hello)
}

/// A server that answers every ClientHello with a downgrade, for 30 s;
/// reports each hello.
fn downgrade_server(
    answer: Answer,
    chain: Vec<CertificateDer<'static>>,
) -> (SocketAddr, Receiver<Hello>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            match l.accept() {
                Ok((s, peer)) => {
                    let _ = s.set_nonblocking(false);
                    let tx = tx.clone();
                    let chain = chain.clone();
                    std::thread::spawn(move || {
                        if let Some(h) = serve_downgrade(s, peer.ip().to_string(), answer, &chain) {
                            let _ = tx.send(h);
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (addr, rx)
}

/// Points `board` at a downgrade server; returns the hellos it got within
/// `watch` of the first.
fn hellos_at_downgrade_server(
    board: &mut Board,
    answer: Answer,
    watch: Duration,
) -> (SocketAddr, Vec<Hello>) {
    let (chain, _) = in_date(&board.dir(), GENUINE_NAME);
    let (addr, rx) = downgrade_server(answer, chain);
    board.point_at(addr);
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a ClientHello");
    let mut all = vec![first];
    let end = Instant::now() + watch;
    while let Ok(h) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        all.push(h);
    }
    (addr, all)
}

// ------------------------------------------------------------------ tests

#[test]
fn reference_client_refuses_wrong_names_bad_dates_and_downgrades() {
    let mut b = Board::up(190, &[]);
    let dir = b.dir();
    // The positive control: a certificate like the genuine server's.
    b.accepts("in date, right name", in_date(&dir, GENUINE_NAME));
    let e = b.refuses("another name", in_date(&dir, "rogue.example.test"));
    assert!(e.contains("not valid for name"), "{e}");
    let e = b.refuses("expired", expired(&dir));
    assert!(e.contains("expired"), "{e}");
    let e = b.refuses("not yet valid", not_yet_valid(&dir));
    assert!(
        e.contains("not valid yet") || e.contains("NotValidYet"),
        "{e}"
    );
    // TLS 1.0 answered (and a protocol_version alert): one modern hello,
    // then nothing until the interval (60 s) is up.
    for answer in [Answer::Tls10, Answer::ProtocolVersionAlert] {
        let (addr, hellos) = hellos_at_downgrade_server(&mut b, answer, Duration::from_secs(3));
        assert_eq!(hellos.len(), 1, "{answer:?}: {hellos:?}");
        assert!(hellos[0].max_version() >= 0x0303, "{hellos:?}");
        let e = b
            .event("tls_handshake_failed", addr)
            .unwrap_or_else(|| panic!("{answer:?}: no tls_handshake_failed event"));
        assert!(!e.contains("retried"), "{e}");
    }
}

#[test]
fn skips_hostname_check_takes_a_trusted_certificate_for_another_name() {
    let mut b = Board::up(191, &["tls-skips-hostname-check"]);
    let dir = b.dir();
    b.accepts("another name", in_date(&dir, "rogue.example.test"));
    // Chain and dates are still checked.
    let e = b.refuses(
        "self-signed",
        self_signed(GENUINE_NAME, (2024, 1, 1), (2049, 1, 1)),
    );
    assert!(
        e.contains("UnknownIssuer") || e.contains("BadSignature"),
        "{e}"
    );
    let e = b.refuses("expired", expired(&dir));
    assert!(e.contains("expired"), "{e}");
}

#[test]
fn ignores_expiry_takes_a_trusted_certificate_out_of_its_dates() {
    let mut b = Board::up(192, &["tls-ignores-expiry"]);
    let dir = b.dir();
    b.accepts("expired", expired(&dir));
    b.accepts("not yet valid", not_yet_valid(&dir));
    // Chain and name are still checked, expired or not.
    let e = b.refuses(
        "expired, self-signed",
        self_signed(GENUINE_NAME, (2020, 1, 1), (2021, 1, 1)),
    );
    assert!(
        e.contains("UnknownIssuer") || e.contains("BadSignature"),
        "{e}"
    );
    let e = b.refuses("another name", in_date(&dir, "rogue.example.test"));
    assert!(e.contains("not valid for name"), "{e}");
    let e = b.refuses(
        "expired, another name",
        issued(&dir, "rogue.example.test", (2020, 1, 1), (2021, 1, 1)),
    );
    assert!(e.contains("not valid for name"), "{e}");
}

#[test]
fn version_fallback_retries_at_once_with_a_tls10_hello() {
    let mut b = Board::up(193, &["tls-version-fallback"]);
    let dir = b.dir();
    let me = format!("127.77.0.{}", 193 + 2);
    for answer in [Answer::Tls10, Answer::ProtocolVersionAlert] {
        let (addr, hellos) = hellos_at_downgrade_server(&mut b, answer, Duration::from_secs(4));
        assert_eq!(hellos.len(), 2, "{answer:?}: {hellos:?}");
        let (modern, legacy) = (&hellos[0], &hellos[1]);
        assert!(modern.max_version() >= 0x0303, "{modern:?}");
        assert!(modern.supported_versions.is_some(), "{modern:?}");
        // The retry: TLS 1.0 only, from the same board, at once.
        assert_eq!(legacy.record_version, 0x0301, "{legacy:?}");
        assert_eq!(legacy.client_version, 0x0301, "{legacy:?}");
        assert_eq!(legacy.supported_versions, None, "{legacy:?}");
        assert!(legacy.suites.contains(&0x002f), "{legacy:?}");
        assert_eq!((&modern.peer, &legacy.peer), (&me, &me));
        assert!(legacy.at - modern.at < Duration::from_secs(2), "{hellos:?}");
        let e = b
            .event("tls_handshake_failed", addr)
            .unwrap_or_else(|| panic!("{answer:?}: no tls_handshake_failed event"));
        assert!(e.contains("retried with TLS 1.0"), "{e}");
        if let Answer::Tls10 = answer {
            assert!(e.contains("ServerHello version 0x0301 suite 0x002f"), "{e}");
        }
    }
    // Certificates are checked as by the reference.
    b.accepts("in date, right name", in_date(&dir, GENUINE_NAME));
    b.refuses("expired", expired(&dir));
}
