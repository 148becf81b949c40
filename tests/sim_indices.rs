//! `hilt sim up` picks board indices no running board holds, and a start
//! that fails stops every board it had started. Needs root (namespaces)
//! and `cargo build --workspace --bins` (hilt runs hilt-sim beside it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

fn sim(args: &[&str], runtime: &Path) -> Output {
    Command::new(HILT)
        .arg("sim")
        .args(args)
        .arg("--runtime-dir")
        .arg(runtime)
        .output()
        .expect("hilt runs")
}

/// A runtime folder whose boards are stopped when the test ends, pass or fail.
struct Rack {
    dir: tempfile::TempDir,
}

impl Rack {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn running(&self) -> Vec<String> {
        let out = sim(&["status"], self.dir.path());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" running "))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Rack {
    fn drop(&mut self) {
        let _ = sim(&["down"], self.dir.path());
    }
}

/// The indices `up` printed (`sim-<i> <board file>` per board).
fn indices(out: &Output) -> BTreeSet<u32> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .strip_prefix("sim-")?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn concurrent_ups_get_disjoint_indices() {
    let (a, b) = (Rack::new(), Rack::new());
    let (pa, pb) = (a.path(), b.path());
    let first = std::thread::spawn(move || sim(&["up", "--count", "3", "--no-net"], &pa));
    let second = std::thread::spawn(move || sim(&["up", "--count", "3", "--no-net"], &pb));
    let first = first.join().expect("first up");
    let second = second.join().expect("second up");
    for out in [&first, &second] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ia, ib) = (indices(&first), indices(&second));
    assert_eq!((ia.len(), ib.len()), (3, 3), "{ia:?} {ib:?}");
    assert!(ia.is_disjoint(&ib), "both got {:?}", ia.intersection(&ib));
    assert_eq!(a.running().len(), 3);
    assert_eq!(b.running().len(), 3);
    // A third `up` asking for one of those indices by hand is refused.
    let taken = *ia.iter().next().expect("an index");
    let c = Rack::new();
    let out = sim(
        &["up", "--no-net", "--base-index", &taken.to_string()],
        &c.path(),
    );
    assert!(!out.status.success(), "index {taken} started twice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("sim-{taken} is in use")),
        "{stderr}"
    );
    assert!(c.running().is_empty());
    assert_eq!(a.running().len(), 3, "the holder keeps running");
}

#[test]
fn a_failed_start_stops_the_boards_already_started() {
    // sim-31 cannot bind its GDB port (3333 + index) while we hold it, so
    // it never comes up; sim-30 and sim-32 were started around it.
    let _gdb_port = std::net::TcpListener::bind(("127.0.0.1", 3333 + 31)).expect("port 3364");
    let rack = Rack::new();
    let out = sim(
        &["up", "--count", "3", "--base-index", "30", "--no-net"],
        &rack.path(),
    );
    assert!(!out.status.success(), "up must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sim-31 did not come up"), "{stderr}");
    assert!(
        rack.running().is_empty(),
        "left running: {:?}",
        rack.running()
    );
    for index in [30, 31, 32] {
        let pid = rack.path().join(format!("sim-{index}/pid"));
        assert!(!pid.exists(), "{} remains", pid.display());
    }
}
