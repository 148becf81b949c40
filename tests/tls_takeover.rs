//! TLS clients with a fixed server (issue 9): hilt takes the server's
//! address over on the board's link and gives it back, always.
//!
//! Against the simulated board's `fixed-telemetry` shape (its telemetry
//! client calls 198.18.<i>.10:8883, which nothing holds):
//! - DP-03 passes through `takeover: address`; the address is on the host
//!   side of the link while the trial runs and gone afterwards;
//! - a trial stopped by SIGTERM while it holds the address still removes it;
//! - a trial whose client never comes (the board file names another fixed
//!   address) ends INCONCLUSIVE and removes that address too;
//! - a client declared `connects_at_boot` without an interval is provoked
//!   by a power cycle for each server;
//! - `takeover: { redirect: { netns } }` reaches the same client through a
//!   DNAT rule in the board's namespace, removed afterwards (needs `nft`).
//!
//! Before anyone takes it over, the board's attempts stay on its link: its
//! namespace routes only the link, and a capture on the host side shows
//! ARP requests for the address and no IP packet to it.
//!
//! And from the board file alone: a fixed server off the board's link is
//! not taken over (NOT_APPLICABLE naming the field), and a name without
//! `resolves_to` is a board-file error. Needs root (namespaces).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{record, text, HILT};

/// Board indices of this file (the tlsfixed range, 60..=79).
const TAKEOVER_INDEX: u32 = 66;
const REDIRECT_INDEX: u32 = 67;
const ABSENT_INDEX: u32 = 68;
const BOOT_INDEX: u32 = 69;
const QUIET_INDEX: u32 = 70;

struct Sim {
    runtime: PathBuf,
    board: PathBuf,
}

impl Sim {
    fn up(dir: &Path, index: u32) -> Self {
        let runtime = dir.join("rt");
        let out = Command::new(sim_binary())
            .args([
                "up",
                "--count",
                "1",
                "--fresh",
                "--shape",
                "fixed-telemetry",
            ])
            .args(["--base-index", &index.to_string(), "--runtime-dir"])
            .arg(&runtime)
            .output()
            .expect("hilt-sim runs (cargo build --workspace --bins first)");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let board = runtime.join(format!("sim-{index}")).join("board.yaml");
        assert!(board.is_file(), "{}", text(&out.stdout));
        Self { runtime, board }
    }

    /// The board file with its telemetry client's `server`/`takeover`
    /// lines replaced.
    fn board_with(&self, dir: &Path, server: &str, takeover: &str) -> PathBuf {
        let original = std::fs::read_to_string(&self.board).expect("board file");
        self.write_board(dir, &original, server, takeover)
    }

