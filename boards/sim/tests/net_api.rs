//! The HTTPS API (and the flawed plaintext API and telnet) of the network
//! side, on loopback addresses, against an in-test device core.

mod net_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use hilt_sim::net::{self, NetConfig, NetHandle, NetMode};
use net_common::{basic, https, roots_from, tls_client, wait_until, MockDevice, PASSWORD};

/// Board indices used here (each test its own, so they run in parallel).
fn board(index: u32, flaws: &[&str]) -> (Arc<MockDevice>, NetHandle) {
    let dev = MockDevice::new(index, flaws);
    let cfg = NetConfig::for_device(dev.as_ref(), NetMode::Loopback);
    let h = net::start(dev.clone(), cfg).expect("network side starts");
    (dev, h)
}

fn client(dev: &MockDevice) -> Arc<rustls::ClientConfig> {
    tls_client(roots_from(&dev.dir.path().join("manufacturer-ca.pem")))
}

fn https_addr(h: &NetHandle) -> SocketAddr {
    h.listener("https").expect("https listener")
}

#[test]
fn identity_over_https_verifies_with_the_manufacturer_ca() {
    let (dev, h) = board(200, &[]);
    let addr = https_addr(&h);
    assert_eq!(addr.to_string(), "127.77.0.202:10443");
    let c = client(&dev);
    // By IP address (as a lab would reach it) and by the board's DNS name.
    for name in ["127.77.0.202", "sim-200.hilt.test"] {
        let r = https(&c, addr, name, "GET", "/api/v1/identity", None, b"").expect("request");
        assert_eq!(r.status, 200, "{r:?}");
        let j = r.json();
        assert_eq!(j["device_id"], "SIM-TEST-0200");
        // The public identity names the device, not its software.
        assert!(j.get("firmware_version").is_none(), "{j}");
        assert!(j["model"].as_str().is_some());
        let server = r.header("server").unwrap_or_default();
        assert!(!server.chars().any(|c| c.is_ascii_digit()), "{server}");
    }
    // A client trusting another CA refuses the device.
    let other = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other.cert.der().clone()).expect("root");
    let err = https(
        &tls_client(roots),
        addr,
        "127.77.0.202",
        "GET",
        "/api/v1/identity",
        None,
        b"",
    );
    assert!(
        err.is_err(),
        "untrusted device certificate must fail: {err:?}"
    );
    // Only the declared port listens.
    assert_eq!(h.listeners().len(), 1);
    assert!(TcpStream::connect("127.77.0.202:10080").is_err());
    assert!(TcpStream::connect("127.77.0.202:10023").is_err());
}

#[test]
fn status_needs_authentication() {
    let (dev, h) = board(201, &[]);
    let c = client(&dev);
    let a = https_addr(&h);
    let get = |auth: Option<&str>| {
        https(&c, a, "127.77.0.203", "GET", "/api/v1/status", auth, b"").expect("request")
    };
    let r = get(None);
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic")));
    assert_eq!(get(Some(&basic("admin", "wrong"))).status, 401);
    let r = get(Some(&basic("admin", PASSWORD)));
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(j["state"], "normal");
    assert_eq!(j["version"], "1.2.3");
    assert_eq!(j["image_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(dev.events_of("login_failed").len(), 1);
}

#[test]
fn config_write_without_authentication_is_refused_and_value_unchanged() {
    let (dev, h) = board(202, &[]);
    let c = client(&dev);
    let a = https_addr(&h);
    let name = "127.77.0.204";
    let admin = basic("admin", PASSWORD);
    let body = br#"{"setpoint": "300"}"#;
    let r = https(&c, a, name, "PUT", "/api/v1/config", None, body).expect("put");
    assert_eq!(r.status, 401);
    let r = https(&c, a, name, "GET", "/api/v1/config", None, b"").expect("get");
    assert_eq!(
        r.status, 401,
        "reading configuration needs authentication too"
    );
    // Read back with authorized means: unchanged.
    let r = https(&c, a, name, "GET", "/api/v1/config", Some(&admin), b"").expect("get");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["setpoint"], "215");
    assert_eq!(dev.events_of("config_write_denied").len(), 1);
    // Authenticated write works; numbers are accepted as values.
    let r = https(
        &c,
        a,
        name,
        "PUT",
        "/api/v1/config",
        Some(&admin),
        br#"{"setpoint": 300}"#,
    )
    .expect("put");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["updated"][0], "setpoint");
    let r = https(
        &c,
        a,
        name,
        "GET",
        "/api/v1/config/setpoint",
        Some(&admin),
        b"",
    )
    .expect("get");
    assert_eq!(r.json()["setpoint"], "300");
    // Unknown keys are refused before anything is written.
    let r = https(
        &c,
        a,
        name,
        "PUT",
        "/api/v1/config",
        Some(&admin),
        br#"{"display_name": "x", "nope": "1"}"#,
    )
    .expect("put");
    assert_eq!(r.status, 400);
    assert_eq!(dev.get("display_name").as_deref(), Some("thermostat"));
    let r = https(&c, a, name, "PUT", "/api/v1/config", Some(&admin), b"[1]").expect("put");
    assert_eq!(r.status, 400);
}

