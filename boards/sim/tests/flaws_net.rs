//! The network-facing flaws and settings, each against the reference,
//! through the board's HTTPS API, telnet port, console and power socket
//! (loopback wiring), and the cleartext beacon as the host side of the
//! board's link sees it (namespace wiring; needs root).
//!
//! Board indices: 155, 158, 159 (loopback), 167-168 (namespaces).

mod common;
mod net_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use net_common::{basic, https, roots_from, tls_client, Reply};

const BOOT: Duration = Duration::from_secs(15);

struct Api {
    cfg: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: String,
}

impl Api {
    fn new(sim: &Sim, index: u32) -> Api {
        let ip = format!("127.77.0.{}", index + 2);
        Api {
            cfg: tls_client(roots_from(
                &sim.board_dir(index).join("manufacturer-ca.pem"),
            )),
            addr: format!("{ip}:10443").parse().expect("address"),
            name: ip,
        }
    }

    fn call(&self, method: &str, path: &str, password: Option<&str>, body: &[u8]) -> Reply {
        let auth = password.map(|p| basic("admin", p));
        https(
            &self.cfg,
            self.addr,
            &self.name,
            method,
            path,
            auth.as_deref(),
            body,
        )
        .expect("HTTPS request")
    }
}

fn telnet_addr(index: u32) -> SocketAddr {
    format!("127.77.0.{}:10023", index + 2)
        .parse()
        .expect("address")
}

fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// Logs in over telnet; true when the shell prompt came.
fn telnet_login(addr: SocketAddr, user: &str, password: &str) -> bool {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("telnet");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut seen = Vec::new();
    let mut wait_for = |s: &mut TcpStream, pats: &[&str]| -> Option<usize> {
        let end = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(i) = pats.iter().position(|p| text.contains(p)) {
                seen.clear();
                return Some(i);
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        None
    };
    wait_for(&mut s, &["login: "]).expect("telnet login prompt");
    s.write_all(format!("{user}\r\n").as_bytes()).expect("send");
    wait_for(&mut s, &["Password: "]).expect("password prompt");
    s.write_all(format!("{password}\r\n").as_bytes())
        .expect("send");
    wait_for(&mut s, &["sim> ", "Login incorrect"]) == Some(0)
}

/// A TLS 1.0 ClientHello as an old client sends it (no
/// supported_versions; CBC suites; renegotiation_info).
fn tls10_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    let suites: [u16; 6] = [0xc014, 0xc013, 0x0039, 0x0035, 0x002f, 0x000a];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    let ext = [
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, // supported_groups: secp256r1
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats
        0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info
    ];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends a TLS 1.0 hello; returns the first record (type, body) and
/// whatever else arrived.
fn tls10_probe(addr: SocketAddr) -> (u8, Vec<u8>, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s.write_all(&tls10_client_hello()).expect("hello");
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(_) if all.len() >= 5 => break,
            Err(_) => {}
        }
    }
    assert!(all.len() >= 5, "no answer to a TLS 1.0 hello");
    let len = usize::from(u16::from_be_bytes([all[3], all[4]]));
    let body = all[5..(5 + len).min(all.len())].to_vec();
    (all[0], body, all)
}

