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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears.
pub const RECORD_FORMAT: u32 = 1;

/// The record schema's version, `FORMAT.MINOR`: the major part is
/// [`RECORD_FORMAT`]; the minor part grows when fields are added (a reader
/// of 1.0 records reads 1.1 ones).
pub const RECORD_SCHEMA_VERSION: &str = "1.2";

/// The `$id` of the record's JSON Schema (`hilt schema record`). A name,
/// not a place to fetch: `.invalid` never resolves.
pub const RECORD_SCHEMA_ID: &str = "https://hilt.invalid/schema/record/1.2.json";

fn schema_version_1_0() -> String {
    "1.0".into()
}

/// The five verdicts. The order is the precedence used when summarising:
/// a capability with one ERROR is ERROR, and so on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
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

/// One run of `hilt run`: the JSON every report is rendered from
/// (`record.json` in the run folder). Where each ISO/IEC 17025 7.8.2.1
/// report item lives is tabled in docs/record.md.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "hilt run record")]
pub struct RunRecord {
    /// Major version of the record format; bumped when a field changes
    /// meaning or disappears (equals the major part of `schema_version`).
    pub format: u32,
    /// Version of the record's JSON Schema (`MAJOR.MINOR`) this record
    /// follows; the schema's `$id` ends in it. Records written before the
    /// field existed read as "1.0".
    #[serde(default = "schema_version_1_0")]
    pub schema_version: String,
    /// Unique identification of this run (and of its report): UTC start
    /// stamp and a random suffix; the run folder's name (17025 7.8.2.1 d).
    pub run_id: String,
    /// The program that made the record and how it was invoked.
    pub tool: ToolInfo,
    /// When the run started, RFC 3339 UTC (17025 7.8.2.1 i, date of testing).
    pub started_at: String,
    /// When the run ended, RFC 3339 UTC; absent while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// False until every selected trial finished; an interrupted run stays
    /// false. True marks the record's clear end (17025 7.8.2.1 d).
    pub complete: bool,
    /// Why the run ended early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// The suite run: the selection of checks and their parameters.
    pub suite: SuiteInfo,
    /// What the lab states about the report: title, lab, customer, methods,
    /// decision rule, dates, authorisation (`hilt run --lab-info FILE`).
    #[serde(default)]
    pub report: ReportInfo,
    /// Where and with what the tests ran: hilt's version and commit, host,
    /// operating system, external tools.
    #[serde(default)]
    pub environment: Environment,
    /// Every board (device under test) of the rack, with its identification.
    pub boards: Vec<BoardInfo>,
    /// One entry per (board, check) trial, in the order they finished.
    pub trials: Vec<TrialRecord>,
}

/// The program that made the record.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    /// Always `hilt`.
    pub name: String,
    /// hilt's version (Cargo package version).
    pub version: String,
    /// The command line, as given.
    pub command: Vec<String>,
    /// Host name of the machine that ran the tests.
    pub host: String,
}

/// The suite (test method as configured) a run used.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SuiteInfo {
    /// The suite's name (`suite:` in its file).
    pub name: String,
    /// Path of the suite file, as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// SHA-256 (hex) of the suite file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What a lab states about its report, read from `hilt run --lab-info
/// FILE` (YAML, the same fields; `hilt schema lab`). Every field is
/// optional: hilt fills what it knows (title, methods, statement) and
/// leaves the rest for the lab. Letters are ISO/IEC 17025 7.8.2.1 items.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInfo {
    /// (a) Title of the report. Default: "hilt security conformance test
    /// report: <suite title>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// (b) The laboratory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<Lab>,
    /// (c) Where the tests were done, when not at the lab's address
    /// (customer site, a remote rack reached through labgrid, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// (e) The customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// (f) The methods: standards and their versions the trials' references
    /// point into. Default: the documents and versions hilt's catalogue
    /// cites (NIST IR 8259A, ETSI EN 303 645, ETSI TS 103 701, CRA Annex I).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<MethodRef>,
    /// (7.8.6) The decision rule a statement of conformity follows
    /// (for hilt: a provision conforms when none of its trials is FAIL,
    /// INCONCLUSIVE or ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_rule: Option<String>,
    /// (h) Date the test items were received, ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_on: Option<String>,
    /// (j) Date the report is issued, ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_on: Option<String>,
    /// (k) Reference to the sampling plan, where items were sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<String>,
    /// (l) Statement that the results relate only to the items tested.
    /// Default: "The results relate only to the items tested, as
    /// identified in this record."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// (n) Additions to, deviations from or exclusions from the method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<String>,
    /// (o) Person(s) authorising the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_by: Vec<Person>,
    /// (p) Results from external providers, each identified as such
    /// (e.g. "penetration test of the mobile app by X, report 123").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_results: Vec<String>,
    /// (g) What the lab states per test item, by board name (the `board:`
    /// of its board file): serial number, physical identifier, condition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, ItemInfo>,
}

