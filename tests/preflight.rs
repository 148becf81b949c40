//! A board file that names a missing or broken label, image, key, CA or
//! secret: the trials that need it are ERROR before anything is sent to
//! the device (the PTY device here counts every line it receives), with a
//! reason naming the board file and field, and `hilt board check` names
//! the same fields.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::Ordering;

use pty_device::{Behaviour, PtyDevice};

const PASSWORD_ENV: &str = "HILT_PREFLIGHT_PASSWORD";
const UNSET_ENV: &str = "HILT_PREFLIGHT_NEVER_SET";

fn hilt(args: &[&str], dir: &Path) -> Output {
    // UNSET_ENV is never set here: hilt must find it missing.
    assert!(std::env::var_os(UNSET_ENV).is_none());
    hilt_cli::hilt_with(args, dir, &[(PASSWORD_ENV, "correct-horse-7")])
}

/// A board file for `device` whose `declares` ends with `extra` (YAML
/// indented two spaces, under `declares:`), with `password` as the
/// account's secret reference.
fn board_file(dir: &Path, device: &PtyDevice, password: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"board: pre
model: PTY test device
hardware:
  serial: {{ port: {tty}, baud: 115200 }}
  network: {{ address: 198.18.30.2, host_address: 198.18.30.1 }}
declares:
  identity:
    logical:
      - console: {{ command: id, pattern: "device_id: (\\S+)" }}
    physical: label.txt
  accounts:
    admin: {{ password: "{password}" }}
  console: {{ login: "login: ", password: "Password: ", prompt: "dev> ", account: admin }}
  configuration: {{ parameter: p, test_value: "1", console: {{ get: "config get {{param}}", set: "config set {{param}} {{value}}" }} }}
  support: {{ end_of_support: 2031-12-31, vulnerability_contact: security@example.com }}
{extra}"#,
        tty = device.path.display()
    );
    let path = dir.join("board.yaml");
    std::fs::write(&path, text).expect("write board file");
    path
}

fn suite(dir: &Path, checks: &[&str]) -> PathBuf {
    hilt_cli::write_suite(dir, "preflight", None, checks)
}

/// Runs `suite` on `board` and returns (name, verdict, reason) per trial.
fn run(dir: &Path, board: &Path, suite: &Path) -> Vec<(String, String, String)> {
    let out_dir = dir.join("out");
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
        ],
        dir,
    );
    let run_dir = std::fs::read_dir(&out_dir)
        .unwrap_or_else(|e| {
            panic!(
                "no run folder ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .flatten()
        .next()
        .expect("a run folder")
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("record.json")).expect("record"))
            .expect("JSON");
    record["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (field("name"), field("verdict"), field("reason"))
        })
        .collect()
}

fn trial<'a>(trials: &'a [(String, String, String)], check: &str) -> &'a (String, String, String) {
    trials
        .iter()
        .find(|(name, _, _)| name == &format!("pre::{check}"))
        .unwrap_or_else(|| panic!("no trial {check} in {trials:?}"))
}

const PHYSICAL: &str = "device_identification::physical_identifier";
const UNSIGNED: &str = "software_update::unsigned_image";
const CHAIN: &str = "data_protection::tls_client_chain_validation";
const SUPPORT: &str = "non_technical::support_period";

/// Missing label, an image that does not parse, a key that does not load,
/// a test CA that is absent.
const BROKEN_FILES: &str = "  update: { mechanism: smp-serial, format: mcuboot, trusted_key: key.pem, golden: golden.bin }
  tls_clients:
    - { purpose: telemetry, server_parameter: s, server_name: t.test, test_ca: { cert: ca.pem, key: ca.key } }
";