fn mac_form(label_id: &str) -> String {
    let hex = label_id.trim_start_matches("HS-").to_ascii_lowercase();
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn reference_network_side_and_settings() {
    let index = 155;
    let sim = Sim::up_with(index, 1, &[], &["--loopback"]);
    let pw = sim.password(index);
    let id = sim.label_id(index);
    let api = Api::new(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");

    // Identity: who the device is, not what software it runs (AU-08).
    let r = api.call("GET", "/api/v1/identity", None, b"");
    let j = r.json();
    assert_eq!(j["device_id"], id.as_str(), "ID-01");
    assert!(j.get("firmware_version").is_none(), "{j}");
    let server = r.header("server").unwrap_or_default();
    assert!(!server.chars().any(|c| c.is_ascii_digit()), "{server}");
    assert!(r.header("x-firmware-version").is_none());
    // Immutable over HTTP (ID-05), with or without credentials.
    for method in ["PUT", "POST", "PATCH"] {
        for auth in [None, Some(pw.as_str())] {
            let r = api.call(method, "/api/v1/identity", auth, br#"{"device_id":"x"}"#);
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
        }
    }
    assert_eq!(c.cmd("id"), format!("device_id: {id}"));

    // DP-02: a TLS 1.0 hello is refused with a fatal alert (rustls sends
    // handshake_failure: no TLS 1.2/1.3 on offer).
    let (kind, body, _) = tls10_probe(api.addr);
    assert_eq!(kind, 21, "alert expected, got record type {kind}");
    assert_eq!(body.first(), Some(&2), "fatal: {body:?}");

    // The HTTPS update path stores images.
    let candidate = std::fs::read(sim.board_dir(index).join("candidate.bin")).expect("candidate");
    let r = api.call("POST", "/api/v1/firmware?mode=store", Some(&pw), &candidate);
    assert_eq!(r.status, 202, "{r:?}");
    let st = c.smp_image_state().expect("state");
    assert_eq!(slot_hash(&st, 1), Some(image_hash(&candidate)));
    c.smp(2, 1, 5, ciborium::value::Value::Map(vec![]))
        .expect("erase");

    // SU-14: updates switched off refuse every upload path, even with
    // authorization; nothing reaches slot 1.
    assert_eq!(c.cmd("config get updates_enabled"), "updates_enabled=true");
    assert_eq!(c.cmd("config set updates_enabled false"), "ok");
    let err = c.smp_upload(&candidate).expect_err("SMP upload refused");
    assert!(err.contains("Integer(11)"), "{err}");
    let st = c.smp_image_state().expect("state");
    assert_eq!(slot_hash(&st, 1), None);
    let r = api.call("POST", "/api/v1/firmware?mode=test", Some(&pw), &candidate);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "updates are disabled");
    let log = c.cmd("log");
    assert!(
        log.contains("update_rejected") && log.contains("updates are disabled"),
        "{log}"
    );

    // Telnet: off by default; the setting opens and closes it at once.
    let telnet = telnet_addr(index);
    assert_eq!(c.cmd("config get telnet_enabled"), "telnet_enabled=false");
    assert!(!port_open(telnet), "telnet closed by default");
    assert_eq!(c.cmd("config set telnet_enabled true"), "ok");
    assert!(port_open(telnet));
    assert!(telnet_login(telnet, "admin", &pw), "per-device password");
    assert!(!telnet_login(telnet, "admin", "admin"));
    assert_eq!(c.cmd("config set telnet_enabled false"), "ok");
    assert!(!port_open(telnet), "closed as soon as the setting says so");
    // Stored: on after a reboot when left on, off when left off (AU-13).
    assert_eq!(c.cmd("config set telnet_enabled true"), "ok");
    c.send("reboot");
    c.wait_boot();
    assert!(port_open(telnet), "telnet_enabled=true is honoured at boot");
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config set telnet_enabled false"), "ok");
    assert_eq!(sim.power(index, "cycle"), "ok on");
    assert!(!port_open(telnet), "off stays off across a power cycle");
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config get telnet_enabled"), "telnet_enabled=false");
    assert_eq!(c.cmd("config get updates_enabled"), "updates_enabled=false");

    // Factory reset: telnet off, updates on.
    assert_eq!(c.cmd("config set telnet_enabled true"), "ok");
    c.send("factory-reset");
    c.wait_boot();
    assert!(!port_open(telnet));
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config get telnet_enabled"), "telnet_enabled=false");
    assert_eq!(c.cmd("config get updates_enabled"), "updates_enabled=true");
}

#[test]
fn flawed_network_side_leaks_misidentifies_and_drops_updates() {
    let index = 159;
    let flaws = [
        "identifier-inconsistent",
        "banner-leak",
        "tls-legacy-versions",
        "https-update-ignored",
    ];
    let sim = Sim::up_with(index, 1, &flaws, &["--loopback"]);
    let pw = sim.password(index);
    let id = sim.label_id(index);
    let api = Api::new(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");

    // ID-01: the console keeps the label's form; the API another one.
    assert_eq!(c.cmd("id"), format!("device_id: {id}"));
    let r = api.call("GET", "/api/v1/identity", None, b"");
    let j = r.json();
    assert_eq!(j["device_id"], mac_form(&id).as_str(), "{j}");
    assert_ne!(j["device_id"], id.as_str());

    // AU-08: the version in headers and in the public identity.
    assert_eq!(j["firmware_version"], "1.0.0");
    assert_eq!(
        r.header("server").as_deref(),
        Some("hilt-sim-httpd/1.0.0 rustls/0.23")
    );
    assert_eq!(r.header("x-firmware-version").as_deref(), Some("1.0.0"));
    let r = api.call("GET", "/no-such-thing", None, b"");
    assert_eq!(r.status, 404);
    assert!(r.header("server").unwrap_or_default().contains("1.0.0"));

    // DP-02: a TLS 1.0 ServerHello (0x0301, TLS_RSA_WITH_AES_128_CBC_SHA),
    // the certificate and ServerHelloDone; modern TLS still works (above).
    let (kind, body, all) = tls10_probe(api.addr);
    assert_eq!(kind, 22, "handshake expected, got {kind}");
    assert_eq!(body[0], 2, "ServerHello");
    assert_eq!(&body[4..6], &[0x03, 0x01], "server_version TLS 1.0");
    let sid = usize::from(body[4 + 2 + 32]);
    let at = 4 + 2 + 32 + 1 + sid;
    assert_eq!(&body[at..at + 2], &[0x00, 0x2f]);
    let rest = &all[5 + body.len()..];
    assert_eq!((rest[0], rest[5]), (22, 11), "Certificate follows");

    // SU-01 over HTTPS: answered 202, yet nothing is stored.
    let candidate = std::fs::read(sim.board_dir(index).join("candidate.bin")).expect("candidate");
    let r = api.call("POST", "/api/v1/firmware?mode=test", Some(&pw), &candidate);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["version"], "1.1.0");
    let st = c.smp_image_state().expect("state");
    assert_eq!(slot_hash(&st, 1), None, "the image was dropped");
    // SMP uploads still work.
    c.smp_upload(&candidate).expect("SMP upload");
    let st = c.smp_image_state().expect("state");
    assert_eq!(slot_hash(&st, 1), Some(image_hash(&candidate)));
}

#[test]
fn flawed_settings_identifier_write_telnet_and_updates() {
    let index = 158;
    let flaws = [
        "identifier-writable",
        "disable-not-persisted",
        "update-setting-ignored",
    ];
    let sim = Sim::up_with(index, 1, &flaws, &["--loopback"]);
    let pw = sim.password(index);
    let id = sim.label_id(index);
    let api = Api::new(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");

    // ID-05: anyone may rewrite the identifier, everywhere, for good.
    let forged = "hilt-forged-158";
    let body = format!(r#"{{"device_id":"{forged}"}}"#);
    let r = api.call("PUT", "/api/v1/identity", None, body.as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.cmd("id"), format!("device_id: {forged}"));
    assert_eq!(
        api.call("GET", "/api/v1/identity", None, b"").json()["device_id"],
        forged
    );
    assert_eq!(sim.power(index, "cycle"), "ok on");
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("id"), format!("device_id: {forged}"));
    let body = format!(r#"{{"device_id":"{id}"}}"#);
    let r = api.call("PUT", "/api/v1/identity", None, body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(c.cmd("id"), format!("device_id: {id}"));
    assert_eq!(
        api.call("POST", "/api/v1/identity", None, body.as_bytes())
            .status,
        405
    );

    // AU-13: off closes telnet, but only until the next boot.
    let telnet = telnet_addr(index);
    assert!(!port_open(telnet), "off on a fresh board");
    assert_eq!(c.cmd("config set telnet_enabled true"), "ok");
    assert!(port_open(telnet));
    assert_eq!(c.cmd("config set telnet_enabled false"), "ok");
    assert!(!port_open(telnet));
    assert_eq!(c.cmd("config get telnet_enabled"), "telnet_enabled=false");
    assert_eq!(sim.power(index, "cycle"), "ok on");
    assert!(port_open(telnet), "back after a power cycle");
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config get telnet_enabled"), "telnet_enabled=true");

    // SU-14: updates_enabled=false is stored and shown, and ignored.
    assert_eq!(c.cmd("config set updates_enabled false"), "ok");
    assert_eq!(c.cmd("config get updates_enabled"), "updates_enabled=false");
    let candidate = std::fs::read(sim.board_dir(index).join("candidate.bin")).expect("candidate");
    let log = smp_install(&mut c, &candidate, BOOT).expect("installs");
    assert!(log.contains("*** hilt-sim firmware 1.1.0"), "{log}");
}

/// Namespaces need root (and iproute2); without them this test is skipped.
fn can_use_namespaces() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = std::process::Command::new("ip").arg("-V").output().is_ok();
    if !(root && ip) {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "skipped: needs root and iproute2: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("skipped: needs root and iproute2");
    }
    root && ip
}

/// Datagrams reaching the host side of board `index`'s link at its
/// broadcast address, udp/5683, within `wait`.
fn beacons(sock: &UdpSocket, wait: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            got.push((from, buf[..n].to_vec()));
        }
    }
    got
}

/// The payload of a CoAP message (RFC 7252 section 3): after the 4-byte
/// header, the token and the options. Searching for the first 0xff byte
/// instead would stop inside a message id or an option that holds one.
fn coap_payload(msg: &[u8]) -> Option<&[u8]> {
    let tkl = usize::from(*msg.first()? & 0x0f);
    let mut i = 4 + tkl;
    loop {
        let b = *msg.get(i)?;
        if b == 0xff {
            return msg.get(i + 1..);
        }
        i += 1;
        // Extended delta and length fields take 1 or 2 more bytes.
        let extra = |nibble: u8| match nibble {
            13 => Some((1usize, 13usize)),
            14 => Some((2, 269)),
            15 => None,
            n => Some((0, usize::from(n))),
        };
        let (delta_bytes, _) = extra(b >> 4)?;
        let (len_bytes, len_base) = extra(b & 0x0f)?;
        i += delta_bytes;
        let len = match len_bytes {
            0 => len_base,
            1 => len_base + usize::from(*msg.get(i)?),
            _ => len_base + usize::from(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?])),
        };
        i += len_bytes + len;
    }
}