/// A laboratory (17025 7.8.2.1 b).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    /// The lab's name.
    pub name: String,
    /// The lab's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Accreditation body and number, if accredited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accreditation: Option<String>,
}

/// A customer (17025 7.8.2.1 e).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The customer's name.
    pub name: String,
    /// How to reach the customer (address, e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// A method reference: a standard and its version (17025 7.8.2.1 f).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodRef {
    /// The document (`ETSI EN 303 645`).
    pub standard: String,
    /// Its version or date (`V2.1.1 (2020-06)`).
    pub version: String,
    /// Which part applies, or how it is used, if not all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A person who authorises the report (17025 7.8.2.1 o).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Name.
    pub name: String,
    /// Function (`technical manager`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What the lab states about one test item (17025 7.8.2.1 g).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInfo {
    /// Serial number, as on the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Physical identifier (label, engraving) as read by the lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// Condition of the item on receipt (sealed, damaged, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Where and with what the tests ran (17025 7.5: enough to repeat them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    /// hilt's version (Cargo package version).
    #[serde(default)]
    pub hilt_version: String,
    /// The git commit hilt was built from (`git rev-parse HEAD` at build
    /// time, or `HILT_GIT_COMMIT` when set then; uncommitted changes are
    /// not marked); absent when built outside a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hilt_commit: Option<String>,
    /// Host name of the machine that ran the tests.
    #[serde(default)]
    pub host: String,
    /// Operating system of that machine (`PRETTY_NAME` of os-release and
    /// the kernel release).
    #[serde(default)]
    pub os: String,
    /// Clock the timestamps come from.
    #[serde(default)]
    pub time_source: String,
    /// External tools and libraries the run used, with their versions,
    /// where known (QEMU for QEMU boards, probe-rs, ...).
    #[serde(default)]
    pub tools: Vec<ToolVersion>,
}

/// One external tool or library and its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolVersion {
    /// The tool's name (`qemu-system-arm`, `probe-rs`).
    pub name: String,
    /// Its version as it reports it (first line of `--version`), or as
    /// built in.
    pub version: String,
}

/// One board (device under test): its identification as declared in the
/// board file, stated by the lab, and observed during the run
/// (17025 7.8.2.1 g; TS 103 701's DUT identification).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BoardInfo {
    /// The board's name (`board:` in its board file).
    pub name: String,
    /// Product model, from the board file.
    pub model: String,
    /// Path of the board file, as read.
    pub file: String,
    /// SHA-256 of the board file as read (it holds the declaration, the
    /// ICS/IXIT the trials were run against).
    pub file_sha256: String,
    /// Manufacturer, from the board file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Hardware revision, from the board file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_revision: Option<String>,
    /// Serial number: from the lab's item statement, else as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Logical identifier the device reported (ID-01), if read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_id: Option<String>,
    /// Physical identifier: from the lab's item statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// Firmware version the device reported, as last read by a check
    /// (the update checks read it back), if any did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// SHA-256 of the running image (MCUboot's image hash, as the device
    /// reports it) at the run's first read, before any check changed it;
    /// absent when no check read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256_before: Option<String>,
    /// SHA-256 of the running image at the run's last read by a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256_after: Option<String>,
    /// Condition of the item on receipt, from the lab's item statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Debug probe or debug server the board is wired to, from the board
    /// file (`gdb 198.18.0.2:3333`, `probe-rs nRF52840_xxAA 1366:1015:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Identity observed during the run (device id, firmware version, ...),
    /// filled by checks that read it; keys as the checks name them.
    #[serde(default)]
    pub observed_identity: BTreeMap<String, String>,
    /// The health check before the board's suite, when one ran: a board
    /// that fails it is quarantined, and its trials are INCONCLUSIVE (a
    /// board fault) without being run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<BoardHealthRecord>,
}

