//! Local racks: leases and the health check before each board's suite.
//!
//! - Two hilt processes on one board: the second is refused, naming the
//!   holder and the lease file; once the first is SIGKILLed mid-run (the
//!   kernel drops its lock) the second takes the board and runs.
//! - A rack of two simulated boards, one declared with a golden image it
//!   does not run: that board is quarantined with the reason in the
//!   record, its trials INCONCLUSIVE without being run; the other runs.
//!
//! - `--shard K/N` splits a rack's boards (or one board's checks) across
//!   jobs, and `hilt report merge` makes one record of them: every trial
//!   once, the rack-wide check judged again on all boards, a trial with
//!   different results in two shards refused by name.
//!
//! Simulated boards 216-218 (needs root: network namespaces). About 10 s.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

struct Sims {
    runtime: PathBuf,
}

impl Sims {
    fn up(dir: &Path, base: u32, count: u32) -> Self {
        let runtime = dir.join("rt");
        let out = Command::new(sim_binary())
            .args(["up", "--fresh", "--count", &count.to_string()])
            .args(["--base-index", &base.to_string(), "--runtime-dir"])
            .arg(&runtime)
            .output()
            .expect("hilt-sim runs");
        assert!(out.status.success(), "{}", text(&out));
        Self { runtime }
    }

    fn board(&self, index: u32) -> PathBuf {
        self.runtime.join(format!("sim-{index}")).join("board.yaml")
    }
}

