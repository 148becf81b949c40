//! The TLS telemetry client against genuine and rogue servers (made here
//! with rcgen), on loopback.

mod net_common;

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hilt_sim::net::{self, event_kind, NetConfig, NetHandle, NetMode};
use net_common::{mqtt_tls_server as server, wait_until, MockDevice, Seen};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn start(
    index: u32,
    flaws: &[&str],
    server: SocketAddr,
    name: Option<&str>,
) -> (Arc<MockDevice>, NetHandle) {
    let dev = MockDevice::new(index, flaws);
    dev.set("telemetry_server", &server.to_string());
    if let Some(n) = name {
        dev.set("telemetry_server_name", n);
    }
    let h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    (dev, h)
}

fn key_der(k: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()))
}

fn leaf_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(vec![name.to_string()]).expect("params");
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p
}

/// The device's credential published for labs: the genuine server.
fn genuine(dir: &std::path::Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_file_iter(dir.join("telemetry-server.pem"))
        .expect("chain file")
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_file(dir.join("telemetry-server.key")).expect("key");
    (chain, key)
}

/// Waits for the rogue server's report and for a TLS security event on the
/// device; returns the event's detail.
fn expect_rejected(dev: &MockDevice, rx: &Receiver<Seen>) -> String {
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(Seen::HandshakeFailed(_)) => {}
        other => panic!("server should see a failed handshake, saw {other:?}"),
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            !dev.events_of(event_kind::TLS_VERIFICATION_FAILED)
                .is_empty()
        }),
        "no {} event",
        event_kind::TLS_VERIFICATION_FAILED
    );
    let ev = &dev.events_of(event_kind::TLS_VERIFICATION_FAILED)[0];
    assert_eq!(ev.severity, 4);
    assert!(dev.events_of(event_kind::TELEMETRY_SENT).is_empty());
    ev.detail.clone()
}

