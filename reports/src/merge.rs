//! One record from the records of a sharded run (`hilt run --shard K/N`
//! in several CI jobs; `hilt report merge`). The shards must have run the
//! same suite (name and file hash) with the same lab statements; their
//! trials are put together, a trial in two shards must be the same trial
//! (else it is an error naming it), and a board in two shards (a run
//! sharded by checks) must be the same board file.
//!
//! Rack-wide trials (`rack::...`) judged on one shard's boards say
//! nothing about the whole rack: they are left out here, and the caller
//! judges them again on the merged record.

use std::collections::BTreeMap;

use crate::record::{BoardInfo, RunRecord, TrialRecord};

/// Trial-name prefix of rack-wide checks (the runner's `RACK`).
pub const RACK_PREFIX: &str = "rack::";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("the shards ran different suites: {0}")]
    Suite(String),
    #[error("the shards carry different lab statements (--lab-info): {first} and {other}")]
    Report { first: String, other: String },
    #[error("board {board} comes from different board files in {first} and {other}")]
    Board {
        board: String,
        first: String,
        other: String,
    },
    #[error("conflicting results for the same trial: {}", .0.join("; "))]
    Conflicts(Vec<String>),
}

/// Merges `records` (each labelled for messages, e.g. by its folder).
/// The merged record is named `run_id`; it is complete only when every
/// shard is.
pub fn merge(records: &[(String, RunRecord)], run_id: &str) -> Result<RunRecord, MergeError> {
    let (first_label, first) = records.first().ok_or(MergeError::Empty)?;
    let mut merged = first.clone();
    merged.run_id = run_id.to_string();
    merged.boards.clear();
    merged.trials.clear();
    merged.interrupted = None;
    let mut interrupted = Vec::new();
    let mut boards: Vec<(String, BoardInfo)> = Vec::new();
    let mut trials: BTreeMap<String, (String, TrialRecord)> = BTreeMap::new();
    let mut order = Vec::new();
    let mut conflicts = Vec::new();
    for (label, record) in records {
        if (&record.suite.name, &record.suite.sha256) != (&first.suite.name, &first.suite.sha256) {
            return Err(MergeError::Suite(format!(
                "{first_label}: {} ({}), {label}: {} ({})",
                first.suite.name,
                first.suite.sha256.as_deref().unwrap_or("no hash"),
                record.suite.name,
                record.suite.sha256.as_deref().unwrap_or("no hash")
            )));
        }
        if record.report != first.report {
            return Err(MergeError::Report {
                first: first_label.clone(),
                other: label.clone(),
            });
        }
        merged.started_at = merged.started_at.clone().min(record.started_at.clone());
        merged.finished_at = match (&merged.finished_at, &record.finished_at) {
            (Some(a), Some(b)) => Some(a.clone().max(b.clone())),
            _ => None,
        };
        merged.complete &= record.complete;
        if let Some(why) = &record.interrupted {
            interrupted.push(format!("{label}: {why}"));
        }
        for board in &record.boards {
            match boards.iter_mut().find(|(_, b)| b.name == board.name) {
                None => boards.push((label.clone(), board.clone())),
                Some((seen_in, seen)) => {
                    if seen.file_sha256 != board.file_sha256 {
                        return Err(MergeError::Board {
                            board: board.name.clone(),
                            first: seen_in.clone(),
                            other: label.clone(),
                        });
                    }
                    fill_board(seen, board);
                }
            }
        }
        for trial in &record.trials {
            if trial.name.starts_with(RACK_PREFIX) {
                continue;
            }
            match trials.get(&trial.name) {
                None => {
                    order.push(trial.name.clone());
                    trials.insert(trial.name.clone(), (label.clone(), trial.clone()));
                }
                Some((seen_in, seen)) if !same_trial(seen, trial) => conflicts.push(format!(
                    "{} is {} in {seen_in} and {} in {label}",
                    trial.name, seen.verdict, trial.verdict
                )),
                Some(_) => {}
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(MergeError::Conflicts(conflicts));
    }
    if !interrupted.is_empty() {
        merged.interrupted = Some(interrupted.join("; "));
    }
    merged.boards = boards.into_iter().map(|(_, b)| b).collect();
    merged.trials = order
        .into_iter()
        .filter_map(|name| trials.remove(&name).map(|(_, t)| t))
        .collect();
    Ok(merged)
}

/// The same trial: the same result, whenever it was recorded.
fn same_trial(a: &TrialRecord, b: &TrialRecord) -> bool {
    let value = |t: &TrialRecord| serde_json::to_value(t).ok();
    value(a) == value(b)
}

/// What one shard observed of a board the other did not.
fn fill_board(into: &mut BoardInfo, from: &BoardInfo) {
    let fill = |a: &mut Option<String>, b: &Option<String>| {
        if a.is_none() {
            a.clone_from(b);
        }
    };
    fill(&mut into.logical_id, &from.logical_id);
    fill(&mut into.firmware_version, &from.firmware_version);
    fill(&mut into.image_sha256_before, &from.image_sha256_before);
    fill(&mut into.image_sha256_after, &from.image_sha256_after);
    if into.health.is_none() {
        into.health.clone_from(&from.health);
    }
    for (key, value) in &from.observed_identity {
        into.observed_identity
            .entry(key.clone())
            .or_insert_with(|| value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{sample_record, sample_trial};
    use crate::Verdict;

    fn shard(boards: &[&str], trials: Vec<TrialRecord>) -> RunRecord {
        sample_record(
            boards
                .iter()
                .map(|b| BoardInfo::new(b, "m", &format!("{b}.yaml"), &format!("sha-{b}")))
                .collect(),
            trials,
        )
    }

    #[test]
    fn shards_by_board_combine_into_one_record() {
        let a = shard(
            &["a"],
            vec![sample_trial("a", "AU-07", &[], &[], Verdict::Pass)],
        );
        let mut b = shard(
            &["b"],
            vec![
                sample_trial("b", "AU-07", &[], &[], Verdict::Fail),
                sample_trial("rack", "ID-03", &[], &[], Verdict::NotApplicable),
            ],
        );
        b.started_at = "2025-12-31T23:00:00Z".into();
        let merged = merge(&[("1".into(), a), ("2".into(), b)], "m").expect("merged");
        let names: Vec<&str> = merged.trials.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a::capability::au-07", "b::capability::au-07"]);
        let boards: Vec<&str> = merged.boards.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(boards, ["a", "b"]);
        assert_eq!(merged.run_id, "m");
        assert_eq!(merged.started_at, "2025-12-31T23:00:00Z");
        assert!(merged.complete);
    }

    #[test]
    fn the_same_trial_twice_is_kept_once_and_different_results_are_an_error() {
        let trial = sample_trial("a", "AU-07", &[], &[], Verdict::Pass);
        let a = shard(&["a"], vec![trial.clone()]);
        let again = shard(&["a"], vec![trial.clone()]);
        let merged = merge(&[("1".into(), a.clone()), ("2".into(), again)], "m").expect("merged");
        assert_eq!(merged.trials.len(), 1);

        let mut other = trial;
        other.verdict = Verdict::Fail;
        let b = shard(&["a"], vec![other]);
        let err = merge(&[("one".into(), a), ("two".into(), b)], "m").expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "conflicting results for the same trial: a::capability::au-07 is PASS in one and FAIL in two"
        );
    }

    #[test]
    fn different_suites_or_board_files_are_refused() {
        let a = shard(&["a"], vec![]);
        let mut b = shard(&["a"], vec![]);
        b.suite.sha256 = Some("other".into());
        assert!(matches!(
            merge(&[("1".into(), a.clone()), ("2".into(), b)], "m"),
            Err(MergeError::Suite(_))
        ));
        let mut c = shard(&["a"], vec![]);
        c.boards[0].file_sha256 = "changed".into();
        assert_eq!(
            merge(&[("1".into(), a), ("2".into(), c)], "m").err(),
            Some(MergeError::Board {
                board: "a".into(),
                first: "1".into(),
                other: "2".into()
            })
        );
    }

    #[test]
    fn an_incomplete_shard_makes_an_incomplete_record() {
        let a = shard(&["a"], vec![]);
        let mut b = shard(&["b"], vec![]);
        b.complete = false;
        b.interrupted = Some("interrupted by SIGTERM".into());
        let merged = merge(&[("1".into(), a), ("2".into(), b)], "m").expect("merged");
        assert!(!merged.complete);
        assert_eq!(
            merged.interrupted.as_deref(),
            Some("2: interrupted by SIGTERM")
        );
    }
}