#[test]
fn flawed_firmware_accepts_unauthenticated_config_write() {
    let (dev, h) = board(203, &["config-write-unauthenticated"]);
    let c = client(&dev);
    let r = https(
        &c,
        https_addr(&h),
        "127.77.0.205",
        "PUT",
        "/api/v1/config",
        None,
        br#"{"setpoint":"100"}"#,
    )
    .expect("put");
    assert_eq!(r.status, 200);
    assert_eq!(dev.get("setpoint").as_deref(), Some("100"));
}

#[test]
fn lockout_answers_429_even_with_the_right_password() {
    let (dev, h) = board(204, &[]);
    let c = client(&dev);
    let a = https_addr(&h);
    let get = |auth: &str| {
        https(
            &c,
            a,
            "127.77.0.206",
            "GET",
            "/api/v1/status",
            Some(auth),
            b"",
        )
        .expect("request")
    };
    for _ in 0..3 {
        assert_eq!(get(&basic("admin", "guess")).status, 401);
    }
    let r = get(&basic("admin", PASSWORD));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get(&basic("admin", PASSWORD)).status, 200);
}

#[test]
fn events_firmware_and_reset_need_authentication() {
    let (dev, h) = board(205, &[]);
    let c = client(&dev);
    let a = https_addr(&h);
    let name = "127.77.0.207";
    let admin = basic("admin", PASSWORD);
    let req = |m: &str, p: &str, auth: Option<&str>, body: &[u8]| {
        https(&c, a, name, m, p, auth, body).expect("request")
    };
    let _ = req("GET", "/api/v1/status", Some(&basic("admin", "bad")), b"");
    assert_eq!(req("GET", "/api/v1/events", None, b"").status, 401);
    let r = req("GET", "/api/v1/events", Some(&admin), b"");
    assert_eq!(r.status, 200);
    let events = r.json()["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["kind"] == "login_failed"),
        "{events:?}"
    );
    assert_eq!(req("DELETE", "/api/v1/events", None, b"").status, 401);
    assert!(!dev.events_of("login_failed").is_empty());
    assert_eq!(
        req("DELETE", "/api/v1/events", Some(&admin), b"").status,
        204
    );

    let mut image = vec![0x3d, 0xb8, 0xf3, 0x96];
    image.resize(4096, 0xee);
    assert_eq!(req("POST", "/api/v1/firmware", None, &image).status, 401);
    assert_eq!(dev.uploads(), 0);
    let r = req("POST", "/api/v1/firmware?mode=test", Some(&admin), &image);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["mode"], "test");
    assert_eq!(dev.uploads(), 1);
    assert_eq!(
        req("POST", "/api/v1/firmware", Some(&admin), b"junk").status,
        400
    );
    assert_eq!(
        req("POST", "/api/v1/firmware?mode=x", Some(&admin), &image).status,
        400
    );
    // Over the 2 MiB limit: refused before the body is read.
    let r = https(
        &c,
        a,
        name,
        "POST",
        "/api/v1/firmware",
        Some(&admin),
        &vec![0u8; 2 * 1024 * 1024 + 1],
    );
    if let Ok(r) = r {
        assert_eq!(r.status, 413);
    }
    assert_eq!(dev.uploads(), 1);

    assert_eq!(req("POST", "/api/v1/factory-reset", None, b"").status, 401);
    assert_eq!(
        req("POST", "/api/v1/factory-reset", Some(&admin), b"").status,
        202
    );
    assert_eq!(req("GET", "/api/v1/nothing", None, b"").status, 404);
    let r = req("DELETE", "/api/v1/identity", None, b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn plaintext_api_and_telnet_only_with_their_flaws() {
    let (dev, h) = board(206, &["plaintext-api", "telnet-open", "default-password"]);
    let http = h.listener("http").expect("http listener");
    assert_eq!(http.port(), 10080);
    let r = net_common::http(http, "GET", "/api/v1/identity", None, b"").expect("http");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["device_id"], "SIM-TEST-0206");
    let r = net_common::http(http, "GET", "/api/v1/status", None, b"").expect("http");
    assert_eq!(r.status, 401);

    let telnet = h.listener("telnet").expect("telnet listener");
    assert_eq!(telnet.port(), 10023);
    let mut s = TcpStream::connect(telnet).expect("telnet");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut seen = String::new();
    let mut expect = |s: &mut TcpStream, what: &str| {
        let mut buf = [0u8; 512];
        assert!(
            wait_until(Duration::from_secs(5), || {
                if seen.contains(what) {
                    return true;
                }
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                    _ => {}
                }
                seen.contains(what)
            }),
            "waiting for {what:?}, saw {seen:?}"
        );
        // Keep what came after the match: it may hold the next prompt.
        let at = seen.find(what).map_or(0, |p| p + what.len());
        seen.drain(..at);
    };
    expect(&mut s, "login: ");
    s.write_all(b"admin\r\n").expect("w");
    expect(&mut s, "Password: ");
    s.write_all(b"nope\r\n").expect("w");
    expect(&mut s, "Login incorrect");
    expect(&mut s, "login: ");
    // The default-password flaw makes admin/admin work.
    s.write_all(b"admin\r\nadmin\r\n").expect("w");
    expect(&mut s, "sim> ");
    s.write_all(b"id\r\n").expect("w");
    expect(&mut s, "SIM-TEST-0206");
    s.write_all(b"version\n").expect("w");
    expect(&mut s, "1.2.3");
    s.write_all(b"logout\r\n").expect("w");
    expect(&mut s, "bye");
    let _ = dev;
}