#[test]
fn accepts_the_genuine_server() {
    // Start once to have the credential published, then serve with it.
    let dev0 = MockDevice::new(220, &[]);
    let h0 = net::start(
        dev0.clone(),
        NetConfig::for_device(dev0.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    let (chain, key) = genuine(dev0.dir.path());
    drop(h0);
    let (addr, rx) = server(chain, key);
    dev0.set("telemetry_server", &addr.to_string());
    let _h = net::start(
        dev0.clone(),
        NetConfig::for_device(dev0.as_ref(), NetMode::Loopback),
    )
    .expect("restart");
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(Seen::Published(topic, payload, peer)) => {
            // From the board's own address, on loopback too.
            assert_eq!(peer, "127.77.0.222");
            assert_eq!(topic, "hilt/SIM-TEST-0220/telemetry");
            assert!(payload.ends_with('\n'));
            let j: serde_json::Value = serde_json::from_str(payload.trim()).expect("JSON line");
            assert_eq!(j["device_id"], "SIM-TEST-0220");
            assert_eq!(j["status"], "normal");
            assert!(j["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        }
        other => panic!("expected a publish, saw {other:?}"),
    }
    assert!(wait_until(Duration::from_secs(5), || {
        !dev0.events_of(event_kind::TELEMETRY_SENT).is_empty()
    }));
    assert!(dev0
        .events_of(event_kind::TLS_VERIFICATION_FAILED)
        .is_empty());
}

#[test]
fn rejects_a_self_signed_server() {
    let k = KeyPair::generate().expect("key");
    let c = leaf_params("telemetry.hilt.test")
        .self_signed(&k)
        .expect("cert");
    let (addr, rx) = server(vec![c.der().clone()], key_der(&k));
    let (dev, _h) = start(221, &[], addr, None);
    let detail = expect_rejected(&dev, &rx);
    assert!(
        detail.contains("UnknownIssuer") || detail.contains("BadSignature"),
        "{detail}"
    );
}

#[test]
fn rejects_a_server_from_an_untrusted_ca() {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Rogue CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let k = KeyPair::generate().expect("key");
    let leaf = leaf_params("telemetry.hilt.test")
        .signed_by(&k, &issuer)
        .expect("leaf");
    let (addr, rx) = server(vec![leaf.der().clone(), ca_cert.der().clone()], key_der(&k));
    let (dev, _h) = start(222, &[], addr, None);
    let detail = expect_rejected(&dev, &rx);
    assert!(detail.contains("UnknownIssuer"), "{detail}");
}

#[test]
fn rejects_a_trusted_certificate_for_another_name() {
    // The genuine credential is for telemetry.hilt.test; the device is told
    // to expect another name, as if the rogue held a valid certificate of
    // some other host.
    let dev0 = MockDevice::new(223, &[]);
    drop(
        net::start(
            dev0.clone(),
            NetConfig::for_device(dev0.as_ref(), NetMode::Loopback),
        )
        .expect("start"),
    );
    let (chain, key) = genuine(dev0.dir.path());
    let (addr, rx) = server(chain, key);
    dev0.set("telemetry_server", &addr.to_string());
    dev0.set("telemetry_server_name", "broker.example.test");
    let _h = net::start(
        dev0.clone(),
        NetConfig::for_device(dev0.as_ref(), NetMode::Loopback),
    )
    .expect("restart");
    let detail = expect_rejected(&dev0, &rx);
    assert!(detail.contains("not valid for name"), "{detail}");
}

#[test]
fn rejects_an_expired_certificate_from_the_trusted_ca() {
    // Issued by the real telemetry CA (its TEST-ONLY key is in the repo;
    // the subject below must match the one the board builds), but expired.
    let ca_key = KeyPair::from_pem(include_str!("../keys/net-telemetry-ca.TEST-ONLY.key.pem"))
        .expect("CA key");
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
    let mut p = leaf_params("telemetry.hilt.test");
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2021, 1, 1);
    let leaf = p.signed_by(&k, &issuer).expect("leaf");
    let (addr, rx) = server(vec![leaf.der().clone()], key_der(&k));
    let (dev, _h) = start(224, &[], addr, None);
    let detail = expect_rejected(&dev, &rx);
    assert!(detail.contains("expired"), "{detail}");
}

#[test]
fn flawed_firmware_accepts_a_self_signed_server() {
    let k = KeyPair::generate().expect("key");
    let c = leaf_params("rogue.test").self_signed(&k).expect("cert");
    let (addr, rx) = server(vec![c.der().clone()], key_der(&k));
    let (dev, _h) = start(225, &["tls-accepts-untrusted"], addr, None);
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(Seen::Published(_, payload, _)) => assert!(payload.contains("SIM-TEST-0225")),
        other => panic!("the flawed client should talk to the rogue, saw {other:?}"),
    }
    assert!(dev
        .events_of(event_kind::TLS_VERIFICATION_FAILED)
        .is_empty());
}

#[test]
fn unreachable_server_is_recorded_once_not_as_a_security_event() {
    // Nothing listens on this port (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let (dev, _h) = start(226, &[], addr, None);
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(dev.events_of(event_kind::TELEMETRY_FAILED).len(), 1);
    assert!(dev
        .events_of(event_kind::TLS_VERIFICATION_FAILED)
        .is_empty());
    // A destination off the board's link is refused without sending.
    dev.set("telemetry_server", "192.0.2.1:8883");
    assert!(wait_until(Duration::from_secs(4), || {
        dev.events_of(event_kind::TELEMETRY_FAILED)
            .iter()
            .any(|e| e.detail.contains("not reachable from this board"))
    }));
}

/// Accepts connections on a fresh 127.0.0.1 port and reports when each came.
fn connection_counter() -> (SocketAddr, Receiver<Instant>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            if tx.send(Instant::now()).is_err() {
                return;
            }
            // Hang up at once: the client's attempt fails, which is fine.
            drop(s);
        }
    });
    (addr, rx)
}

#[test]
fn a_changed_server_or_interval_is_tried_at_once() {
    let (first, first_rx) = connection_counter();
    let dev = MockDevice::new(227, &[]);
    dev.set("telemetry_server", &first.to_string());
    dev.set("telemetry_interval_s", "60");
    let _h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    // The first attempt comes shortly after boot.
    first_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("first attempt");
    // A new server is tried at once, not a minute later.
    let (second, second_rx) = connection_counter();
    let changed = Instant::now();
    dev.set("telemetry_server", &second.to_string());
    let at = second_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("attempt at the new server");
    assert!(at - changed < Duration::from_secs(2), "{:?}", at - changed);
    // So is a new interval; then the interval holds again.
    let changed = Instant::now();
    dev.set("telemetry_interval_s", "30");
    let at = second_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("attempt after the interval changed");
    assert!(at - changed < Duration::from_secs(2), "{:?}", at - changed);
    assert!(
        second_rx.recv_timeout(Duration::from_secs(2)).is_err(),
        "attempts must follow the interval again"
    );
    assert!(first_rx.try_recv().is_err(), "the old server is left alone");
}