/// What the health check before a board's suite found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BoardHealthRecord {
    /// Why the board was quarantined (its trials not run); absent when it
    /// was healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
    /// Each part of the check, in order.
    pub items: Vec<HealthItem>,
    /// Evidence the check left (the console transcript).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceRecord>,
}

/// One part of the health check: the console, one declared service, the
/// running image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthItem {
    /// What was checked (`console`, `service https 443/tcp`, `running image`).
    pub what: String,
    /// `ok`, `failed` (the board is quarantined) or `unknown` (the board
    /// cannot tell).
    pub status: HealthStatus,
    /// What was seen, or why it could not be told.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Shown as the board file says.
    Ok,
    /// Shown otherwise: the board is quarantined.
    Failed,
    /// The board cannot tell (nothing wired or declared to ask it):
    /// recorded as such, neither passed nor failed.
    Unknown,
}

/// One (board, check) pair.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrialRecord {
    /// `board::capability::check`, as selected on the command line.
    pub name: String,
    /// The board's name; `rack` for a rack-wide trial.
    pub board: String,
    /// The check's id, `capability::check`.
    pub check: String,
    /// Catalogue id (`SU-02`).
    pub catalogue_id: String,
    /// The check's title.
    pub title: String,
    /// The standards' clauses this check tests.
    pub references: References,
    /// Whether the check applied to this board, and what decided it.
    /// Absent in records before 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicability: Option<ApplicabilityRecord>,
    /// The trial's verdict.
    pub verdict: Verdict,
    /// Why this verdict, in one sentence.
    pub reason: String,
    /// The pass criterion: the behaviour that makes it PASS.
    pub expected: String,
    /// What was observed.
    pub observed: String,
    /// Observed values worth keeping (OpenHTF's measurements). A value
    /// with a unit carries it in its name's suffix (`_ms`, `_bytes`, `_s`)
    /// or in the value (17025 7.8.2.1 m).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, String>,
    /// When the trial started, RFC 3339 UTC.
    pub started_at: String,
    /// When the trial ended, RFC 3339 UTC.
    pub finished_at: String,
    /// Milliseconds since the run started (monotonic), for ordering and overlap.
    pub start_offset_ms: u64,
    /// Milliseconds since the run started when the trial ended.
    pub end_offset_ms: u64,
    /// The trial's wall time in milliseconds.
    pub duration_ms: u64,
    /// Files the trial left behind, each hashed.
    #[serde(default)]
    pub evidence: Vec<EvidenceRecord>,
    /// For a check that changes the device (or registered something to put
    /// back): whether the board was left as found, and how. Absent for
    /// checks that change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_left: Option<BoardLeft>,
}

/// Whether a check applied to a board, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicabilityRecord {
    /// False for a NOT_APPLICABLE trial.
    pub applies: bool,
    /// What decided: `board_file` (the board file's declaration, the
    /// ICS/IXIT, before anything was sent), `device` (what the device
    /// showed while the check ran), or `rack` (the boards of the rack).
    pub source: String,
    /// Board-file fields (dotted paths) any one of which would make a
    /// NOT_APPLICABLE check run; empty when none would or it applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_by: Vec<String>,
}

/// How a trial left its board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BoardLeft {
    /// Every change was put back and verified by reading it back.
    pub restored: bool,
    /// What was put back, or what could not be and why.
    pub note: String,
}

/// The clauses of the standards a check tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceRecord {
    /// Path relative to the run folder.
    pub path: String,
    /// SHA-256 (hex) of the file as written.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// MIME type (`text/plain`, `application/vnd.tcpdump.pcap`).
    pub media_type: String,
    /// What the file shows.
    pub description: String,
    /// Where in the file the observation is (`frame 12`, `line 40`), when
    /// the check knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
}

