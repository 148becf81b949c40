//! The flaw matrix: the full NIST IR 8259A suite against the simulated
//! board's reference firmware and against each one-flaw build, all boards
//! on one rack at once. The reference board must pass every check; each
//! flawed board must fail exactly the checks that target its flaw, with
//! every other verdict as on the reference board. No false PASS, no false
//! FAIL. Needs root (network namespaces); CI runs as root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const HILT: &str = env!("CARGO_BIN_EXE_hilt");

/// Each flaw of the simulated board and the checks that must FAIL on it
/// (every other verdict must equal the reference board's).
const MATRIX: &[(&str, &[&str])] = &[
    ("default-password", &["logical_access::default_credentials"]),
    (
        "telnet-open",
        &[
            "logical_access::open_ports",
            "logical_access::disabled_interface_stays_disabled",
        ],
    ),
    (
        "config-write-unauthenticated",
        &["device_configuration::unauthenticated_write"],
    ),
    (
        "serial-no-login",
        &["logical_access::serial_login_required"],
    ),
    BOOTLOADER_UNSIGNED,
    BOOTLOADER_ANY_KEY,
    ROLLBACK_ALLOWED,
    ("debug-unlocked", &["logical_access::debug_port_locked"]),
    (
        "plaintext-api",
        &[
            "logical_access::open_ports",
            "data_protection::cleartext_credentials",
        ],
    ),
    (
        "tls-accepts-untrusted",
        &[
            "data_protection::tls_client_mitm",
            "data_protection::tls_client_chain_validation",
        ],
    ),
    ("no-lockout", &["logical_access::brute_force_lockout"]),
    (
        "no-security-logging",
        &[
            "state_awareness::failed_login_logged",
            "state_awareness::log_clear_requires_auth",
            "state_awareness::remote_logging",
        ],
    ),
    (
        "identifier-changes-on-reboot",
        &[
            "device_identification::identifier_immutable",
            "device_identification::physical_identifier",
        ],
    ),
    (
        "shared-identifier",
        &["device_identification::physical_identifier"],
    ),
    (
        "factory-reset-keeps-credentials",
        &["device_configuration::factory_reset"],
    ),
    (
        "event-log-unauthenticated",
        &[
            "state_awareness::state_read_requires_auth",
            "state_awareness::log_clear_requires_auth",
        ],
    ),
    (
        "update-unauthenticated",
        &["software_update::unauthenticated_update"],
    ),
    (
        "reset-unauthenticated",
        &["data_protection::unauthenticated_erase"],
    ),
    (
        "identifier-inconsistent",
        &["device_identification::logical_identifier"],
    ),
    (
        "identifier-writable",
        &["device_identification::identifier_write_refused"],
    ),
    (
        // A setting lost at a restart: also "updates disabled", lost at the
        // restart after the first update path's attempt (SU-14).
        "config-not-persisted",
        &[
            "device_configuration::authorized_change",
            "software_update::update_setting_enforced",
        ],
    ),
    (
        "password-change-keeps-old",
        &["logical_access::password_change"],
    ),
    ("tls-legacy-versions", &["data_protection::tls_server"]),
    ("https-update-ignored", &["software_update::genuine_update"]),
    (
        "no-degraded-state",
        &["state_awareness::degraded_state_reported"],
    ),
    (
        "version-report-stale",
        &["state_awareness::reported_image_matches"],
    ),
    ("banner-leak", &["logical_access::metadata_leakage"]),
    ("plaintext-beacon", &["data_protection::passive_traffic"]),
    (
        "disable-not-persisted",
        &["logical_access::disabled_interface_stays_disabled"],
    ),
    (
        "update-setting-ignored",
        &["software_update::update_setting_enforced"],
    ),
    (
        "tls-skips-hostname-check",
        &["data_protection::tls_client_chain_validation"],
    ),
    (
        "tls-ignores-expiry",
        &["data_protection::tls_client_chain_validation"],
    ),
    ("tls-version-fallback", &["data_protection::tls_downgrade"]),
    BOOTLOADER_SKIPS_HASH,
    BOOTLOADER_HANGS,
    (
        "bootloader-no-boot-validation",
        &["software_update::primary_slot_tamper"],
    ),
];

