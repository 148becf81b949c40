//! Secrets stay out of every output, whatever form a device echoes them
//! in, and device text reaches the terminal and JUnit with its control
//! characters escaped. Against PTY test devices: through the `hilt` binary
//! with the shipped checks, and through the runner with a check that
//! quotes hostile device output verbatim.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/pty_device.rs"]
mod pty_device;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::runner::{self, RunConfig};
use hilt_harness::suite::Suite;
use hilt_harness::{Check, CheckError, CheckMeta, Finding};
use hilt_reports::reporter::{JunitFile, LibtestLines, RecordFile, Reporters};
use pty_device::{board_file, Behaviour, Echo, PtyDevice};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");
const PASSWORD_ENV: &str = "HILT_SECRETS_TEST_PASSWORD";
/// Quote, backslash, percent, ampersand, angle bracket and space: each is
/// escaped by some encoder a device or hilt itself might use.
const SPECIAL: &str = "p\"a\\ss%&<w 0rd";

use hilt_cli::text;

fn suite(dir: &Path, checks: &[&str]) -> PathBuf {
    hilt_cli::write_suite(dir, "secrets", Some(90), checks)
}

fn hilt_run(dir: &Path, board: &Path, suite: &Path, password: &str) -> Output {
    Command::new(HILT)
        .args(["run", "-b", &board.display().to_string()])
        .args(["--suite", &suite.display().to_string()])
        .current_dir(dir)
        .env(PASSWORD_ENV, password)
        .output()
        .expect("hilt runs")
}

