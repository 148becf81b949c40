//! A rack of 16 simulated boards against one: the wall-time ratio of the
//! same suite (goal at most 1.3 on a 2-core machine) and hilt's peak
//! resident memory with 16 boards (goal under 100 MiB). The boards are
//! started before the clock starts; the figure is hilt's own run.
//!
//! `cargo build --release -p hilt-sim && cargo bench --bench rack_scale`
//! (root: the boards live in network namespaces). Boards on indices
//! 200-215 (`HILT_BENCH_BASE` moves them; the fault matrix uses them too,
//! so not while it runs); `HILT_BENCH_SUITE` picks the suite
//! (default nistir-8259a).
//!
//! Peak memory is read two ways: VmHWM from /proc/PID/status, sampled
//! while hilt runs (hilt's own high-water mark, nothing else), and
//! wait4's ru_maxrss (the largest of hilt and the tools it ran).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BOARDS: u32 = 16;

struct Boards {
    runtime: PathBuf,
    files: Vec<PathBuf>,
}

impl Boards {
    fn up(sim: &Path, base: u32, count: u32, runtime: PathBuf) -> Self {
        let out = Command::new(sim)
            .args(["up", "--fresh", "--count", &count.to_string()])
            .args(["--base-index", &base.to_string(), "--runtime-dir"])
            .arg(&runtime)
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => fail(&format!(
                "hilt-sim up: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => fail(&format!("hilt-sim: {e}")),
        }
        let files = (base..base + count)
            .map(|i| runtime.join(format!("sim-{i}")).join("board.yaml"))
            .collect();
        Self { runtime, files }
    }
}

impl Drop for Boards {
    fn drop(&mut self) {
        let sim = Path::new(env!("CARGO_BIN_EXE_hilt")).with_file_name("hilt-sim");
        let _ = Command::new(sim)
            .args(["down", "--runtime-dir"])
            .arg(&self.runtime)
            .output();
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

fn fail(why: &str) -> ! {
    eprintln!("{why}");
    std::process::exit(1)
}

/// What one hilt run cost.
struct Cost {
    wall: Duration,
    vm_hwm_kib: u64,
    maxrss_kib: u64,
    trials: usize,
    exit: i32,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn run(boards: &[PathBuf], suite: &str, out: &Path) -> Cost {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hilt"));
    cmd.args(["run", "--suite", suite, "--out"]).arg(out);
    for board in boards {
        cmd.arg("-b").arg(board);
    }
    cmd.args(["--", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => fail(&format!("cannot run hilt: {e}")),
    };
    let pid = child.id();
    // Sample the high-water mark until the process is gone (VmHWM only
    // grows; the last sample is taken at most 20 ms before exit).
    let mut hwm = 0;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            hwm = hwm.max(kib);
        }
        // SAFETY: pid is our child; status and usage are valid for writes.
        let done = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid as i32 {
            break;
        }
        if done < 0 {
            fail("wait4 failed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = start.elapsed();
    let trials = std::fs::read_dir(out)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .and_then(|e| std::fs::read(e.path().join("record.json")).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|r| r["trials"].as_array().map(Vec::len))
        .unwrap_or(0);
    Cost {
        wall,
        vm_hwm_kib: hwm,
        maxrss_kib: usage.ru_maxrss as u64,
        trials,
        exit: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

fn main() {
    let sim = Path::new(env!("CARGO_BIN_EXE_hilt")).with_file_name("hilt-sim");
    if !sim.is_file() {
        fail(&format!(
            "{} is missing: cargo build --release -p hilt-sim first",
            sim.display()
        ));
    }
    let base: u32 = std::env::var("HILT_BENCH_BASE")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(200);
    let suite = std::env::var("HILT_BENCH_SUITE").unwrap_or_else(|_| "nistir-8259a".into());
    let scratch = std::env::temp_dir().join(format!("hilt-rack-bench-{}", std::process::id()));
    let boards = Boards::up(&sim, base, BOARDS, scratch.join("rt"));

    let one = run(&boards.files[..1], &suite, &scratch.join("one"));
    let all = run(&boards.files, &suite, &scratch.join("all"));
    drop(boards);
    let _ = std::fs::remove_dir_all(&scratch);

    let mib = |kib: u64| kib as f64 / 1024.0;
    for (label, cost) in [("1 board", &one), ("16 boards", &all)] {
        println!(
            "{label:>9}: {} trials in {:.1} s, exit {}, peak RSS {:.1} MiB (VmHWM), {:.1} MiB (ru_maxrss, with tools)",
            cost.trials,
            cost.wall.as_secs_f64(),
            cost.exit,
            mib(cost.vm_hwm_kib),
            mib(cost.maxrss_kib)
        );
    }
    println!(
        "suite {suite}: 16 boards take {:.2} times as long as one (goal <= 1.3); peak RSS with 16 boards {:.1} MiB (goal < 100 MiB)",
        all.wall.as_secs_f64() / one.wall.as_secs_f64(),
        mib(all.vm_hwm_kib)
    );
}