#[test]
fn broken_references_are_error_before_any_device_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "pre", Behaviour::default());
    std::fs::write(dir.path().join("golden.bin"), b"not an image at all").expect("golden");
    std::fs::write(
        dir.path().join("key.pem"),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .expect("key");
    let board = board_file(
        dir.path(),
        &device,
        &format!("env:{PASSWORD_ENV}"),
        BROKEN_FILES,
    );
    let shown = board.display().to_string();

    let trials = run(
        dir.path(),
        &board,
        &suite(dir.path(), &[PHYSICAL, UNSIGNED, CHAIN, SUPPORT]),
    );
    let expect_error = |check: &str, fields: &[&str]| {
        let (_, verdict, reason) = trial(&trials, check);
        assert_eq!(verdict, "ERROR", "{check}: {reason}");
        assert!(
            reason.contains("nothing was sent to the device"),
            "{reason}"
        );
        for field in fields {
            assert!(
                reason.contains(&format!("{shown}: field `{field}`")),
                "{check} reason lacks {field}: {reason}"
            );
        }
    };
    expect_error(PHYSICAL, &["declares.identity.physical"]);
    expect_error(
        UNSIGNED,
        &["declares.update.golden", "declares.update.trusted_key"],
    );
    expect_error(
        CHAIN,
        &[
            "declares.tls_clients[0].test_ca.cert",
            "declares.tls_clients[0].test_ca.key",
        ],
    );
    let (_, verdict, reason) = trial(&trials, UNSIGNED);
    assert!(
        reason.contains("not an MCUboot image"),
        "{verdict}: {reason}"
    );
    // A check that needs none of them is judged as usual.
    assert_eq!(trial(&trials, SUPPORT).1, "DECLARED");
    assert_eq!(
        device.lines_seen.load(Ordering::SeqCst),
        0,
        "the device received input"
    );

    let out = hilt(&["board", "check", &shown], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for field in [
        "declares.identity.physical",
        "declares.update.golden",
        "declares.update.trusted_key",
        "declares.tls_clients[0].test_ca.cert",
        "declares.tls_clients[0].test_ca.key",
    ] {
        assert!(
            stdout.contains(&format!("error {shown}: field `{field}`")),
            "board check lacks {field}: {stdout}"
        );
    }
}

#[test]
fn an_unresolved_secret_or_device_ca_stops_every_trial_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "pre", Behaviour::default());
    std::fs::write(dir.path().join("label.txt"), "device_id: DEV-0001\n").expect("label");
    let board = board_file(
        dir.path(),
        &device,
        &format!("env:{UNSET_ENV}"),
        "  device_ca: absent-ca.pem\n",
    );
    let shown = board.display().to_string();
    let login = "logical_access::serial_login_required";
    let trials = run(dir.path(), &board, &suite(dir.path(), &[login, PHYSICAL]));
    for check in [login, PHYSICAL] {
        let (_, verdict, reason) = trial(&trials, check);
        assert_eq!(verdict, "ERROR", "{check}: {reason}");
        assert!(
            reason.contains(&format!(
                "{shown}: field `declares.accounts.admin.password`"
            )) && reason.contains(&format!("environment variable {UNSET_ENV} is not set")),
            "{reason}"
        );
        assert!(reason.contains("field `declares.device_ca`"), "{reason}");
    }
    assert_eq!(
        device.lines_seen.load(Ordering::SeqCst),
        0,
        "the device received input"
    );

    let out = hilt(&["board", "check", &shown], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("field `declares.accounts.admin.password`"),
        "{stdout}"
    );
    assert!(stdout.contains("field `declares.device_ca`"), "{stdout}");
}

#[test]
fn a_fifo_as_secret_or_label_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "pre", Behaviour::default());
    for name in ["label.txt", "password"] {
        let fifo = dir.path().join(name);
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    }
    let board = board_file(dir.path(), &device, "file:password", "");
    let started = std::time::Instant::now();
    let out = hilt(
        &["board", "check", &board.display().to_string()],
        dir.path(),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("field `declares.identity.physical`") && stdout.contains("a FIFO"),
        "{stdout}"
    );
    assert!(
        stdout.contains("field `declares.accounts.admin.password`"),
        "{stdout}"
    );
}