fn run_dir(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("hilt-out"))
        .expect("hilt-out exists")
        .flatten()
        .next()
        .expect("one run folder")
        .path()
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Every form of `secret` a device or a renderer could produce, worked out
/// here independently of hilt's scrubber.
fn forms(secret: &str) -> Vec<(String, Vec<u8>)> {
    let b = secret.as_bytes();
    let json = serde_json::to_string(secret).expect("json");
    let debug = format!("{secret:?}");
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("plain".into(), b.to_vec()),
        ("json".into(), json.trim_matches('"').as_bytes().to_vec()),
        ("debug".into(), debug.trim_matches('"').as_bytes().to_vec()),
        (
            "url upper".into(),
            b.iter()
                .map(|c| format!("%{c:02X}"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "url lower".into(),
            b.iter()
                .map(|c| format!("%{c:02x}"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "url form".into(),
            b.iter()
                .map(|&c| match c {
                    b' ' => "+".to_string(),
                    c if c.is_ascii_alphanumeric() => (c as char).to_string(),
                    c => format!("%{c:02X}"),
                })
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "xml".into(),
            secret
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('"', "&quot;")
                .into_bytes(),
        ),
        ("hex lower".into(), hex_lower(b).into_bytes()),
        ("hex upper".into(), hex_lower(b).to_uppercase().into_bytes()),
    ];
    for (name, engine) in [
        ("base64", base64::engine::general_purpose::STANDARD),
        ("base64url", base64::engine::general_purpose::URL_SAFE),
    ] {
        for prefix in ["", "a", "ab"] {
            let mut plain = prefix.as_bytes().to_vec();
            plain.extend_from_slice(b);
            let encoded = engine.encode(&plain);
            // The characters fixed by the secret's bytes alone.
            let first = (prefix.len() * 8).div_ceil(6);
            let last = (prefix.len() + b.len()) * 8 / 6;
            out.push((
                format!("{name} at offset {}", prefix.len()),
                encoded.as_bytes()[first..last].to_vec(),
            ));
        }
    }
    out
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// No form of `secret` in any file of the run, nor in what hilt printed.
fn assert_absent(secret: &str, run: &Path, printed: &[u8]) -> usize {
    let mut checked = 0;
    let mut sources: Vec<(String, Vec<u8>)> = vec![("output".into(), printed.to_vec())];
    for path in files(run) {
        let bytes = std::fs::read(&path).expect("read");
        sources.push((path.display().to_string(), bytes));
    }
    for (name, bytes) in &sources {
        for (form, needle) in forms(secret) {
            assert!(
                !contains(bytes, &needle),
                "{form} form of the secret in {name}"
            );
        }
        if name.contains("console-") {
            assert_no_echo(secret, name, bytes);
        }
        checked += 1;
    }
    checked
}

/// A console transcript's received bytes, put back together across lines
/// and with what a console puts between echoed characters removed, do
/// not spell the secret.
fn assert_no_echo(secret: &str, name: &str, transcript: &[u8]) {
    let mut received = Vec::new();
    for line in text(transcript).lines() {
        if let Some((_, rest)) = line.split_once(" < ") {
            received.extend(unescape(rest));
        }
    }
    let drop = |b: &u8| !matches!(b, b'\r' | b'\n' | b' ' | 0x08 | 0x7f);
    let squeezed: Vec<u8> = received.iter().copied().filter(drop).collect();
    let skeleton: Vec<u8> = secret.bytes().filter(drop).collect();
    assert!(
        !contains(&squeezed, &skeleton),
        "the echoed secret can be read back from {name}"
    );
}

/// Reverses the transcript's escaping (`\\`, `\n`, `\r`, `\xNN`).
fn unescape(line: &str) -> Vec<u8> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => (out.push(b'\\'), i += 2).1,
            (b'\\', Some(b'n')) => (out.push(b'\n'), i += 2).1,
            (b'\\', Some(b'r')) => (out.push(b'\r'), i += 2).1,
            (b'\\', Some(b'x')) if i + 4 <= b.len() => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("3f");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => (out.push(c), i += 1).1,
        }
    }
    out
}

/// JUnit is well-formed XML 1.0: no character XML cannot carry, and a
/// parser reads it to the end. Returns its text content.
fn parsed_junit(path: &Path) -> String {
    let xml = std::fs::read_to_string(path).expect("junit is UTF-8");
    for c in xml.chars() {
        let n = c as u32;
        let allowed = matches!(c, '\t' | '\n' | '\r') || (n >= 0x20 && !(0x7f..=0x9f).contains(&n));
        assert!(allowed, "control character U+{n:04X} in {}", path.display());
    }
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut texts = String::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e)) => {
                depth += 1;
                for a in e.attributes() {
                    let a = a.expect("attribute parses");
                    texts.push_str(&a.unescape_value().expect("attribute value"));
                    texts.push('\n');
                }
            }
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Text(t)) => {
                texts.push_str(&t.decode().expect("text"));
            }
            Ok(quick_xml::events::Event::CData(t)) => texts.push_str(&text(&t)),
            Ok(_) => {}
            Err(e) => panic!("junit does not parse: {e}\n{xml}"),
        }
    }
    assert_eq!(depth, 0, "every element closes");
    texts
}

fn record(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("record.json")).expect("record")).expect("json")
}

#[test]
fn a_special_password_echoed_byte_by_byte_reaches_no_output() {
    for echo in [Echo::ByteLines, Echo::Erased] {
        let dir = tempfile::tempdir().expect("tempdir");
        let device = PtyDevice::start(
            dir.path(),
            "dev",
            Behaviour {
                password: SPECIAL.into(),
                echo,
                ..Behaviour::default()
            },
        );
        let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
        let suite = suite(
            dir.path(),
            &[
                "logical_access::serial_login_required",
                "device_identification::logical_identifier",
                "logical_access::password_change",
                "logical_access::default_credentials",
            ],
        );
        let out = hilt_run(dir.path(), &board, &suite, SPECIAL);
        let mut printed = out.stdout.clone();
        printed.extend_from_slice(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{echo:?}: {}", text(&printed));
        let run = run_dir(dir.path());
        let checked = assert_absent(SPECIAL, &run, &printed);
        assert!(checked >= 6, "record, junit and transcripts ({checked})");
        parsed_junit(&run.join("junit.xml"));

        // AU-03 set a random password: recorded as such, never its value.
        let rec = record(&run);
        let change = rec["trials"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["catalogue_id"] == "AU-03"))
            .expect("AU-03 ran")
            .clone();
        assert_eq!(change["verdict"], "PASS", "{change}");
        assert_eq!(
            change["measurements"]["generated_password"],
            "a random password generated for this run (value not recorded)"
        );
        let transcripts: String = files(&run)
            .iter()
            .filter(|p| p.to_string_lossy().contains("password_change"))
            .map(|p| text(&std::fs::read(p).expect("read")))
            .collect();
        let sent_passwd: Vec<&str> = transcripts
            .lines()
            .filter(|l| l.contains(" > passwd"))
            .collect();
        assert_eq!(
            sent_passwd.len(),
            2,
            "change and change back: {transcripts}"
        );
        // The declared dialogue `passwd {new}`: the password's place shows
        // which placeholder it was, never the value.
        for line in sent_passwd {
            assert!(line.ends_with(" > passwd <new>\\r"), "{line}");
        }
    }
}

