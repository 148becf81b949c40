//! The console driver against a real console: Debian's `/bin/login` behind
//! socat on a PTY (nobody here wrote either). Needs root (it adds a
//! throwaway user) and socat; CI runs as root and installs socat.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hilt_harness::board::{ConsoleDecl, LineEnding, Secret, SerialWiring};
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::evidence::EvidenceSink;
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::Console;
use support::pty_device::empty_logins_in;

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

/// The host's name: Debian's prompt is `<host> login: `.
fn host_name() -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) };
    assert_eq!(rc, 0, "gethostname");
    // SAFETY: gethostname NUL-terminates within the buffer on success.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_string_lossy().into_owned()
}

/// Debian's dialogue, as a board file would declare it: the login prompt
/// with the host name (anchored, so `Last login: ...` is no prompt).
fn decl() -> ConsoleDecl {
    ConsoleDecl {
        login: Some(format!("{} login: ", regex::escape(&host_name()))),
        password: Some("Password: ".into()),
        prompt: r"\$ ".into(),
        failure: Some("Login incorrect".into()),
        account: None,
        logout: "exit".into(),
        change_password: None,
        reboot: None,
        settle_ms: 250,
        wake: Default::default(),
        autoboot: None,
    }
}

fn open(link: &Path) -> Console {
    let wiring = SerialWiring {
        port: Some(link.to_path_buf()),
        tcp: None,
        unix: None,
        rfc2217: false,
        baud: 115_200,
        line_ending: LineEnding::Cr,
    };
    Console::open(
        &wiring,
        Path::new("/"),
        StopSignal::after(Duration::from_secs(60)),
    )
    .expect("open PTY")
}

#[test]
fn logs_in_to_real_bin_login_and_keeps_the_transcript() {
    let password = "Hilt-test-pw-4417";
    let user = ThrowawayUser::create(password);
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("console");
    let socat = start_login_console(&link);
    let mut console = open(&link);
    let secret = Secret::from_guess(password);
    let step = Duration::from_secs(10);

    // A wrong password is refused by login(1) itself.
    let wrong = Secret::from_guess("not-the-password");
    let outcome = dialogue::login(&mut console, &decl(), &user.0, &wrong, step).expect("dialogue");
    assert!(matches!(outcome, LoginOutcome::Rejected(_)), "{outcome:?}");

    // The right one opens a shell; a command's output comes back.
    let outcome = dialogue::login(&mut console, &decl(), &user.0, &secret, step).expect("dialogue");
    assert_eq!(outcome, LoginOutcome::LoggedIn, "{}", console.transcript());
    let whoami = dialogue::command(&mut console, &decl(), "id -un", step).expect("command");
    assert_eq!(whoami.trim(), user.0);
    let first = console.transcript();
    console.send_line("exit").expect("exit");
    drop(console);
    drop(socat);

    // A second session: now login(1) prints `Last login: ... on pts/N`
    // (and the message of the day) before the shell prompt.
    let link = dir.path().join("console2");
    let _socat = start_login_console(&link);
    let mut console = open(&link);
    let outcome = dialogue::login(&mut console, &decl(), &user.0, &secret, step).expect("dialogue");
    assert_eq!(outcome, LoginOutcome::LoggedIn, "{}", console.transcript());
    let whoami = dialogue::command(&mut console, &decl(), "id -un", step).expect("command");
    assert_eq!(whoami.trim(), user.0, "{}", console.transcript());
    let second = console.transcript();
    assert!(second.contains("Last login: "), "{second}");

    // The transcripts are evidence: saved, hashed, without the password,
    // and with no empty line sent at a login prompt.
    let mut sink = EvidenceSink::new(dir.path(), "host", "login::real", vec![secret.clone()]);
    sink.text("console-1.log", "text/plain", "transcript", &first)
        .expect("saved");
    sink.text("console-2.log", "text/plain", "transcript", &second)
        .expect("saved");
    let records = sink.into_records();
    let saved: Vec<String> = records
        .iter()
        .map(|r| std::fs::read_to_string(dir.path().join(&r.path)).expect("read back"))
        .collect();
    assert!(
        saved[0].contains("login: ") && saved[0].contains("Login incorrect"),
        "{}",
        saved[0]
    );
    for text in &saved {
        assert!(text.contains(&user.0));
        assert!(!text.contains(password), "password in transcript");
        assert_eq!(empty_logins_in(text), Vec::<String>::new(), "{text}");
    }
    assert_eq!(records[0].sha256.len(), 64);
}
