//! The run record: what one `hilt run` did, as JSON.
//!
//! Everything a report shows comes from here, so everything a lab must be
//! able to sign is recorded here: which boards, which suite, and per trial
//! the verdict, what was expected and observed, timings, and evidence files
//! with their SHA-256.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears.
pub const RECORD_FORMAT: u32 = 1;

/// The five verdicts. The order is the precedence used when summarising:
/// a capability with one ERROR is ERROR, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The device held: the secure behaviour was established.
    Pass,
    /// The check does not apply to this board, by its declaration.
    NotApplicable,
    /// Not tested by the harness: the declared value needs manual review.
    Declared,
    /// The device did not hold: the flaw was observed.
    Fail,
    /// The board could not be brought to answer (board or wiring fault,
    /// timeout, lost connection): nothing was established either way.
    Inconclusive,
    /// The harness itself failed (panic, bad evidence path, internal bug).
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::NotApplicable => "NOT_APPLICABLE",
            Self::Declared => "DECLARED",
            Self::Fail => "FAIL",
            Self::Inconclusive => "INCONCLUSIVE",
            Self::Error => "ERROR",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u32,
    pub run_id: String,
    pub tool: ToolInfo,
    /// RFC 3339 UTC.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// False until every selected trial finished; an interrupted run stays false.
    pub complete: bool,
    /// Why the run ended early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub suite: SuiteInfo,
    pub boards: Vec<BoardInfo>,
    pub trials: Vec<TrialRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// The command line, as given.
    pub command: Vec<String>,
    pub host: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoardInfo {
    pub name: String,
    pub model: String,
    pub file: String,
    /// SHA-256 of the board file as read.
    pub file_sha256: String,
    /// Identity observed during the run (device id, firmware version, ...),
    /// filled by checks that read it.
    #[serde(default)]
    pub observed_identity: BTreeMap<String, String>,
}

/// One (board, check) pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    /// `board::capability::check`, as selected on the command line.
    pub name: String,
    pub board: String,
    pub check: String,
    /// Catalogue id (`SU-02`).
    pub catalogue_id: String,
    pub title: String,
    pub references: References,
    pub verdict: Verdict,
    /// Why this verdict, in one sentence.
    pub reason: String,
    pub expected: String,
    pub observed: String,
    /// Observed values worth keeping (OpenHTF's measurements).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, String>,
    pub started_at: String,
    pub finished_at: String,
    /// Milliseconds since the run started (monotonic), for ordering and overlap.
    pub start_offset_ms: u64,
    pub end_offset_ms: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub evidence: Vec<EvidenceRecord>,
    /// For a check that changes the device (or registered something to put
    /// back): whether the board was left as found, and how. Absent for
    /// checks that change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_left: Option<BoardLeft>,
}

/// How a trial left its board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardLeft {
    /// Every change was put back and verified by reading it back.
    pub restored: bool,
    /// What was put back, or what could not be and why.
    pub note: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct References {
    /// NIST IR 8259A elements (`SU-2`).
    #[serde(default)]
    pub nistir_8259a: Vec<String>,
    /// ETSI EN 303 645 provisions (`5.3-10`).
    #[serde(default)]
    pub en_303_645: Vec<String>,
    /// ETSI TS 103 701 test cases (`5.3-10-2`).
    #[serde(default)]
    pub ts_103_701: Vec<String>,
    /// CRA Annex I Part I (2) letters (`f`).
    #[serde(default)]
    pub cra_annex_i: Vec<String>,
}

/// A file a check left behind, relative to the run folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// MIME type (`text/plain`, `application/vnd.tcpdump.pcap`).
    pub media_type: String,
    pub description: String,
}

impl RunRecord {
    /// Writes the record atomically (temp file, then rename) so a reader,
    /// or a run killed mid-write, never sees half a record.
    pub fn write_atomically(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }

    pub fn read(path: &Path) -> io::Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// Count of trials per verdict.
    pub fn tally(&self) -> BTreeMap<Verdict, usize> {
        let mut tally = BTreeMap::new();
        for trial in &self.trials {
            *tally.entry(trial.verdict).or_insert(0) += 1;
        }
        tally
    }

    /// The process exit code this record calls for: 0 when every trial is
    /// PASS, NOT_APPLICABLE or DECLARED; 1 when any FAILs (and nothing is
    /// worse); 2 when anything is INCONCLUSIVE or ERROR.
    pub fn exit_code(&self) -> i32 {
        let worst = self.trials.iter().map(|t| t.verdict).max();
        match worst {
            Some(Verdict::Inconclusive | Verdict::Error) => 2,
            Some(Verdict::Fail) => 1,
            _ => 0,
        }
    }
}
