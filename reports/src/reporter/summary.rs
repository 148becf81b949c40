//! The summary printed after a run: counts per verdict, every trial worse
//! than PASS with its reason, whether the record is complete, and where
//! the run folder's files are.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::files::{HTML_FILE, JUNIT_FILE, RECORD_FILE};
use super::{Reporter, ReporterError};
use crate::escape::escape_controls;
use crate::events::RunEvent;
use crate::manifest::MANIFEST_FILE;
use crate::record::{RunRecord, Verdict};

/// The summary of `record`, whose run folder is `dir`; `signed_by` is the
/// signing key's fingerprint when the manifest was signed.
pub fn render(record: &RunRecord, dir: &Path, signed_by: Option<&str>) -> String {
    let mut out = String::new();
    let tally: Vec<String> = record
        .tally()
        .iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect();
    out.push_str(&format!(
        "\nhilt: {} trials: {}\n",
        record.trials.len(),
        tally.join(", ")
    ));
    for trial in record.trials.iter().filter(|t| t.verdict >= Verdict::Fail) {
        out.push_str(&format!(
            "  {:<12} {}  {}\n",
            trial.verdict.as_str(),
            escape_controls(&trial.name),
            escape_controls(&trial.reason)
        ));
    }
    if !record.complete {
        let why = record
            .interrupted
            .as_deref()
            .unwrap_or("not every selected trial finished");
        out.push_str(&format!("  record INCOMPLETE: {}\n", escape_controls(why)));
    }
    out.push_str(&format!("record: {}\n", dir.join(RECORD_FILE).display()));
    out.push_str(&format!("junit:  {}\n", dir.join(JUNIT_FILE).display()));
    out.push_str(&format!("report: {}\n", dir.join(HTML_FILE).display()));
    let signed = signed_by
        .map(|k| format!(" (signed by {k})"))
        .unwrap_or_default();
    out.push_str(&format!(
        "manifest: {}{signed}\n",
        dir.join(MANIFEST_FILE).display()
    ));
    out
}

/// Prints [`render`] on stdout when the run finishes.
pub struct Summary {
    dir: Option<PathBuf>,
    signed_by: Option<String>,
}

impl Summary {
    /// `signed_by`: the fingerprint of the key the manifest is signed with.
    pub fn new(signed_by: Option<String>) -> Self {
        Self {
            dir: None,
            signed_by,
        }
    }
}

impl Reporter for Summary {
    fn report(&mut self, event: &RunEvent, record: &RunRecord) -> Result<(), ReporterError> {
        match event {
            RunEvent::RunStarted { run_dir, .. } => self.dir = Some(run_dir.clone()),
            RunEvent::RunFinished { .. } => {
                if let Some(dir) = &self.dir {
                    let text = render(record, dir, self.signed_by.as_deref());
                    // A closed stdout must not fail the run: the files hold it all.
                    let _ = std::io::stdout().lock().write_all(text.as_bytes());
                }
            }
            _ => {}
        }
        Ok(())
    }
}