    fn write_board(&self, dir: &Path, original: &str, server: &str, takeover: &str) -> PathBuf {
        let mut out = String::new();
        for line in original.lines() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed.starts_with("server: ") {
                out.push_str(&format!("{indent}server: \"{server}\"\n"));
            } else if trimmed.starts_with("takeover: ") {
                out.push_str(&format!("{indent}takeover: {takeover}\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        let path = dir.join("board.yaml");
        std::fs::write(&path, out).expect("write board file");
        path
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new(sim_binary())
            .args(["down", "--runtime-dir"])
            .arg(&self.runtime)
            .output();
    }
}

fn sim_binary() -> PathBuf {
    Path::new(HILT).with_file_name("hilt-sim")
}

fn hilt_run(dir: &Path, board: &Path, filters: &[&str]) -> Command {
    let mut cmd = Command::new(HILT);
    cmd.arg("run")
        .arg("-b")
        .arg(board)
        .arg("--out")
        .arg(dir.join("hilt-out"))
        .arg("--")
        .args(filters)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Whether the host side of board `index`'s link holds `ip`.
fn link_holds(index: u32, ip: &str) -> bool {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", &format!("hsim{index}")])
        .output()
        .expect("ip runs");
    text(&out.stdout).contains(&format!("inet {ip}/"))
}

fn fixed_server(index: u32) -> String {
    format!("198.18.{index}.10")
}

/// The single trial's verdict and reason in the record under `dir/hilt-out`.
fn verdict(dir: &Path) -> (String, String) {
    let record = record(dir);
    let trial = &record["trials"][0];
    (
        trial["verdict"].as_str().unwrap_or_default().to_string(),
        trial["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("hilt exits")
}

/// Waits until `ip` is on the link, or `child` ends, or 60 s pass.
fn wait_for_address(child: &mut Child, index: u32, ip: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if link_holds(index, ip) {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn the_taken_over_address_serves_the_trial_and_is_removed_after_it_even_when_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), TAKEOVER_INDEX);
    let ip = fixed_server(TAKEOVER_INDEX);
    assert!(!link_holds(TAKEOVER_INDEX, &ip), "nobody holds {ip} before");

    // A whole trial: the address is there while it runs, gone after.
    let mut child = hilt_run(dir.path(), &sim.board, &["DP-03"])
        .spawn()
        .expect("hilt runs");
    let seen = wait_for_address(&mut child, TAKEOVER_INDEX, &ip);
    let out = finish(child);
    assert!(
        seen,
        "{ip} never appeared on hsim{TAKEOVER_INDEX}: {}",
        text(&out.stdout)
    );
    let (v, reason) = verdict(dir.path());
    assert_eq!(v, "PASS", "{reason}\n{}", text(&out.stdout));
    assert!(
        !link_holds(TAKEOVER_INDEX, &ip),
        "{ip} left on the link after the trial"
    );

    // Interrupted while it holds the address: still removed.
    let run2 = dir.path().join("run2");
    std::fs::create_dir_all(&run2).expect("dir");
    let mut child = hilt_run(&run2, &sim.board, &["DP-04"])
        .spawn()
        .expect("hilt runs");
    assert!(
        wait_for_address(&mut child, TAKEOVER_INDEX, &ip),
        "{ip} never appeared for DP-04"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = finish(child);
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(
        !link_holds(TAKEOVER_INDEX, &ip),
        "{ip} left on the link after SIGTERM: {}",
        text(&out.stdout)
    );
}

fn tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "this test needs `{name}` on PATH (scripts/install-deps.sh installs it)"
    );
}

#[test]
fn with_nobody_holding_the_address_the_boards_attempts_stay_on_its_link() {
    tool("tshark");
    let dir = tempfile::tempdir().expect("tempdir");
    let _sim = Sim::up(dir.path(), QUIET_INDEX);
    let ns = format!("hilt-sim{QUIET_INDEX}");
    let ip = fixed_server(QUIET_INDEX);
    // The board reaches the address on its link, and nothing else.
    let route = Command::new("ip")
        .args(["-n", &ns, "route", "get", &ip])
        .output()
        .expect("ip runs");
    let route = text(&route.stdout);
    assert!(
        route.contains("dev eth0") && !route.contains(" via "),
        "{route}"
    );
    let off = Command::new("ip")
        .args(["-n", &ns, "route", "get", "192.0.2.1"])
        .output()
        .expect("ip runs");
    assert!(
        !off.status.success(),
        "the board has a route off its link: {}",
        text(&off.stdout)
    );
    // Two intervals on the host side of the link: the client asks for the
    // address (ARP), and no IP packet to it is ever sent.
    let pcap = dir.path().join("link.pcap");
    let capture = Command::new("tshark")
        .args([
            "-q",
            "-i",
            &format!("hsim{QUIET_INDEX}"),
            "-a",
            "duration:7",
            "-w",
        ])
        .arg(&pcap)
        .output()
        .expect("tshark runs");
    assert!(capture.status.success(), "{}", text(&capture.stderr));
    let count = |filter: &str| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-Y", filter])
            .output()
            .expect("tshark reads");
        text(&out.stdout).lines().count()
    };
    assert!(
        count(&format!("arp.dst.proto_ipv4 == {ip}")) >= 1,
        "no ARP request for {ip}: is the client trying?"
    );
    assert_eq!(
        count(&format!("ip.dst == {ip}")),
        0,
        "IP packets to {ip} left the board"
    );
    assert_eq!(
        count(&format!("ip and not ip.dst == 198.18.{QUIET_INDEX}.0/24")),
        0,
        "IP packets off the link"
    );
    assert!(!link_holds(QUIET_INDEX, &ip));
}

#[test]
fn a_client_that_never_comes_is_inconclusive_and_its_address_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), ABSENT_INDEX);
    // The device calls .10; the board file says .20: nobody comes.
    let ip = format!("198.18.{ABSENT_INDEX}.20");
    let board = sim.board_with(dir.path(), &format!("{ip}:8883"), "address");
    let mut child = hilt_run(dir.path(), &board, &["DP-03"])
        .spawn()
        .expect("hilt runs");
    assert!(
        wait_for_address(&mut child, ABSENT_INDEX, &ip),
        "{ip} never taken over"
    );
    let out = finish(child);
    let (v, reason) = verdict(dir.path());
    assert_eq!(v, "INCONCLUSIVE", "{reason}\n{}", text(&out.stdout));
    assert!(reason.contains("never connected"), "{reason}");
    assert!(!link_holds(ABSENT_INDEX, &ip), "{ip} left on the link");
}

