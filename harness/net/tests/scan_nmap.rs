//! The scanner against nmap's connect scan of the same host: real
//! services in a network namespace behind a veth pair.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{nmap_open_ports, require_tool, Netns};
use hilt_net::scan::{scan_tcp, TcpScanOptions};
use hilt_net::Stop;

fn start_services(ns: &mut Netns) -> Vec<u16> {
    require_tool("socat");
    require_tool("python3");
    let a = ns.addr.to_string();
    ns.spawn(&["python3", "-m", "http.server", "8080", "--bind", &a]);
    let mut ports = vec![8080u16];
    for p in [22u16, 443, 1883, 2024, 5683, 49152, 65535] {
        let spec = format!("TCP-LISTEN:{p},bind={a},reuseaddr,fork");
        ns.spawn(&["socat", &spec, "SYSTEM:echo hello"]);
        ports.push(p);
    }
    // Port 1 is the lowest a scan of 1-65535 can see.
    ns.spawn(&[
        "socat",
        &format!("TCP-LISTEN:1,bind={a},reuseaddr,fork"),
        "SYSTEM:true",
    ]);
    ports.push(1);
    for p in &ports {
        ns.wait_tcp(*p);
    }
    ports.sort_unstable();
    ports
}

#[test]
fn open_ports_equal_nmap_connect_scan() {
    require_tool("nmap");
    let mut ns = Netns::new();
    let expected = start_services(&mut ns);
    let (nmap, _) = nmap_open_ports(&ns.addr.to_string());
    let r = scan_tcp(
        &ns.link(),
        &TcpScanOptions::default(),
        &Stop::after(Duration::from_secs(120)),
    )
    .expect("scan");
    assert_eq!(r.open, nmap, "hilt vs nmap -sT -p-");
    assert_eq!(r.open, expected, "hilt vs the services started");
    assert!(r.undetermined.is_empty(), "{:?}", r.undetermined);
    assert_eq!(
        r.closed as usize + r.open.len() + r.filtered as usize,
        65535
    );
    assert_eq!(r.filtered, 0);
}

#[test]
fn silent_host_is_filtered_not_open() {
    // An address on the link that nobody owns: no SYN-ACK, no RST.
    let ns = Netns::new();
    let opts = TcpScanOptions {
        ports: (7000, 7031),
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let r = scan_tcp(
        &ns.link().with_board(IpAddr::V4(ns.vacant)),
        &opts,
        &Stop::after(Duration::from_secs(30)),
    )
    .expect("scan");
    assert!(r.open.is_empty(), "{r:?}");
    assert_eq!(r.closed, 0, "{r:?}");
    assert_eq!(r.filtered, 32, "{r:?}");
}

#[test]
fn nmap_grepable_parser() {
    let line = "Host: 198.19.0.2 ()\tPorts: 22/open/tcp//ssh///, 80/filtered/tcp//http///, 8080/open/tcp//http-proxy///\tIgnored State: closed (65532)";
    assert_eq!(common::parse_nmap_grepable(line), vec![22, 8080]);
}
