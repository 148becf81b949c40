//! Applicability follows the standard, not the declaration's completeness:
//! checks run, and judge, on devices whose board files leave out what the
//! check could once only read from a declaration.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pty_device::{board_file, Behaviour, PtyDevice};

use hilt_cli::text;
const PASSWORD_ENV: &str = "HILT_APPLIC_PASSWORD";
const PASSWORD: &str = "correct-horse-7";

fn hilt(args: &[&str], dir: &Path) -> Output {
    hilt_cli::hilt_with(args, dir, &[(PASSWORD_ENV, PASSWORD)])
}

fn suite(dir: &Path, check: &str) -> PathBuf {
    hilt_cli::write_suite(dir, "applic", Some(150), &[check])
}

/// Runs one check on one board file; the exit code and the trial's record.
fn run_one(dir: &Path, board: &Path, check: &str) -> (Option<i32>, serde_json::Value, String) {
    let suite = suite(dir, check);
    let out = hilt(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--suite",
            &suite.display().to_string(),
        ],
        dir,
    );
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let run = std::fs::read_dir(dir.join("hilt-out"))
        .expect("hilt-out exists")
        .flatten()
        .next()
        .expect("one run folder")
        .path();
    let bytes = std::fs::read(run.join("record.json")).expect("record.json");
    let record: serde_json::Value = serde_json::from_slice(&bytes).expect("record is JSON");
    (out.status.code(), record["trials"][0].clone(), shown)
}

fn au04_on(behaviour: Behaviour) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "dev", behaviour);
    // The PTY board file declares passwords and no lockout.
    let board = board_file(dir.path(), "plain-login", &device, PASSWORD_ENV);
    let yaml = std::fs::read_to_string(&board).expect("board file");
    assert!(!yaml.contains("lockout:"), "{yaml}");
    run_one(dir.path(), &board, "logical_access::brute_force_lockout")
}

#[test]
fn brute_force_without_declared_lockout_fails_a_device_that_never_slows() {
    let (code, trial, shown) = au04_on(Behaviour::default());
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{shown}");
    assert_eq!(code, Some(1), "{shown}");
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no lockout or delay"), "{reason}");
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(observed.contains("10 wrong attempts"), "{observed}");
    assert!(observed.contains("no lockout declared"), "{observed}");
}

#[test]
fn brute_force_without_declared_lockout_passes_a_device_that_locks() {
    let (code, trial, shown) = au04_on(Behaviour {
        lockout: Some((5, Duration::from_secs(4))),
        ..Behaviour::default()
    });
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{shown}");
    assert_eq!(code, Some(0), "{shown}");
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(
        observed.contains("right password right after: refused"),
        "{observed}"
    );
    assert!(observed.contains("logs in"), "{observed}");
    // The board was left as found: the lock was over when the check ended.
    assert_ne!(trial["board_left"]["restored"], false, "{trial:#}");
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// A manufacturer CA and a P-256 server certificate for 127.0.0.1 signed
/// by it, written into `dir` as ca.pem, server.pem and server.key.
fn certificates(dir: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hilt test CA",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .expect("extensions");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
}

/// A real TLS server (`openssl s_server`) on
/// 127.0.0.1; killed when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl TlsServer {
    /// `versions`: the s_server options that choose the protocol versions.
    fn start(dir: &Path, versions: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-cert", "server.pem"])
            .args(versions)
            .args([
                "-key",
                "server.key",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < until, "s_server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_server_judges_each_declared_tls_service_without_any_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    certificates(dir.path());
    let broker = TlsServer::start(dir.path(), &["-no_tls1", "-no_tls1_1"]);
    let custom = TlsServer::start(dir.path(), &["-no_tls1", "-no_tls1_1"]);
    // No console, no account, no HTTPS API: an MQTT broker over TLS and a
    // service whose name says nothing, marked as TLS.
    let board = dir.path().join("tls-only.yaml");
    std::fs::write(
        &board,
        format!(
            "board: tls-only\nmodel: TLS services only\nhardware:\n  network: {{ address: 127.0.0.1 }}\ndeclares:\n  device_ca: ca.pem\n  interfaces:\n    - {{ port: {}, service: mqtts, auth: none }}\n    - {{ port: {}, service: telemetry, tls: true }}\n",
            broker.port, custom.port
        ),
    )
    .expect("board file");
    let (code, trial, shown) = run_one(dir.path(), &board, "data_protection::tls_server");
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{shown}");
    assert_eq!(code, Some(0), "{shown}");
    let observed = trial["observed"].as_str().unwrap_or("");
    for service in [
        format!("mqtts on port {}", broker.port),
        format!("telemetry on port {}", custom.port),
    ] {
        assert!(observed.contains(&service), "{observed}");
    }
    // Each version on a connection of its own (s_server serves one at a time).
    for row in [
        "SSL 3.0: refused",
        "TLS 1.0: refused",
        "TLS 1.1: refused",
        "TLS 1.2: accepted",
    ] {
        assert!(observed.contains(row), "{row}: {observed}");
    }
}

#[test]
fn tls_server_fails_a_tls_service_that_still_accepts_tls_1_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    certificates(dir.path());
    let good = TlsServer::start(dir.path(), &["-no_tls1", "-no_tls1_1"]);
    let legacy = TlsServer::start(
        dir.path(),
        &["-min_protocol", "TLSv1", "-cipher", "DEFAULT@SECLEVEL=0"],
    );
    let board = dir.path().join("tls-legacy.yaml");
    std::fs::write(
        &board,
        format!(
            "board: tls-legacy\nmodel: TLS services only\nhardware:\n  network: {{ address: 127.0.0.1 }}\ndeclares:\n  device_ca: ca.pem\n  interfaces:\n    - {{ port: {}, service: https }}\n    - {{ port: {}, service: mqtts, auth: none }}\n",
            good.port, legacy.port
        ),
    )
    .expect("board file");
    let (code, trial, shown) = run_one(dir.path(), &board, "data_protection::tls_server");
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{shown}");
    assert_eq!(code, Some(1), "{shown}");
    // Only the second service is blamed, for TLS 1.0 and for TLS 1.1.
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with(&format!("mqtts on port {}: TLS 1.0 accepted", legacy.port)),
        "{trial:#}"
    );
    assert!(reason.contains("TLS 1.1 accepted"), "{trial:#}");
    assert!(!reason.contains(&good.port.to_string()), "{trial:#}");
}

#[test]
fn event_logging_names_what_it_tested_and_fails_a_log_that_stays_silent() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A console login and an event log that never changes; no API.
    let device = PtyDevice::start(
        dir.path(),
        "dev",
        Behaviour {
            command: Some(("log".into(), b"#1 2026-01-01T00:00:00Z boot".to_vec())),
            ..Behaviour::default()
        },
    );
    let board = board_file(dir.path(), "silent-log", &device, PASSWORD_ENV);
    let mut yaml = std::fs::read_to_string(&board).expect("board file");
    yaml.push_str("  logging: { event_log: { console: log } }\n");
    std::fs::write(&board, yaml).expect("board file");
    let (code, trial, shown) = run_one(dir.path(), &board, "state_awareness::failed_login_logged");
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{shown}");
    assert_eq!(code, Some(1), "{shown}");
    assert_eq!(
        trial["reason"].as_str().unwrap_or(""),
        "the failed login left no event in the log",
        "{trial:#}"
    );
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(observed.starts_with("tested: failed login;"), "{observed}");
    assert!(
        observed.contains("not tested: rejected update (no way declared to cause one); denied configuration change (no way declared to cause one)"),
        "{observed}"
    );
}
