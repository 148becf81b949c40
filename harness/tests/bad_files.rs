//! Hostile or broken definition files: a device, a FIFO, an oversized
//! file, deep nesting and a suite listing a check twice are refused at
//! once with one error that names the file, line, column and field once.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hilt_harness::board::Board;
use hilt_harness::suite::Suite;
use hilt_harness::yaml::{DefinitionError, MAX_DEFINITION_BYTES, MAX_NESTING};

/// Longest a refusal may take; a regression that blocks (opening a FIFO,
/// reading `/dev/zero` to the end) fails here instead of hanging the run.
const AT_ONCE: Duration = Duration::from_secs(5);

fn known_checks() -> Vec<String> {
    vec!["a::one".to_string(), "a::two".to_string()]
}

/// Loads `file` as a board and as a suite on a helper thread and returns
/// both errors, failing the test if either load takes longer than `AT_ONCE`.
fn refuse_both(file: &Path) -> [DefinitionError; 2] {
    let (tx, rx) = mpsc::channel();
    let path = file.to_path_buf();
    let started = Instant::now();
    // Detached on purpose: if it blocks, the test fails and exits anyway.
    std::thread::spawn(move || {
        let board = Board::load(&path).map(|_| ());
        let suite = Suite::load(&path, &known_checks()).map(|_| ());
        let _ = tx.send((board, suite));
    });
    let (board, suite) = rx.recv_timeout(AT_ONCE).unwrap_or_else(|_| {
        panic!(
            "loading {} did not return within {AT_ONCE:?}",
            file.display()
        )
    });
    assert!(started.elapsed() < AT_ONCE);
    [
        board.expect_err("refused as a board file"),
        suite.expect_err("refused as a suite file"),
    ]
}

/// The display names the file once and carries no location text of the
/// parser's own ("at line", "column") besides the prefix.
fn assert_located_once(err: &DefinitionError) {
    let shown = err.to_string();
    let file = err.file.display().to_string();
    assert_eq!(shown.matches(&file).count(), 1, "file named once: {shown}");
    assert!(!err.message.contains(&file), "{shown}");
    for parser_location in [" at line ", "line ", "column "] {
        assert!(
            !err.message.contains(parser_location) || err.message.contains("already listed"),
            "location repeated in the message: {shown}"
        );
    }
    if let Some(field) = &err.field {
        // The message may name the key it is about, but not repeat the path as a prefix.
        assert!(!err.message.starts_with(&format!("{field}:")), "{shown}");
        let head = field.split(['.', '[']).next().unwrap_or(field);
        assert!(!err.message.starts_with(&format!("{head}:")), "{shown}");
    }
}

#[test]
fn dev_zero_is_refused_at_once() {
    for err in refuse_both(Path::new("/dev/zero")) {
        assert!(err.message.contains("a device"), "{err}");
        assert_located_once(&err);
    }
}

#[test]
fn a_fifo_is_refused_at_once_without_a_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("board.yaml");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    for err in refuse_both(&fifo) {
        assert!(err.message.contains("a FIFO"), "{err}");
        assert_eq!(err.file, fifo);
    }
}

#[test]
fn a_folder_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for err in refuse_both(dir.path()) {
        assert!(err.message.contains("a folder"), "{err}");
    }
}

#[test]
fn a_file_over_the_limit_is_refused_by_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.yaml");
    let mut text = "# padding\n".repeat((MAX_DEFINITION_BYTES / 10) as usize + 1);
    text.push_str("board: x\n");
    std::fs::write(&file, &text).expect("write");
    for err in refuse_both(&file) {
        assert!(
            err.message
                .contains(&format!("larger than {MAX_DEFINITION_BYTES} bytes")),
            "{err}"
        );
        assert_located_once(&err);
    }
}

#[test]
fn a_file_just_under_the_limit_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("suite.yaml");
    let mut text = "suite: s\ntitle: t\nchecks:\n  - check: a::one\n".to_string();
    let room = MAX_DEFINITION_BYTES as usize - text.len();
    text.push_str(&"#".repeat(room - 1));
    text.push('\n');
    assert_eq!(text.len() as u64, MAX_DEFINITION_BYTES);
    std::fs::write(&file, &text).expect("write");
    Suite::load(&file, &known_checks()).expect("a file of exactly the limit loads");
}

