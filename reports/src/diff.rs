//! What changed between two runs (`hilt report diff OLD NEW`): per board
//! and check, verdicts that regressed or were fixed, trials that are new or
//! gone, evidence whose SHA-256 changed, and board identification that
//! changed (firmware, image, declaration).
//!
//! A regression is a trial of both runs whose verdict went from PASS,
//! NOT_APPLICABLE or DECLARED to FAIL, INCONCLUSIVE or ERROR: the device
//! no longer shows that it holds. A fix is one that went from FAIL,
//! INCONCLUSIVE or ERROR to PASS. Every other verdict change (FAIL to
//! ERROR, PASS to NOT_APPLICABLE, ...) is listed as changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::escape::escape_controls as clean;
use crate::record::{BoardInfo, RunRecord, TrialRecord, Verdict};

/// The differences between two run records.
#[derive(Debug, Clone, Serialize)]
pub struct RunDiff {
    pub old_run: String,
    pub new_run: String,
    /// False when the new run did not finish: trials it lacks are unknown,
    /// not removed, so no statement that nothing regressed can be made.
    pub new_complete: bool,
    pub regressions: Vec<VerdictChange>,
    pub fixes: Vec<VerdictChange>,
    /// Verdict changes that are neither.
    pub changed: Vec<VerdictChange>,
    /// Trials only the new run has.
    pub added: Vec<TrialSide>,
    /// Trials only the old run has.
    pub removed: Vec<TrialSide>,
    /// Evidence files of trials in both runs whose SHA-256 differs, or that
    /// only one run left.
    pub evidence: Vec<EvidenceChange>,
    /// Board identification that differs.
    pub boards: Vec<BoardChange>,
    /// Trials of both runs with the same verdict.
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerdictChange {
    pub board: String,
    pub check: String,
    pub catalogue_id: String,
    pub old: Verdict,
    pub new: Verdict,
    /// Why the new verdict.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialSide {
    pub board: String,
    pub check: String,
    pub catalogue_id: String,
    pub verdict: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceChange {
    pub board: String,
    pub check: String,
    /// Path relative to the run folder.
    pub path: String,
    /// Absent when only the new run left the file.
    pub old_sha256: Option<String>,
    /// Absent when only the old run left the file.
    pub new_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BoardChange {
    pub board: String,
    /// The `boards[]` field (`firmware_version`, `file_sha256`, ...), or
    /// `present` when the board is in one run only.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl RunDiff {
    /// The exit status `hilt report diff` gives: 1 when anything regressed
    /// or the new run is incomplete, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.regressions.is_empty() && self.new_complete {
            0
        } else {
            1
        }
    }
}

fn fails(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Fail | Verdict::Inconclusive | Verdict::Error
    )
}

type Key<'a> = (&'a str, &'a str);

/// Trials by (board, check), each key's trials in record order (a key
/// appears once in a well-formed record; repeats are paired in order).
fn by_key(record: &RunRecord) -> BTreeMap<Key<'_>, Vec<&TrialRecord>> {
    let mut map: BTreeMap<Key<'_>, Vec<&TrialRecord>> = BTreeMap::new();
    for trial in &record.trials {
        map.entry((trial.board.as_str(), trial.check.as_str()))
            .or_default()
            .push(trial);
    }
    map
}

fn side(trial: &TrialRecord) -> TrialSide {
    TrialSide {
        board: trial.board.clone(),
        check: trial.check.clone(),
        catalogue_id: trial.catalogue_id.clone(),
        verdict: trial.verdict,
        reason: trial.reason.clone(),
    }
}

/// Compares `old` with `new`; every list is ordered by board, then check.
pub fn diff(old: &RunRecord, new: &RunRecord) -> RunDiff {
    let mut result = RunDiff {
        old_run: old.run_id.clone(),
        new_run: new.run_id.clone(),
        new_complete: new.complete,
        regressions: Vec::new(),
        fixes: Vec::new(),
        changed: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        evidence: Vec::new(),
        boards: board_changes(&old.boards, &new.boards),
        unchanged: 0,
    };
    let old_trials = by_key(old);
    let new_trials = by_key(new);
    for (key, olds) in &old_trials {
        let news = new_trials.get(key).map(Vec::as_slice).unwrap_or(&[]);
        for (i, before) in olds.iter().enumerate() {
            match news.get(i) {
                Some(after) => compare(&mut result, before, after),
                None => result.removed.push(side(before)),
            }
        }
    }
    for (key, news) in &new_trials {
        let known = old_trials.get(key).map_or(0, Vec::len);
        result
            .added
            .extend(news.iter().skip(known).map(|t| side(t)));
    }
    result
}

