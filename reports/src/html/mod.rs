//! The HTML report: one self-contained file (`report.html` in the run
//! folder) rendered from a run record, readable offline and printable to
//! PDF. No script, no external resource: the style sheet is inline, and a
//! Content-Security-Policy forbids anything else, so even text that got
//! past the escaping could not run or fetch.
//!
//! Sections: the report's identification (lab, customer, dates, methods,
//! decision rule, environment), the devices under test, summaries per
//! NIST IR 8259A capability and per ETSI EN 303 645 provision, a board by
//! capability matrix, every FAIL, INCONCLUSIVE and ERROR with expected
//! versus observed and links to its evidence, all trials, and the
//! evidence manifest. Every dynamic string goes through [`markup::Html`].

mod markup;
pub mod summary;

use crate::record::{BoardInfo, EvidenceRecord, HealthStatus, RunRecord, TrialRecord, Verdict};
use markup::{Href, Html};
use summary::{Group, Status, Tally};

/// The verdicts in the order the tables count them.
const COLUMNS: &[(Verdict, &str)] = &[
    (Verdict::Pass, "PASS"),
    (Verdict::Fail, "FAIL"),
    (Verdict::Inconclusive, "INCONCL."),
    (Verdict::Error, "ERROR"),
    (Verdict::NotApplicable, "N/A"),
    (Verdict::Declared, "DECL."),
];

/// What a field the record leaves empty shows.
const NOT_STATED: &str = "not stated";

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hilt">
"#;