impl RunRecord {
    /// The record's JSON Schema (draft 2020-12) with its `$id` and title.
    pub fn json_schema() -> serde_json::Value {
        let mut schema = serde_json::to_value(schemars::schema_for!(RunRecord))
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
        if let Some(object) = schema.as_object_mut() {
            object.insert("$id".into(), RECORD_SCHEMA_ID.into());
            object.insert(
                "title".into(),
                format!("hilt run record {RECORD_SCHEMA_VERSION}").into(),
            );
        }
        schema
    }

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

impl BoardInfo {
    /// A board known by name, model and file; every other field empty.
    pub fn new(name: &str, model: &str, file: &str, file_sha256: &str) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            file: file.into(),
            file_sha256: file_sha256.into(),
            manufacturer: None,
            hardware_revision: None,
            serial_number: None,
            logical_id: None,
            physical_id: None,
            firmware_version: None,
            image_sha256_before: None,
            image_sha256_after: None,
            condition: None,
            probe: None,
            observed_identity: BTreeMap::new(),
            health: None,
        }
    }

    /// Copies what checks observed into the board's identification fields.
    /// Keys: `logical_id`, `serial_number`, `firmware_version` (the latest
    /// read), `image_sha256_before` (a trial's first read of the running
    /// image; the run's first such read is kept) and `image_sha256` (the
    /// latest read: the image after the run).
    pub fn observe(&mut self, identity: &BTreeMap<String, String>) {
        let board = self;
        // Before `image_sha256`, which fills an empty `before` with its own.
        if let Some(first) = identity.get("image_sha256_before") {
            if board.image_sha256_before.is_none() {
                board.image_sha256_before = Some(first.clone());
            }
        }
        for (key, value) in identity {
            let value = Some(value.clone());
            match key.as_str() {
                // The run's first one is in its own field; later trials'
                // would only blur the map.
                "image_sha256_before" => continue,
                "logical_id" => board.logical_id = value.clone(),
                "serial_number" if board.serial_number.is_none() => {
                    board.serial_number = value.clone()
                }
                "firmware_version" => board.firmware_version = value.clone(),
                "image_sha256" => {
                    if board.image_sha256_before.is_none() {
                        board.image_sha256_before = value.clone();
                    }
                    board.image_sha256_after = value.clone();
                }
                _ => {}
            }
            if let Some(value) = value {
                board.observed_identity.insert(key.clone(), value);
            }
        }
    }
}

impl ReportInfo {
    /// The statement of 17025 7.8.2.1 (l) hilt writes unless the lab gives its own.
    pub const DEFAULT_STATEMENT: &'static str =
        "The results relate only to the items tested, as identified in this record.";

    /// The decision rule hilt applies unless the lab states its own.
    pub const DEFAULT_DECISION_RULE: &'static str = "A check passes only when the secure behaviour was established on the device; a timeout, lost connection or harness fault is INCONCLUSIVE or ERROR, never PASS. A capability or provision conforms when every trial referencing it is PASS or NOT_APPLICABLE (DECLARED trials need the lab's review). Binary statement, no guard band: the observations are not measurements with an uncertainty.";

    /// Fills what hilt knows and the lab left out: title, methods (the
    /// documents hilt's catalogue cites), statement and decision rule.
    pub fn with_defaults(mut self, suite_title: &str) -> Self {
        if self.title.is_none() {
            self.title = Some(format!(
                "hilt security conformance test report: {suite_title}"
            ));
        }
        if self.methods.is_empty() {
            self.methods = default_methods();
        }
        if self.statement.is_none() {
            self.statement = Some(Self::DEFAULT_STATEMENT.into());
        }
        if self.decision_rule.is_none() {
            self.decision_rule = Some(Self::DEFAULT_DECISION_RULE.into());
        }
        self
    }
}

/// The documents and versions hilt's catalogue references point into.
pub fn default_methods() -> Vec<MethodRef> {
    let method = |standard: &str, version: &str, note: &str| MethodRef {
        standard: standard.into(),
        version: version.into(),
        note: Some(note.into()),
    };
    vec![
        method(
            "NIST IR 8259A",
            "May 2020",
            "device cybersecurity capability core baseline (references.nistir_8259a)",
        ),
        method(
            "ETSI EN 303 645",
            "V2.1.1 (2020-06)",
            "provision numbering (references.en_303_645)",
        ),
        method(
            "ETSI TS 103 701",
            "V1.1.1 (2021-08)",
            "test cases (references.ts_103_701)",
        ),
        method(
            "Regulation (EU) 2024/2847 (Cyber Resilience Act)",
            "2024-10-23",
            "Annex I Part I (2) letters (references.cra_annex_i)",
        ),
    ]
}

