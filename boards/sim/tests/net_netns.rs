//! The board as its own host: network namespace `hilt-sim<i>` behind a veth
//! pair. Needs root and iproute2; skipped (with a note) otherwise.

mod net_common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use hilt_sim::net::{self, NetConfig, NetMode};
use net_common::{https, roots_from, tls_client, wait_until, MockDevice};

/// Index reserved for this test (198.18.240.0/24).
const INDEX: u32 = 240;

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !(root && ip) {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "skipped: needs root and iproute2: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("skipped: needs root and iproute2");
    }
    root && ip
}

/// Removes board `.0`'s namespace when dropped, so a failed test leaves
/// nothing behind.
struct NsGuard(u32);

impl Drop for NsGuard {
    fn drop(&mut self) {
        let _ = net::teardown(self.0);
    }
}

fn netns_listeners(ns: &str) -> Vec<u16> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-Hltn"])
        .output()
        .expect("ss in namespace");
    let mut ports: Vec<u16> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[test]
fn board_in_its_own_namespace() {
    if !can_run() {
        return;
    }
    let _ = net::teardown(INDEX);
    let _guard = NsGuard(INDEX);
    let dev = MockDevice::new(INDEX, &["plaintext-api", "telnet-open"]);
    // Telemetry to its default, the host side of the link; syslog to its
    // default, which is off (set to the host side further down).
    dev.set("telemetry_server", "");
    dev.set("syslog_collector", "");
    // Bind the host-side servers once the link exists: start, stop, bind,
    // start again (the namespace survives the "reboot").
    let cfg = NetConfig::for_device(dev.as_ref(), NetMode::Netns);
    drop(net::start(dev.clone(), cfg.clone()).expect("first boot"));
    let syslog = UdpSocket::bind("198.18.240.1:5514").expect("collector on host side");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let telemetry = TcpListener::bind("198.18.240.1:8883").expect("server on host side");
    let h = net::start(dev.clone(), cfg).expect("second boot");

    // Exactly the declared ports listen inside the namespace.
    assert_eq!(netns_listeners("hilt-sim240"), vec![23, 80, 443]);
    let https_addr: SocketAddr = "198.18.240.2:443".parse().expect("addr");
    assert_eq!(h.listener("https"), Some(https_addr));

    // HTTPS from the host namespace, verified against the published CA.
    let c = tls_client(roots_from(&dev.dir.path().join("manufacturer-ca.pem")));
    let r = https(
        &c,
        https_addr,
        "198.18.240.2",
        "GET",
        "/api/v1/identity",
        None,
        b"",
    )
    .expect("identity");
    assert_eq!(r.status, 200);

    // A failed login is a security event, but with no collector configured
    // (the default) nothing goes out: not even to the host side's syslog
    // port, where an earlier default sent it in cleartext.
    let failed_login = || {
        let r = https(
            &c,
            https_addr,
            "198.18.240.2",
            "GET",
            "/api/v1/status",
            Some(&net_common::basic("admin", "x")),
            b"",
        )
        .expect("status");
        assert_eq!(r.status, 401);
    };
    failed_login();
    assert!(wait_until(Duration::from_secs(5), || {
        !dev.events_of("login_failed").is_empty()
    }));
    let mut buf = [0u8; 2048];
    syslog
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    assert!(
        syslog.recv_from(&mut buf).is_err(),
        "syslog sent without a collector configured"
    );
    // Once configured, the collector gets it from the board's address.
    dev.set("syslog_collector", "198.18.240.1:5514");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    failed_login();
    let (n, from) = syslog.recv_from(&mut buf).expect("syslog datagram");
    assert_eq!(from.ip().to_string(), "198.18.240.2");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<84>1 "));

    // Telemetry comes from inside the namespace to the host side.
    telemetry.set_nonblocking(true).expect("nonblocking");
    let mut peer = None;
    assert!(wait_until(Duration::from_secs(10), || {
        if let Ok((mut s, p)) = telemetry.accept() {
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut hello = [0u8; 5];
            // A TLS handshake record: 0x16 0x03 ...
            if s.read_exact(&mut hello).is_ok() && hello[0] == 0x16 {
                peer = Some(p);
            }
        }
        peer.is_some()
    }));
    assert_eq!(
        peer.map(|p| p.ip().to_string()).as_deref(),
        Some("198.18.240.2")
    );

    // Off the board's link nothing is routed (no default route): the
    // attempt fails locally and no packet leaves the namespace.
    dev.set("telemetry_server", "192.0.2.1:8883");
    assert!(wait_until(Duration::from_secs(5), || {
        dev.events_of(net::event_kind::TELEMETRY_FAILED)
            .iter()
            .any(|e| e.detail.contains("192.0.2.1") && e.detail.contains("unreachable"))
    }));

    drop(h);
    assert!(std::path::Path::new("/run/netns/hilt-sim240").exists());
    net::teardown(INDEX).expect("teardown");
    assert!(!std::path::Path::new("/run/netns/hilt-sim240").exists());
    let link = Command::new("ip")
        .args(["link", "show", "dev", "hsim240"])
        .output()
        .expect("ip link");
    assert!(!link.status.success(), "host side of the veth must be gone");
    // Teardown of nothing is fine.
    net::teardown(INDEX).expect("second teardown");
}

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "skipped the {name} part: not installed: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("skipped the {name} part: not installed");
    }
    found
}

