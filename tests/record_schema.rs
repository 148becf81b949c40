//! The run record against its own JSON Schema, judged by a validator
//! nobody here wrote (PyPI's `jsonschema`, through python3): the record of
//! a full run on a rack of two simulated boards validates against `hilt
//! schema record`, with the lab's statements from `--lab-info` in place;
//! a record with a wrong-typed or missing field does not. Needs root
//! (simulated boards live in network namespaces) and
//! `cargo build --workspace --bins` (hilt runs hilt-sim beside it).

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{have_python_module, run_folder, text, HILT};

/// Validates FILE (a JSON record) against SCHEMA with Draft 2020-12 and
/// prints one line per error (`path: message`); exit 1 when invalid.
const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
record = json.load(open(sys.argv[2]))
validator = jsonschema.Draft202012Validator(schema)
errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/".join(str(p) for p in e.absolute_path) + ": " + e.message)
sys.exit(1 if errors else 0)
"#;

fn validate(schema: &Path, record: &Path) -> Output {
    Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(schema)
        .arg(record)
        .output()
        .expect("python3 runs")
}

fn record_schema(dir: &Path) -> (serde_json::Value, std::path::PathBuf) {
    let out = Command::new(HILT)
        .args(["schema", "record"])
        .output()
        .expect("hilt runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.join("record.schema.json");
    std::fs::write(&path, &out.stdout).expect("write schema");
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    (schema, path)
}

/// Every property of every object in the schema has a description: the
/// doc comments reach the schema, so a lab reads what each field means.
fn undocumented(schema: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props {
            let here = format!("{at}.{name}");
            if prop.get("description").and_then(|d| d.as_str()).is_none() {
                missing.push(here.clone());
            }
            undocumented(prop, &here, missing);
        }
    }
    if let Some(defs) = schema.get("$defs").and_then(|d| d.as_object()) {
        for (name, def) in defs {
            undocumented(def, &format!("$defs.{name}"), missing);
        }
    }
}

const LAB: &str = "\
title: Conformance of the simulated thermostat
lab:
  name: Example Test Lab
  address: 1 Test Street, Testville
  accreditation: DAkkS D-PL-00000-00-00
location: rack 3, Example Test Lab
customer:
  name: Example Devices Ltd
  contact: security@example.com
methods:
  - standard: ETSI EN 303 645
    version: V2.1.1 (2020-06)
  - standard: ETSI TS 103 701
    version: V1.1.1 (2021-08)
    note: functional test cases only
decision_rule: simple acceptance, no guard band
received_on: 2026-12-01
issued_on: 2026-12-08
sampling: none, the customer's samples were tested
deviations: [TS 103 701 5.4-2-1 (conceptual) not assessed]
authorized_by:
  - { name: A. Signer, role: technical manager }
external_results: []
";

