//! The TLS client and the rogue server against each other and against
//! OpenSSL (`openssl s_client` as client, `openssl s_server` as server).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::require_tool;
use hilt_net::rogue::{CaMaterial, RogueCert, RogueConfig, RogueConnection, RogueServer};
use hilt_net::tls::{
    connect, probe_cipher_suites, probe_legacy_hello, probe_versions, HandshakeOutcome,
    LegacyVersion, TlsClientConfig, Trust, Versions,
};
use hilt_net::{Link, Stop};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const NAME: &str = "telemetry.hilt.test";

struct Genuine {
    ca: CaMaterial,
    leaf_chain_pem: String,
    leaf_key_pem: String,
    dir: std::path::PathBuf,
}

impl Genuine {
    fn ca_file(&self) -> std::path::PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for Genuine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn genuine() -> Genuine {
    let ca_key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name
        .push(DnType::CommonName, "genuine telemetry CA");
    let ca_cert = p.self_signed(&ca_key).expect("ca");
    let ca_pem = ca_cert.pem();
    let leaf_key = KeyPair::generate().expect("key");
    let mut lp = CertificateParams::new(vec![NAME.to_string()]).expect("params");
    lp.distinguished_name.push(DnType::CommonName, NAME);
    let issuer = Issuer::from_ca_cert_pem(
        &ca_pem,
        KeyPair::from_pem(&ca_key.serialize_pem()).expect("k"),
    )
    .expect("issuer");
    let leaf = lp.signed_by(&leaf_key, &issuer).expect("leaf");
    let dir =
        std::env::temp_dir().join(format!("hnet-tls-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write");
    Genuine {
        ca: CaMaterial {
            cert_pem: ca_pem.clone(),
            key_pem: ca_key.serialize_pem(),
        },
        leaf_chain_pem: format!("{}{}", leaf.pem(), ca_pem),
        leaf_key_pem: leaf_key.serialize_pem(),
        dir,
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn modes(g: &Genuine) -> Vec<(RogueCert, Option<u8>)> {
    vec![
        (
            RogueCert::Genuine {
                chain_pem: g.leaf_chain_pem.clone(),
                key_pem: g.leaf_key_pem.clone(),
            },
            None,
        ),
        (RogueCert::SelfSigned, Some(48)),
        (RogueCert::UntrustedCa, Some(48)),
        (
            RogueCert::WrongHostname {
                ca: g.ca.clone(),
                wrong_name: "evil.example.test".into(),
            },
            Some(42),
        ),
        (
            RogueCert::Expired {
                ca: Some(g.ca.clone()),
            },
            Some(45),
        ),
    ]
}

fn start(cert: RogueCert) -> RogueServer {
    let mut cfg = RogueConfig::new(cert, NAME);
    cfg.idle_timeout = Duration::from_secs(3);
    RogueServer::start(&Link::loopback(), 0, cfg).expect("rogue server")
}

fn one_connection(server: RogueServer) -> RogueConnection {
    let recs = server
        .wait_for(1, &Stop::after(Duration::from_secs(15)))
        .expect("a connection");
    let _ = server.shutdown();
    recs.into_iter().next().expect("record")
}

#[test]
fn rustls_client_against_each_rogue_mode() {
    let g = genuine();
    for (cert, alert) in modes(&g) {
        let mode = cert.mode_name();
        let server = start(cert);
        let cfg = TlsClientConfig::new(NAME, Trust::Anchors(g.ca_file()));
        let stop = Stop::after(Duration::from_secs(15));
        let mut c =
            connect(&Link::loopback(), server.local_addr().port(), &cfg, &stop).expect("connect");
        assert!(
            !c.record.chain.is_empty(),
            "{mode}: chain recorded even on failure"
        );
        match alert {
            None => {
                assert!(c.record.completed(), "{mode}: {:?}", c.record.outcome);
                assert!(c.record.verified);
                assert_eq!(c.record.protocol_version.as_deref(), Some("TLSv1_3"));
                let leaf = &c.record.chain[0];
                assert!(leaf.subject.contains(NAME), "{}", leaf.subject);
                assert_eq!(leaf.subject_alt_names, vec![format!("DNS:{NAME}")]);
                assert_eq!((leaf.key_type.as_str(), leaf.key_bits), ("EC P-256", 256));
                assert!(c.record.chain[1].is_ca);
                let mut s = c.stream.take().expect("stream");
                s.write_all(b"secret telemetry").expect("write");
                s.close();
                let rec = one_connection(server);
                assert!(rec.handshake_completed);
                assert_eq!(rec.sni.as_deref(), Some(NAME));
                assert_eq!(rec.app_data, b"secret telemetry");
            }
            Some(code) => {
                match &c.record.outcome {
                    HandshakeOutcome::Failed { alert_sent, .. } => {
                        assert_eq!(
                            alert_sent.map(|a| a.code),
                            Some(code),
                            "{mode}: {:?}",
                            c.record.outcome
                        )
                    }
                    other => panic!("{mode}: rustls client accepted: {other:?}"),
                }
                let rec = one_connection(server);
                assert!(!rec.handshake_completed, "{mode}");
                assert_eq!(rec.alert.map(|a| a.code), Some(code), "{mode}: {rec:?}");
                assert!(rec.app_data.is_empty());
            }
        }
    }
}

/// Runs `openssl s_client` trusting only the genuine CA; returns its exit status and output.
fn s_client(addr: SocketAddr, ca: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            NAME,
            "-verify_hostname",
            NAME,
        ])
        .arg("-CAfile")
        .arg(ca)
        .args(["-verify_return_error", "-quiet"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"hello from openssl\n");
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = wait_with_timeout(child, Duration::from_secs(15));
    (out.0, out.1)
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> (bool, String) {
    let until = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn openssl_client_against_each_rogue_mode() {
    require_tool("openssl");
    let g = genuine();
    for tls in ["-tls1_3", "-tls1_2"] {
        for (cert, alert) in modes(&g) {
            let mode = cert.mode_name();
            let server = start(cert);
            let (_ok, out) = s_client(server.local_addr(), &g.ca_file(), &[tls]);
            let rec = one_connection(server);
            match alert {
                None => {
                    assert!(rec.handshake_completed, "{mode} {tls}: {rec:?}\n{out}");
                    assert_eq!(rec.app_data, b"hello from openssl\n", "{mode} {tls}");
                }
                Some(code) => {
                    assert!(
                        !rec.handshake_completed,
                        "{mode} {tls}: openssl completed\n{out}"
                    );
                    // OpenSSL reports a hostname mismatch as bad_certificate too
                    // (X509_V_ERR_HOSTNAME_MISMATCH maps to SSL_AD_BAD_CERTIFICATE).
                    assert_eq!(
                        rec.alert.map(|a| a.code),
                        Some(code),
                        "{mode} {tls}: {rec:?}\n{out}"
                    );
                    assert!(rec.alert_source.is_some());
                }
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `openssl s_server` with an RSA-2048 certificate; killed on drop.
struct SServer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rsa_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (key, cert) = (dir.join("rsa-key.pem"), dir.join("rsa-cert.pem"));
    if !cert.exists() {
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={NAME}"),
            ])
            .args([
                "-addext",
                &format!("subjectAltName=DNS:{NAME},IP:127.0.0.1"),
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl req");
        assert!(st.success());
    }
    (key, cert)
}

fn s_server(dir: &std::path::Path, extra: &[&str]) -> SServer {
    require_tool("openssl");
    let (key, cert) = rsa_cert(dir);
    let port = free_port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-naccept",
            "100",
            "-quiet",
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < until, "s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    SServer { child, addr }
}

#[test]
fn client_records_openssl_server_rsa_chain_and_alpn() {
    let g = genuine();
    let srv = s_server(&g.dir, &["-alpn", "http/1.1"]);
    let (_, cert) = rsa_cert(&g.dir);
    let mut cfg = TlsClientConfig::new(NAME, Trust::Anchors(cert));
    cfg.alpn = vec!["h2".into(), "http/1.1".into()];
    let c = connect(
        &Link::loopback(),
        srv.addr.port(),
        &cfg,
        &Stop::after(Duration::from_secs(15)),
    )
    .expect("connect");
    assert!(c.record.completed(), "{:?}", c.record.outcome);
    assert_eq!(c.record.alpn.as_deref(), Some("http/1.1"));
    let leaf = &c.record.chain[0];
    assert_eq!((leaf.key_type.as_str(), leaf.key_bits), ("RSA", 2048));
    assert!(
        leaf.subject_alt_names.contains(&"IP:127.0.0.1".to_string()),
        "{:?}",
        leaf.subject_alt_names
    );
    assert!(leaf.not_after_unix > leaf.not_before_unix);
    let json = serde_json::to_string(&c.record).expect("json");
    assert!(json.contains("\"protocol_version\":\"TLSv1_3\""), "{json}");
    if let Some(s) = c.stream {
        s.close(); // s_server serves one connection at a time
    }

    // The same server is not trusted by the genuine CA: unknown_ca, chain still recorded.
    let cfg = TlsClientConfig::new(NAME, Trust::Anchors(g.ca_file()));
    let c = connect(
        &Link::loopback(),
        srv.addr.port(),
        &cfg,
        &Stop::after(Duration::from_secs(15)),
    )
    .expect("connect");
    match &c.record.outcome {
        HandshakeOutcome::Failed { alert_sent, .. } => {
            assert_eq!(alert_sent.map(|a| a.code), Some(48))
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(c.record.chain[0].key_bits, 2048);
}

#[test]
fn version_and_suite_probes_against_openssl() {
    let g = genuine();
    let only12 = s_server(&g.dir, &["-tls1_2"]);
    let stop = Stop::after(Duration::from_secs(60));
    let v = probe_versions(&Link::loopback(), only12.addr.port(), NAME, &stop).expect("probe");
    assert!(!v.tls13.completed() && v.tls12.completed(), "{v:?}");
    assert_eq!(v.tls12.offered_versions, Versions::Tls12Only);
    let suites =
        probe_cipher_suites(&Link::loopback(), only12.addr.port(), NAME, &stop).expect("suites");
    // RSA certificate, TLS 1.2 only: the ECDHE-RSA suites, no ECDSA, no TLS 1.3.
    for (name, ok) in &suites {
        let want = name.starts_with("TLS_ECDHE_RSA");
        assert_eq!(*ok, want, "{name}: {suites:?}");
    }
    drop(only12);
    let only13 = s_server(&g.dir, &["-tls1_3"]);
    let v = probe_versions(&Link::loopback(), only13.addr.port(), NAME, &stop).expect("probe");
    assert!(v.tls13.completed() && !v.tls12.completed(), "{v:?}");
    match &v.tls12.outcome {
        HandshakeOutcome::Failed { alert_received, .. } => {
            assert_eq!(alert_received.map(|a| a.code), Some(70))
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn legacy_hello_finds_tls10_acceptance() {
    let g = genuine();
    let stop = Stop::after(Duration::from_secs(30));
    let legacy = s_server(&g.dir, &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]);
    let p = probe_legacy_hello(
        &Link::loopback(),
        legacy.addr.port(),
        NAME,
        LegacyVersion::Tls10,
        Duration::from_secs(5),
        &stop,
    )
    .expect("probe");
    assert!(p.accepted, "{p:?}");
    assert_eq!(p.server_version, Some(0x0301));
    assert!(p.cipher_suite.is_some());
    drop(legacy);
    let modern = s_server(&g.dir, &[]);
    let p = probe_legacy_hello(
        &Link::loopback(),
        modern.addr.port(),
        NAME,
        LegacyVersion::Tls10,
        Duration::from_secs(5),
        &stop,
    )
    .expect("probe");
    assert!(!p.accepted, "{p:?}");
    // OpenSSL 3.0 with no legacy version enabled answers internal_error
    // (80) rather than protocol_version (70); either is a refusal.
    assert!(matches!(p.alert.map(|a| a.code), Some(70 | 80)), "{p:?}");
    // rustls (the rogue server) refuses TLS 1.1 as well.
    let server = start(RogueCert::SelfSigned);
    let p = probe_legacy_hello(
        &Link::loopback(),
        server.local_addr().port(),
        NAME,
        LegacyVersion::Tls11,
        Duration::from_secs(5),
        &stop,
    )
    .expect("probe");
    assert!(!p.accepted, "{p:?}");
    assert!(p.alert.is_some(), "{p:?}");
}

#[test]
fn inspect_only_records_an_untrusted_chain_and_completes() {
    let server = start(RogueCert::SelfSigned);
    let cfg = TlsClientConfig::new(NAME, Trust::InspectOnly);
    let c = connect(
        &Link::loopback(),
        server.local_addr().port(),
        &cfg,
        &Stop::after(Duration::from_secs(10)),
    )
    .expect("connect");
    assert!(c.record.completed());
    assert!(!c.record.verified, "inspect-only never counts as verified");
    assert!(c.record.chain[0].self_signed);
    drop(c);
    let _ = server.shutdown();
}

#[test]
fn rogue_server_survives_garbage() {
    let server = start(RogueCert::SelfSigned);
    let mut s = TcpStream::connect(server.local_addr()).expect("connect");
    let _ = s.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5]);
    let _ = s.write_all(&vec![0x41u8; 70_000]);
    let mut buf = [0u8; 64];
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.read(&mut buf);
    drop(s);
    let rec = one_connection(server);
    assert!(!rec.handshake_completed);
    assert!(rec.error.is_some());
}

#[test]
fn silent_server_ends_at_the_timeout() {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let mut cfg = TlsClientConfig::new(NAME, Trust::InspectOnly);
    cfg.timeout = Duration::from_millis(600);
    let started = Instant::now();
    let r = connect(
        &Link::loopback(),
        l.local_addr().expect("addr").port(),
        &cfg,
        &Stop::after(Duration::from_secs(30)),
    );
    assert!(matches!(r, Err(hilt_net::NetError::Stopped(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn plain_http_server_is_a_failed_handshake_not_a_panic() {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = l.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let cfg = TlsClientConfig::new(NAME, Trust::InspectOnly);
    let c = connect(
        &Link::loopback(),
        addr.port(),
        &cfg,
        &Stop::after(Duration::from_secs(10)),
    )
    .expect("connect");
    assert!(
        matches!(c.record.outcome, HandshakeOutcome::Failed { .. }),
        "{:?}",
        c.record.outcome
    );
    let _ = h.join();
}