/// Tools nobody here wrote (curl, openssl, nmap) agree with the board.
#[test]
fn external_tools_agree() {
    if !can_run() {
        return;
    }
    const I: u32 = 241;
    let _ = net::teardown(I);
    let _guard = NsGuard(I);
    let dev = MockDevice::new(I, &["telnet-open"]);
    let h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Netns),
    )
    .expect("start");
    let ca = dev.dir.path().join("manufacturer-ca.pem");
    let ca = ca.to_str().expect("path");
    if tool("curl") {
        let curl = |args: &[&str]| {
            let out = Command::new("curl")
                .args(["-sS", "--max-time", "10", "--cacert", ca])
                .args(args)
                .output()
                .expect("curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let body = curl(&["https://198.18.241.2/api/v1/identity"]);
        assert!(body.contains("\"device_id\":\"SIM-TEST-0241\""), "{body}");
        let code = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "https://198.18.241.2/api/v1/status",
        ]);
        assert_eq!(code, "401");
        let auth = format!("admin:{}", net_common::PASSWORD);
        let code = curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            &auth,
            "https://198.18.241.2/api/v1/status",
        ]);
        assert_eq!(code, "200");
    }
    if tool("openssl") {
        let out = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "openssl s_client -connect 198.18.241.2:443 -CAfile {ca} \
                     -verify_ip 198.18.241.2 -verify_return_error -brief </dev/null 2>&1"
                ),
            ])
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Verification: OK"), "{text}");
        assert!(text.contains("Protocol version: TLSv1.3"), "{text}");
    }
    if tool("nmap") {
        let out = Command::new("nmap")
            .args([
                "-sT",
                "-p-",
                "-n",
                "-Pn",
                "-T4",
                "--open",
                "-oG",
                "-",
                "198.18.241.2",
            ])
            .output()
            .expect("nmap");
        let text = String::from_utf8_lossy(&out.stdout);
        let ports = text
            .lines()
            .find_map(|l| l.split_once("Ports: ").map(|(_, p)| p.to_string()))
            .unwrap_or_default();
        let open: Vec<&str> = ports
            .split(", ")
            .filter_map(|p| p.split('/').next())
            .map(str::trim)
            .collect();
        assert_eq!(open, vec!["23", "443"], "{text}");
    }
    drop(h);
    net::teardown(I).expect("teardown");
}

/// A broker nobody here wrote (mosquitto) with the published genuine
/// credential receives the board's telemetry over MQTT/TLS.
#[test]
fn mosquitto_receives_telemetry() {
    if !can_run() || !tool("mosquitto") || !tool("mosquitto_sub") {
        return;
    }
    const I: u32 = 242;
    let _ = net::teardown(I);
    let _guard = NsGuard(I);
    let dev = MockDevice::new(I, &[]);
    dev.set("telemetry_server", "");
    let cfg = NetConfig::for_device(dev.as_ref(), NetMode::Netns);
    drop(net::start(dev.clone(), cfg.clone()).expect("first boot"));
    let d = dev.dir.path();
    let sub_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conf = d.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             listener 8883 198.18.242.1\ncertfile {cert}\nkeyfile {key}\n\
             listener {sub_port} 127.0.0.1\n",
            cert = d.join("telemetry-server.pem").display(),
            key = d.join("telemetry-server.key").display(),
        ),
    )
    .expect("config");
    let mut broker = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto");
    std::thread::sleep(Duration::from_millis(500));
    let sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &sub_port.to_string()])
        .args(["-t", "hilt/#", "-v", "-C", "1", "-W", "15"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    std::thread::sleep(Duration::from_millis(300));
    let h = net::start(dev.clone(), cfg).expect("second boot");
    let out = sub.wait_with_output().expect("subscriber output");
    let _ = broker.kill();
    let _ = broker.wait();
    drop(h);
    net::teardown(I).expect("teardown");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("hilt/SIM-TEST-0242/telemetry {\"device_id\":\"SIM-TEST-0242\""),
        "{text}"
    );
    assert!(!dev.events_of(net::event_kind::TELEMETRY_SENT).is_empty());
}