/// A run record for unit tests: fixed run metadata around `boards` and `trials`.
#[cfg(test)]
pub(crate) fn sample_record(boards: Vec<BoardInfo>, trials: Vec<TrialRecord>) -> RunRecord {
    RunRecord {
        format: RECORD_FORMAT,
        schema_version: RECORD_SCHEMA_VERSION.into(),
        run_id: "r".into(),
        tool: ToolInfo {
            name: "hilt".into(),
            version: "0".into(),
            command: vec![],
            host: "h".into(),
        },
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        complete: true,
        interrupted: None,
        suite: SuiteInfo {
            name: "s".into(),
            file: None,
            sha256: None,
        },
        report: ReportInfo::default(),
        environment: Environment::default(),
        boards,
        trials,
    }
}

/// A run record for unit tests on one board, `b`.
#[cfg(test)]
pub(crate) fn sample_one_board_record(trials: Vec<TrialRecord>) -> RunRecord {
    sample_record(vec![BoardInfo::new("b", "m", "f", "0")], trials)
}

/// An evidence file entry for unit tests: `path` with hash `sha256`, one
/// byte of plain text, no locator.
#[cfg(test)]
pub(crate) fn sample_evidence(path: &str, sha256: &str) -> EvidenceRecord {
    EvidenceRecord {
        path: path.into(),
        sha256: sha256.into(),
        bytes: 1,
        media_type: "text/plain".into(),
        description: "d".into(),
        locator: None,
    }
}

/// A trial for unit tests: `board::check` with the given catalogue id,
/// 8259A elements, EN 303 645 provisions and verdict; one second long, no
/// evidence.
#[cfg(test)]
pub(crate) fn sample_trial(
    board: &str,
    catalogue_id: &str,
    elements: &[&str],
    provisions: &[&str],
    verdict: Verdict,
) -> TrialRecord {
    let check = format!("capability::{}", catalogue_id.to_lowercase());
    TrialRecord {
        name: format!("{board}::{check}"),
        board: board.into(),
        check,
        catalogue_id: catalogue_id.into(),
        title: format!("{catalogue_id} title"),
        references: References {
            nistir_8259a: elements.iter().map(|e| e.to_string()).collect(),
            en_303_645: provisions.iter().map(|p| p.to_string()).collect(),
            ts_103_701: vec![],
            cra_annex_i: vec![],
        },
        applicability: None,
        verdict,
        reason: format!("{catalogue_id} reason"),
        expected: format!("{catalogue_id} expected"),
        observed: format!("{catalogue_id} observed"),
        measurements: BTreeMap::new(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:01Z".into(),
        start_offset_ms: 0,
        end_offset_ms: 1000,
        duration_ms: 1000,
        evidence: vec![],
        board_left: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_image_before_is_the_runs_first_read_and_after_its_last() {
        let mut board = BoardInfo::new("b", "m", "f", "0");
        // Trial 1 read image A, then (a flawed device took an update) B.
        board.observe(&map(&[
            ("image_sha256_before", "aa"),
            ("image_sha256", "bb"),
            ("firmware_version", "2.0"),
        ]));
        // Trial 2 read B, then C.
        board.observe(&map(&[
            ("image_sha256_before", "bb"),
            ("image_sha256", "cc"),
        ]));
        assert_eq!(board.image_sha256_before.as_deref(), Some("aa"));
        assert_eq!(board.image_sha256_after.as_deref(), Some("cc"));
        assert_eq!(board.firmware_version.as_deref(), Some("2.0"));
        assert!(!board.observed_identity.contains_key("image_sha256_before"));
        assert_eq!(board.observed_identity["image_sha256"], "cc");
    }

    #[test]
    fn a_lab_stated_serial_number_is_not_overwritten_by_an_observed_one() {
        let mut board = BoardInfo::new("b", "m", "f", "0");
        board.serial_number = Some("SN-LAB".into());
        board.observe(&map(&[("serial_number", "SN-DEV"), ("logical_id", "id-1")]));
        assert_eq!(board.serial_number.as_deref(), Some("SN-LAB"));
        assert_eq!(board.observed_identity["serial_number"], "SN-DEV");
        assert_eq!(board.logical_id.as_deref(), Some("id-1"));
    }
}
