//! The downgrade server (DP-06) against real TLS clients on 127.0.0.1:
//! rustls (through `tls::connect`), `openssl s_client`, and hand-written
//! clients for version fallback and malformed input.
//!
//! The chain presented is valid for the name and issued by the CA the
//! clients trust, with an RSA leaf (static-RSA suites need one), so the
//! downgrade is the only thing to refuse.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::require_tool;
use hilt_net::clienthello::{build_client_hello, to_records};
use hilt_net::downgrade::{
    fallback_detected, ClientReaction, DowngradeConfig, DowngradeConnection, DowngradeOffer,
    DowngradeServer, ServerAnswer,
};
use hilt_net::tls::{connect, HandshakeOutcome, TlsClientConfig, Trust, Versions};
use hilt_net::{Link, Stop};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const NAME: &str = "telemetry.hilt.test";

struct Pki {
    ca_pem: String,
    ca_key_pem: String,
    chain_pem: String,
    key_pem: String,
    dir: std::path::PathBuf,
}

impl Pki {
    fn ca_file(&self) -> std::path::PathBuf {
        self.dir.join("ca.pem")
    }
}

/// A CA (ECDSA) and an RSA-2048 leaf for NAME it issued (the key from
/// `openssl genpkey`: ring cannot generate RSA keys). Made once per run.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        require_tool("openssl");
        let dir = std::env::temp_dir().join(format!("hnet-downgrade-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca_key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name
            .push(DnType::CommonName, "genuine telemetry CA");
        let ca_pem = p.self_signed(&ca_key).expect("ca").pem();
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl genpkey");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key_pem = String::from_utf8(out.stdout).expect("pem");
        let leaf_key = KeyPair::from_pem(&key_pem).expect("RSA key");
        let mut lp = CertificateParams::new(vec![NAME.to_string()]).expect("params");
        lp.distinguished_name.push(DnType::CommonName, NAME);
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
        let leaf = lp.signed_by(&leaf_key, &issuer).expect("leaf");
        std::fs::write(dir.join("ca.pem"), &ca_pem).expect("write");
        Pki {
            chain_pem: format!("{}{}", leaf.pem(), ca_pem),
            ca_pem,
            ca_key_pem,
            key_pem,
            dir,
        }
    })
}

fn start(offer: DowngradeOffer) -> DowngradeServer {
    start_with(offer, |_| {})
}

fn start_with(offer: DowngradeOffer, tweak: impl FnOnce(&mut DowngradeConfig)) -> DowngradeServer {
    let p = pki();
    let mut cfg = DowngradeConfig::new(offer, p.chain_pem.clone());
    cfg.key_pem = Some(p.key_pem.clone());
    cfg.reaction_timeout = Duration::from_secs(3);
    tweak(&mut cfg);
    DowngradeServer::start(&Link::loopback(), 0, cfg).expect("start")
}

fn wait(server: &DowngradeServer, n: usize) -> Vec<DowngradeConnection> {
    let mut got = server
        .wait_for(n, &Stop::after(Duration::from_secs(10)))
        .expect("connections");
    got.sort_by_key(|c| c.seq);
    got
}

fn alert_code(c: &DowngradeConnection) -> Option<u8> {
    match c.reaction {
        ClientReaction::Alert { code, .. } => Some(code),
        _ => None,
    }
}

fn rustls_try(server: &DowngradeServer, versions: Versions) -> HandshakeOutcome {
    let mut cfg = TlsClientConfig::new(NAME, Trust::AnchorsPem(pki().ca_pem.clone()));
    cfg.versions = versions;
    cfg.timeout = Duration::from_secs(5);
    let c = connect(
        &Link::loopback(),
        server.local_addr().port(),
        &cfg,
        &Stop::after(Duration::from_secs(10)),
    )
    .expect("connect");
    c.record.outcome
}

