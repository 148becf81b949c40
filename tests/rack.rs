//! Rack-wide checks: ID-03 compares the identifiers every board of one
//! model reported. Shown failing on two boards with the shared-identifier
//! flaw, passing on two reference boards, and NOT_APPLICABLE on one board.
//! Needs root (simulated boards live in network namespaces).

use std::path::Path;
use std::process::Command;

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

fn run(dir: &Path, count: u32, flaw: Option<&str>) -> serde_json::Value {
    let suite = dir.join("rack-suite.yaml");
    std::fs::write(
        &suite,
        "suite: rack\ntitle: rack\nchecks:\n  - check: device_identification::logical_identifier\n  - check: device_identification::distinct_identifiers\n",
    )
    .expect("suite");
    let out = dir.join(format!("out-{count}-{}", flaw.unwrap_or("reference")));
    let mut cmd = Command::new(HILT);
    cmd.args(["run", "--suite"])
        .arg(&suite)
        .arg("--out")
        .arg(&out)
        .args(["--sim-count", &count.to_string()]);
    if let Some(flaw) = flaw {
        cmd.args(["--sim-flaw", flaw]);
    }
    let result = cmd.output().expect("hilt runs");
    let run_dir = std::fs::read_dir(&out)
        .unwrap_or_else(|e| {
            panic!(
                "no run folder ({e}): {}",
                String::from_utf8_lossy(&result.stderr)
            )
        })
        .flatten()
        .next()
        .expect("a run folder")
        .path();
    serde_json::from_slice(&std::fs::read(run_dir.join("record.json")).expect("record"))
        .expect("JSON")
}

fn rack_trial(record: &serde_json::Value) -> &serde_json::Value {
    record["trials"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["name"] == "rack::device_identification::distinct_identifiers")
        })
        .unwrap_or_else(|| panic!("no rack trial in {record}"))
}

#[test]
fn distinct_identifiers_across_the_rack() {
    let dir = tempfile::tempdir().expect("tempdir");

    let shared = run(dir.path(), 2, Some("shared-identifier"));
    let trial = rack_trial(&shared);
    assert_eq!(trial["verdict"], "FAIL", "{trial}");
    assert!(
        trial["reason"]
            .as_str()
            .unwrap_or("")
            .contains("both report"),
        "{trial}"
    );
    assert_eq!(trial["board"], "rack");

    let reference = run(dir.path(), 2, None);
    assert_eq!(
        rack_trial(&reference)["verdict"],
        "PASS",
        "{}",
        rack_trial(&reference)
    );
    assert_eq!(reference["complete"], true);

    let single = run(dir.path(), 1, None);
    assert_eq!(rack_trial(&single)["verdict"], "NOT_APPLICABLE");
}