#[test]
fn stopping_frees_the_ports_promptly() {
    let dev = MockDevice::new(207, &["telnet-open"]);
    let cfg = NetConfig::for_device(dev.as_ref(), NetMode::Loopback);
    let h = net::start(dev.clone(), cfg.clone()).expect("start");
    let a = https_addr(&h);
    // A client that connects and says nothing holds a connection open.
    let idle = TcpStream::connect(a).expect("connect");
    let t = std::time::Instant::now();
    drop(h);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(TcpStream::connect(a).is_err());
    drop(idle);
    // The next boot binds the same ports again.
    let h = net::start(dev.clone(), cfg).expect("restart");
    let r = https(
        &client(&dev),
        https_addr(&h),
        "127.77.0.209",
        "GET",
        "/api/v1/identity",
        None,
        b"",
    )
    .expect("identity after restart");
    assert_eq!(r.status, 200);
}

#[test]
fn malformed_requests_get_bounded_answers() {
    let (_dev, h) = board(208, &["plaintext-api"]);
    let a = h.listener("http").expect("http");
    let send = |raw: &[u8]| {
        let mut s = TcpStream::connect(a).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = s.write_all(raw);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(send(b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
    let mut big = b"GET /api/v1/identity HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend_from_slice(b"\r\n\r\n");
    assert!(send(&big).starts_with("HTTP/1.1 431"));
    assert!(
        send(b"PUT /api/v1/config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
            .starts_with("HTTP/1.1 413")
    );
    assert!(send(b"GET /api/v1/identity HTTP/2.0\r\n\r\n").starts_with("HTTP/1.1 501"));
}
