//! The reports of a rack run, on a rack of two simulated boards sharing an
//! identifier (the rack-wide ID-03 FAILs), a board that does not answer
//! (AU-07 INCONCLUSIVE) and checks that are DECLARED or NOT_APPLICABLE:
//!
//! - junit.xml as CI servers read it, judged by a reader nobody here wrote
//!   (PyPI's `junitparser`, through python3): every board has its suite,
//!   every check its case with the board as classname, and the counts per
//!   suite and on the root equal the record's verdicts;
//! - every report renders again from the record (`hilt report render`):
//!   JUnit and HTML byte for byte as the run wrote them, Markdown with the
//!   FAIL's expected and observed.
//!
//! Needs root (simulated boards live in network namespaces) and
//! `cargo build --workspace --bins` (hilt runs hilt-sim).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{have_python_module, run_folder, text, HILT};

/// Prints junit.xml as junitparser reads it, as JSON: per suite its
/// attribute counts and, per case, its classname, name, result elements
/// and system-out; the root's counts too.
const READ: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = {"root": {k: getattr(xml, k) for k in ("tests", "failures", "errors", "skipped")}, "suites": []}
for suite in xml:
    cases = []
    for case in suite:
        results = []
        for r in case.result:
            kind = {Failure: "failure", Error: "error", Skipped: "skipped"}.get(type(r), type(r).__name__)
            results.append({"kind": kind, "message": r.message, "type": r.type})
        cases.append({"classname": case.classname, "name": case.name, "results": results,
                      "system_out": case.system_out or ""})
    out["suites"].append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                          "errors": suite.errors, "skipped": suite.skipped, "cases": cases})
print(json.dumps(out))
"#;

/// Simulated boards of this test's own runtime folder, stopped on drop.
struct Sims {
    runtime: PathBuf,
    board_files: Vec<PathBuf>,
}

impl Sims {
    fn up(dir: &Path, count: u32, flaw: &str) -> Self {
        let runtime = dir.join("sim");
        let out = Command::new(HILT)
            .args(["sim", "up", "--count", &count.to_string(), "--flaw", flaw])
            .arg("--runtime-dir")
            .arg(&runtime)
            .output()
            .expect("hilt sim runs");
        let sims = Self {
            runtime,
            board_files: text(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1).map(PathBuf::from))
                .collect(),
        };
        assert!(out.status.success(), "hilt sim up: {}", text(&out.stderr));
        assert_eq!(
            sims.board_files.len(),
            count as usize,
            "{}",
            text(&out.stdout)
        );
        sims
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        let _ = Command::new(HILT)
            .args(["sim", "down", "--runtime-dir"])
            .arg(&self.runtime)
            .output();
    }
}

/// What the record says each suite must count: (tests, failures, errors, skipped).
fn expected_counts(record: &serde_json::Value) -> BTreeMap<String, [usize; 4]> {
    let mut counts: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for trial in record["trials"].as_array().expect("trials") {
        let board = trial["board"].as_str().expect("board").to_string();
        let entry = counts.entry(board).or_default();
        entry[0] += 1;
        match trial["verdict"].as_str().expect("verdict") {
            "FAIL" => entry[1] += 1,
            "INCONCLUSIVE" | "ERROR" => entry[2] += 1,
            "NOT_APPLICABLE" | "DECLARED" => entry[3] += 1,
            _ => {}
        }
    }
    counts
}

