//! Reporters: what a run's events turn into. Each one renders one thing
//! (the libtest-style lines, live progress bars, `record.json`,
//! `junit.xml`, `report.html`, the manifest, the summary); the CLI picks them and the
//! runner feeds them one event stream ([`crate::events`]).
//!
//! Every report but the live ones is a function of the record
//! (`junit::render`, `html::render`, `summary::render`), so it can be rendered again later
//! from a `record.json`.

mod files;
pub mod libtest;
mod progress;
pub mod summary;

use std::fmt;
use std::path::PathBuf;

pub use files::{
    HtmlFile, JunitFile, ManifestFile, RecordFile, HTML_FILE, JUNIT_FILE, RECORD_FILE,
};
pub use libtest::LibtestLines;
pub use progress::TerminalProgress;
pub use summary::Summary;

use crate::events::RunEvent;
use crate::record::RunRecord;

/// Consumes a run's events. `record` is the run record as it stands after
/// `event` (the fold of every event so far).
pub trait Reporter: Send {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError>;
}

/// A report that could not be written.
#[derive(Debug)]
pub struct ReporterError {
    /// The file it was writing, if it writes one.
    pub path: Option<PathBuf>,
    pub message: String,
}

impl ReporterError {
    pub fn writing(path: PathBuf, error: impl fmt::Display) -> Self {
        Self {
            path: Some(path),
            message: error.to_string(),
        }
    }
}

impl fmt::Display for ReporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "cannot write {}: {}", path.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ReporterError {}

/// Several reporters fed in order. A reporter that fails keeps getting
/// events (a later write may succeed); each error is returned from the
/// event that met it. Once one has failed, the reporters after it are not
/// told the run finished: a run folder with a stale record is neither
/// signed nor summarised as if it were whole. Put terminal reporters
/// first, the manifest after every file it lists.
#[derive(Default)]
pub struct Reporters {
    reporters: Vec<Box<dyn Reporter>>,
    failed: bool,
}

impl Reporters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a reporter; it gets each event after those added before it.
    pub fn with(mut self, reporter: impl Reporter + 'static) -> Self {
        self.reporters.push(Box::new(reporter));
        self
    }

    /// The run folder's files (`record.json`, then `junit.xml`): what an
    /// embedder or a test needs without a terminal or a signature.
    pub fn files() -> Self {
        Self::new()
            .with(RecordFile::default())
            .with(JunitFile::default())
    }
}

impl Reporter for Reporters {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError> {
        let finishing = matches!(event, RunEvent::RunFinished { .. });
        let mut first = None;
        for reporter in &mut self.reporters {
            if finishing && self.failed {
                break;
            }
            if let Err(e) = reporter.report(event, record) {
                self.failed = true;
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
