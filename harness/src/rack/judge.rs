//! Judging a rack-wide check on a record: after a run's boards are done,
//! and again on the record `hilt report merge` puts together from shards
//! (a shard saw only its own boards).

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use hilt_reports::{ApplicabilityRecord, RunRecord, TrialRecord, Verdict};

use crate::check::{CheckError, RackCheck};
use crate::runner::panic_message;

/// Judges one rack-wide check on `record` (every board done), as trial
/// `name`; offsets count from `started`.
pub fn rack_trial(
    name: &str,
    check: &Arc<dyn RackCheck>,
    record: &RunRecord,
    started: Instant,
) -> TrialRecord {
    let meta = check.meta();
    let started_at = crate::runner::now_rfc3339();
    let start = Instant::now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| check.run(record)));
    let result = match outcome {
        Ok(result) => result,
        Err(payload) => Err(CheckError::Harness(format!(
            "check panicked: {}",
            panic_message(&payload)
        ))),
    };
    let (verdict, reason, observed, measurements) = match result {
        Ok(f) => (f.verdict, f.reason, f.observed, f.measurements),
        Err(e) => {
            let verdict = e.verdict();
            (
                verdict,
                crate::runner::error_text(e),
                "no conclusive observation".to_string(),
                BTreeMap::new(),
            )
        }
    };
    let end = Instant::now();
    TrialRecord {
        name: name.to_string(),
        board: crate::runner::RACK.to_string(),
        check: meta.id(),
        catalogue_id: meta.catalogue_id.to_string(),
        title: meta.title.to_string(),
        references: meta.references(),
        applicability: Some(ApplicabilityRecord {
            applies: verdict != Verdict::NotApplicable,
            source: "rack".into(),
            enabled_by: Vec::new(),
        }),
        verdict,
        reason,
        expected: meta.expected.to_string(),
        observed,
        measurements,
        started_at,
        finished_at: crate::runner::now_rfc3339(),
        start_offset_ms: start.duration_since(started).as_millis() as u64,
        end_offset_ms: end.duration_since(started).as_millis() as u64,
        duration_ms: end.duration_since(start).as_millis() as u64,
        evidence: Vec::new(),
        board_left: None,
    }
}