#[test]
fn deep_nesting_is_refused_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "flow.yaml",
            format!("{}{}\n", "[".repeat(200_000), "]".repeat(200_000)),
        ),
        (
            "maps.yaml",
            format!(
                "board: {}1{}\n",
                "{a: ".repeat(100_000),
                "}".repeat(100_000)
            ),
        ),
        (
            "block.yaml",
            (0..500).map(|d| format!("{}a:\n", " ".repeat(d))).collect(),
        ),
    ];
    for (name, text) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write");
        for err in refuse_both(&file) {
            assert!(
                err.message.contains(&format!("deeper than {MAX_NESTING}")),
                "{err}"
            );
            assert!(err.line.is_some() && err.column.is_some(), "{err}");
            assert_located_once(&err);
        }
    }
}

fn write_suite(text: &str) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("suite.yaml");
    std::fs::write(&file, text).expect("write");
    (file, dir)
}

#[test]
fn a_check_listed_twice_names_both_lines() {
    let (file, _dir) = write_suite(
        "suite: s\ntitle: t\nchecks:\n  - check: a::one\n  - check: a::two\n  - check: a::one\n    timeout_s: 9\n",
    );
    let err = Suite::load(&file, &known_checks()).expect_err("duplicate refused");
    assert_eq!((err.line, err.column), (Some(6), Some(5)), "{err}");
    assert_eq!(err.field.as_deref(), Some("checks[2].check"));
    assert!(err.message.contains("already listed at line 4"), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:6:5: field `checks[2].check`: check \"a::one\" is already listed at line 4 (checks[0]); list each check once",
            file.display()
        )
    );
}

#[test]
fn an_unknown_check_is_located_at_its_entry() {
    let (file, _dir) = write_suite(
        "suite: s\ntitle: t\n# a::three is not known\nchecks:\n  - check: a::one\n  -   check: a::three\n",
    );
    let err = Suite::load(&file, &known_checks()).expect_err("unknown refused");
    assert_eq!((err.line, err.column), (Some(6), Some(7)), "{err}");
    assert_located_once(&err);
}

/// Parser errors of several kinds: the location is the prefix only.
#[test]
fn parser_errors_name_the_location_once() {
    let texts = [
        "board: [unclosed\n",
        "board: x\nmodel: m\nhardware:\n  serial: { baud: fast }\n",
        "board: x\nmodel: m\nhardware: {}\nunknown: 1\n",
        "board: x\nhardware: {}\n",
        "board: x\nmodel: m\nhardware:\n  network: { address: 300.1.1.1 }\n",
        "board: x\nmodel: m\nhardware: {}\ndeclares:\n  accounts:\n    a: { password: hunter2 }\n",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (index, text) in texts.iter().enumerate() {
        let file = dir.path().join(format!("b{index}.yaml"));
        std::fs::write(&file, text).expect("write");
        let err = Board::load(&file).expect_err("refused");
        assert!(err.line.is_some(), "{err}");
        assert_located_once(&err);
    }
}

/// `declares.udp_probes`: a wrong entry is refused at its line, a good
/// one loads with its bytes.
#[test]
fn udp_probes_are_checked_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = "board: x\nmodel: m\nhardware: {}\ndeclares:\n  udp_probes:\n";
    let bad = [
        ("    - { port: 0 }\n", "from 1 to 65535"),
        ("    - { port: 9, payload: \"abc\" }\n", "even number"),
        ("    - { port: 9, payload: \"zz\" }\n", "hex digits"),
        ("    - { port: 9, service: gopher }\n", "unknown service"),
        (
            "    - { port: 9, service: coap, payload: \"00\" }\n",
            "exclusive",
        ),
    ];
    for (index, (entry, why)) in bad.iter().enumerate() {
        let file = dir.path().join(format!("u{index}.yaml"));
        std::fs::write(&file, format!("{head}{entry}")).expect("write");
        let err = Board::load(&file).expect_err("refused");
        assert_eq!(err.line, Some(6), "{err}");
        assert!(err.message.contains(why), "{err}");
        assert_located_once(&err);
    }
    let file = dir.path().join("good.yaml");
    std::fs::write(
        &file,
        format!("{head}    - {{ port: 30303, payload: \"48 49:4c 54\" }}\n    - {{ port: 5684, service: CoAP }}\n"),
    )
    .expect("write");
    let board = Board::load(&file).expect("loads");
    let probes = &board.spec.declares.udp_probes;
    assert_eq!(probes[0].payload_bytes(), Ok(b"HILT".to_vec()));
    assert_eq!(probes[1].service.as_deref(), Some("CoAP"));
}
