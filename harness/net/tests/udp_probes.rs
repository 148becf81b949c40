//! UDP probes against real Debian services in a network namespace
//! (snmpd, libcoap's coap-server, avahi-daemon; minidlna for SSDP, which
//! does not answer unicast), an empty namespace (ICMP port unreachable),
//! and tshark's dissectors reading the probes hilt sends.

mod common;

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{require_tool, Netns};
use hilt_net::udp::{probe_udp, UdpService};
use hilt_net::Stop;

fn ns_if(ns: &Netns) -> String {
    ns.host_if.replacen('x', "y", 1)
}

#[test]
fn probes_find_real_services() {
    for t in ["snmpd", "coap-server-notls", "avahi-daemon", "minidlnad"] {
        require_tool(t);
    }
    let mut ns = Netns::new();
    let a = ns.addr.to_string();
    let dir = std::env::temp_dir().join(&ns.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("media")).expect("dir");
    std::fs::create_dir_all(dir.join("db")).expect("dir");
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("snmpd.conf"),
        format!(
            "rocommunity public default\nsysdescr hilt test device {}\nagentaddress udp:{a}:161\n",
            ns.name
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("avahi.conf"),
        format!(
            "[server]\nuse-ipv4=yes\nuse-ipv6=no\nenable-dbus=no\nallow-interfaces={}\n[publish]\npublish-workstation=yes\n",
            ns_if(&ns)
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("minidlna.conf"),
        format!("media_dir={d}/media\ndb_dir={d}/db\nlog_dir={d}\nnetwork_interface={}\nport=8200\nfriendly_name=hilt-dlna\n", ns_if(&ns)),
    )
    .expect("write");
    ns.spawn(&[
        "snmpd",
        "-f",
        "-Lo",
        "-C",
        "-c",
        &format!("{d}/snmpd.conf"),
        "-p",
        &format!("{d}/snmpd.pid"),
    ]);
    ns.spawn(&["coap-server-notls", "-A", &a, "-p", "5683"]);
    // avahi-daemon keeps its pid file in /run/avahi-daemon: give it a private /run.
    ns.spawn(&[
        "unshare",
        "-m",
        "sh",
        "-c",
        &format!("mount -t tmpfs tmpfs /run && exec avahi-daemon -f {d}/avahi.conf --no-drop-root --no-chroot --no-rlimits"),
    ]);
    ns.spawn(&[
        "minidlnad",
        "-f",
        &format!("{d}/minidlna.conf"),
        "-P",
        &format!("{d}/minidlna.pid"),
        "-d",
    ]);
    ns.wait_tcp(8200); // minidlna's HTTP side is up
    let stop = Stop::after(Duration::from_secs(60));
    // Services take a moment to bind (avahi probes its host name first).
    let mut results = Vec::new();
    for _ in 0..10 {
        results = probe_udp(
            &ns.link(),
            &UdpService::DISCOVERY,
            Duration::from_millis(1500),
            &stop,
        )
        .expect("probe");
        if results
            .iter()
            .filter(|r| r.service != UdpService::Ssdp)
            .all(|r| r.answered)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for r in results.iter().filter(|r| r.service != UdpService::Ssdp) {
        assert!(r.answered, "{:?} did not answer: {results:#?}", r.service);
        assert_eq!(r.from.map(|f| f.ip()), Some(IpAddr::V4(ns.addr)));
    }
    let summary = |s: UdpService| {
        results
            .iter()
            .find(|r| r.service == s)
            .and_then(|r| r.summary.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        summary(UdpService::Snmp),
        format!("SNMP v2c sysDescr: hilt test device {}", ns.name)
    );
    assert!(
        summary(UdpService::Coap).starts_with("CoAP 2.05 </>"),
        "{}",
        summary(UdpService::Coap)
    );
    assert!(
        summary(UdpService::Mdns).contains("_workstation._tcp.local"),
        "{}",
        summary(UdpService::Mdns)
    );
    // minidlna binds its SSDP socket to 239.255.255.250:1900, so a unicast
    // M-SEARCH never reaches it: no answer, and no port unreachable either.
    let ssdp = results
        .iter()
        .find(|r| r.service == UdpService::Ssdp)
        .expect("ssdp");
    assert!(!ssdp.answered && !ssdp.port_unreachable, "{ssdp:?}");
}

#[test]
fn ssdp_unicast_answer_is_recorded() {
    // A canned unicast responder (socat replying with a fixed answer):
    // this checks the receive and summary path, not a UPnP stack.
    require_tool("socat");
    let mut ns = Netns::new();
    let a = ns.addr.to_string();
    let reply = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nST: upnp:rootdevice\r\nUSN: uuid:1234::upnp:rootdevice\r\nSERVER: Linux/6.1 UPnP/1.1 hilt-test/1\r\nLOCATION: http://198.19.0.2:80/desc.xml\r\n\r\n";
    let file = std::env::temp_dir().join(format!("{}-ssdp.txt", ns.name));
    std::fs::write(&file, reply).expect("write");
    ns.spawn(&[
        "socat",
        &format!("UDP4-RECVFROM:1900,bind={a},fork"),
        &format!("SYSTEM:cat {}", file.display()),
    ]);
    let stop = Stop::after(Duration::from_secs(20));
    let mut r = Vec::new();
    for _ in 0..10 {
        r = probe_udp(
            &ns.link(),
            &[UdpService::Ssdp],
            Duration::from_millis(800),
            &stop,
        )
        .expect("probe");
        if r[0].answered {
            break;
        }
    }
    let _ = std::fs::remove_file(&file);
    assert!(r[0].answered, "{r:?}");
    let s = r[0].summary.clone().unwrap_or_default();
    assert!(
        s.starts_with("HTTP/1.1 200 OK")
            && s.contains("SERVER: Linux/6.1")
            && s.contains("LOCATION: http://"),
        "{s}"
    );
}

#[test]
fn closed_ports_report_unreachable() {
    let ns = Netns::new();
    let r = probe_udp(
        &ns.link(),
        &UdpService::DISCOVERY,
        Duration::from_millis(800),
        &Stop::after(Duration::from_secs(10)),
    )
    .expect("probe");
    for p in &r {
        assert!(!p.answered, "{p:?}");
        if p.service != UdpService::Ssdp {
            assert!(p.port_unreachable, "{p:?}");
        }
    }
}

#[test]
fn tshark_dissects_the_probes() {
    require_tool("tshark");
    let ns = Netns::new();
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.name));
    let mut cap = Command::new("tshark")
        .args(["-i", &ns.host_if, "-f", "udp", "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark");
    // tshark says "Capturing on ..." once it listens.
    let mut stderr = cap.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("Capturing on") {
        use std::io::Read;
        match stderr.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!("tshark did not start: {}", String::from_utf8_lossy(&seen)),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = probe_udp(
        &ns.link(),
        &UdpService::DISCOVERY,
        Duration::from_millis(600),
        &Stop::after(Duration::from_secs(10)),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &cap.id().to_string()])
        .status();
    let _ = cap.wait();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-d",
            "udp.port==5683,coap",
            "-T",
            "fields",
            "-E",
            "separator=|",
        ])
        .args([
            "-e",
            "udp.dstport",
            "-e",
            "snmp.community",
            "-e",
            "snmp.name",
            "-e",
            "coap.code",
            "-e",
            "coap.opt.uri_path_recon",
        ])
        .args([
            "-e",
            "dns.qry.name",
            "-e",
            "dns.qry.type",
            "-e",
            "http.request.method",
            "-e",
            "ssdp",
        ])
        .output()
        .expect("tshark -r");
    let _ = std::fs::remove_file(&pcap);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = |port: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{port}|")))
            .unwrap_or_else(|| panic!("no packet to port {port} in:\n{text}"))
            .to_string()
    };
    assert!(
        line("161").contains("|public|1.3.6.1.2.1.1.1.0|"),
        "{}",
        line("161")
    );
    assert!(
        line("5683").contains("|1|/.well-known/core|"),
        "{}",
        line("5683")
    );
    assert!(
        line("5353").contains("|_services._dns-sd._udp.local|12|"),
        "{}",
        line("5353")
    );
    assert!(line("1900").contains("M-SEARCH"), "{}", line("1900"));
}
