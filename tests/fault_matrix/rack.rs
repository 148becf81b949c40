//! One `hilt run` over a block of boards, each board running the one check
//! assigned to it (exact filters, several at once), with a fault injected
//! into every board at a time of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hilt_reports::{RunRecord, TrialRecord};

use super::fault::Fault;
use super::sim::SimBoard;
use super::HILT;

/// A fault for one board, at `at` after the run started (None: already in
/// place before hilt starts).
#[derive(Debug, Clone, Copy)]
pub struct Injection {
    pub fault: Fault,
    pub at: Option<Duration>,
}

pub struct Assignment<'a> {
    pub board: &'a SimBoard,
    pub check: &'a str,
    pub injection: Option<Injection>,
}

pub struct RackRun {
    pub record: Option<RunRecord>,
    /// Per assignment: when its fault landed, in ms since the run started
    /// (negative: before it).
    pub landed_ms: Vec<Option<i64>>,
    /// hilt's exit status (None: killed by the test after `limit`).
    pub exit: Option<i32>,
    pub stderr: String,
}

impl RackRun {
    pub fn trial(&self, board: &SimBoard, check: &str) -> Option<&TrialRecord> {
        let record = self.record.as_ref()?;
        record
            .trials
            .iter()
            .find(|t| t.board == board.name && t.check == check)
    }
}

/// Runs `suite` on the assigned boards; stops hilt after `limit`.
pub fn run(suite: &Path, out: &Path, assignments: &[Assignment], limit: Duration) -> RackRun {
    let mut landed: Vec<Option<Instant>> = vec![None; assignments.len()];
    for (i, a) in assignments.iter().enumerate() {
        if let Some(Injection { fault, at: None }) = a.injection {
            fault.inject(a.board);
            landed[i] = Some(Instant::now());
        }
    }
    let mut args: Vec<String> = vec![
        "run".into(),
        "--suite".into(),
        suite.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    let mut files: Vec<String> = assignments
        .iter()
        .map(|a| a.board.board_file.display().to_string())
        .collect();
    files.dedup();
    for file in files {
        args.push("-b".into());
        args.push(file);
    }
    args.extend(["--".into(), "--exact".into(), "--quiet".into()]);
    args.extend(
        assignments
            .iter()
            .map(|a| format!("{}::{}", a.board.name, a.check)),
    );
    let stderr_file = out.with_extension("stderr");
    let mut child = Command::new(HILT)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn()
        .expect("hilt runs");
    let spawned = Instant::now();
    let started = wait_for_record(out, spawned + Duration::from_secs(20)).unwrap_or(spawned);

    // Timed faults, earliest first.
    let mut timed: Vec<(Duration, usize)> = assignments
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.injection.and_then(|inj| inj.at).map(|at| (at, i)))
        .collect();
    timed.sort();
    for (at, i) in timed {
        let when = started + at;
        if let Some(wait) = when.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if let Some(inj) = assignments[i].injection {
            inj.fault.inject(assignments[i].board);
            landed[i] = Some(Instant::now());
        }
    }

    let deadline = spawned + limit;
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let landed_ms = landed
        .into_iter()
        .map(|at| {
            at.map(|at| match at.checked_duration_since(started) {
                Some(after) => after.as_millis() as i64,
                None => -(started.duration_since(at).as_millis() as i64),
            })
        })
        .collect();
    RackRun {
        record: record_dir(out).and_then(|d| RunRecord::read(&d.join("record.json")).ok()),
        landed_ms,
        exit,
        stderr: std::fs::read_to_string(&stderr_file).unwrap_or_default(),
    }
}

fn record_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("record.json").is_file())
}

/// The moment the run began: hilt writes its first record then.
fn wait_for_record(out: &Path, until: Instant) -> Option<Instant> {
    while Instant::now() < until {
        if record_dir(out).is_some() {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}
