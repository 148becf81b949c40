//! Live captures on a veth pair into a network namespace, checked with
//! tshark: every savefile opens, and tshark counts what hilt counted.

mod common;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{tshark_count, tshark_reads, Netns};
use hilt_capture::{host_filter, Capture, CaptureError, Ended, Limits};

/// Sends `n` UDP datagrams and makes `tcp` TCP connection attempts
/// (refused: SYN, RST) to the namespace's address.
fn traffic(ns: &Netns, n: usize, tcp: usize) {
    let sock = UdpSocket::bind((ns.host_addr, 0)).expect("bind udp");
    for i in 0..n {
        sock.send_to(format!("hello {i}").as_bytes(), (ns.addr, 9999))
            .expect("send udp");
    }
    for _ in 0..tcp {
        let _ = TcpStream::connect_timeout(&SocketAddr::from((ns.addr, 9)), Duration::from_secs(1));
    }
}

#[test]
fn tshark_counts_what_hilt_counted() {
    need_root!();
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.pcap");
    let cap = Capture::start(
        &ns.host_if,
        &host_filter(ns.addr.into()),
        &path,
        Limits::default(),
    )
    .expect("start capture");
    traffic(&ns, 50, 3);
    std::thread::sleep(Duration::from_millis(200));
    let stats = cap.stop().expect("stop");
    assert_eq!(stats.ended, Ended::Stopped);
    // 50 datagrams (plus ICMP port unreachable for each, rate limited) and
    // 3 x (SYN, RST), plus ARP: at least 56 frames.
    assert!(stats.packets >= 56, "{stats:?}");
    assert_eq!(stats.dropped_kernel, 0, "{stats:?}");
    tshark_reads(&path);
    assert_eq!(tshark_count(&path), stats.packets, "{stats:?}");
    let size = std::fs::metadata(&path).expect("savefile").len();
    assert_eq!(size, 24 + 16 * stats.packets + stats.bytes);
}

#[test]
fn caps_end_the_capture_and_the_file_stays_valid() {
    need_root!();
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");

    let path = dir.path().join("packets.pcap");
    let limits = Limits {
        max_packets: 7,
        ..Limits::default()
    };
    let cap = Capture::start(&ns.host_if, "udp", &path, limits).expect("start");
    traffic(&ns, 20, 0);
    let until = Instant::now() + Duration::from_secs(5);
    while !cap.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = cap.stop().expect("stop");
    assert_eq!(stats.ended, Ended::PacketLimit);
    assert_eq!(stats.packets, 7);
    tshark_reads(&path);
    assert_eq!(tshark_count(&path), 7);

    let path = dir.path().join("bytes.pcap");
    let limits = Limits {
        max_bytes: 24 + 5 * 100,
        snaplen: 60,
        ..Limits::default()
    };
    let cap = Capture::start(&ns.host_if, "udp", &path, limits).expect("start");
    // Each frame is 42 + ~9 bytes: about 67 bytes a record, 7 fit.
    traffic(&ns, 20, 0);
    std::thread::sleep(Duration::from_millis(300));
    let stats = cap.stop().expect("stop");
    assert_eq!(stats.ended, Ended::ByteLimit);
    let size = std::fs::metadata(&path).expect("savefile").len();
    assert!(size <= 24 + 5 * 100, "savefile is {size} bytes");
    assert!(stats.not_saved >= 1);
    tshark_reads(&path);
    assert_eq!(tshark_count(&path), stats.packets);

    let path = dir.path().join("snap.pcap");
    let limits = Limits {
        snaplen: 50,
        ..Limits::default()
    };
    let cap = Capture::start(&ns.host_if, "udp", &path, limits).expect("start");
    let sock = UdpSocket::bind((ns.host_addr, 0)).expect("bind");
    sock.send_to(&[0x55; 500], (ns.addr, 9999)).expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let stats = cap.stop().expect("stop");
    assert_eq!((stats.packets, stats.truncated, stats.bytes), (1, 1, 50));
    assert_eq!(stats.wire_bytes, 14 + 20 + 8 + 500);
    let caplen = common::tshark_fields(&path, "frame", &["frame.cap_len", "frame.len"]);
    assert_eq!(caplen, vec![vec!["50".to_string(), "542".to_string()]]);
}