const STYLE: &str = r#"<style>
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, "DejaVu Sans", Arial, sans-serif; color: #1a1a1a; background: #fff; max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { border: 1px solid #c8c8c8; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
table.kv > tbody > tr > th { width: 15em; }
td.n, th.n { text-align: right; white-space: nowrap; }
.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; overflow-wrap: anywhere; }
.pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.sub { color: #555; margin: 0 0 1em; }
.warn { border: 2px solid #c77700; background: #fff4e0; padding: 6px 10px; }
.tally span { display: inline-block; border: 1px solid #bbb; border-radius: 3px; padding: 1px 7px; margin: 0 4px 4px 0; }
.v-PASS, .s-pass { background: #e2f3e2; }
.v-FAIL, .s-fail { background: #fadcdc; }
.v-INCONCLUSIVE, .v-ERROR, .s-open { background: #fcefd2; }
.v-NOT_APPLICABLE, .s-na { background: #f2f2f2; color: #555; }
.v-DECLARED, .s-review { background: #e2eaf8; }
.finding { border: 1px solid #c8c8c8; border-left: 6px solid #b22; padding: 4px 12px; margin: 14px 0; }
.finding.f-INCONCLUSIVE, .finding.f-ERROR { border-left-color: #c77700; }
.small { font-size: .88em; color: #444; }
nav ul { columns: 2; padding-left: 1.2em; }
footer { margin-top: 2.5em; border-top: 2px solid #bbb; padding-top: .4em; color: #444; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; }
  nav { display: none; }
  h2 { break-before: page; break-after: avoid; }
  h2.first { break-before: auto; }
  h3 { break-after: avoid; }
  thead { display: table-header-group; }
  tr, .finding { break-inside: avoid; }
}
</style>
</head>
<body>
"#;

/// The report for `record`, as one HTML document.
pub fn render(record: &RunRecord) -> String {
    // About 2 kB a trial with its evidence, and 16 kB of frame.
    let mut html = Html::with_capacity(16 * 1024 + record.trials.len() * 2048);
    html.markup(HEAD);
    html.element("title", &[], &title(record));
    html.markup(STYLE);
    header(&mut html, record);
    contents(&mut html);
    report_identification(&mut html, record);
    items(&mut html, record);
    capability_summary(&mut html, record);
    provision_summary(&mut html, record);
    board_matrix(&mut html, record);
    findings(&mut html, record);
    all_trials(&mut html, record);
    evidence_manifest(&mut html, record);
    footer(&mut html, record);
    html.markup("</body>\n</html>\n");
    html.finish()
}

fn title(record: &RunRecord) -> String {
    record.report.title.clone().unwrap_or_else(|| {
        format!(
            "hilt security conformance test report: {}",
            record.suite.name
        )
    })
}

fn header(html: &mut Html, record: &RunRecord) {
    html.open("header", &[]);
    html.element("h1", &[], &title(record));
    html.element(
        "p",
        &[("class", "sub")],
        &format!(
            "Report {} · suite {} · tested {} to {} · {} board(s), {} trial(s)",
            record.run_id,
            record.suite.name,
            record.started_at,
            record.finished_at.as_deref().unwrap_or("(not finished)"),
            record.boards.len(),
            record.trials.len()
        ),
    );
    tally_badges(html, record);
    if !record.complete {
        html.element(
            "p",
            &[("class", "warn")],
            &format!(
                "INCOMPLETE: not every selected trial finished ({}). The results below are those of the trials that did.",
                record
                    .interrupted
                    .as_deref()
                    .unwrap_or("the run ended early")
            ),
        );
    }
    html.close("header");
}

fn tally_badges(html: &mut Html, record: &RunRecord) {
    let tally = record.tally();
    html.open("p", &[("class", "tally")]);
    for (verdict, _) in COLUMNS {
        if let Some(n) = tally.get(verdict) {
            let class = verdict_class(*verdict);
            html.element("span", &[("class", class)], &format!("{n} {verdict}"));
        }
    }
    html.close("p");
}

fn contents(html: &mut Html) {
    html.markup(concat!(
        "<nav><ul>",
        "<li><a href=\"#report\">Report identification</a></li>",
        "<li><a href=\"#items\">Devices under test</a></li>",
        "<li><a href=\"#capabilities\">Per NIST IR 8259A capability</a></li>",
        "<li><a href=\"#provisions\">Per ETSI EN 303 645 provision</a></li>",
        "<li><a href=\"#matrix\">Boards by capability</a></li>",
        "<li><a href=\"#findings\">Findings</a></li>",
        "<li><a href=\"#trials\">All trials</a></li>",
        "<li><a href=\"#evidence\">Evidence manifest</a></li>",
        "</ul></nav>\n"
    ));
}

fn report_identification(html: &mut Html, record: &RunRecord) {
    let r = &record.report;
    html.element(
        "h2",
        &[("id", "report"), ("class", "first")],
        "Report identification",
    );
    html.open("table", &[("class", "kv")]);
    html.open("tbody", &[]);
    row(html, "Report (run) identification", &record.run_id, true);
    let lab = r.lab.as_ref().map(|lab| {
        let mut text = lab.name.clone();
        for part in [&lab.address, &lab.accreditation].into_iter().flatten() {
            text.push_str(&format!("\n{part}"));
        }
        text
    });
    row_or(html, "Laboratory", lab.as_deref());
    row_or(html, "Location of testing", r.location.as_deref());
    let customer = r.customer.as_ref().map(|c| match &c.contact {
        Some(contact) => format!("{}\n{contact}", c.name),
        None => c.name.clone(),
    });
    row_or(html, "Customer", customer.as_deref());
    row_or(html, "Items received", r.received_on.as_deref());
    row(
        html,
        "Dates of testing",
        &format!(
            "{} to {}",
            record.started_at,
            record.finished_at.as_deref().unwrap_or("(not finished)")
        ),
        false,
    );
    row_or(html, "Report issued", r.issued_on.as_deref());
    row_or(html, "Sampling", r.sampling.as_deref());
    row_or(html, "Statement", r.statement.as_deref());
    row_or(
        html,
        "Deviations from the method",
        joined(&r.deviations).as_deref(),
    );
    let authorised: Vec<String> = r
        .authorized_by
        .iter()
        .map(|p| match &p.role {
            Some(role) => format!("{} ({role})", p.name),
            None => p.name.clone(),
        })
        .collect();
    row_or(html, "Authorised by", joined(&authorised).as_deref());
    row_or(
        html,
        "External results",
        joined(&r.external_results).as_deref(),
    );
    html.close("tbody");
    html.close("table");

    html.element("h3", &[], "Methods");
    table_head(html, &["Standard", "Version", "Use"]);
    for method in &r.methods {
        html.open("tr", &[]);
        html.element("td", &[], &method.standard);
        html.element("td", &[], &method.version);
        html.element("td", &[], method.note.as_deref().unwrap_or(""));
        html.close("tr");
    }
    if r.methods.is_empty() {
        html.open("tr", &[]);
        html.element("td", &[("colspan", "3")], NOT_STATED);
        html.close("tr");
    }
    table_end(html);
    html.open("table", &[("class", "kv")]);
    html.open("tbody", &[]);
    let suite_file = record.suite.file.as_deref().unwrap_or("(built in)");
    row(
        html,
        "Suite",
        &format!("{} ({suite_file})", record.suite.name),
        false,
    );
    row_or(html, "Suite file SHA-256", record.suite.sha256.as_deref());
    html.close("tbody");
    html.close("table");

    html.element("h3", &[], "Decision rule");
    html.element(
        "p",
        &[("class", "pre")],
        r.decision_rule.as_deref().unwrap_or(NOT_STATED),
    );
    html.element(
        "p",
        &[("class", "small")],
        "The results in the summaries below follow hilt's reading: a group conforms when each of its trials is PASS or NOT_APPLICABLE, does not conform on a FAIL, is not established on an INCONCLUSIVE or ERROR, and needs the lab's review for a DECLARED value.",
    );

    let env = &record.environment;
    html.element("h3", &[], "Environment");
    html.open("table", &[("class", "kv")]);
    html.open("tbody", &[]);
    let version = match &env.hilt_commit {
        Some(commit) => format!("{} (commit {commit})", env.hilt_version),
        None => env.hilt_version.clone(),
    };
    row(html, "hilt", &version, true);
    row(html, "Host", &env.host, false);
    row(html, "Operating system", &env.os, false);
    row(html, "Clock", &env.time_source, false);
    let tools: Vec<String> = env
        .tools
        .iter()
        .map(|t| format!("{} {}", t.name, t.version))
        .collect();
    row_or(html, "External tools", joined(&tools).as_deref());
    row(html, "Command", &record.tool.command.join(" "), true);
    html.close("tbody");
    html.close("table");
}

fn items(html: &mut Html, record: &RunRecord) {
    html.element("h2", &[("id", "items")], "Devices under test");
    for board in &record.boards {
        item(html, board);
    }
    if record.boards.is_empty() {
        html.element("p", &[], "The record names no board.");
    }
}

fn item(html: &mut Html, board: &BoardInfo) {
    html.element("h3", &[], &format!("{}: {}", board.name, board.model));
    html.open("table", &[("class", "kv")]);
    html.open("tbody", &[]);
    row_or(html, "Manufacturer", board.manufacturer.as_deref());
    row_or(
        html,
        "Hardware revision",
        board.hardware_revision.as_deref(),
    );
    row_or(html, "Serial number", board.serial_number.as_deref());
    row_or(html, "Logical identifier", board.logical_id.as_deref());
    row_or(html, "Physical identifier", board.physical_id.as_deref());
    row_or(html, "Condition on receipt", board.condition.as_deref());
    row_or(html, "Firmware version", board.firmware_version.as_deref());
    mono_row_or(
        html,
        "Image SHA-256 before",
        board.image_sha256_before.as_deref(),
    );
    mono_row_or(
        html,
        "Image SHA-256 after",
        board.image_sha256_after.as_deref(),
    );
    row_or(html, "Debug probe", board.probe.as_deref());
    row(
        html,
        "Board file (declaration)",
        &format!("{}\nSHA-256 {}", board.file, board.file_sha256),
        true,
    );
    let observed: Vec<String> = board
        .observed_identity
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    row_or(html, "Observed identity", joined(&observed).as_deref());
    if let Some(health) = &board.health {
        let mut text = match &health.quarantined {
            Some(why) => format!("QUARANTINED, its trials not run: {why}"),
            None => "healthy".to_string(),
        };
        for item in &health.items {
            let status = match item.status {
                HealthStatus::Ok => "ok",
                HealthStatus::Failed => "FAILED",
                HealthStatus::Unknown => "unknown",
            };
            text.push_str(&format!("\n{}: {status}: {}", item.what, item.detail));
        }
        row(html, "Health check before the suite", &text, false);
        if !health.evidence.is_empty() {
            evidence_row(html, &health.evidence);
        }
    }
    html.close("tbody");
    html.close("table");
}

fn capability_summary(html: &mut Html, record: &RunRecord) {
    html.element(
        "h2",
        &[("id", "capabilities")],
        "Summary per NIST IR 8259A capability",
    );
    let mut header = vec!["Capability", "Elements", "Checks"];
    header.extend(COLUMNS.iter().map(|(_, label)| *label));
    header.push("Result");
    table_head(html, &header);
    for (key, group) in summary::by_capability(record) {
        let name = if key == summary::NO_CAPABILITY {
            "(no 8259A element: non-technical)".to_string()
        } else {
            format!("{key} {}", summary::capability_name(&key))
        };
        let elements: Vec<String> = group.references.iter().cloned().collect();
        summary_row(html, &name, &elements.join(", "), &group);
    }
    table_end(html);
}

fn provision_summary(html: &mut Html, record: &RunRecord) {
    html.element(
        "h2",
        &[("id", "provisions")],
        "Summary per ETSI EN 303 645 provision",
    );
    let mut header = vec!["Provision", "Clause", "Checks"];
    header.extend(COLUMNS.iter().map(|(_, label)| *label));
    header.push("Result");
    table_head(html, &header);
    let rows = summary::by_provision(record);
    for (provision, group) in &rows {
        summary_row(html, provision, summary::clause_heading(provision), group);
    }
    table_end(html);
    if rows.is_empty() {
        html.element("p", &[], "No trial references an EN 303 645 provision.");
    }
}

fn summary_row(html: &mut Html, name: &str, detail: &str, group: &Group) {
    html.open("tr", &[]);
    html.element("td", &[], name);
    html.element("td", &[], detail);
    let checks: Vec<&str> = group.checks.iter().map(String::as_str).collect();
    html.element("td", &[("class", "small")], &checks.join(", "));
    counts(html, &group.tally);
    status_cell(html, group.tally.status());
    html.close("tr");
}

fn counts(html: &mut Html, tally: &Tally) {
    for (verdict, _) in COLUMNS {
        let n = tally.count(*verdict);
        let text = if n == 0 { String::new() } else { n.to_string() };
        html.element("td", &[("class", "n")], &text);
    }
}

fn status_cell(html: &mut Html, status: Status) {
    html.element("td", &[("class", status.class())], status.label());
}

fn board_matrix(html: &mut Html, record: &RunRecord) {
    html.element("h2", &[("id", "matrix")], "Boards by capability");
    let matrix = summary::board_matrix(record);
    html.open("table", &[]);
    html.open("thead", &[]);
    html.open("tr", &[]);
    html.element("th", &[], "Board");
    for key in &matrix.capabilities {
        let name = if key == summary::NO_CAPABILITY {
            "non-technical".to_string()
        } else {
            format!("{key} {}", summary::capability_name(key))
        };
        html.element("th", &[], &name);
    }
    html.close("tr");
    html.close("thead");
    html.open("tbody", &[]);
    for (board, cells) in &matrix.rows {
        html.open("tr", &[]);
        html.element("th", &[], board);
        for tally in cells {
            if tally.total() == 0 {
                html.element("td", &[("class", "small")], "no trial");
                continue;
            }
            let status = tally.status();
            html.open("td", &[("class", status.class())]);
            html.text(status.label());
            html.markup("<br>");
            let parts: Vec<String> = COLUMNS
                .iter()
                .filter(|(v, _)| tally.count(*v) > 0)
                .map(|(v, label)| format!("{} {label}", tally.count(*v)))
                .collect();
            html.element("span", &[("class", "small")], &parts.join(", "));
            html.close("td");
        }
        html.close("tr");
    }
    html.close("tbody");
    html.close("table");
}

/// The trials a reader must look at: FAIL, INCONCLUSIVE, ERROR.
fn is_finding(trial: &TrialRecord) -> bool {
    matches!(
        trial.verdict,
        Verdict::Fail | Verdict::Inconclusive | Verdict::Error
    )
}

fn findings(html: &mut Html, record: &RunRecord) {
    html.element(
        "h2",
        &[("id", "findings")],
        "Findings: every FAIL, INCONCLUSIVE and ERROR",
    );
    let mut any = false;
    for (index, trial) in record.trials.iter().enumerate() {
        if is_finding(trial) {
            any = true;
            finding(html, index, trial);
        }
    }
    if !any {
        html.element(
            "p",
            &[],
            "No trial FAILed, was INCONCLUSIVE or ended in ERROR.",
        );
    }
}

fn finding(html: &mut Html, index: usize, trial: &TrialRecord) {
    let class = format!("finding f-{}", trial.verdict);
    let anchor = format!("t{index}");
    html.open("section", &[("class", &class), ("id", &anchor)]);
    html.open("h3", &[]);
    html.element(
        "span",
        &[("class", verdict_class(trial.verdict))],
        trial.verdict.as_str(),
    );
    html.text(&format!(
        " {} {}: {}",
        trial.catalogue_id, trial.title, trial.board
    ));
    html.close("h3");
    html.open("table", &[("class", "kv")]);
    html.open("tbody", &[]);
    row(html, "Trial", &trial.name, true);
    row(html, "Why", &trial.reason, false);
    row(html, "Expected", &trial.expected, false);
    row(html, "Observed", &trial.observed, false);
    let measurements: Vec<String> = trial
        .measurements
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if let Some(text) = joined(&measurements) {
        row(html, "Measurements", &text, true);
    }
    row(html, "References", &references(trial), false);
    if let Some(a) = &trial.applicability {
        row(html, "Applicability decided by", &a.source, false);
    }
    if let Some(left) = &trial.board_left {
        let state = if left.restored { "as found" } else { "CHANGED" };
        row(
            html,
            "Board left",
            &format!("{state}: {}", left.note),
            false,
        );
    }
    row(
        html,
        "Time",
        &format!(
            "{} to {} ({})",
            trial.started_at,
            trial.finished_at,
            duration(trial.duration_ms)
        ),
        false,
    );
    evidence_row(html, &trial.evidence);
    html.close("tbody");
    html.close("table");
    html.close("section");
}

/// A key-value row listing evidence files, linked, with their hashes.
fn evidence_row(html: &mut Html, files: &[EvidenceRecord]) {
    html.open("tr", &[]);
    html.element("th", &[], "Evidence");
    html.open("td", &[]);
    if files.is_empty() {
        html.text("none recorded");
    } else {
        html.open("ul", &[]);
        for evidence in files {
            html.open("li", &[]);
            evidence_link(html, evidence);
            let mut text = format!(" {}", evidence.description);
            if let Some(locator) = &evidence.locator {
                text.push_str(&format!(" ({locator})"));
            }
            html.text(&text);
            html.markup("<br>");
            html.element(
                "span",
                &[("class", "mono small")],
                &format!("SHA-256 {}", evidence.sha256),
            );
            html.close("li");
        }
        html.close("ul");
    }
    html.close("td");
    html.close("tr");
}

fn references(trial: &TrialRecord) -> String {
    let r = &trial.references;
    let parts = [
        ("NIST IR 8259A", &r.nistir_8259a),
        ("EN 303 645", &r.en_303_645),
        ("TS 103 701", &r.ts_103_701),
        ("CRA Annex I", &r.cra_annex_i),
    ];
    let listed: Vec<String> = parts
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(document, ids)| format!("{document} {}", ids.join(", ")))
        .collect();
    if listed.is_empty() {
        "none".into()
    } else {
        listed.join("; ")
    }
}

fn all_trials(html: &mut Html, record: &RunRecord) {
    html.element("h2", &[("id", "trials")], "All trials");
    table_head(
        html,
        &["#", "Board", "Check", "Title", "Verdict", "Time", "Why"],
    );
    for (index, trial) in record.trials.iter().enumerate() {
        html.open("tr", &[]);
        html.element("td", &[("class", "n")], &(index + 1).to_string());
        html.element("td", &[], &trial.board);
        html.open("td", &[]);
        html.text(&trial.catalogue_id);
        html.markup("<br>");
        html.element("span", &[("class", "mono small")], &trial.check);
        html.close("td");
        html.element("td", &[], &trial.title);
        html.open("td", &[("class", verdict_class(trial.verdict))]);
        if is_finding(trial) {
            html.link(&Href::anchor_trial(index), trial.verdict.as_str());
        } else {
            html.text(trial.verdict.as_str());
        }
        html.close("td");
        html.element("td", &[("class", "n")], &duration(trial.duration_ms));
        html.element("td", &[("class", "small")], &trial.reason);
        html.close("tr");
    }
    table_end(html);
}

fn evidence_manifest(html: &mut Html, record: &RunRecord) {
    html.element("h2", &[("id", "evidence")], "Evidence manifest");
    html.element(
        "p",
        &[("class", "small")],
        "Every file the trials (and the boards' health checks) left, as the record hashed it. The run folder's manifest.json lists these together with record.json, junit.xml and this report, signed when the lab gave a key: `hilt report verify <run folder>` checks every byte.",
    );
    table_head(html, &["Path", "Bytes", "SHA-256", "Type", "Left by"]);
    let mut files = 0usize;
    let mut bytes = 0u64;
    let health = record.boards.iter().filter_map(|board| {
        let health = board.health.as_ref()?;
        Some((format!("health check of {}", board.name), &health.evidence))
    });
    let trials = record.trials.iter().map(|t| (t.name.clone(), &t.evidence));
    for (owner, evidence_files) in health.chain(trials) {
        for evidence in evidence_files {
            files += 1;
            bytes = bytes.saturating_add(evidence.bytes);
            html.open("tr", &[]);
            html.open("td", &[("class", "mono")]);
            evidence_link(html, evidence);
            html.close("td");
            html.element("td", &[("class", "n")], &evidence.bytes.to_string());
            html.element("td", &[("class", "mono small")], &evidence.sha256);
            html.element("td", &[("class", "small")], &evidence.media_type);
            html.element("td", &[("class", "small")], &owner);
            html.close("tr");
        }
    }
    table_end(html);
    html.element(
        "p",
        &[],
        &format!("{files} evidence file(s), {bytes} bytes in all."),
    );
}

fn evidence_link(html: &mut Html, evidence: &EvidenceRecord) {
    match Href::relative(&evidence.path) {
        Some(href) => html.link(&href, &evidence.path),
        None => html.element(
            "span",
            &[("title", "not linked: the path leaves the run folder")],
            &evidence.path,
        ),
    }
}

fn footer(html: &mut Html, record: &RunRecord) {
    let state = if record.complete {
        "the record is complete"
    } else {
        "the record is INCOMPLETE"
    };
    html.element(
        "footer",
        &[],
        &format!(
            "End of report {}: {} trial(s) on {} board(s); {state}. Rendered by hilt from record.json (format {}, schema {}).",
            record.run_id,
            record.trials.len(),
            record.boards.len(),
            record.format,
            record.schema_version
        ),
    );
}

// Small table helpers: every value still goes through `Html`.

fn row(html: &mut Html, key: &str, value: &str, mono: bool) {
    html.open("tr", &[]);
    html.element("th", &[], key);
    let class = if mono { "pre mono" } else { "pre" };
    html.element("td", &[("class", class)], value);
    html.close("tr");
}

fn row_or(html: &mut Html, key: &str, value: Option<&str>) {
    row(html, key, value.unwrap_or(NOT_STATED), false);
}

fn mono_row_or(html: &mut Html, key: &str, value: Option<&str>) {
    match value {
        Some(value) => row(html, key, value, true),
        None => row(html, key, NOT_STATED, false),
    }
}

fn table_head(html: &mut Html, columns: &[&str]) {
    html.open("table", &[]);
    html.open("thead", &[]);
    html.open("tr", &[]);
    for column in columns {
        html.element("th", &[], column);
    }
    html.close("tr");
    html.close("thead");
    html.open("tbody", &[]);
}

fn table_end(html: &mut Html) {
    html.close("tbody");
    html.close("table");
}

fn joined(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| items.join("\n"))
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "v-PASS",
        Verdict::NotApplicable => "v-NOT_APPLICABLE",
        Verdict::Declared => "v-DECLARED",
        Verdict::Fail => "v-FAIL",
        Verdict::Inconclusive => "v-INCONCLUSIVE",
        Verdict::Error => "v-ERROR",
    }
}

fn duration(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests;