#[test]
fn rustls_refuses_tls10_and_weak_cipher_answers() {
    // TLS 1.0 answer: rustls (TLS 1.2 and 1.3) refuses the version.
    let server = start(DowngradeOffer::Tls10);
    let outcome = rustls_try(&server, Versions::Tls12And13);
    let c = &wait(&server, 1)[0];
    assert!(
        matches!(outcome, HandshakeOutcome::Failed { .. }),
        "{outcome:?}"
    );
    let hello = c.hello.as_ref().expect("hello parsed");
    assert_eq!(hello.sni.as_deref(), Some(NAME));
    assert_eq!(c.max_offered_version.as_deref(), Some("TLS 1.3"));
    assert!(!c.offers_legacy_only && c.weak_suites_offered.is_empty());
    assert!(
        matches!(
            c.answer,
            ServerAnswer::ServerHello {
                version: 0x0301,
                ..
            }
        ),
        "{:?}",
        c.answer
    );
    assert_eq!(alert_code(c), Some(70), "protocol_version: {c:?}");
    assert!(!c.accepted_downgrade());
    drop(server);

    // Weak-cipher answer: rustls offers no weak suite, so the server picks
    // 3DES anyway, which rustls never offered.
    for versions in [Versions::Tls12And13, Versions::Tls12Only] {
        let server = start(DowngradeOffer::WeakCipher);
        let outcome = rustls_try(&server, versions);
        let c = &wait(&server, 1)[0];
        assert!(
            matches!(outcome, HandshakeOutcome::Failed { .. }),
            "{outcome:?}"
        );
        match &c.answer {
            ServerAnswer::ServerHello {
                version,
                cipher_suite,
                suite_offered,
                ..
            } => {
                assert_eq!((*version, *cipher_suite), (0x0303, 0x000a));
                assert!(!suite_offered);
            }
            other => panic!("{other:?}"),
        }
        // rustls answers a suite it never offered with handshake_failure
        // (client/hs.rs, SelectedUnofferedCipherSuite); RFC 5246 suggests
        // illegal_parameter. Either is a refusal.
        assert!(
            matches!(alert_code(c), Some(40 | 47)),
            "handshake_failure/illegal_parameter ({versions:?}): {c:?}"
        );
        assert!(!c.accepted_downgrade());
    }
}