#[test]
fn junit_reads_in_junitparser_with_the_records_counts_and_reports_render_again() {
    if !have_python_module("junitparser") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sims = Sims::up(dir.path(), 2, "shared-identifier");
    // Nothing listens at this loopback address.
    let absent = dir.path().join("absent.yaml");
    std::fs::write(
        &absent,
        "board: absent\nmodel: nothing\nhardware:\n  network: { address: 127.77.0.252 }\n\
         declares:\n  interfaces:\n    - { port: 443, service: https }\n",
    )
    .expect("board file");
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "suite: junit\ntitle: junit readers\nchecks:\n\
         \x20 - check: device_identification::logical_identifier\n\
         \x20 - check: logical_access::open_ports\n\
         \x20 - check: non_technical::support_period\n\
         \x20 - check: device_identification::distinct_identifiers\n",
    )
    .expect("suite");
    let out_dir = dir.path().join("out");
    let mut run = Command::new(HILT);
    run.args(["run", "--suite"])
        .arg(&suite)
        .arg("--out")
        .arg(&out_dir);
    for board in sims.board_files.iter().chain([&absent]) {
        run.arg("--board").arg(board);
    }
    let out = run.output().expect("hilt runs");
    drop(sims);
    let run_dir = run_folder(&out_dir, &out.stderr);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("record.json")).expect("record"))
            .expect("JSON");
    assert_eq!(record["complete"], true, "{}", text(&out.stderr));
    // The exit status follows the worst verdict: INCONCLUSIVE.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));

    // The run holds every JUnit outcome: a failure, an error, a skip, a pass.
    let verdict = |name: &str| {
        record["trials"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .map(|t| t["verdict"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("no trial {name}: {record}"))
    };
    assert_eq!(
        verdict("rack::device_identification::distinct_identifiers"),
        "FAIL"
    );
    assert_eq!(
        verdict("absent::logical_access::open_ports"),
        "INCONCLUSIVE"
    );
    let expected = expected_counts(&record);
    assert!(
        expected.values().any(|c| c[3] > 0),
        "no skipped trial: {expected:?}"
    );
    assert!(
        expected.values().any(|c| c[0] > c[1] + c[2] + c[3]),
        "no PASS: {expected:?}"
    );

    let read = Command::new("python3")
        .args(["-c", READ])
        .arg(run_dir.join("junit.xml"))
        .output()
        .expect("python3 runs");
    assert!(read.status.success(), "junitparser: {}", text(&read.stderr));
    let junit: serde_json::Value = serde_json::from_slice(&read.stdout).expect("JSON");

    // One suite per board and one for the rack, each with the record's counts.
    let suites = junit["suites"].as_array().expect("suites");
    let mut seen = BTreeMap::new();
    for suite in suites {
        let name = suite["name"].as_str().expect("suite name").to_string();
        let cases = suite["cases"].as_array().expect("cases");
        let by_element = |kind: &str| {
            cases
                .iter()
                .filter(|c| {
                    c["results"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|r| r["kind"] == kind))
                })
                .count()
        };
        let attributes = [
            &suite["tests"],
            &suite["failures"],
            &suite["errors"],
            &suite["skipped"],
        ]
        .map(|v| v.as_u64().unwrap_or(u64::MAX) as usize);
        let elements = [
            cases.len(),
            by_element("failure"),
            by_element("error"),
            by_element("skipped"),
        ];
        assert_eq!(attributes, elements, "suite {name}: attributes vs elements");
        for case in cases {
            assert_eq!(case["classname"], suite["name"], "{case}");
            let check = case["name"].as_str().expect("case name");
            assert!(
                record["trials"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| { t["board"].as_str() == Some(name.as_str()) && t["check"] == check }),
                "case {name} {check} is no trial of the record"
            );
        }
        seen.insert(name, elements);
    }
    assert_eq!(seen, expected, "junit vs record");
    assert!(seen.contains_key("rack"), "{seen:?}");
    let total: [usize; 4] = expected.values().fold([0; 4], |mut sum, c| {
        (0..4).for_each(|i| sum[i] += c[i]);
        sum
    });
    let root = &junit["root"];
    assert_eq!(
        [
            &root["tests"],
            &root["failures"],
            &root["errors"],
            &root["skipped"]
        ]
        .map(|v| v.as_u64().unwrap_or(u64::MAX) as usize),
        total,
        "{root}"
    );

    // The failure states what was expected and what was observed; the
    // transcript of a console check is quoted in system-out.
    let cases: Vec<&serde_json::Value> = suites
        .iter()
        .flat_map(|s| s["cases"].as_array().into_iter().flatten())
        .collect();
    let failure = cases
        .iter()
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .find(|r| r["kind"] == "failure")
        .expect("a failure");
    let message = failure["message"].as_str().unwrap_or("");
    assert!(
        message.contains("expected: ") && message.contains("observed: "),
        "{failure}"
    );
    assert!(
        cases.iter().any(|c| c["system_out"]
            .as_str()
            .is_some_and(|o| o.contains("--- excerpt of "))),
        "no evidence excerpt in any system-out"
    );

    rendered_again(&run_dir);
}

/// `hilt report render` of the run's record gives back the files the run
/// wrote, and a Markdown summary with the FAIL.
fn rendered_again(run_dir: &Path) {
    let render = |from: &Path, format: &str| {
        let out = Command::new(HILT)
            .args(["report", "render"])
            .arg(from)
            .args(["--format", format])
            .output()
            .expect("hilt runs");
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        out.stdout
    };
    let record_file = run_dir.join("record.json");
    for (from, format, file) in [
        (record_file.as_path(), "junit", "junit.xml"),
        (run_dir, "html", "report.html"),
    ] {
        let written = std::fs::read(run_dir.join(file)).expect("written by the run");
        assert!(
            render(from, format) == written,
            "{format} rendered from the record differs from the run's {file}"
        );
    }
    let md = text(&render(run_dir, "md"));
    assert!(
        md.contains("### FAIL rack::device\\_identification::distinct\\_identifiers (ID-03: "),
        "{md}"
    );
    assert!(
        md.contains("- expected: ") && md.contains("- observed: "),
        "{md}"
    );
    assert!(
        md.contains("| Device Identification (DI) | does not conform |"),
        "{md}"
    );
    // A file written instead of stdout, and an unreadable record refused.
    let md_file = run_dir.join("summary.md");
    let out = Command::new(HILT)
        .args(["report", "render", "--format", "md", "-o"])
        .arg(&md_file)
        .arg(run_dir)
        .output()
        .expect("hilt runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&md_file).expect("summary.md"), md);
    let out = Command::new(HILT)
        .args(["report", "render", "--format", "md"])
        .arg(run_dir.join("junit.xml"))
        .output()
        .expect("hilt runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
}