#[test]
fn full_rack_run_record_validates_against_its_schema() {
    if !have_python_module("jsonschema") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (schema, schema_path) = record_schema(dir.path());

    // The schema names itself and its version, and documents every field.
    let id = schema["$id"].as_str().expect("$id");
    assert!(schema["title"].as_str().is_some_and(|t| !t.is_empty()));
    let mut missing = Vec::new();
    undocumented(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );

    // The lab's statements, with serial numbers for whichever sim boards
    // the run gets (hilt picks free indices, 0 to 253).
    let mut lab = LAB.to_string();
    lab.push_str("items:\n");
    for n in 0..=255 {
        lab.push_str(&format!(
            "  sim-{n}: {{ serial_number: SN-{n:04}, condition: sealed }}\n"
        ));
    }
    let lab_file = dir.path().join("lab.yaml");
    std::fs::write(&lab_file, lab).expect("lab file");

    // The quick suite, and an update check (it reads the running image
    // back, for the boards' firmware identification).
    let suite = dir.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "suite: schema\ntitle: quick and an update\nchecks:\n\
         \x20 - check: device_identification::logical_identifier\n\
         \x20 - check: logical_access::serial_login_required\n\
         \x20 - check: logical_access::open_ports\n\
         \x20 - check: data_protection::tls_server\n\
         \x20 - check: state_awareness::state_read_requires_auth\n\
         \x20 - check: software_update::unsigned_image\n",
    )
    .expect("suite");
    let out_dir = dir.path().join("out");
    let out = Command::new(HILT)
        .args(["run", "--sim-count", "2", "--health-check", "--suite"])
        .arg(&suite)
        .arg("--lab-info")
        .arg(&lab_file)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("hilt runs");
    let run_dir = run_folder(&out_dir, &out.stderr);
    let record_path = run_dir.join("record.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("JSON");

    // A full run on a rack: two boards, each healthy before its suite,
    // every trial finished.
    for board in record["boards"].as_array().into_iter().flatten() {
        assert!(board["health"]["items"].is_array(), "{board}");
        assert!(board["health"]["quarantined"].is_null(), "{board}");
    }
    assert_eq!(
        record["boards"].as_array().map(Vec::len),
        Some(2),
        "{record}"
    );
    assert_eq!(record["complete"], true, "{}", text(&out.stderr));
    let trials = record["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 12, "{record}");

    // The version the record claims is the one the schema is.
    let version = record["schema_version"].as_str().expect("schema_version");
    assert!(
        id.ends_with(&format!("/{version}.json")),
        "{id} vs {version}"
    );

    // What the lab stated and what hilt knows, in place.
    assert_eq!(record["report"]["lab"]["name"], "Example Test Lab");
    assert_eq!(record["report"]["customer"]["name"], "Example Devices Ltd");
    assert_eq!(
        record["report"]["methods"][1]["version"],
        "V1.1.1 (2021-08)"
    );
    assert_eq!(record["report"]["authorized_by"][0]["name"], "A. Signer");
    assert!(record["environment"]["hilt_version"].as_str().is_some());
    assert!(record["environment"]["host"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    for board in record["boards"].as_array().expect("boards") {
        let name = board["name"].as_str().expect("name");
        let n: u32 = name.trim_start_matches("sim-").parse().expect("sim-N");
        assert_eq!(board["serial_number"], format!("SN-{n:04}"), "{board}");
        assert_eq!(board["condition"], "sealed", "{board}");
        assert!(board["manufacturer"].as_str().is_some(), "{board}");
        assert!(board["hardware_revision"].as_str().is_some(), "{board}");
        // ID-01 read the identifier, SU-02 the running image: both land
        // in the identification.
        assert!(board["logical_id"].as_str().is_some(), "{board}");
        assert!(board["firmware_version"].as_str().is_some(), "{board}");
        let before = board["image_sha256_before"].as_str().unwrap_or_default();
        assert!(
            before.len() == 64 && before.bytes().all(|b| b.is_ascii_hexdigit()),
            "{board}"
        );
        assert!(board["image_sha256_after"].as_str().is_some(), "{board}");
    }
    for trial in trials {
        assert!(
            trial["applicability"]["source"].as_str().is_some(),
            "{trial}"
        );
    }

    // The independent validator accepts the record...
    let valid = validate(&schema_path, &record_path);
    assert!(
        valid.status.success(),
        "record does not validate:\n{}{}",
        text(&valid.stdout),
        text(&valid.stderr)
    );

    // ...and refuses one with a wrong-typed field, naming it,
    let mut wrong = record.clone();
    wrong["trials"][0]["duration_ms"] = "fast".into();
    let wrong_path = dir.path().join("wrong-type.json");
    std::fs::write(&wrong_path, wrong.to_string()).expect("write");
    let out = validate(&schema_path, &wrong_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("trials/0/duration_ms"),
        "{}",
        text(&out.stdout)
    );

    // one with a verdict that is not one of the five (six with DECLARED),
    let mut wrong = record.clone();
    wrong["trials"][0]["verdict"] = "MOSTLY_PASS".into();
    std::fs::write(&wrong_path, wrong.to_string()).expect("write");
    let out = validate(&schema_path, &wrong_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("trials/0/verdict"));

    // and one missing a required field.
    let mut wrong = record.clone();
    wrong["boards"][0]
        .as_object_mut()
        .expect("board")
        .remove("file_sha256");
    std::fs::write(&wrong_path, wrong.to_string()).expect("write");
    let out = validate(&schema_path, &wrong_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("file_sha256"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_misspelt_lab_statement_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab.yaml");
    std::fs::write(&lab, "lab: { name: X }\ncustomr: { name: Y }\n").expect("write");
    let out = Command::new(HILT)
        .args(["run", "--suite", "quick", "--lab-info"])
        .arg(&lab)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("hilt runs");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("customr") && err.contains("lab.yaml"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing ran");
}