fn compare(result: &mut RunDiff, before: &TrialRecord, after: &TrialRecord) {
    if before.verdict == after.verdict {
        result.unchanged += 1;
    } else {
        let change = VerdictChange {
            board: after.board.clone(),
            check: after.check.clone(),
            catalogue_id: after.catalogue_id.clone(),
            old: before.verdict,
            new: after.verdict,
            reason: after.reason.clone(),
        };
        if !fails(before.verdict) && fails(after.verdict) {
            result.regressions.push(change);
        } else if fails(before.verdict) && after.verdict == Verdict::Pass {
            result.fixes.push(change);
        } else {
            result.changed.push(change);
        }
    }
    let old_files: BTreeMap<&str, &str> = before
        .evidence
        .iter()
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    let new_files: BTreeMap<&str, &str> = after
        .evidence
        .iter()
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    let mut paths: Vec<&str> = old_files.keys().chain(new_files.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let (old_sha, new_sha) = (old_files.get(path), new_files.get(path));
        if old_sha != new_sha {
            result.evidence.push(EvidenceChange {
                board: after.board.clone(),
                check: after.check.clone(),
                path: path.to_string(),
                old_sha256: old_sha.map(|s| s.to_string()),
                new_sha256: new_sha.map(|s| s.to_string()),
            });
        }
    }
}