#[test]
fn plaintext_beacon_reaches_the_host_side_of_the_link() {
    if !can_use_namespaces() {
        return;
    }
    let (reference, flawed) = (167u32, 168u32);
    let sim_ref = Sim::up_with(reference, 1, &[], &[]);
    let sim_flawed = Sim::up_with(flawed, 1, &["plaintext-beacon"], &[]);
    let listen = |i: u32| {
        let s = UdpSocket::bind(format!("198.18.{i}.255:5683")).expect("bind broadcast");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s
    };
    let (sock_ref, sock_flawed) = (listen(reference), listen(flawed));
    let got = beacons(&sock_flawed, Duration::from_millis(4500));
    assert!(!got.is_empty(), "no beacon within 4.5 s");
    let (from, msg) = &got[0];
    assert_eq!(from.ip().to_string(), format!("198.18.{flawed}.2"));
    assert_eq!(msg[0], 0x50, "CoAP version 1, NON, no token");
    assert_eq!(msg[1], 0x02, "POST");
    let payload = coap_payload(msg).expect("a CoAP payload");
    let j: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
    assert_eq!(j["device_id"], sim_flawed.label_id(flawed).as_str());
    let token = j["pairing_token"].as_str().expect("token");
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    // The reference sends nothing of the kind.
    let quiet = beacons(&sock_ref, Duration::from_millis(500));
    assert!(quiet.is_empty(), "{quiet:?}");
    drop(sim_ref);
}
