//! `hilt board check`: validates board files and previews, per board, which
//! checks of a suite will run and what the board file lacks for the others.

use std::io::Write;
use std::path::{Path, PathBuf};

use hilt_harness::board::Board;
use hilt_harness::runner::{self, CheckCoverage, CoverageStatus, Plan};
use hilt_harness::suite::Suite;
use hilt_harness::Registry;
use serde::Serialize;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// One board file's result.
#[derive(Serialize)]
struct FileReport {
    file: PathBuf,
    /// The board's name, when the file loaded.
    board: Option<String>,
    /// Why the file cannot be used; empty when it can.
    errors: Vec<String>,
    /// What is usable but risky (traffic not bound to the board's link).
    warnings: Vec<String>,
    /// The suite's checks on this board, in suite order.
    checks: Vec<CheckCoverage>,
}

#[derive(Serialize)]
struct Report<'a> {
    suite: &'a str,
    boards: Vec<FileReport>,
}

/// Exit status 0 when every file is valid, 2 otherwise; checks that will
/// not run are a preview, not an error.
pub fn run(files: &[PathBuf], suite: &Suite, format: Format) -> i32 {
    let registry = hilt_suites::registry();
    let boards: Vec<FileReport> = files
        .iter()
        .map(|f| check_file(f, suite, &registry))
        .collect();
    let code = if boards.iter().all(|b| b.errors.is_empty()) {
        0
    } else {
        2
    };
    let report = Report {
        suite: &suite.spec.suite,
        boards,
    };
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Text => write_text(&mut out, &report),
        Format::Json => serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
    };
    match written {
        Ok(()) => code,
        Err(e) => {
            eprintln!("error: writing the report: {e}");
            2
        }
    }
}

fn check_file(file: &Path, suite: &Suite, registry: &Registry) -> FileReport {
    let mut report = FileReport {
        file: file.to_path_buf(),
        board: None,
        errors: Vec::new(),
        warnings: Vec::new(),
        checks: Vec::new(),
    };
    let board = match Board::load(file) {
        // A QEMU board's console, debug port and power come from the
        // machine hilt starts at run time: previewed as a run wires them.
        Ok(mut board) => {
            hilt_harness::transport::qemu::preview(&mut board);
            hilt_harness::transport::labgrid::preview(&mut board);
            board
        }
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    report.board = Some(board.name().to_string());
    // The files and secrets it names must load too, as a run needs them;
    // the checks that need a broken one show as setup faults below.
    report
        .errors
        .extend(board.preflight().iter().map(ToString::to_string));
    let network = board.spec.hardware.network.as_ref();
    // A labgrid place's link is named in `hardware.labgrid.interface`.
    let labgrid = board.spec.hardware.labgrid.is_some();
    report.warnings.extend(network.and_then(|n| {
        let warning = n.unbound_warning()?;
        Some(match labgrid {
            true => warning
                .replacen("hardware.network", "hardware.labgrid", 1)
                .replacen(&n.address.to_string(), "the place's address", 1),
            false => warning,
        })
    }));
    // The preview is the run's own plan, so it cannot disagree with a run.
    let plan = Plan::build(
        std::slice::from_ref(&board),
        suite,
        registry,
        &libtest_mimic::Arguments::default(),
        &[],
    );
    match plan {
        Ok(plan) => report.checks = runner::coverage(&plan, 0),
        Err(e) => report.errors.push(e),
    }
    report
}

fn write_text(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for file in &report.boards {
        let name = file.board.as_deref().unwrap_or("-");
        if file.errors.is_empty() {
            writeln!(out, "ok    {} (board {name})", file.file.display())?;
        }
        for error in &file.errors {
            writeln!(out, "error {error}")?;
        }
        for warning in &file.warnings {
            writeln!(out, "warn  {}: {warning}", file.file.display())?;
        }
        if file.checks.is_empty() {
            continue;
        }
        let runs = file
            .checks
            .iter()
            .filter(|c| c.status == CoverageStatus::Runs)
            .count();
        let not_applicable = file
            .checks
            .iter()
            .filter(|c| matches!(c.status, CoverageStatus::NotApplicable { .. }))
            .count();
        let broken = file.checks.len() - runs - not_applicable;
        let broken = if broken > 0 {
            format!(", {broken} ERROR (a referenced file or secret is broken)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "      suite {}: {runs} of {} checks run, {not_applicable} not applicable{broken}",
            report.suite,
            file.checks.len(),
        )?;
        for check in &file.checks {
            write_check(out, check)?;
        }
    }
    Ok(())
}

fn write_check(out: &mut impl Write, check: &CheckCoverage) -> std::io::Result<()> {
    let id = format!("{:<6} {}", check.catalogue_id, check.check);
    match &check.status {
        CoverageStatus::Runs => writeln!(out, "      run  {id}"),
        CoverageStatus::NotApplicable { reason, enabled_by } => {
            let remedy = if enabled_by.is_empty() {
                "no board-file field makes it run".to_string()
            } else {
                format!("set {}", enabled_by.join(" or "))
            };
            writeln!(out, "      n/a  {id}: not applicable: {reason}; {remedy}")
        }
        CoverageStatus::SetupFault { reason } => {
            writeln!(
                out,
                "      ERR  {id}: ERROR before any device traffic: {reason}"
            )
        }
    }
}
