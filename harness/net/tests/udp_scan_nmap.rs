//! The UDP scan (AU-07's) against Debian's daemons in a network namespace
//! of this test's own (`hilt-udp-scan`, 198.19.32.0/29): snmpd, libcoap's
//! coap-server, dnsmasq (DNS and TFTP) answer; a socat that swallows
//! datagrams stands for a silent syslog receiver; NTP, MQTT-SN, SSDP, mDNS
//! and MCUmgr SMP are closed. hilt's states must equal what the services
//! are, and nmap's UDP scan of the same ports (`nmap -sU`): nmap's `open`
//! is hilt's answered, nmap's `closed` hilt's ICMP port unreachable,
//! nmap's `open|filtered` is "not open" to hilt, except where hilt's answer
//! came from another port than the one asked (TFTP), which nmap does not
//! take.
//!
//! Needs root, snmpd, coap-server-notls, dnsmasq, socat, nmap.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{require_tool, run, Netns};
use hilt_net::udp_scan::{scan_udp, well_known_targets, UdpPortState, UdpScanOptions};
use hilt_net::Stop;

/// `nmap -sU -p PORTS -oG -`: port -> state.
fn nmap_udp(addr: &str, ports: &[u16]) -> (BTreeMap<u16, String>, Duration) {
    let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    let started = Instant::now();
    let out = run(&[
        "nmap",
        "-sU",
        "-n",
        "-Pn",
        "-p",
        &list.join(","),
        "-oG",
        "-",
        addr,
    ]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "nmap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut states = BTreeMap::new();
    for line in text.lines() {
        let Some(idx) = line.find("Ports: ") else {
            continue;
        };
        let rest = line[idx + 7..].split('\t').next().unwrap_or("");
        for entry in rest.split(", ") {
            let mut f = entry.split('/');
            if let (Some(Ok(p)), Some(state)) =
                (f.next().map(|p| p.trim().parse::<u16>()), f.next())
            {
                states.insert(p, state.to_string());
            }
        }
    }
    (states, took)
}

#[test]
fn udp_states_equal_the_services_and_nmap() {
    for t in ["snmpd", "coap-server-notls", "dnsmasq", "socat", "nmap"] {
        require_tool(t);
    }
    let mut ns = Netns::fixed("scan", 32, 0);
    let a = ns.addr.to_string();
    let dir = std::env::temp_dir().join(&ns.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tftp")).expect("dir");
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("snmpd.conf"),
        format!(
            "rocommunity public default\nsysdescr hilt udp scan device\nagentaddress udp:{a}:161\n"
        ),
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
    ns.spawn(&[
        "dnsmasq",
        "-k",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        &format!("--listen-address={a}"),
        "--port=53",
        "--enable-tftp",
        &format!("--tftp-root={d}/tftp"),
        &format!("--pid-file={d}/dnsmasq.pid"),
        "--user=root",
    ]);
    // A receiver that reads and never answers (as a syslog daemon).
    ns.spawn(&[
        "socat",
        "-u",
        &format!("UDP4-RECV:514,bind={a}"),
        "OPEN:/dev/null",
    ]);
    let stop = Stop::after(Duration::from_secs(60));
    let targets = well_known_targets();
    let ports: Vec<u16> = targets.iter().map(|t| t.port).collect();
    let expected_open = vec![53u16, 69, 161, 5683];
    // The daemons take a moment to bind: scan until they answer.
    let mut scan = None;
    for _ in 0..10 {
        let s = scan_udp(&ns.link(), &targets, &UdpScanOptions::default(), &stop).expect("scan");
        let done = s.in_state(UdpPortState::Open).len() == expected_open.len();
        scan = Some(s);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let scan = scan.expect("scanned");
    eprintln!(
        "hilt UDP scan of {} ports: {} ms, {} rounds",
        ports.len(),
        scan.elapsed_ms,
        scan.rounds
    );
    let mut open = scan.in_state(UdpPortState::Open);
    open.sort_unstable();
    let mut closed = scan.in_state(UdpPortState::Closed);
    closed.sort_unstable();
    assert_eq!(open, expected_open, "{scan:#?}");
    assert_eq!(closed, vec![123u16, 1337, 1883, 1900, 5353], "{scan:#?}");
    assert_eq!(
        scan.in_state(UdpPortState::OpenFiltered),
        vec![514],
        "{scan:#?}"
    );
    assert!(scan.elapsed_ms < 10_000, "{} ms", scan.elapsed_ms);
    let summary = |port: u16| {
        scan.port(port)
            .and_then(|p| p.summary.clone())
            .unwrap_or_default()
    };
    assert!(
        summary(161).starts_with("SNMP v2c sysDescr: hilt udp scan device")
            || summary(161).starts_with("SNMP v3 engine"),
        "{}",
        summary(161)
    );
    assert!(summary(53).contains("dnsmasq"), "{}", summary(53));
    assert!(summary(69).starts_with("TFTP ERROR 1"), "{}", summary(69));
    assert_ne!(
        scan.port(69).and_then(|p| p.from).map(|f| f.port()),
        Some(69)
    );
    assert!(summary(5683).starts_with("CoAP 2.05"), "{}", summary(5683));

    let (nmap, took) = nmap_udp(&a, &ports);
    eprintln!("nmap -sU of the same ports: {} ms", took.as_millis());
    let _ = std::fs::remove_dir_all(&dir);
    for p in &scan.ports {
        let theirs = nmap.get(&p.port).map(String::as_str).unwrap_or("missing");
        // nmap takes only answers from the port it asked; a TFTP server
        // answers from a new transfer port (RFC 1350), which nmap leaves
        // open|filtered and hilt counts as the board's answer.
        let other_port = p.from.is_some_and(|f| f.port() != p.port);
        let agree = match p.state {
            UdpPortState::Open if other_port => theirs == "open|filtered",
            UdpPortState::Open => theirs == "open",
            UdpPortState::Closed => theirs == "closed",
            UdpPortState::OpenFiltered => theirs != "open" && theirs != "closed",
        };
        assert!(
            agree,
            "port {}: hilt {:?}, nmap {theirs} (nmap: {nmap:?})",
            p.port, p.state
        );
    }
}

#[test]
fn snmpv3_discovery_is_answered_without_the_community() {
    // A hardened agent: no community `public`, so the v2c get is dropped
    // silently; the v3 engine discovery still gets its Report.
    require_tool("snmpd");
    let mut ns = Netns::fixed("v3", 32, 8);
    let a = ns.addr.to_string();
    let dir = std::env::temp_dir().join(&ns.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("snmpd.conf"),
        format!("rocommunity s3cr3t-community default\nagentaddress udp:{a}:161\n"),
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
    let stop = Stop::after(Duration::from_secs(30));
    let targets = vec![hilt_net::udp_scan::UdpTarget::service(
        161,
        hilt_net::udp::UdpService::Snmp,
    )];
    let mut summary = String::new();
    for _ in 0..10 {
        let s = scan_udp(&ns.link(), &targets, &UdpScanOptions::default(), &stop).expect("scan");
        if let Some(p) = s.port(161).filter(|p| p.state == UdpPortState::Open) {
            summary = p.summary.clone().unwrap_or_default();
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(summary.starts_with("SNMP v3 engine 80"), "{summary:?}");
}
