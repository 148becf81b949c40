//! What a check concludes: a `Finding` when it established the device's
//! behaviour, a `CheckError` when it could not. The lower layers (board
//! files, transports, evidence, stop signals) have error types of their
//! own; they become a `CheckError` here, at the check layer, where a board
//! fault (INCONCLUSIVE) is told from a harness fault (ERROR).

use std::collections::BTreeMap;
use std::fmt;

use hilt_reports::Verdict;

use crate::evidence::EvidenceError;
use crate::stop::Stopped;
use crate::transport::flash::FlashError;
use crate::transport::power::PowerError;
use crate::transport::serial::SerialError;

/// What a check established about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub reason: String,
    pub observed: String,
    pub measurements: BTreeMap<String, String>,
    /// Phrases naming entries of hilt's public default-credential
    /// dictionary (`admin/admin`) that scrubbing leaves in place even when
    /// a declared secret equals the entry: see `naming_public_credential`.
    pub public_phrases: Vec<String>,
}

impl Finding {
    /// The device held. `observed` says what was seen that proves it.
    pub fn pass(reason: impl Into<String>, observed: impl Into<String>) -> Self {
        Self::new(Verdict::Pass, reason, observed)
    }

    /// The device showed the flaw.
    pub fn fail(reason: impl Into<String>, observed: impl Into<String>) -> Self {
        Self::new(Verdict::Fail, reason, observed)
    }

    /// Not testable from a host: the declared value, for manual review.
    pub fn declared(observed: impl Into<String>) -> Self {
        Self::new(Verdict::Declared, "manual review required", observed)
    }

    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.measurements.insert(key.to_string(), value.to_string());
        self
    }

    /// Lets `phrase` (an entry of hilt's default-credential dictionary,
    /// as the check wrote it into its reason or observation, e.g.
    /// `admin/admin`) through scrubbing. Scrubbing must not hide a
    /// finding: when a device's declared password is the dictionary word
    /// it was found to accept, the finding still names it. Only phrases
    /// composed from the dictionary belong here, never device output or a
    /// declared secret read from the board file; device output around the
    /// phrase is still scrubbed.
    pub fn naming_public_credential(mut self, phrase: impl Into<String>) -> Self {
        self.public_phrases.push(phrase.into());
        self
    }

    /// Scrubs the texts of every secret `scrubber` knows, except the
    /// public phrases.
    pub fn scrub(&mut self, scrubber: &crate::scrub::Scrubber) {
        let public = &self.public_phrases;
        self.reason = scrubber.scrub_text_except(&self.reason, public);
        self.observed = scrubber.scrub_text_except(&self.observed, public);
        for value in self.measurements.values_mut() {
            *value = scrubber.scrub_text_except(value, public);
        }
    }

    fn new(verdict: Verdict, reason: impl Into<String>, observed: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            observed: observed.into(),
            measurements: BTreeMap::new(),
            public_phrases: Vec::new(),
        }
    }
}

/// Why a check could not conclude.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The board or its wiring did not cooperate: no answer, lost
    /// connection, unexpected state. Verdict INCONCLUSIVE.
    #[error("board fault: {0}")]
    Board(String),
    /// The harness failed (bad evidence folder, internal bug). Verdict ERROR.
    #[error("harness fault: {0}")]
    Harness(String),
    /// Found not applicable only while running (e.g. a service the
    /// declaration names is absent from the firmware's own description).
    #[error("not applicable: {0}")]
    NotApplicable(String),
    /// The run was interrupted or the check's deadline passed.
    #[error("stopped: {0}")]
    Stopped(String),
}

impl CheckError {
    /// The same error with its text passed through `f` (scrubbing).
    pub fn map_text(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Board(t) => Self::Board(f(t)),
            Self::Harness(t) => Self::Harness(f(t)),
            Self::NotApplicable(t) => Self::NotApplicable(f(t)),
            Self::Stopped(t) => Self::Stopped(f(t)),
        }
    }

    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Board(_) | Self::Stopped(_) => Verdict::Inconclusive,
            Self::Harness(_) => Verdict::Error,
            Self::NotApplicable(_) => Verdict::NotApplicable,
        }
    }
}

impl From<SerialError> for CheckError {
    fn from(err: SerialError) -> Self {
        match err {
            SerialError::Stopped(why) => CheckError::Stopped(why),
            SerialError::Unsupported(why) => CheckError::Harness(why),
            other => CheckError::Board(other.to_string()),
        }
    }
}

impl From<FlashError> for CheckError {
    fn from(err: FlashError) -> Self {
        if err.is_board_fault() {
            CheckError::Board(err.to_string())
        } else {
            CheckError::Harness(err.to_string())
        }
    }
}

/// Every power failure is the board's wiring (a switch that does not
/// answer, a command that fails): INCONCLUSIVE, never PASS.
impl From<PowerError> for CheckError {
    fn from(err: PowerError) -> Self {
        CheckError::Board(err.to_string())
    }
}

/// Evidence that cannot be written is this host's fault.
impl From<EvidenceError> for CheckError {
    fn from(err: EvidenceError) -> Self {
        CheckError::Harness(err.to_string())
    }
}

impl From<Stopped> for CheckError {
    fn from(Stopped(why): Stopped) -> Self {
        CheckError::Stopped(why)
    }
}