#[test]
fn a_client_that_connects_at_boot_is_provoked_by_a_power_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), BOOT_INDEX);
    let original = std::fs::read_to_string(&sim.board)
        .expect("board file")
        .replace("interval_s: 3", "connects_at_boot: true");
    assert!(original.contains("connects_at_boot: true"), "{original}");
    let board = sim.write_board(
        dir.path(),
        &original,
        &format!("{}:8883", fixed_server(BOOT_INDEX)),
        "address",
    );
    let out = hilt_run(dir.path(), &board, &["DP-03"])
        .output()
        .expect("hilt runs");
    let (v, reason) = verdict(dir.path());
    assert_eq!(v, "PASS", "{reason}\n{}", text(&out.stdout));
    // The boot after `up` (still unread on the console when hilt opens
    // it), then one power cycle per server (the control and the
    // self-signed one), each a boot on the console.
    let run = std::fs::read_dir(dir.path().join("hilt-out"))
        .expect("hilt-out")
        .flatten()
        .next()
        .expect("run folder")
        .path();
    let checks = run.join("evidence").join(format!("sim-{BOOT_INDEX}"));
    let folder = std::fs::read_dir(&checks)
        .expect("evidence folder")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("tls_client_mitm"))
        .expect("the check's evidence folder");
    let log =
        std::fs::read_to_string(folder.path().join("console-1.log")).expect("console transcript");
    let boots = log.matches("bootloader 1.0").count();
    assert!(boots >= 3, "{boots} boots in the transcript: {log}");
    assert!(!link_holds(BOOT_INDEX, &fixed_server(BOOT_INDEX)));
}

#[test]
fn a_redirect_in_the_boards_namespace_reaches_the_client_and_is_removed() {
    let have_nft = Command::new("sh")
        .args(["-c", "command -v nft"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have_nft,
        "this test needs `nft` on PATH (scripts/install-deps.sh installs nftables)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::up(dir.path(), REDIRECT_INDEX);
    let netns = format!("hilt-sim{REDIRECT_INDEX}");
    let board = sim.board_with(
        dir.path(),
        &format!("{}:8883", fixed_server(REDIRECT_INDEX)),
        &format!("{{ redirect: {{ netns: {netns} }} }}"),
    );
    let out = hilt_run(dir.path(), &board, &["DP-03"])
        .output()
        .expect("hilt runs");
    let (v, reason) = verdict(dir.path());
    assert_eq!(v, "PASS", "{reason}\n{}", text(&out.stdout));
    assert!(!link_holds(REDIRECT_INDEX, &fixed_server(REDIRECT_INDEX)));
    let table = Command::new("ip")
        .args(["netns", "exec", &netns, "nft", "list", "tables"])
        .output()
        .expect("nft runs");
    assert!(
        !text(&table.stdout).contains("hilt_takeover"),
        "the redirect was left in {netns}: {}",
        text(&table.stdout)
    );
}

const BOARD_ON_LO: &str = r#"board: fixed-1
model: gateway
hardware:
  network: { address: 127.0.0.1, interface: lo, host_address: 127.0.0.1 }
declares:
  tls_clients:
    - { purpose: cloud, server: "SERVER", takeover: address, server_name: cloud.example.test, interval_s: 60 }
"#;

fn board_check(dir: &Path, board: &str) -> Output {
    let path = dir.join("board.yaml");
    std::fs::write(&path, board).expect("write");
    Command::new(HILT)
        .args(["board", "check", "--format", "json"])
        .arg(&path)
        .output()
        .expect("hilt runs")
}

/// DP-03's entry in `hilt board check --format json` of a board file with
/// `server` as its fixed server.
fn dp03_preview(dir: &Path, server: &str) -> serde_json::Value {
    let out = board_check(dir, &BOARD_ON_LO.replace("SERVER", server));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    report["boards"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["catalogue_id"] == "DP-03")
        .expect("DP-03 listed")
        .clone()
}

#[test]
fn a_fixed_server_off_the_link_is_not_taken_over_and_a_name_needs_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 198.51.100.7 is not on lo (127.0.0.0/8): DP-03 does not run.
    let dp03 = dp03_preview(dir.path(), "198.51.100.7:8883");
    assert_eq!(dp03["status"], "not_applicable", "{dp03}");
    let reason = dp03["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not on the board's link lo"), "{reason}");
    // On the link (127/8 on lo): it runs.
    let dp03 = dp03_preview(dir.path(), "127.77.9.9:8883");
    assert_eq!(dp03["status"], "runs", "{dp03}");
    // A name without the address it resolves to: board-file error.
    let out = board_check(
        dir.path(),
        &BOARD_ON_LO.replace("SERVER", "cloud.example.test:8883"),
    );
    assert_eq!(out.status.code(), Some(2));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("declares.tls_clients[0].server") && all.contains("resolves_to"),
        "{all}"
    );
}
