//! The worked board files of docs/board-files.md (`boards/examples/`) are
//! valid, and `hilt board check` previews for each the coverage the doc
//! states: which checks run and which have nothing to act on. Each file
//! is checked with the files it names made up here (label, key, images,
//! secrets), as a lab would have them beside its board file.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;

use std::collections::BTreeSet;
use std::path::Path;

use hilt_cli::{hilt_with, text, HILT};

/// A file a board file names, made up for the preview.
enum Kit {
    Label(&'static str),
    Key,
    Image(&'static str),
    Secret,
}

struct Example {
    file: &'static str,
    kit: &'static [(&'static str, Kit)],
    env: &'static [(&'static str, &'static str)],
    /// Catalogue ids of the checks that have nothing to act on.
    not_applicable: &'static [&'static str],
}

const EXAMPLES: &[Example] = &[
    Example {
        file: "mcu-mcuboot-smp.yaml",
        kit: &[
            (
                "labels/thermostat-07.txt",
                Kit::Label("T1\nS/N: 00A1B2C3D4E5F607\n"),
            ),
            ("keys/t1-root-ec256.pub.pem", Kit::Key),
            ("firmware/t1-1.4.0.signed.bin", Kit::Image("1.4.0")),
            ("firmware/t1-1.5.0.signed.bin", Kit::Image("1.5.0")),
            ("firmware/t1-1.2.0.signed.bin", Kit::Image("1.2.0")),
        ],
        env: &[("T1_ADMIN_PASSWORD", "made-up-for-the-preview")],
        not_applicable: &[
            "AU-05", "AU-13", "CS-05", "DP-02", "DP-06", "DP-10", "ID-05", "SU-14", "SU-15",
        ],
    },
    Example {
        file: "linux-gateway.yaml",
        kit: &[(
            "labels/gw-3.txt",
            Kit::Label("EG-400\nSN GW3000123\nPassword: Xk7-Lm2q-9Rt\n"),
        )],
        env: &[],
        not_applicable: &[
            "AU-10", "AU-13", "CF-05", "CS-02", "CS-05", "CS-06", "DP-06", "SU-01", "SU-02",
            "SU-03", "SU-04", "SU-05", "SU-06", "SU-07", "SU-09", "SU-11", "SU-14", "SU-15",
        ],
    },
    Example {
        file: "camera-http.yaml",
        kit: &[
            (
                "labels/cam-12.txt",
                Kit::Label("C-200\nMAC: 00:1a:2b:3c:4d:5e\n"),
            ),
            ("keys/c200-release.pub.pem", Kit::Key),
            ("firmware/c200-2.1.0.bin", Kit::Image("2.1.0")),
            ("firmware/c200-2.2.0.bin", Kit::Image("2.2.0")),
            ("firmware/c200-2.0.0.bin", Kit::Image("2.0.0")),
            ("secrets/cam-12.operator", Kit::Secret),
        ],
        env: &[],
        not_applicable: &[
            "AU-03", "AU-09", "AU-10", "AU-13", "CF-05", "CS-05", "CS-06", "DP-02", "DP-03",
            "DP-04", "DP-06", "SU-14", "SU-15",
        ],
    },
    Example {
        file: "serial-sensor.yaml",
        kit: &[
            ("labels/probe-4.txt", Kit::Label("S-10\nS/N SX10004\n")),
            ("keys/s10-root.pub.pem", Kit::Key),
            ("firmware/s10-3.0.1.bin", Kit::Image("3.0.1")),
        ],
        env: &[],
        not_applicable: &[
            "AU-01", "AU-03", "AU-04", "AU-05", "AU-07", "AU-08", "AU-10", "AU-13", "CS-01",
            "CS-05", "DP-01", "DP-02", "DP-03", "DP-04", "DP-06", "DP-10", "ID-05", "SU-01",
            "SU-07", "SU-14", "SU-15",
        ],
    },
    Example {
        file: "bootloader-console.yaml",
        kit: &[],
        env: &[],
        not_applicable: &[
            "AU-01", "AU-03", "AU-04", "AU-05", "AU-07", "AU-08", "AU-13", "CF-05", "CS-01",
            "CS-02", "CS-03", "CS-04", "CS-05", "CS-06", "DP-01", "DP-02", "DP-03", "DP-04",
            "DP-06", "DP-10", "ID-04", "ID-05", "SU-01", "SU-02", "SU-03", "SU-04", "SU-05",
            "SU-06", "SU-07", "SU-09", "SU-11", "SU-14", "SU-15",
        ],
    },
];

fn make_kit(dir: &Path, kit: &[(&str, Kit)]) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sim = Path::new(HILT).with_file_name("hilt-sim");
    for (name, what) in kit {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        match what {
            Kit::Label(text) => std::fs::write(&path, text).expect("label"),
            Kit::Secret => std::fs::write(&path, "made-up-for-the-preview\n").expect("secret"),
            Kit::Key => {
                std::fs::copy(repo.join("boards/sim/keys/sim-root-ed25519.pub.pem"), &path)
                    .expect("key");
            }
            Kit::Image(version) => {
                let out = std::process::Command::new(&sim)
                    .args(["firmware", "--version", version, "--out"])
                    .arg(&path)
                    .output()
                    .expect("hilt-sim runs (cargo build --workspace --bins first)");
                assert!(out.status.success(), "{}", text(&out.stderr));
            }
        }
    }
}

#[test]
fn every_worked_board_file_loads_and_previews_the_coverage_the_doc_states() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for example in EXAMPLES {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            repo.join("boards/examples").join(example.file),
            dir.path().join(example.file),
        )
        .expect("copy example");
        make_kit(dir.path(), example.kit);
        let out = hilt_with(
            &["board", "check", example.file, "--format", "json"],
            dir.path(),
            example.env,
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\n{}{}",
                example.file,
                text(&out.stdout),
                text(&out.stderr)
            )
        });
        let board = &json["boards"][0];
        let errors = board["errors"].as_array().cloned().unwrap_or_default();
        if !errors.is_empty() || !out.status.success() {
            problems.push(format!(
                "{}: errors {errors:?} {}",
                example.file,
                text(&out.stderr)
            ));
        }
        let mut not_applicable = BTreeSet::new();
        let mut other = Vec::new();
        for check in board["checks"].as_array().cloned().unwrap_or_default() {
            let id = check["catalogue_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match check["status"].as_str().unwrap_or_default() {
                "not_applicable" => {
                    not_applicable.insert(id);
                }
                "runs" | "run" => {}
                status => other.push(format!("{id} {status}")),
            }
        }
        let expected: BTreeSet<String> = example
            .not_applicable
            .iter()
            .map(|s| s.to_string())
            .collect();
        if not_applicable != expected || !other.is_empty() {
            problems.push(format!(
                "{}: not applicable {not_applicable:?} (expected {expected:?}); other {other:?}",
                example.file
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