impl Drop for Sims {
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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn suite(dir: &Path, name: &str, checks: &[&str]) -> PathBuf {
    let mut s = format!("suite: {name}\ntitle: {name}\nchecks:\n");
    for check in checks {
        s.push_str(&format!("  - check: {check}\n"));
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, s).expect("suite");
    path
}

/// `hilt run` on `boards` with its own lease folder and output folder.
fn hilt_run(dir: &Path, boards: &[&Path], suite: &Path, out: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(HILT);
    cmd.arg("run");
    for board in boards {
        cmd.arg("-b").arg(board);
    }
    cmd.arg("--suite")
        .arg(suite)
        .arg("--out")
        .arg(dir.join(out))
        .args(extra)
        .env("HILT_LEASE_DIR", dir.join("leases"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn rack_status(dir: &Path) -> serde_json::Value {
    let out = Command::new(HILT)
        .args(["rack", "status", "--json"])
        .env("HILT_LEASE_DIR", dir.join("leases"))
        .output()
        .expect("hilt rack status");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn record(dir: &Path, out: &str) -> serde_json::Value {
    let run = std::fs::read_dir(dir.join(out))
        .expect("run folder")
        .flatten()
        .next()
        .expect("one run")
        .path();
    serde_json::from_slice(&std::fs::read(run.join("record.json")).expect("record")).expect("JSON")
}

#[test]
fn a_leased_board_is_refused_until_its_holder_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let sims = Sims::up(dir, 216, 1);
    let board = sims.board(216);
    // The port scan keeps the first run busy for a while.
    let long = suite(dir, "long", &["logical_access::open_ports"]);
    let short = suite(dir, "short", &["device_identification::logical_identifier"]);

    let mut first = hilt_run(dir, &[&board], &long, "first", &[])
        .spawn()
        .expect("first hilt");
    let pid = first.id();
    let until = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let status = rack_status(dir);
        let mine = status.as_array().is_some_and(|leases| {
            !leases.is_empty()
                && leases
                    .iter()
                    .all(|l| l["held"] == true && l["holder"]["pid"] == pid)
        });
        if mine {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the first run took no lease: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let resources: Vec<&str> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["holder"]["resource"].as_str())
        .collect();
    assert!(resources.contains(&"network 198.18.216.2"), "{resources:?}");

    // While it runs, a second hilt cannot take the board.
    let refused = hilt_run(dir, &[&board], &short, "second", &[])
        .output()
        .expect("second hilt");
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("leased by hilt pid {pid} on host")),
        "{said}"
    );
    assert!(said.contains("board sim-216"), "{said}");
    assert!(said.contains(".lease"), "{said}");
    assert!(!dir.join("second").exists(), "nothing ran: {said}");
    assert!(
        first.try_wait().expect("wait").is_none(),
        "first still running"
    );

    // SIGKILL mid-run: no chance to clean up; the kernel drops the lock.
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let status = rack_status(dir);
    assert!(
        status
            .as_array()
            .is_some_and(|l| l.iter().all(|l| l["held"] == false)),
        "{status}"
    );
    let taken = hilt_run(dir, &[&board], &short, "third", &[])
        .output()
        .expect("third hilt");
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    let record = record(dir, "third");
    assert_eq!(record["trials"][0]["verdict"], "PASS", "{record}");
}

#[test]
fn a_board_failing_its_health_check_is_quarantined_and_racks_shard_by_board() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let sims = Sims::up(dir, 217, 2);
    // sim-218 declared with a golden image it does not run (its update
    // candidate): the health check must see the wrong image.
    let yaml = std::fs::read_to_string(sims.board(218)).expect("board");
    let golden = format!(
        "golden: {}",
        sims.runtime.join("sim-218/golden.bin").display()
    );
    assert!(yaml.contains(&golden), "{yaml}");
    let candidate = sims.runtime.join("sim-218/candidate.bin");
    let wrong = dir.join("wrong-image.yaml");
    std::fs::write(
        &wrong,
        yaml.replace(&golden, &format!("golden: {}", candidate.display())),
    )
    .expect("write");
    let healthy = sims.board(217);
    let checks = suite(dir, "id", &["device_identification::logical_identifier"]);

    let out = hilt_run(
        dir,
        &[&healthy, &wrong],
        &checks,
        "rack",
        &["--health-check"],
    )
    .output()
    .expect("hilt");
    let rack_record = record(dir, "rack");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let board = |name: &str| {
        rack_record["boards"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["name"] == name))
            .unwrap_or_else(|| panic!("no {name} in {rack_record}"))
            .clone()
    };
    let trial = |name: &str| {
        rack_record["trials"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["board"] == name))
            .unwrap_or_else(|| panic!("no trial of {name} in {rack_record}"))
            .clone()
    };

    let good = board("sim-217");
    assert!(good["health"]["quarantined"].is_null(), "{good}");
    let items = good["health"]["items"].as_array().expect("items");
    for what in ["console", "service https 443/tcp", "running image"] {
        let item = items.iter().find(|i| i["what"] == what);
        assert_eq!(
            item.map(|i| &i["status"]),
            Some(&"ok".into()),
            "{what}: {good}"
        );
    }
    assert_eq!(trial("sim-217")["verdict"], "PASS", "{rack_record}");

    let bad = board("sim-218");
    let why = bad["health"]["quarantined"].as_str().unwrap_or_default();
    assert!(
        why.contains("running image") && why.contains("not the golden image"),
        "{bad}"
    );
    let quarantined = trial("sim-218");
    assert_eq!(quarantined["verdict"], "INCONCLUSIVE", "{quarantined}");
    let reason = quarantined["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("quarantined") && reason.contains("not the golden image"),
        "{reason}"
    );
    assert_eq!(quarantined["observed"], "no conclusive observation");
    // Not run: the check left evidence on the healthy board only.
    let evidence = |board: &str| {
        run_folder(dir, "rack")
            .join("evidence")
            .join(board)
            .join("device_identification.logical_identifier")
            .exists()
    };
    assert!(evidence("sim-217") && !evidence("sim-218"));

    // The same two boards split by board across two jobs: each job sees
    // one board, so the rack-wide check cannot compare identifiers there;
    // merged, it compares both.
    let rack_suite = suite(
        dir,
        "rack",
        &[
            "device_identification::logical_identifier",
            "device_identification::distinct_identifiers",
        ],
    );
    let mut runs = Vec::new();
    for k in 1..=2 {
        let out_name = format!("boards-{k}");
        let out = hilt_run(
            dir,
            &[&healthy, &sims.board(218)],
            &rack_suite,
            &out_name,
            &["--shard", &format!("{k}/2")],
        )
        .output()
        .expect("hilt");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let shard = record(dir, &out_name);
        assert_eq!(shard["boards"].as_array().map(Vec::len), Some(1), "{shard}");
        let rack = &shard["trials"]
            .as_array()
            .expect("trials")
            .iter()
            .find(|t| t["board"] == "rack")
            .expect("rack trial")
            .clone();
        assert_eq!(rack["verdict"], "NOT_APPLICABLE", "{rack}");
        runs.push(run_folder(dir, &out_name));
    }
    let merged = merge(dir, &runs, "merged");
    assert!(merged.status.success(), "{}", text(&merged));
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("merged/record.json")).expect("record"))
            .expect("JSON");
    assert_eq!(
        merged["boards"].as_array().map(Vec::len),
        Some(2),
        "{merged}"
    );
    let rack = merged["trials"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["board"] == "rack"))
        .expect("rack trial");
    assert_eq!(rack["verdict"], "PASS", "{rack}");
    assert_eq!(
        merged["trials"].as_array().map(Vec::len),
        Some(3),
        "{merged}"
    );
}

