//! Full TCP scan time: hilt's scanner versus `nmap -sT -p- -n -Pn` on the
//! same target (a network namespace behind a veth pair with a few real
//! listeners). Prints both times and their ratio (goal: ratio <= 1).
//! hilt scans twice per round: through the board's link as a board file
//! names it (bound to the veth and its host address, as every check scans)
//! and unbound (the route decides), so the cost of binding shows.
//! Needs root (namespaces), nmap and socat.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hilt_net::scan::{scan_tcp, TcpScanOptions};
use hilt_net::{Link, Stop};

fn main() {
    common::require_tool("nmap");
    common::require_tool("socat");
    let rounds: usize = std::env::var("HILT_NET_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut ns = common::Netns::new();
    let a = ns.addr.to_string();
    for p in [22u16, 80, 443, 1883, 8080] {
        ns.spawn(&[
            "socat",
            &format!("TCP-LISTEN:{p},bind={a},reuseaddr,fork"),
            "SYSTEM:true",
        ]);
        ns.wait_tcp(p);
    }
    let opts = TcpScanOptions::default();
    let bound = ns.link();
    let unbound = Link::unbound(IpAddr::V4(ns.addr));
    let scan = |link: &Link| {
        let started = Instant::now();
        let r = scan_tcp(link, &opts, &Stop::after(Duration::from_secs(300))).expect("hilt scan");
        (r, started.elapsed())
    };
    let mut hilt_best = Duration::MAX;
    let mut unbound_best = Duration::MAX;
    let mut nmap_best = Duration::MAX;
    for round in 0..rounds {
        // Alternate which goes first: the first scan meets the previous
        // round's sockets still in TIME_WAIT.
        let ((r, hilt), (u, loose)) = if round % 2 == 0 {
            let b = scan(&bound);
            (b, scan(&unbound))
        } else {
            let u = scan(&unbound);
            (scan(&bound), u)
        };
        let (nmap_open, nmap) = common::nmap_open_ports(&a);
        assert_eq!(r.open, nmap_open, "hilt and nmap disagree");
        assert_eq!(u.open, nmap_open, "unbound hilt and nmap disagree");
        println!(
            "round {round}: hilt {:.3} s bound to {} (unbound {:.3} s, concurrency {}), nmap {:.3} s, {} open",
            hilt.as_secs_f64(),
            ns.host_if,
            loose.as_secs_f64(),
            r.concurrency,
            nmap.as_secs_f64(),
            r.open.len()
        );
        hilt_best = hilt_best.min(hilt);
        unbound_best = unbound_best.min(loose);
        nmap_best = nmap_best.min(nmap);
    }
    println!(
        "full TCP scan of 65535 ports, best of {rounds}: hilt {:.3} s bound to the link (unbound {:.3} s), nmap -sT {:.3} s, ratio hilt/nmap {:.2}",
        hilt_best.as_secs_f64(),
        unbound_best.as_secs_f64(),
        nmap_best.as_secs_f64(),
        hilt_best.as_secs_f64() / nmap_best.as_secs_f64()
    );
}