/// The identification fields a change of which a reader wants to see.
fn identification(board: &BoardInfo) -> [(&'static str, Option<&str>); 9] {
    [
        ("model", Some(board.model.as_str())),
        ("file_sha256", Some(board.file_sha256.as_str())),
        ("hardware_revision", board.hardware_revision.as_deref()),
        ("serial_number", board.serial_number.as_deref()),
        ("logical_id", board.logical_id.as_deref()),
        ("physical_id", board.physical_id.as_deref()),
        ("firmware_version", board.firmware_version.as_deref()),
        ("image_sha256_before", board.image_sha256_before.as_deref()),
        ("image_sha256_after", board.image_sha256_after.as_deref()),
    ]
}

fn board_changes(old: &[BoardInfo], new: &[BoardInfo]) -> Vec<BoardChange> {
    let old: BTreeMap<&str, &BoardInfo> = old.iter().map(|b| (b.name.as_str(), b)).collect();
    let new: BTreeMap<&str, &BoardInfo> = new.iter().map(|b| (b.name.as_str(), b)).collect();
    let mut names: Vec<&str> = old.keys().chain(new.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    let mut changes = Vec::new();
    for name in names {
        match (old.get(name), new.get(name)) {
            (Some(before), Some(after)) => {
                for ((field, was), (_, now)) in identification(before)
                    .into_iter()
                    .zip(identification(after))
                {
                    if was != now {
                        changes.push(BoardChange {
                            board: name.to_string(),
                            field: field.to_string(),
                            old: was.map(String::from),
                            new: now.map(String::from),
                        });
                    }
                }
            }
            (before, after) => changes.push(BoardChange {
                board: name.to_string(),
                field: "present".to_string(),
                old: before.map(|_| "yes".to_string()),
                new: after.map(|_| "yes".to_string()),
            }),
        }
    }
    changes
}

/// The diff for a terminal or a CI log, one line per item; every text from
/// the records escaped.
pub fn render_text(diff: &RunDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hilt report diff: {} -> {}",
        clean(&diff.old_run),
        clean(&diff.new_run)
    );
    let changes = [
        ("REGRESSED", &diff.regressions),
        ("FIXED", &diff.fixes),
        ("CHANGED", &diff.changed),
    ];
    for (label, list) in changes {
        for c in list {
            let _ = writeln!(
                out,
                "{label:<10} {} {} {}: {} -> {}: {}",
                clean(&c.board),
                clean(&c.catalogue_id),
                clean(&c.check),
                c.old,
                c.new,
                clean(&c.reason)
            );
        }
    }
    for (label, list) in [("NEW", &diff.added), ("REMOVED", &diff.removed)] {
        for t in list {
            let _ = writeln!(
                out,
                "{label:<10} {} {} {}: {}",
                clean(&t.board),
                clean(&t.catalogue_id),
                clean(&t.check),
                t.verdict
            );
        }
    }
    let short = |sha: &Option<String>| match sha {
        Some(sha) => clean(&sha.chars().take(12).collect::<String>()).into_owned(),
        None => "(none)".to_string(),
    };
    for e in &diff.evidence {
        let _ = writeln!(
            out,
            "{:<10} {} {}: {} sha256 {} -> {}",
            "EVIDENCE",
            clean(&e.board),
            clean(&e.check),
            clean(&e.path),
            short(&e.old_sha256),
            short(&e.new_sha256)
        );
    }
    for b in &diff.boards {
        let value = |v: &Option<String>| match v {
            Some(v) => clean(v).into_owned(),
            None => "(none)".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<10} {} {}: {} -> {}",
            "BOARD",
            clean(&b.board),
            clean(&b.field),
            value(&b.old),
            value(&b.new)
        );
    }
    if !diff.new_complete {
        let _ = writeln!(
            out,
            "INCOMPLETE the new run did not finish: the trials it lacks are unknown"
        );
    }
    let _ = writeln!(
        out,
        "{} regression(s), {} fix(es), {} other change(s), {} new, {} removed, {} evidence file(s) changed, {} board field(s) changed; {} trial(s) unchanged",
        diff.regressions.len(),
        diff.fixes.len(),
        diff.changed.len(),
        diff.added.len(),
        diff.removed.len(),
        diff.evidence.len(),
        diff.boards.len(),
        diff.unchanged
    );
    let verdict = match (diff.regressions.is_empty(), diff.new_complete) {
        (false, _) => "diff: REGRESSED",
        (true, false) => "diff: INCOMPLETE",
        (true, true) => "diff: no regression",
    };
    let _ = writeln!(out, "{verdict}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{sample_evidence, sample_one_board_record, sample_trial};

    #[test]
    fn verdicts_are_sorted_into_regressions_fixes_and_changes() {
        use Verdict::*;
        let t = |id: &str, v: Verdict| sample_trial("b", id, &[], &[], v);
        let old = sample_one_board_record(vec![
            t("A", Pass),
            t("B", Fail),
            t("C", NotApplicable),
            t("D", Fail),
            t("E", Pass),
            t("F", Declared),
            t("G", Pass),
            t("R", Pass),
        ]);
        let new = sample_one_board_record(vec![
            t("A", Fail),
            t("B", Pass),
            t("C", Inconclusive),
            t("D", Error),
            t("E", NotApplicable),
            t("F", Error),
            t("G", Pass),
            t("N", Fail),
        ]);
        let d = diff(&old, &new);
        let ids =
            |l: &[VerdictChange]| l.iter().map(|c| c.catalogue_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.regressions), ["A", "C", "F"]);
        assert_eq!(ids(&d.fixes), ["B"]);
        assert_eq!(ids(&d.changed), ["D", "E"]);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].catalogue_id, "N");
        assert_eq!(d.removed[0].catalogue_id, "R");
        assert_eq!(d.unchanged, 1);
        assert_eq!(d.exit_code(), 1);
        // The other way round B regresses and A is fixed.
        let back = diff(&new, &old);
        assert_eq!(ids(&back.regressions), ["B"]);
        assert_eq!(ids(&back.fixes), ["A"]);
    }

    #[test]
    fn evidence_is_compared_by_path_and_hash() {
        let mut before = sample_trial("b", "A", &[], &[], Verdict::Pass);
        before.evidence = vec![
            sample_evidence("e/same", "11"),
            sample_evidence("e/changed", "22"),
            sample_evidence("e/gone", "33"),
        ];
        let mut after = before.clone();
        after.evidence = vec![
            sample_evidence("e/same", "11"),
            sample_evidence("e/changed", "2f"),
            sample_evidence("e/new", "44"),
        ];
        let d = diff(
            &sample_one_board_record(vec![before]),
            &sample_one_board_record(vec![after]),
        );
        let seen: Vec<(String, Option<String>, Option<String>)> = d
            .evidence
            .iter()
            .map(|e| (e.path.clone(), e.old_sha256.clone(), e.new_sha256.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                ("e/changed".into(), Some("22".into()), Some("2f".into())),
                ("e/gone".into(), Some("33".into()), None),
                ("e/new".into(), None, Some("44".into())),
            ]
        );
        assert_eq!(d.exit_code(), 0, "changed evidence alone is no regression");
    }

    #[test]
    fn an_incomplete_new_run_never_reads_as_no_regression() {
        let old = sample_one_board_record(vec![sample_trial("b", "A", &[], &[], Verdict::Pass)]);
        let mut new = sample_one_board_record(vec![]);
        new.complete = false;
        let d = diff(&old, &new);
        assert!(d.regressions.is_empty());
        assert_eq!(d.exit_code(), 1);
        assert!(render_text(&d).ends_with("diff: INCOMPLETE\n"));
    }

    #[test]
    fn board_identification_changes_and_hostile_text_is_escaped() {
        let mut old = sample_one_board_record(vec![]);
        old.boards[0].firmware_version = Some("1.0.0".into());
        let mut new =
            sample_one_board_record(vec![sample_trial("b", "A", &[], &[], Verdict::Fail)]);
        new.boards[0].firmware_version = Some("1.0.1\u{1b}[2J".into());
        new.trials[0].reason = "said\r\ntest x ... ok".into();
        new.boards.push(BoardInfo::new("c", "m", "f", "00"));
        let d = diff(&old, &new);
        let fields: Vec<(&str, &str)> = d
            .boards
            .iter()
            .map(|b| (b.board.as_str(), b.field.as_str()))
            .collect();
        assert_eq!(fields, [("b", "firmware_version"), ("c", "present")]);
        let text = render_text(&d);
        assert!(
            text.contains("BOARD      b firmware_version: 1.0.0 -> 1.0.1\\x1b[2J"),
            "{text}"
        );
        assert!(
            text.contains("NEW        b A capability::a: FAIL"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
        assert_eq!(d.exit_code(), 0, "a new failing trial is not a regression");
    }
}
