//! What a check is, and what it may conclude.
//!
//! A check never produces INCONCLUSIVE or ERROR itself: it returns a
//! `Finding` (PASS, FAIL or DECLARED) only when it established the device's
//! behaviour, and a `CheckError` otherwise. The runner maps errors, panics
//! and timeouts to verdicts, so there is one place where fail-closed is
//! enforced.

use std::fmt;
use std::time::Duration;

use hilt_reports::References;

use crate::board::{Board, Reference};
use crate::context::CheckContext;
pub use crate::outcome::{CheckError, Finding};
use crate::params::ParamSpec;

/// The six NIST IR 8259A core capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    DeviceIdentification,
    DeviceConfiguration,
    DataProtection,
    LogicalAccess,
    SoftwareUpdate,
    StateAwareness,
    /// NIST IR 8259B non-technical items (documentation, support, disclosure).
    NonTechnical,
}

impl Capability {
    /// The module name used in check ids (`software_update::unsigned_image`).
    pub fn module(self) -> &'static str {
        match self {
            Self::DeviceIdentification => "device_identification",
            Self::DeviceConfiguration => "device_configuration",
            Self::DataProtection => "data_protection",
            Self::LogicalAccess => "logical_access",
            Self::SoftwareUpdate => "software_update",
            Self::StateAwareness => "state_awareness",
            Self::NonTechnical => "non_technical",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::DeviceIdentification => "Device Identification",
            Self::DeviceConfiguration => "Device Configuration",
            Self::DataProtection => "Data Protection",
            Self::LogicalAccess => "Logical Access to Interfaces",
            Self::SoftwareUpdate => "Software Update",
            Self::StateAwareness => "Cybersecurity State Awareness",
            Self::NonTechnical => "Non-technical (NIST IR 8259B)",
        }
    }
}

/// Static description of a check.
#[derive(Debug, Clone)]
pub struct CheckMeta {
    /// Short name within its capability (`unsigned_image`).
    pub name: &'static str,
    pub capability: Capability,
    /// Catalogue id from the check catalogue (`SU-02`).
    pub catalogue_id: &'static str,
    pub title: &'static str,
    /// What a secure device does, in one sentence (the pass criterion).
    pub expected: &'static str,
    pub nistir_8259a: &'static [&'static str],
    pub en_303_645: &'static [&'static str],
    pub ts_103_701: &'static [&'static str],
    pub cra_annex_i: &'static [&'static str],
    /// Changes device state (password, settings, firmware, toggles): the
    /// runner runs the check's undo steps and the board's restore
    /// strategy after it, on every exit path.
    pub destructive: bool,
    pub default_timeout: Duration,
    /// Suite parameters the check reads (`params:` in a suite entry);
    /// anything else in a suite is an error.
    pub params: &'static [ParamSpec],
}

impl CheckMeta {
    /// `capability::name`, the id used in suites and trial names.
    pub fn id(&self) -> String {
        format!("{}::{}", self.capability.module(), self.name)
    }

    /// The declaration of parameter `name`, if the check takes it.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn references(&self) -> References {
        let own = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        References {
            nistir_8259a: own(self.nistir_8259a),
            en_303_645: own(self.en_303_645),
            ts_103_701: own(self.ts_103_701),
            cra_annex_i: own(self.cra_annex_i),
        }
    }
}

/// Whether a check applies to a board, decided from its declaration and
/// wiring before anything is sent to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    Applicable,
    NotApplicable(NotApplicable),
}

impl Applicability {
    /// Not applicable because the board file lacks what the check acts on;
    /// `enabled_by` names the board-file field(s), as dotted paths, any one
    /// of which would make it run (`hardware.debug.gdb`). Empty: nothing
    /// the board file could add makes it run (the device declares it
    /// cannot be updated, say).
    pub fn not_applicable(reason: impl Into<String>, enabled_by: &[&str]) -> Self {
        Self::NotApplicable(NotApplicable {
            reason: reason.into(),
            enabled_by: enabled_by.iter().map(|f| f.to_string()).collect(),
        })
    }
}

/// Why a check will not run on a board, and what would make it run: the
/// coverage `hilt board check` previews.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotApplicable {
    /// One sentence, as it appears in the trial's verdict.
    pub reason: String,
    /// Board-file fields (dotted paths) any one of which would make the
    /// check run; empty when none would.
    pub enabled_by: Vec<String>,
}

/// A reason alone, naming no field: a check's own sentence already says
/// what is missing (kept so a bare `"...".into()` still reads as before).
impl From<String> for NotApplicable {
    fn from(reason: String) -> Self {
        Self {
            reason,
            enabled_by: Vec::new(),
        }
    }
}

impl From<&str> for NotApplicable {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

impl fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if !self.enabled_by.is_empty() {
            write!(f, "; set {}", self.enabled_by.join(" or "))?;
        }
        Ok(())
    }
}

/// One attack or probe.
pub trait Check: Send + Sync + 'static {
    fn meta(&self) -> &CheckMeta;

    /// Decided from the board file alone; the default applies everywhere.
    fn applicability(&self, _board: &Board) -> Applicability {
        Applicability::Applicable
    }

    /// Files of the board file this check reads (besides the secrets and
    /// device CA every check may use, and the golden image a destructive
    /// check is restored from). When one is missing or does not load, the
    /// trial is ERROR before anything is sent to the device.
    fn uses(&self) -> &'static [Reference] {
        &[]
    }

    /// Runs against the board. Returns a finding only if the behaviour was
    /// established by observation (read-back, not an error code).
    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError>;
}

/// A check over the whole rack, judged from the run record once every
/// board has finished (ID-03: boards of one model carry distinct
/// identifiers). Its trial is named `rack::capability::check`.
pub trait RackCheck: Send + Sync + 'static {
    fn meta(&self) -> &CheckMeta;

    fn run(&self, record: &hilt_reports::RunRecord) -> Result<Finding, CheckError>;
}