#[test]
fn a_default_credential_equal_to_the_declared_one_is_still_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(
        dir.path(),
        "dev",
        Behaviour {
            password: "admin".into(),
            echo: Echo::ByteLines,
            ..Behaviour::default()
        },
    );
    let board = board_file(dir.path(), "dev", &device, PASSWORD_ENV);
    let suite = suite(dir.path(), &["logical_access::default_credentials"]);
    let out = hilt_run(dir.path(), &board, &suite, "admin");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let run = run_dir(dir.path());
    let trial = record(&run)["trials"][0].clone();
    assert_eq!(trial["verdict"], "FAIL", "{trial}");
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("serial console accepted admin/admin"),
        "{reason}"
    );
    assert!(stdout.contains("admin/admin"), "{stdout}");
    assert!(parsed_junit(&run.join("junit.xml")).contains("serial console accepted admin/admin"));
    // The transcripts still mask the short, common secret everywhere.
    let mut transcripts = 0;
    for path in files(&run) {
        if path.to_string_lossy().contains("console-") {
            let log = text(&std::fs::read(&path).expect("read"));
            assert!(log.contains("<redacted>"), "{log}");
            assert!(!log.contains("admin"), "{}: {log}", path.display());
            assert_no_echo("admin", &path.display().to_string(), log.as_bytes());
            transcripts += 1;
        }
    }
    assert!(transcripts >= 1);
}

/// Logs in and quotes what `dump` prints, verbatim, in its reason,
/// observation, a measurement and an evidence file; as a finding or as an
/// error.
struct Quotes {
    meta: CheckMeta,
    as_error: bool,
}

impl Check for Quotes {
    fn meta(&self) -> &CheckMeta {
        &self.meta
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let decl = ctx.console_decl()?;
        let password = ctx.password("admin")?;
        let console = ctx.console()?;
        let step = Duration::from_secs(5);
        dialogue::login(console, &decl, "admin", &password, step)?;
        let said = dialogue::command(console, &decl, "dump", step)?;
        console.send_line("logout")?;
        ctx.evidence()
            .text("dump.txt", "text/plain", "what the device printed", &said)?;
        if self.as_error {
            return Err(CheckError::Board(format!("device said: {said}")));
        }
        Ok(Finding::fail(format!("device said: {said}"), said.clone()).with("said", &said))
    }
}

/// A check's metadata, cloned from a shipped check and renamed.
fn meta(name: &'static str) -> CheckMeta {
    let mut meta = hilt_suites::all()
        .iter()
        .find(|c| c.meta().catalogue_id == "AU-01")
        .expect("AU-01 exists")
        .meta()
        .clone();
    meta.name = name;
    meta.destructive = false;
    meta
}