/// Runs `openssl s_client` (trusting only the test CA, checking the name)
/// until it exits or 10 s pass; returns its output.
fn s_client(addr: SocketAddr, extra: &[&str]) -> String {
    require_tool("openssl");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", NAME, "-verify_hostname", NAME, "-CAfile"])
        .arg(pki().ca_file())
        .args(["-verify_return_error"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn openssl_tls12_client_refuses_the_tls10_answer() {
    let server = start(DowngradeOffer::Tls10);
    let out = s_client(server.local_addr(), &["-tls1_2"]);
    let c = &wait(&server, 1)[0];
    assert_eq!(c.max_offered_version.as_deref(), Some("TLS 1.2"), "{c:?}");
    assert_eq!(alert_code(c), Some(70), "protocol_version: {c:?}\n{out}");
    assert!(!c.accepted_downgrade());
}

/// The positive controls: this OpenSSL (3.0) still speaks TLS 1.0 and NULL
/// suites when told to (`@SECLEVEL=0`), and then goes on with the
/// downgraded handshake; the detector must fire.
#[test]
fn openssl_told_to_allow_legacy_accepts_and_the_detector_fires() {
    let server = start(DowngradeOffer::Tls10);
    let out = s_client(
        server.local_addr(),
        &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    let c = &wait(&server, 1)[0];
    assert!(c.offers_legacy_only, "{c:?}");
    assert_eq!(c.max_offered_version.as_deref(), Some("TLS 1.0"));
    let hello = c.hello.as_ref().expect("hello");
    assert_eq!(hello.client_version, 0x0301);
    match &c.answer {
        ServerAnswer::ServerHello {
            version,
            cipher_suite,
            complete_flight,
            ..
        } => {
            assert_eq!((*version, *cipher_suite), (0x0301, 0x002f));
            assert!(complete_flight);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.reaction,
        ClientReaction::Continued {
            message: "client_key_exchange".into()
        },
        "{out}"
    );
    assert!(c.accepted_downgrade());
    drop(server);

    // TLS 1.2 offering a NULL suite: the weak-cipher answer picks it.
    let server = start(DowngradeOffer::WeakCipher);
    let out = s_client(
        server.local_addr(),
        &[
            "-tls1_2",
            "-cipher",
            "NULL-SHA:AES128-GCM-SHA256:@SECLEVEL=0",
        ],
    );
    let c = &wait(&server, 1)[0];
    assert_eq!(
        c.weak_suites_offered,
        vec!["TLS_RSA_WITH_NULL_SHA"],
        "{c:?}"
    );
    assert!(matches!(
        c.answer,
        ServerAnswer::ServerHello {
            version: 0x0303,
            cipher_suite: 0x0002,
            suite_offered: true,
            ..
        }
    ));
    assert!(c.accepted_downgrade(), "{c:?}\n{out}");
}

#[test]
fn openssl_tls12_client_refuses_a_weak_suite_it_never_offered() {
    // Offering only an AEAD suite leaves the server nothing but 3DES
    // (which this OpenSSL build does not even have).
    let server = start(DowngradeOffer::WeakCipher);
    let out = s_client(
        server.local_addr(),
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
    );
    let c = &wait(&server, 1)[0];
    assert!(c.weak_suites_offered.is_empty(), "{c:?}");
    assert!(matches!(
        c.answer,
        ServerAnswer::ServerHello {
            cipher_suite: 0x000a,
            suite_offered: false,
            ..
        }
    ));
    assert!(!c.accepted_downgrade(), "{c:?}\n{out}");
    assert_eq!(alert_code(c), Some(47), "illegal_parameter: {c:?}\n{out}");
}

/// A hand-written client: sends `first` (records), then `then` once the
/// server's flight arrived (or, without `then`, closes its sending side),
/// then reads until EOF (bounded).
fn raw_client(addr: SocketAddr, first: &[u8], then: Option<&[u8]>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(first);
    if let Some(then) = then {
        let mut buf = [0u8; 5];
        let _ = s.read_exact(&mut buf);
        std::thread::sleep(Duration::from_millis(50));
        let _ = s.write_all(then);
    } else {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut sink = [0u8; 4096];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

fn hello_records(version: u16, suites: &[u16], versions: Option<&[u16]>) -> Vec<u8> {
    to_records(
        0x0301,
        &build_client_hello(version, suites, Some(NAME), versions),
        16384,
    )
}

/// A TLS 1.3 + 1.2 hello, answered with a refusal (alert).
fn modern_hello() -> Vec<u8> {
    hello_records(0x0303, &[0x1301, 0xc02f, 0x00ff], Some(&[0x0304, 0x0303]))
}

const PROTOCOL_VERSION_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 70];

#[test]
fn version_fallback_is_detected() {
    // Modern hello, refused; then a TLS 1.0-only retry (with
    // TLS_FALLBACK_SCSV, which is recorded): fallback.
    let server = start(DowngradeOffer::Tls10);
    raw_client(
        server.local_addr(),
        &modern_hello(),
        Some(&PROTOCOL_VERSION_ALERT),
    );
    raw_client(
        server.local_addr(),
        &hello_records(0x0301, &[0x002f, 0x5600], None),
        Some(&PROTOCOL_VERSION_ALERT),
    );
    let conns = wait(&server, 2);
    assert_eq!(conns[0].max_offered_version.as_deref(), Some("TLS 1.3"));
    assert!(conns[1].offers_legacy_only);
    assert!(conns[1].hello.as_ref().is_some_and(|h| h.fallback_scsv));
    assert!(fallback_detected(&conns));
    drop(server);

    // Modern hello, then plaintext on the next connection: fallback too.
    let server = start(DowngradeOffer::Tls10);
    raw_client(
        server.local_addr(),
        &modern_hello(),
        Some(&PROTOCOL_VERSION_ALERT),
    );
    raw_client(
        server.local_addr(),
        b"POST /telemetry HTTP/1.1\r\nHost: x\r\n\r\n",
        None,
    );
    let conns = wait(&server, 2);
    assert!(conns[1].plaintext);
    assert!(conns[1]
        .first_bytes
        .as_deref()
        .is_some_and(|b| b.starts_with("POST /telemetry HTTP/1.1\\r\\n")));
    assert!(fallback_detected(&conns));
    drop(server);

    // Only modern hellos (two rustls attempts): no fallback.
    let server = start(DowngradeOffer::Tls10);
    rustls_try(&server, Versions::Tls12And13);
    rustls_try(&server, Versions::Tls12Only);
    let conns = wait(&server, 2);
    assert!(conns.iter().all(|c| !c.offers_legacy_only && !c.plaintext));
    assert!(!fallback_detected(&conns));
}

#[test]
fn hand_written_client_that_continues_is_an_accepted_downgrade() {
    // Independent of any TLS library: a TLS 1.0 hello, then a
    // ClientKeyExchange record after the server's flight.
    let server = start(DowngradeOffer::Tls10);
    let mut cke = vec![16u8, 0, 0, 130, 0, 128];
    cke.extend_from_slice(&[0x11; 128]);
    raw_client(
        server.local_addr(),
        &hello_records(0x0301, &[0x0035, 0x002f], None),
        Some(&to_records(0x0301, &cke, 16384)),
    );
    let c = &wait(&server, 1)[0];
    assert_eq!(
        c.reaction,
        ClientReaction::Continued {
            message: "client_key_exchange".into()
        }
    );
    assert!(c.accepted_downgrade());
}

#[test]
fn malformed_input_is_recorded_and_the_server_keeps_serving() {
    let server = start_with(DowngradeOffer::Tls10, |c| {
        c.idle_timeout = Duration::from_millis(800);
        c.reaction_timeout = Duration::from_millis(400);
    });
    let addr = server.local_addr();
    let hello = modern_hello();
    let mut huge_hs = hello.clone();
    huge_hs[6..9].copy_from_slice(&[0xff, 0xff, 0xff]); // handshake length 16 MiB
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            (0..200u8).map(|i| i.wrapping_mul(37) | 0x80).collect(),
        ),
        (
            "record length 65535",
            vec![22, 3, 1, 0xff, 0xff, 1, 0, 0, 4],
        ),
        ("handshake length 2^24-1", huge_hs),
        ("truncated hello", hello[..hello.len() / 2].to_vec()),
        ("alert first", vec![21, 3, 1, 0, 2, 2, 40]),
        ("zero bytes", vec![0u8; 64]),
        ("silent", Vec::new()),
    ];
    for (_, bytes) in &inputs {
        raw_client(addr, bytes, None);
    }
    // A hello followed by silence: the reaction is a timeout.
    {
        let mut s = TcpStream::connect(addr).expect("connect");
        let _ = s.write_all(&hello);
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        let mut sink = [0u8; 4096];
        while let Ok(n) = s.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
    let conns = wait(&server, inputs.len() + 1);
    for (c, (what, _)) in conns.iter().zip(&inputs) {
        assert!(c.hello.is_none(), "{what}: {c:?}");
        assert!(c.hello_error.is_some(), "{what}: {c:?}");
        assert!(!c.accepted_downgrade(), "{what}");
    }
    let by = |what: &str| {
        let i = inputs.iter().position(|(w, _)| *w == what).expect("input");
        &conns[i]
    };
    assert!(by("garbage").plaintext);
    assert!(by("zero bytes").plaintext);
    for what in [
        "record length 65535",
        "handshake length 2^24-1",
        "alert first",
    ] {
        assert!(
            matches!(by(what).answer, ServerAnswer::Alert { alert } if alert.code == 50),
            "{what}: {:?}",
            by(what)
        );
    }
    assert!(by("truncated hello")
        .hello_error
        .as_deref()
        .is_some_and(|e| e.contains("closed")));
    assert!(by("silent").first_bytes.is_none());
    assert_eq!(conns[inputs.len()].reaction, ClientReaction::Timeout);
    // Still serving: rustls gets the TLS 1.0 answer and refuses it.
    rustls_try(&server, Versions::Tls12And13);
    let conns = wait(&server, inputs.len() + 2);
    assert_eq!(alert_code(&conns[inputs.len() + 1]), Some(70));
    let evidence = serde_json::to_string(&server.shutdown()).expect("serialise");
    assert!(evidence.contains("\"TLS 1.3\""));
    assert!(evidence.contains("TLS_AES_128_GCM_SHA256"));
}

#[test]
fn signed_ecdhe_flight_is_accepted_by_openssl_and_an_unsignable_one_is_flagged() {
    // TLS 1.2, ECDHE-RSA with a CBC-SHA1 suite: the server signs the ECDHE
    // parameters with the leaf key; OpenSSL verifies them and continues.
    let server = start(DowngradeOffer::WeakCipher);
    let out = s_client(
        server.local_addr(),
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256",
        ],
    );
    let c = &wait(&server, 1)[0];
    match &c.answer {
        ServerAnswer::ServerHello {
            cipher_suite,
            complete_flight,
            messages,
            weakness,
            ..
        } => {
            assert_eq!(*cipher_suite, 0xc013);
            assert!(complete_flight);
            assert!(messages.contains(&"server_key_exchange"));
            assert_eq!(*weakness, Some(hilt_net::suites::Weakness::CbcSha1));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.accepted_downgrade(), "{c:?}\n{out}");
    drop(server);

    // The same with an ECDSA (P-256) leaf from the same CA: ECDHE-ECDSA.
    let p = pki();
    let leaf_key = KeyPair::generate().expect("key");
    let mut lp = CertificateParams::new(vec![NAME.to_string()]).expect("params");
    lp.distinguished_name.push(DnType::CommonName, NAME);
    let issuer =
        Issuer::from_ca_cert_pem(&p.ca_pem, KeyPair::from_pem(&p.ca_key_pem).expect("ca key"))
            .expect("issuer");
    let leaf = lp.signed_by(&leaf_key, &issuer).expect("leaf");
    let server = start_with(DowngradeOffer::WeakCipher, |c| {
        c.chain_pem = format!("{}{}", leaf.pem(), p.ca_pem);
        c.key_pem = Some(leaf_key.serialize_pem());
    });
    let out = s_client(
        server.local_addr(),
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
    );
    let c = &wait(&server, 1)[0];
    assert!(
        matches!(
            c.answer,
            ServerAnswer::ServerHello {
                cipher_suite: 0xc00a,
                complete_flight: true,
                ..
            }
        ),
        "{c:?}"
    );
    assert!(c.accepted_downgrade(), "{c:?}\n{out}");
    drop(server);

    // TLS 1.0 with only ECDHE suites: no TLS 1.0 signature can be made, so
    // the flight lacks its ServerKeyExchange and says so; OpenSSL aborts.
    let server = start(DowngradeOffer::Tls10);
    let out = s_client(
        server.local_addr(),
        &["-tls1", "-cipher", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"],
    );
    let c = &wait(&server, 1)[0];
    assert!(
        matches!(
            c.answer,
            ServerAnswer::ServerHello {
                cipher_suite: 0xc013,
                complete_flight: false,
                ..
            }
        ),
        "{c:?}"
    );
    assert!(!c.accepted_downgrade(), "{c:?}\n{out}");
    // OpenSSL wanted a ServerKeyExchange and got ServerHelloDone.
    assert_eq!(alert_code(c), Some(10), "unexpected_message: {c:?}\n{out}");
}
