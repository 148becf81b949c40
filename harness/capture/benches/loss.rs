//! Capture loss on loopback at stated packet rates.
//!
//! Sends 64-byte UDP datagrams to a local socket at each rate (default
//! 10k, 50k and 100k packets per second, one second each) while hilt
//! captures them on `lo`, then prints sent, captured, kernel drops and
//! loss. Every run is bounded in count and time, and stays on 127.0.0.1.
//! Needs root (or CAP_NET_RAW/CAP_NET_ADMIN).
//!
//! `HILT_CAPTURE_BENCH_RATES=10000,200000` and `HILT_CAPTURE_BENCH_SECONDS=2`
//! change the rates and the time per rate (at most 10 s, 1M packets).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use hilt_capture::{Capture, Limits};

const MAX_PACKETS: u64 = 1_000_000;

struct Row {
    rate: u64,
    sent: u64,
    send_errors: u64,
    achieved: f64,
    captured: u64,
    dropped_kernel: u32,
    tshark: Option<u64>,
}

fn send_paced(sock: &UdpSocket, rate: u64, count: u64) -> (u64, u64, Duration) {
    let payload = [0x5au8; 64];
    let started = Instant::now();
    let mut sent = 0;
    let mut errors = 0;
    let deadline = started + Duration::from_secs_f64(count as f64 / rate as f64 * 2.0 + 1.0);
    for i in 0..count {
        let due = started + Duration::from_nanos(i * 1_000_000_000 / rate);
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > Duration::from_micros(200) {
                std::thread::sleep(Duration::from_micros(100));
            } else {
                std::hint::spin_loop();
            }
        }
        match sock.send(&payload) {
            Ok(_) => sent += 1,
            Err(_) => errors += 1,
        }
        if i % 1024 == 0 && Instant::now() > deadline {
            break;
        }
    }
    (sent, errors, started.elapsed())
}

fn tshark_count(path: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count() as u64)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("capture loss benchmark SKIPPED: capturing on lo needs root");
        return;
    }
    let rates: Vec<u64> = std::env::var("HILT_CAPTURE_BENCH_RATES")
        .ok()
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 50_000, 100_000]);
    let seconds: f64 = std::env::var("HILT_CAPTURE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0_f64)
        .clamp(0.1, 10.0);

    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let port = sink.local_addr().expect("addr").port();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    sock.connect(("127.0.0.1", port)).expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");

    let mut rows = Vec::new();
    for &rate in rates.iter().filter(|r| **r > 0) {
        let count = ((rate as f64 * seconds) as u64).clamp(1, MAX_PACKETS);
        let path = dir.path().join(format!("loss-{rate}.pcap"));
        let filter = format!("udp and dst port {port} and src host 127.0.0.1");
        let limits = Limits {
            max_packets: MAX_PACKETS + 10,
            max_bytes: 1 << 30,
            max_duration: Some(Duration::from_secs(30)),
            ..Limits::default()
        };
        let cap = Capture::start("lo", &filter, &path, limits).expect("start capture on lo");
        let (sent, send_errors, took) = send_paced(&sock, rate, count);
        // Let the capture thread catch up before asking it to stop.
        std::thread::sleep(Duration::from_millis(500));
        let stats = cap.stop().expect("stop");
        rows.push(Row {
            rate,
            sent,
            send_errors,
            achieved: sent as f64 / took.as_secs_f64(),
            captured: stats.packets,
            dropped_kernel: stats.dropped_kernel,
            tshark: tshark_count(&path),
        });
        let _ = std::fs::remove_file(&path);
    }

    println!(
        "hilt-capture loss on lo, 64-byte UDP payloads, {seconds} s per rate, kernel buffer {} MiB, TPACKET_V3 ring (not immediate mode)",
        Limits::default().kernel_buffer / (1024 * 1024)
    );
    println!(
        "{:>10} {:>12} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7}",
        "rate pps", "achieved pps", "sent", "captured", "tshark", "k.drops", "loss %", "errors"
    );
    for r in &rows {
        let loss = if r.sent == 0 {
            0.0
        } else {
            (r.sent.saturating_sub(r.captured)) as f64 * 100.0 / r.sent as f64
        };
        println!(
            "{:>10} {:>12.0} {:>9} {:>9} {:>9} {:>8} {:>8.3} {:>7}",
            r.rate,
            r.achieved,
            r.sent,
            r.captured,
            r.tshark.map_or("-".into(), |n| n.to_string()),
            r.dropped_kernel,
            loss,
            r.send_errors
        );
    }
}
