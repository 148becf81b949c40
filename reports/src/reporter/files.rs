//! The reporters that write the run folder's own files: `record.json`
//! (rewritten after every change, so a killed run leaves a record),
//! `junit.xml`, `report.html` and the signed `manifest.json` (once the
//! run ends).

use std::path::{Path, PathBuf};

use super::{Reporter, ReporterError};
use crate::events::RunEvent;
use crate::manifest::{Manifest, SigningKey};
use crate::record::RunRecord;

/// The record's file name in the run folder.
pub const RECORD_FILE: &str = "record.json";
/// The JUnit file's name in the run folder.
pub const JUNIT_FILE: &str = "junit.xml";
/// The HTML report's file name in the run folder.
pub const HTML_FILE: &str = "report.html";

/// The run folder, once `RunStarted` named it.
fn run_dir<'a>(dir: &'a mut Option<PathBuf>, event: &RunEvent) -> Option<&'a Path> {
    if let RunEvent::RunStarted { run_dir, .. } = event {
        *dir = Some(run_dir.clone());
    }
    dir.as_deref()
}

/// `record.json`, written atomically whenever the record changed.
#[derive(Default)]
pub struct RecordFile {
    dir: Option<PathBuf>,
}

impl Reporter for RecordFile {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError> {
        let changed = matches!(
            event,
            RunEvent::RunStarted { .. }
                | RunEvent::TrialFinished { .. }
                | RunEvent::RunInterrupted { .. }
                | RunEvent::RunFinished { .. }
        );
        match run_dir(&mut self.dir, event) {
            Some(dir) if changed => {
                let path = dir.join(RECORD_FILE);
                record
                    .write_atomically(&path)
                    .map_err(|e| ReporterError::writing(path, e))
            }
            _ => Ok(()),
        }
    }
}

/// `junit.xml`, rendered from the final record.
#[derive(Default)]
pub struct JunitFile {
    dir: Option<PathBuf>,
}

impl Reporter for JunitFile {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError> {
        match run_dir(&mut self.dir, event) {
            Some(dir) if matches!(event, RunEvent::RunFinished { .. }) => {
                let path = dir.join(JUNIT_FILE);
                let xml = crate::junit::render(record, Some(dir))
                    .map_err(|e| ReporterError::writing(path.clone(), e))?;
                std::fs::write(&path, xml).map_err(|e| ReporterError::writing(path, e))
            }
            _ => Ok(()),
        }
    }
}

/// `report.html`, rendered from the final record.
#[derive(Default)]
pub struct HtmlFile {
    dir: Option<PathBuf>,
}

impl Reporter for HtmlFile {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError> {
        match run_dir(&mut self.dir, event) {
            Some(dir) if matches!(event, RunEvent::RunFinished { .. }) => {
                let path = dir.join(HTML_FILE);
                std::fs::write(&path, crate::html::render(record))
                    .map_err(|e| ReporterError::writing(path, e))
            }
            _ => Ok(()),
        }
    }
}

/// `manifest.json`: the hash of every other file of the run folder,
/// signed when a key is given. Last among the file reporters: it lists
/// what they wrote.
pub struct ManifestFile {
    dir: Option<PathBuf>,
    key: Option<SigningKey>,
}

impl ManifestFile {
    pub fn new(key: Option<SigningKey>) -> Self {
        Self { dir: None, key }
    }
}

impl Reporter for ManifestFile {
    fn report(&mut self, event: &RunEvent, _record: &RunRecord) -> Result<(), ReporterError> {
        match run_dir(&mut self.dir, event) {
            Some(dir) if matches!(event, RunEvent::RunFinished { .. }) => {
                Manifest::write(dir, self.key.as_ref())
                    .map(|_| ())
                    .map_err(|e| ReporterError {
                        path: None,
                        message: format!("writing the manifest: {e}"),
                    })
            }
            _ => Ok(()),
        }
    }
}
