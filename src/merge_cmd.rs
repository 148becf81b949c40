//! `hilt report merge`: the run folders of a sharded run as one.

use std::path::{Path, PathBuf};

use hilt_reports::events::{RunEvent, RunPlan};
use hilt_reports::merge::{self, RACK_PREFIX};
use hilt_reports::reporter::{HtmlFile, ManifestFile, Reporter as _, Reporters, Summary};
use hilt_reports::RunRecord;

pub fn merge(runs: &[PathBuf], out: &Path, sign_key: Option<&str>) -> Result<(), String> {
    // Read before anything is written, so a bad key costs nothing.
    let sign_key = sign_key.map(crate::report_cmd::load_sign_key).transpose()?;
    let mut records = Vec::new();
    let mut folders = Vec::new();
    for run in runs {
        let folder = if run.is_dir() {
            run.clone()
        } else {
            run.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let record = crate::report_cmd::read_record(run)?;
        records.push((folder.display().to_string(), record));
        folders.push(folder);
    }
    if out.exists() {
        return Err(format!(
            "{} exists: the merged run needs a new folder",
            out.display()
        ));
    }
    let run_id = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "merged".into());
    let mut merged = merge::merge(&records, &run_id).map_err(|e| e.to_string())?;
    judge_rack_checks(&records, &mut merged)?;
    merged.tool.command = std::env::args().collect();

    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    copy_evidence(&merged, &folders, out)?;
    // The run folder's files, rendered by the same reporters as a run's.
    let signed_by = sign_key.as_ref().map(|k| k.fingerprint());
    let mut reporters = Reporters::files()
        .with(HtmlFile::default())
        .with(ManifestFile::new(sign_key))
        .with(Summary::new(signed_by));
    let started = RunEvent::RunStarted {
        run_dir: out.to_path_buf(),
        plan: RunPlan::default(),
        record: Box::new(merged.clone()),
    };
    let finished = RunEvent::RunFinished {
        finished_at: merged.finished_at.clone().unwrap_or_default(),
        complete: merged.complete,
    };
    for event in [started, finished] {
        reporters
            .report(&event, &merged)
            .map_err(|e| e.to_string())?;
    }
    eprintln!("hilt: merged {} runs into {}", records.len(), out.display());
    Ok(())
}

/// Rack-wide trials the shards ran, judged again on every board's results.
fn judge_rack_checks(
    records: &[(String, RunRecord)],
    merged: &mut RunRecord,
) -> Result<(), String> {
    let mut names: Vec<&str> = records
        .iter()
        .flat_map(|(_, r)| r.trials.iter())
        .map(|t| t.name.as_str())
        .filter(|n| n.starts_with(RACK_PREFIX))
        .collect();
    names.sort();
    names.dedup();
    let checks = hilt_suites::rack();
    let started = std::time::Instant::now();
    for name in names {
        let check = checks
            .iter()
            .find(|c| {
                hilt_harness::runner::trial_name(hilt_harness::runner::RACK, &c.meta().id()) == name
            })
            .ok_or_else(|| format!("{name}: no such rack-wide check in this hilt"))?;
        let trial = hilt_harness::rack::judge::rack_trial(name, check, merged, started);
        merged.trials.push(trial);
    }
    Ok(())
}

/// Copies each evidence file the merged record names from the shard
/// folder holding it with the hash the record states.
fn copy_evidence(record: &RunRecord, folders: &[PathBuf], out: &Path) -> Result<(), String> {
    let named = record.trials.iter().flat_map(|t| t.evidence.iter()).chain(
        record
            .boards
            .iter()
            .filter_map(|b| b.health.as_ref())
            .flat_map(|h| h.evidence.iter()),
    );
    for evidence in named {
        let relative = Path::new(&evidence.path);
        if relative.is_absolute() || relative.components().any(|c| c.as_os_str() == "..") {
            return Err(format!(
                "evidence path {:?} leaves the run folder",
                evidence.path
            ));
        }
        let source = folders
            .iter()
            .map(|folder| folder.join(relative))
            .find(|file| {
                hilt_reports::manifest::hash_file(file)
                    .is_ok_and(|(sha256, _)| sha256.eq_ignore_ascii_case(&evidence.sha256))
            })
            .ok_or_else(|| {
                format!(
                    "evidence {} with SHA-256 {} is in none of the run folders",
                    evidence.path, evidence.sha256
                )
            })?;
        let target = out.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::copy(&source, &target)
            .map_err(|e| format!("copying {} to {}: {e}", source.display(), target.display()))?;
    }
    Ok(())
}