#[test]
fn idle_link_stops_promptly() {
    need_root!();
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("idle.pcap");
    // Nothing matches: the link is idle as far as libpcap is concerned.
    let cap = Capture::start(&ns.host_if, "host 198.19.255.254", &path, Limits::default())
        .expect("start");
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let stats = cap.stop().expect("stop");
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(250), "stop took {took:?}");
    assert_eq!(stats.packets, 0);
    assert_eq!(stats.ended, Ended::Stopped);
    tshark_reads(&path);
    assert_eq!(tshark_count(&path), 0);

    // A duration cap ends an idle capture by itself, on time.
    let path = dir.path().join("duration.pcap");
    let limits = Limits {
        max_duration: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let started = Instant::now();
    let cap = Capture::start(&ns.host_if, "host 198.19.255.254", &path, limits).expect("start");
    while !cap.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "duration cap ignored"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = cap.stop().expect("stop");
    assert_eq!(stats.ended, Ended::Duration);
    assert!(started.elapsed() < Duration::from_millis(600));

    // Dropping a running capture stops it too, and closes the file.
    let path = dir.path().join("dropped.pcap");
    let cap = Capture::start(&ns.host_if, "", &path, Limits::default()).expect("start");
    let asked = Instant::now();
    drop(cap);
    assert!(asked.elapsed() < Duration::from_millis(250));
    tshark_reads(&path);
}

#[test]
fn errors_say_what_to_do() {
    need_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.pcap");
    let err = Capture::start("hilt-nosuch0", "", &path, Limits::default()).expect_err("no such if");
    let msg = err.to_string();
    assert!(matches!(err, CaptureError::Open { .. }), "{msg}");
    assert!(msg.contains("hilt-nosuch0") && msg.contains("lo"), "{msg}");

    let err =
        Capture::start("lo", "host nonsense(", &path, Limits::default()).expect_err("bad filter");
    assert!(matches!(err, CaptureError::Filter { .. }), "{err}");
    assert!(hilt_capture::check_filter("host nonsense(").is_err());
    assert!(hilt_capture::check_filter(&host_filter("198.18.0.2".parse().expect("ip"))).is_ok());

    let missing = dir.path().join("no/such/dir/x.pcap");
    let err = Capture::start("lo", "", &missing, Limits::default()).expect_err("bad path");
    assert!(matches!(err, CaptureError::Savefile { .. }), "{err}");

    let limits = Limits {
        snaplen: 0,
        ..Limits::default()
    };
    let err = Capture::start("lo", "", &path, limits).expect_err("bad limits");
    assert!(matches!(err, CaptureError::Limits(_)), "{err}");
}

#[test]
fn filters_for_one_host() {
    assert_eq!(
        host_filter("198.18.0.2".parse().expect("ip")),
        "host 198.18.0.2"
    );
    assert_eq!(
        hilt_capture::hosts_filter(&[
            "198.18.0.2".parse().expect("ip"),
            "::1".parse().expect("ip")
        ]),
        "host 198.18.0.2 or host ::1"
    );
}

#[test]
fn interface_removed_mid_capture_ends_failed_with_a_valid_file() {
    need_root!();
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gone.pcap");
    let cap = Capture::start(&ns.host_if, "udp", &path, Limits::default()).expect("start");
    traffic(&ns, 5, 0);
    std::thread::sleep(Duration::from_millis(200));
    common::run_ok(&["ip", "link", "del", &ns.host_if]);
    let until = Instant::now() + Duration::from_secs(5);
    while !cap.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let finished = cap.is_finished();
    let stats = cap.stop().expect("stop");
    eprintln!("{stats:?}");
    assert!(
        finished,
        "the capture did not notice its interface vanished"
    );
    assert!(matches!(stats.ended, Ended::Failed(_)), "{:?}", stats.ended);
    assert_eq!(stats.packets, 5);
    tshark_reads(&path);
    assert_eq!(tshark_count(&path), 5);
}
