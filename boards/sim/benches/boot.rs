//! Time from process start to the login prompt, and the memory of one
//! board. `cargo bench -p hilt-sim --bench boot` prints the figures.
//!
//! The board process prints `ready` on stdout right after it has written
//! its login prompt to the console, so the time measured is spawn ->
//! login prompt. Goal: under 300 ms.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hilt-sim");
const INDEX: u32 = 199;

fn start(dir: &std::path::Path, net: bool) -> (Child, Duration) {
    let t = Instant::now();
    let mut cmd = Command::new(BIN);
    cmd.args(["board", "--index", &INDEX.to_string(), "--runtime-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if !net {
        cmd.args(["--no-net", "--loopback"]);
    }
    let mut child = cmd.spawn().expect("spawn board");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out)
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.starts_with("ready"), "board did not come up: {line:?}");
    (child, t.elapsed())
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn run(net: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let what = if net {
        "with network side"
    } else {
        "core only (--no-net)"
    };
    let (c, first) = start(dir.path(), net);
    stop(c);
    let mut warm = Vec::new();
    let mut rss = 0;
    for i in 0..10 {
        let (c, d) = start(dir.path(), net);
        warm.push(d);
        if i == 9 {
            std::thread::sleep(Duration::from_millis(500));
            rss = rss_kb(c.id());
        }
        stop(c);
    }
    warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("hilt-sim boot, {what}:");
    println!(
        "  start -> login prompt, first boot (factory provisioning): {:.1} ms",
        ms(first)
    );
    println!(
        "  start -> login prompt, later boots: median {:.1} ms, min {:.1} ms, max {:.1} ms (n={})",
        ms(warm[warm.len() / 2]),
        ms(warm[0]),
        ms(warm[warm.len() - 1]),
        warm.len()
    );
    println!("  resident memory of one running board: {rss} kB");
    if net {
        let _ = Command::new(BIN)
            .args(["down", "--index", &INDEX.to_string(), "--runtime-dir"])
            .arg(dir.path())
            .output();
    }
}

fn main() {
    // `cargo test --benches` passes --bench-less arguments; run anyway, it is quick.
    run(false);
    run(true);
}