fn run_folder(dir: &Path, out: &str) -> PathBuf {
    std::fs::read_dir(dir.join(out))
        .expect("out")
        .flatten()
        .next()
        .expect("one run")
        .path()
}

fn merge(dir: &Path, runs: &[PathBuf], out: &str) -> Output {
    Command::new(HILT)
        .args(["report", "merge"])
        .args(runs)
        .arg("-o")
        .arg(dir.join(out))
        .output()
        .expect("hilt report merge")
}

fn names(record: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = record["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

#[test]
fn shards_of_a_rack_merge_into_one_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let sims = Sims::up(dir, 219, 1);
    let one = sims.board(219);
    // One board, two jobs: the suite's board checks are split.
    let checks = suite(
        dir,
        "three",
        &[
            "device_identification::logical_identifier",
            "non_technical::support_period",
            "non_technical::vulnerability_disclosure",
            "device_identification::distinct_identifiers",
        ],
    );
    for k in 1..=2 {
        let out = hilt_run(
            dir,
            &[&one],
            &checks,
            &format!("checks-{k}"),
            &["--shard", &format!("{k}/2")],
        )
        .output()
        .expect("hilt");
        assert!(out.status.code() == Some(0), "{}", text(&out));
    }
    let first = record(dir, "checks-1");
    let second = record(dir, "checks-2");
    // Board checks alternate between the shards; the rack check is in both.
    assert_eq!(
        names(&first),
        [
            "rack::device_identification::distinct_identifiers",
            "sim-219::device_identification::logical_identifier",
            "sim-219::non_technical::vulnerability_disclosure",
        ]
    );
    assert_eq!(
        names(&second),
        [
            "rack::device_identification::distinct_identifiers",
            "sim-219::non_technical::support_period",
        ]
    );
    let runs = [run_folder(dir, "checks-1"), run_folder(dir, "checks-2")];
    let merged_out = merge(dir, &runs, "merged");
    assert!(merged_out.status.success(), "{}", text(&merged_out));
    let merged: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("merged/record.json")).expect("merged record"),
    )
    .expect("JSON");
    assert_eq!(
        names(&merged),
        [
            "rack::device_identification::distinct_identifiers",
            "sim-219::device_identification::logical_identifier",
            "sim-219::non_technical::support_period",
            "sim-219::non_technical::vulnerability_disclosure",
        ]
    );
    assert_eq!(merged["boards"].as_array().map(Vec::len), Some(1));
    assert_eq!(merged["complete"], true);
    // The merged folder stands on its own: evidence and manifest agree.
    let verify = Command::new(HILT)
        .args(["report", "verify"])
        .arg(dir.join("merged"))
        .output()
        .expect("verify");
    assert!(verify.status.success(), "{}", text(&verify));

    // A trial with another result in a second shard is refused by name.
    let forged = dir.join("forged");
    std::fs::create_dir_all(&forged).expect("mkdir");
    let mut changed = first.clone();
    changed["trials"]
        .as_array_mut()
        .and_then(|t| {
            t.iter_mut()
                .find(|t| t["check"] == "device_identification::logical_identifier")
        })
        .expect("ID-01")["verdict"] = "FAIL".into();
    std::fs::write(forged.join("record.json"), changed.to_string()).expect("write");
    let refused = merge(dir, &[runs[0].clone(), forged], "refused");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("sim-219::device_identification::logical_identifier is PASS in"),
        "{}",
        text(&refused)
    );
    assert!(!dir.join("refused").exists());
}
