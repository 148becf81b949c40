//! The expect engine against a real console: Debian's `/bin/login` behind
//! socat on a PTY (nobody here wrote either). Needs root (it adds a
//! throwaway user) and socat; CI runs as root and installs socat.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hilt_harness::board::{ConsoleDecl, LineEnding, Secret, SerialWiring};
use hilt_harness::evidence::EvidenceSink;
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::{self, Console, LoginOutcome};

struct ThrowawayUser(String);

impl ThrowawayUser {
    fn create(password: &str) -> Self {
        let name = format!("hilt{}", std::process::id());
        let status = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd runs (tests run as root)");
        assert!(status.success(), "useradd {name}");
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd runs");
        use std::io::Write;
        chpasswd
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{name}:{password}\n").as_bytes())
            .expect("write");
        assert!(chpasswd.wait().expect("chpasswd").success());
        Self(name)
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

struct Socat(Child);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_login_console(link: &Path) -> Socat {
    let child = Command::new("socat")
        .arg(format!("pty,link={},raw,echo=0", link.display()))
        .arg("exec:/bin/login,pty,setsid,stderr,sigint,sane")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat runs (scripts/install-deps.sh installs it)");
    let started = Instant::now();
    while !link.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "socat made no PTY"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Socat(child)
}

fn decl() -> ConsoleDecl {
    ConsoleDecl {
        login: Some("login: ".into()),
        password: Some("Password: ".into()),
        prompt: "$ ".into(),
        account: None,
        logout: "exit".into(),
        settle_ms: 250,
    }
}

#[test]
fn logs_in_to_real_bin_login_and_keeps_the_transcript() {
    let password = "Hilt-test-pw-4417";
    let user = ThrowawayUser::create(password);
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("console");
    let _socat = start_login_console(&link);
    let wiring = SerialWiring {
        port: Some(link.clone()),
        tcp: None,
        rfc2217: false,
        baud: 115_200,
        line_ending: LineEnding::Cr,
    };
    let mut console = Console::open(
        &wiring,
        Path::new("/"),
        StopSignal::after(Duration::from_secs(60)),
    )
    .expect("open PTY");
    let secret = Secret::from_guess(password);

    // A wrong password is refused by login(1) itself.
    let wrong = Secret::from_guess("not-the-password");
    let outcome = serial::login(
        &mut console,
        &decl(),
        &user.0,
        &wrong,
        Duration::from_secs(10),
    )
    .expect("dialogue");
    assert!(matches!(outcome, LoginOutcome::Rejected(_)), "{outcome:?}");

    // The right one opens a shell; a command's output comes back.
    let outcome = serial::login(
        &mut console,
        &decl(),
        &user.0,
        &secret,
        Duration::from_secs(10),
    )
    .expect("dialogue");
    assert_eq!(outcome, LoginOutcome::LoggedIn, "{}", console.transcript());
    let whoami = console
        .command("id -un", "$ ", Duration::from_secs(5))
        .expect("command");
    assert_eq!(whoami.trim(), user.0);

    // The transcript is evidence: saved, hashed, and without the password.
    let mut sink = EvidenceSink::new(dir.path(), "host", "login::real", vec![secret.clone()]);
    sink.text(
        "console.log",
        "text/plain",
        "transcript",
        &console.transcript(),
    )
    .expect("saved");
    let records = sink.into_records();
    let saved = std::fs::read_to_string(dir.path().join(&records[0].path)).expect("read back");
    assert!(
        saved.contains("login: ") && saved.contains("Login incorrect"),
        "{saved}"
    );
    assert!(saved.contains(&user.0));
    assert!(!saved.contains(password), "password in transcript");
    assert_eq!(records[0].sha256.len(), 64);
}