fn sim_binary() -> PathBuf {
    Path::new(HILT).with_file_name("hilt-sim")
}

struct Rack {
    runtime: tempfile::TempDir,
}

impl Drop for Rack {
    fn drop(&mut self) {
        let _ = Command::new(sim_binary())
            .args(["down", "--runtime-dir"])
            .arg(self.runtime.path())
            .status();
    }
}

/// Device shapes of the simulated board (`hilt-sim up --shape`), each a
/// kind of product reached differently (its board file says how), with the
/// checks its reference build FAILs because the shape truly lacks what they
/// ask for (usually none), the checks that are NOT_APPLICABLE because the
/// device has nothing they could act on (a sensor without network has no
/// port to scan), and its one-flaw builds with the checks each must FAIL.
/// Every other verdict of a flawed build must equal the shape's reference
/// build's; every verdict of the reference build outside those lists must
/// be PASS or DECLARED.
struct ShapeRows {
    shapes: &'static [&'static str],
    reference_fails: &'static [&'static str],
    not_applicable: &'static [&'static str],
    flaws: &'static [(&'static str, &'static [&'static str])],
}

/// The bootloader's flaws and their checks, for shapes whose update path
/// differs from the reference board's (the same checks FAIL through it).
type Row = (&'static str, &'static [&'static str]);
const BOOTLOADER_UNSIGNED: Row = (
    "bootloader-accepts-unsigned",
    &["software_update::unsigned_image"],
);
const BOOTLOADER_ANY_KEY: Row = (
    "bootloader-accepts-any-key",
    &[
        "software_update::bad_signature",
        "software_update::wrong_key",
    ],
);
const BOOTLOADER_SKIPS_HASH: Row = (
    "bootloader-skips-hash",
    &[
        "software_update::tampered_payload",
        "software_update::edited_security_counter",
        "software_update::primary_slot_tamper",
        "state_awareness::degraded_state_reported",
    ],
);
const BOOTLOADER_HANGS: Row = (
    "bootloader-hangs-on-truncated",
    &["software_update::truncated_image"],
);
const ROLLBACK_ALLOWED: Row = ("rollback-allowed", &["software_update::rollback"]);

const SHAPES: &[ShapeRows] = &[
    ShapeRows {
        // A camera: its API over plain HTTP only, Digest as its own account.
        shapes: &["http-api"],
        // Plain HTTP is the shape: the Digest response and the data cross in
        // the clear.
        reference_fails: &[
            "data_protection::cleartext_credentials",
            "data_protection::passive_traffic",
        ],
        // No TLS service at all.
        not_applicable: &["data_protection::tls_server"],
        flaws: &[
            (
                "digest-accepts-any-password",
                &[
                    "device_configuration::unauthenticated_write",
                    "logical_access::brute_force_lockout",
                ],
            ),
            (
                "config-write-unauthenticated",
                &["device_configuration::unauthenticated_write"],
            ),
        ],
    },
    // The telemetry client calls a fixed server on the board's link
    // (`takeover: address`): DP-03, DP-04 and DP-06 reach it by taking
    // the address over, and each client flaw fails exactly its checks.
    ShapeRows {
        shapes: &["fixed-telemetry"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[
            (
                "tls-accepts-untrusted",
                &[
                    "data_protection::tls_client_mitm",
                    "data_protection::tls_client_chain_validation",
                ],
            ),
            (
                "tls-skips-hostname-check",
                &["data_protection::tls_client_chain_validation"],
            ),
            (
                "tls-ignores-expiry",
                &["data_protection::tls_client_chain_validation"],
            ),
            ("tls-version-fallback", &["data_protection::tls_downgrade"]),
        ],
    },
    // Two TLS clients: telemetry (a setting) and an update check (a fixed
    // server taken over on the link). A flaw in the second client alone
    // FAILs its checks: DP-03, DP-04 and DP-06 judge every client.
    ShapeRows {
        shapes: &["second-tls-client"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[
            (
                "ota-accepts-untrusted",
                &[
                    "data_protection::tls_client_mitm",
                    "data_protection::tls_client_chain_validation",
                ],
            ),
            (
                "ota-skips-hostname-check",
                &["data_protection::tls_client_chain_validation"],
            ),
            ("ota-version-fallback", &["data_protection::tls_downgrade"]),
            // The first client's flaw still FAILs beside a sound second.
            (
                "tls-accepts-untrusted",
                &[
                    "data_protection::tls_client_mitm",
                    "data_protection::tls_client_chain_validation",
                ],
            ),
        ],
    },
    ShapeRows {
        // A web-managed device: the HTTPS API behind a login form and a
        // session cookie.
        shapes: &["form-login-api"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[(
            "form-login-accepts-any-password",
            &[
                "device_configuration::unauthenticated_write",
                "logical_access::brute_force_lockout",
                // admin/admin and every other guess log in on the form.
                "logical_access::default_credentials",
            ],
        )],
    },
    // A serial-only sensor whose console opens without login: AU-09 fails
    // it, and so do the checks that judge what that shell changes, prints,
    // clears or installs without credentials.
    ShapeRows {
        shapes: &["open-console"],
        reference_fails: &[
            "logical_access::serial_login_required",
            "device_configuration::unauthenticated_write",
            "state_awareness::state_read_requires_auth",
            "state_awareness::log_clear_requires_auth",
            "software_update::unauthenticated_update",
        ],
        not_applicable: &[
            // No network side.
            "device_identification::identifier_write_refused",
            "logical_access::open_ports",
            "logical_access::metadata_leakage",
            "logical_access::disabled_interface_stays_disabled",
            "data_protection::passive_traffic",
            "data_protection::cleartext_credentials",
            "data_protection::tls_server",
            "data_protection::tls_client_mitm",
            "data_protection::tls_client_chain_validation",
            "data_protection::tls_downgrade",
            "data_protection::unauthenticated_erase",
            "state_awareness::remote_logging",
            // No login, so no password to guess, change or see refused.
            "logical_access::default_credentials",
            "logical_access::password_change",
            "logical_access::brute_force_lockout",
            "state_awareness::failed_login_logged",
        ],
        flaws: &[
            (
                "config-not-persisted",
                &["device_configuration::authorized_change"],
            ),
            (
                "identifier-changes-on-reboot",
                &[
                    "device_identification::identifier_immutable",
                    "device_identification::physical_identifier",
                ],
            ),
        ],
    },
    // The label's own per-unit password (rotating at a factory reset) and
    // interactive password-change and factory-reset dialogues.
    ShapeRows {
        shapes: &["rotating-label"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[
            (
                "factory-reset-keeps-credentials",
                &["device_configuration::factory_reset"],
            ),
            (
                "password-change-keeps-old",
                &["logical_access::password_change"],
            ),
        ],
    },
    // No lockout declared: AU-04 still guesses, and sees the slowing.
    ShapeRows {
        shapes: &["undeclared-lockout"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[("no-lockout", &["logical_access::brute_force_lockout"])],
    },
    // Update paths: each shape leaves one path. Every forgery goes through
    // it: the reference build refuses each, and each bootloader flaw FAILs
    // exactly its checks through that path, as on the reference board.
    ShapeRows {
        shapes: &["console-upload"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[
            (
                "console-upload-unauthenticated",
                &["software_update::unauthenticated_update"],
            ),
            BOOTLOADER_UNSIGNED,
            BOOTLOADER_ANY_KEY,
            BOOTLOADER_SKIPS_HASH,
            BOOTLOADER_HANGS,
            ROLLBACK_ALLOWED,
        ],
    },
    ShapeRows {
        shapes: &["smp-udp-update"],
        // MCUmgr's UDP transport has no authentication (CONTRACT.md).
        reference_fails: &["software_update::unauthenticated_update"],
        not_applicable: &[],
        flaws: &[
            BOOTLOADER_UNSIGNED,
            BOOTLOADER_ANY_KEY,
            BOOTLOADER_SKIPS_HASH,
            BOOTLOADER_HANGS,
            ROLLBACK_ALLOWED,
        ],
    },
    ShapeRows {
        shapes: &["http-upload-only"],
        reference_fails: &[],
        not_applicable: &[],
        flaws: &[
            (
                "http-upload-unauthenticated",
                &["software_update::unauthenticated_update"],
            ),
            BOOTLOADER_UNSIGNED,
            BOOTLOADER_ANY_KEY,
            BOOTLOADER_SKIPS_HASH,
            BOOTLOADER_HANGS,
            ROLLBACK_ALLOWED,
        ],
    },
    // A camera the lab reaches only through its plain-HTTP API: no console
    // wired (`no-console`), its one update path the multipart upload on
    // that API. Settings, the event log, a failed login, the degraded
    // state, brute force and the identity across power cycles all go over
    // the API; what stays NOT_APPLICABLE has only a console route today.
    ShapeRows {
        shapes: &["http-api", "http-upload-only", "no-console"],
        reference_fails: &[
            "data_protection::cleartext_credentials",
            "data_protection::passive_traffic",
        ],
        not_applicable: &[
            "logical_access::serial_login_required",
            "logical_access::password_change",
            "data_protection::tls_server",
            "state_awareness::reported_image_matches",
            "device_configuration::factory_reset",
        ],
        flaws: &[
            (
                "no-security-logging",
                &[
                    "state_awareness::failed_login_logged",
                    "state_awareness::log_clear_requires_auth",
                    "state_awareness::remote_logging",
                ],
            ),
            (
                "identifier-changes-on-reboot",
                &[
                    "device_identification::identifier_immutable",
                    "device_identification::physical_identifier",
                ],
            ),
            // One update path: the setting is lost only at a restart after
            // the attempt, so SU-14 holds (as on `http-api`).
            (
                "config-not-persisted",
                &["device_configuration::authorized_change"],
            ),
            (
                "no-degraded-state",
                &["state_awareness::degraded_state_reported"],
            ),
            ("no-lockout", &["logical_access::brute_force_lockout"]),
            (
                "disable-not-persisted",
                &["logical_access::disabled_interface_stays_disabled"],
            ),
            (
                "update-setting-ignored",
                &["software_update::update_setting_enforced"],
            ),
            (
                "tls-accepts-untrusted",
                &[
                    "data_protection::tls_client_mitm",
                    "data_protection::tls_client_chain_validation",
                ],
            ),
            (
                "http-upload-unauthenticated",
                &["software_update::unauthenticated_update"],
            ),
        ],
    },
];

/// Starts one board with `shapes` and `flaw` (None: the shape's reference
/// build) at `index`; returns its board file.
fn up(rack: &Rack, index: u32, shapes: &[&str], flaw: Option<&str>) -> PathBuf {
    let mut cmd = Command::new(sim_binary());
    cmd.args([
        "up",
        "--count",
        "1",
        "--fresh",
        "--base-index",
        &index.to_string(),
        "--runtime-dir",
    ])
    .arg(rack.runtime.path());
    if let Some(flaw) = flaw {
        cmd.args(["--flaw", flaw]);
    }
    for shape in shapes {
        cmd.args(["--shape", shape]);
    }
    let out = cmd
        .output()
        .expect("hilt-sim runs (cargo build --workspace --bins first)");
    assert!(
        out.status.success(),
        "hilt-sim up {flaw:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = stdout
        .lines()
        .find_map(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no board file printed: {stdout}"));
    PathBuf::from(file)
}

/// One group of boards: a shape's reference build and its flawed builds.
struct Group {
    /// `reference` for the plain reference board, else the shapes joined by `+`.
    name: String,
    shapes: Vec<&'static str>,
    reference_fails: BTreeSet<&'static str>,
    not_applicable: BTreeSet<&'static str>,
    flaws: Vec<(&'static str, &'static [&'static str])>,
}

fn groups() -> Vec<Group> {
    let mut groups = vec![Group {
        name: "reference".into(),
        shapes: Vec::new(),
        reference_fails: BTreeSet::new(),
        not_applicable: BTreeSet::new(),
        flaws: MATRIX.to_vec(),
    }];
    for rows in SHAPES {
        groups.push(Group {
            name: rows.shapes.join("+"),
            shapes: rows.shapes.to_vec(),
            reference_fails: rows.reference_fails.iter().copied().collect(),
            not_applicable: rows.not_applicable.iter().copied().collect(),
            flaws: rows.flaws.to_vec(),
        });
    }
    groups
}

/// A board's label in the matrix: `reference`, `<flaw>`, `<shape>` or `<shape>/<flaw>`.
fn label(group: &Group, flaw: Option<&str>) -> String {
    match (group.name.as_str(), flaw) {
        ("reference", None) => "reference".into(),
        ("reference", Some(flaw)) => flaw.into(),
        (shape, None) => shape.into(),
        (shape, Some(flaw)) => format!("{shape}/{flaw}"),
    }
}

#[test]
fn every_check_catches_its_flaw_and_nothing_else() {
    let rack = Rack {
        runtime: tempfile::tempdir().expect("tempdir"),
    };
    let groups = groups();
    let count: usize = groups.iter().map(|g| 1 + g.flaws.len()).sum();
    // The board index is the third octet of its link (198.18.<index>.0/24),
    // and the simulator takes 0..=253. Test binaries run one after another,
    // so the simulator's own tests never run beside this one.
    // HILT_FLAW_BASE moves the block (to run beside boards held elsewhere).
    let base: u32 = std::env::var("HILT_FLAW_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(254 - count as u32);
    let mut boards: Vec<(String, PathBuf)> = Vec::new();
    for group in &groups {
        let index = base + boards.len() as u32;
        boards.push((label(group, None), up(&rack, index, &group.shapes, None)));
        for (flaw, _) in &group.flaws {
            let index = base + boards.len() as u32;
            boards.push((
                label(group, Some(flaw)),
                up(&rack, index, &group.shapes, Some(flaw)),
            ));
        }
    }
    let out_dir = rack.runtime.path().join("out");
    let mut args: Vec<String> = vec![
        "run".into(),
        "--suite".into(),
        "nistir-8259a".into(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    for (_, file) in &boards {
        args.push("-b".into());
        args.push(file.display().to_string());
    }
    // A board's suite waits far more than it computes (about 3 s of CPU
    // for hilt and the simulator in a 85 s suite, measured), so twelve
    // boards at a time still leave the two cores idle most of the time:
    // 91 boards took 1332 s with twelve under a load average of 15 from
    // other builds, against 1624 s with six on a shorter suite.
    args.extend([
        "--".into(),
        "--test-threads".into(),
        std::env::var("HILT_FLAW_THREADS").unwrap_or_else(|_| "12".into()),
        "--quiet".into(),
    ]);
    let started = std::time::Instant::now();
    let run = Command::new(HILT)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("hilt runs");
    let elapsed = started.elapsed();
    let run_dir = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .flatten()
        .next()
        .expect("a run folder")
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("record.json")).expect("record"))
            .expect("JSON");
    assert_eq!(
        record["complete"],
        true,
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // verdicts[board label][check] = verdict
    let name_of: BTreeMap<String, String> = boards
        .iter()
        .map(|(label, file)| {
            let text = std::fs::read_to_string(file).expect("board file");
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("board: "))
                .expect("board name")
                .trim()
                .to_string();
            (name, label.clone())
        })
        .collect();
    let mut verdicts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut reasons: BTreeMap<(String, String), String> = BTreeMap::new();
    for trial in record["trials"].as_array().expect("trials") {
        let board = trial["board"].as_str().unwrap_or_default();
        let label = name_of
            .get(board)
            .cloned()
            .unwrap_or_else(|| board.to_string());
        let check = trial["check"].as_str().unwrap_or_default().to_string();
        let verdict = trial["verdict"].as_str().unwrap_or_default().to_string();
        reasons.insert(
            (label.clone(), check.clone()),
            trial["reason"].as_str().unwrap_or_default().to_string(),
        );
        verdicts.entry(label).or_default().insert(check, verdict);
    }

    let mut problems = Vec::new();
    let mut table = String::from(
        "| board | checks that FAIL | other verdicts as on its shape's reference board |\n|---|---|---|\n",
    );
    for group in &groups {
        let reference_label = label(group, None);
        let reference = verdicts.get(&reference_label).cloned().unwrap_or_default();
        if reference.is_empty() {
            problems.push(format!("{reference_label}: no results"));
        }
        let mut reference_failed = BTreeSet::new();
        for (check, verdict) in &reference {
            let expected_fail = group.reference_fails.contains(check.as_str());
            let expected_na = group.not_applicable.contains(check.as_str());
            let ok = match verdict.as_str() {
                "FAIL" => expected_fail,
                "NOT_APPLICABLE" => expected_na,
                "PASS" | "DECLARED" => !expected_fail && !expected_na,
                _ => false,
            };
            if verdict == "FAIL" {
                reference_failed.insert(check.clone());
            }
            if !ok {
                problems.push(format!(
                    "{reference_label}: {check} is {verdict} ({})",
                    reasons[&(reference_label.clone(), check.clone())]
                ));
            }
        }
        for check in &group.reference_fails {
            if !reference.contains_key(*check) {
                problems.push(format!("{reference_label}: {check} did not run"));
            }
        }
        table.push_str(&format!(
            "| {reference_label} | {} | (reference) |\n",
            reference_failed
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (flaw, expected) in &group.flaws {
            let board = label(group, Some(flaw));
            let expected: BTreeSet<&str> = expected
                .iter()
                .copied()
                .chain(group.reference_fails.iter().copied())
                .collect();
            let got = verdicts.get(&board).cloned().unwrap_or_default();
            let failed: BTreeSet<&str> = got
                .iter()
                .filter(|(_, v)| *v == "FAIL")
                .map(|(c, _)| c.as_str())
                .collect();
            if failed != expected {
                problems.push(format!(
                    "{board}: FAIL set {failed:?}, expected {expected:?}"
                ));
            }
            let mut others_same = true;
            for (check, verdict) in &got {
                if expected.contains(check.as_str()) {
                    continue;
                }
                if reference.get(check) != Some(verdict) {
                    others_same = false;
                    problems.push(format!(
                        "{board}: {check} is {verdict} (reference {:?}): {}",
                        reference.get(check),
                        reasons[&(board.clone(), check.clone())]
                    ));
                }
            }
            table.push_str(&format!(
                "| {board} | {} | {} |\n",
                failed.iter().cloned().collect::<Vec<_>>().join(", "),
                if others_same { "yes" } else { "NO" }
            ));
        }
    }
    println!(
        "flaw matrix: {} boards, {} trials, {:.0} s\n{table}",
        boards.len(),
        record["trials"].as_array().map_or(0, Vec::len),
        elapsed.as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "flaw matrix mismatches:\n{}\n\n{table}",
        problems.join("\n")
    );
}