/// What the hostile device prints for `dump`: the password in every form,
/// then an ANSI clear-screen, colour, DEL and C1 controls (as UTF-8 and as
/// raw bytes), and a line that pretends to be a passing test.
fn hostile_dump() -> Vec<u8> {
    let mut out = Vec::new();
    for (form, bytes) in forms(SPECIAL) {
        out.extend_from_slice(format!("{form}: ").as_bytes());
        out.extend_from_slice(&bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice("banner \u{1b}[2J\u{1b}[31mred\u{7f}\u{85}\u{9b}1m".as_bytes());
    out.extend_from_slice(b" raw \x85\x9b\x1b]0;title\x07\r\ntest dev::x ... ok");
    out
}

const CHILD_ENV: &str = "HILT_SECRETS_TEST_CHILD_DIR";

#[test]
fn hostile_device_text_is_scrubbed_and_escaped_in_terminal_record_and_junit() {
    // The runner prints to the process's stdout; a child process running
    // this same test captures it.
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_quoting_checks(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "hostile_device_text_is_scrubbed_and_escaped_in_terminal_record_and_junit",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .env(PASSWORD_ENV, SPECIAL)
        .output()
        .expect("child runs");
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    assert!(printed.contains("FAILED"), "{printed}");
    // The console strips ANSI sequences before a check sees the text;
    // what is left (DEL, C1 controls, BEL) is escaped.
    assert!(
        printed.contains("banner red\\x7f\\u{85}\\u{9b}1m"),
        "{printed}"
    );
    assert!(printed.contains("title\\x07\\ntest dev::x"), "{printed}");
    for c in ['\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{7}'] {
        assert!(
            !printed.contains(c),
            "{c:?} reached the terminal: {printed}"
        );
    }
    assert!(
        !printed.lines().any(|l| l.starts_with("test dev::x")),
        "device text faked a line: {printed}"
    );
    let run = run_dir(&dir.path().join("out-root"));
    let checked = assert_absent(SPECIAL, &run, &out.stdout);
    assert!(checked >= 5, "{checked}");
    let junit = parsed_junit(&run.join("junit.xml"));
    assert!(junit.contains("red\\x7f\\u{85}\\u{9b}1m"), "{junit}");
    assert!(junit.contains("device said:"), "{junit}");
    let rec = record(&run);
    let verdicts: Vec<&str> = rec["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .filter_map(|t| t["verdict"].as_str())
        .collect();
    assert_eq!(verdicts, ["FAIL", "INCONCLUSIVE"]);
}

fn run_quoting_checks(dir: &Path) {
    let device = PtyDevice::start(
        dir,
        "dev",
        Behaviour {
            password: SPECIAL.into(),
            command: Some(("dump".into(), hostile_dump())),
            ..Behaviour::default()
        },
    );
    let board = board_file(dir, "dev", &device, PASSWORD_ENV);
    let checks: Vec<Arc<dyn Check>> = vec![
        Arc::new(Quotes {
            meta: meta("quotes"),
            as_error: false,
        }),
        Arc::new(Quotes {
            meta: meta("quotes_in_error"),
            as_error: true,
        }),
    ];
    let ids: Vec<String> = checks.iter().map(|c| c.meta().id()).collect();
    let suite = Suite::load(
        &suite(
            dir,
            &["logical_access::quotes", "logical_access::quotes_in_error"],
        ),
        &ids,
    )
    .expect("suite loads");
    let config = RunConfig {
        boards: vec![Board::load(&board).expect("board loads")],
        suite,
        checks,
        rack_checks: Vec::new(),
        out_root: dir.join("out-root").join("hilt-out"),
        test_args: libtest_mimic::Arguments {
            test_threads: Some(1),
            ..Default::default()
        },
        filters: Vec::new(),
        command: vec!["test".into()],
        interrupted: hilt_harness::stop::Interruption::new(),
        restore: None,
        health: None,
        description: Default::default(),
    };
    // What the CLI prints: libtest's lines, then the run folder's files.
    let reporters = Reporters::new()
        .with(LibtestLines::new(&config.test_args))
        .with(RecordFile::default())
        .with(JunitFile::default());
    let outcome = runner::run(config, reporters).expect("run completes");
    assert_eq!(outcome.exit_code, 2);
}
