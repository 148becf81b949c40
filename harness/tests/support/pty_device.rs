//! A PTY-backed test device: a real pseudo-terminal whose far end plays a
//! small login console, so the harness's serial path (open, termios,
//! reads, EIO when the device goes away) is exercised for real. Shared by
//! the harness's tests and the end-to-end tests of the binary.

#![allow(dead_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How the fake device behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Ask for user name and password before the shell.
    pub login: bool,
    pub user: String,
    pub password: String,
    /// Also accept admin/admin (a universal default password).
    pub default_admin: bool,
    /// Also accept root/root.
    pub default_root: bool,
    /// After a successful login, print a `Last login: ...` line and a
    /// message of the day before the prompt, as Debian's /bin/login does.
    pub last_login_motd: bool,
    pub id: String,
    /// Never answer anything (a hung device).
    pub silent: bool,
    /// Close the PTY after this many received lines (a device that dies).
    pub die_after_lines: Option<usize>,
    /// Delay before each answer.
    pub answer_delay: Duration,
    /// How typed characters are echoed.
    pub echo: Echo,
    /// Extra bytes in the boot log (hostile banners).
    pub banner: Vec<u8>,
    /// A shell command and the raw bytes it prints.
    pub command: Option<(String, Vec<u8>)>,
    /// After this many wrong passwords in a row, refuse every login (the
    /// right password too) for this long.
    pub lockout: Option<(u32, Duration)>,
}

/// How the device echoes what it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Each character as typed, except at the password prompt.
    Typed,
    /// Every character, the password's too, each on a line of its own
    /// and written on its own (so it arrives in a read of its own).
    ByteLines,
    /// Every character, the password's too, each at once erased again
    /// with backspace-space-backspace.
    Erased,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            login: true,
            user: "admin".into(),
            password: "correct-horse-7".into(),
            default_admin: false,
            default_root: false,
            last_login_motd: false,
            id: "DEV-0001".into(),
            silent: false,
            die_after_lines: None,
            answer_delay: Duration::ZERO,
            echo: Echo::Typed,
            banner: Vec::new(),
            command: None,
            lockout: None,
        }
    }
}

pub struct PtyDevice {
    /// Path of the terminal the harness opens (a symlink in a temp folder).
    pub path: PathBuf,
    /// The terminal's own `/dev/pts/N` path (for tools that refuse symlinks).
    pub pts: PathBuf,
    stop: Arc<AtomicBool>,
    pub lines_seen: Arc<AtomicUsize>,
    /// Empty user names received at the login prompt (each a failed
    /// login, as on a real /bin/login).
    pub empty_logins: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl PtyDevice {
    pub fn start(dir: &Path, name: &str, behaviour: Behaviour) -> Self {
        let (master, slave) = open_pty();
        let pts = tty_name(&slave);
        let path = dir.join(format!("{name}.tty"));
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&pts, &path).expect("symlink to pty");
        let pts = pts.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let lines_seen = Arc::new(AtomicUsize::new(0));
        let empty_logins = Arc::new(AtomicUsize::new(0));
        let counters = Counters {
            lines_seen: lines_seen.clone(),
            empty_logins: empty_logins.clone(),
        };
        let s = stop.clone();
        let thread = std::thread::spawn(move || serve(master, slave, behaviour, s, counters));
        Self {
            path,
            pts,
            stop,
            lines_seen,
            empty_logins,
            thread: Some(thread),
        }
    }
}

impl Drop for PtyDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    // SAFETY: openpty writes two fds into the given integers; null name,
    // termios and winsize pointers are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both fds were just returned by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // Raw mode: a device's UART has no line discipline of its own.
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave.as_raw_fd(), &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
    }
    (master, slave)
}

fn tty_name(fd: &OwnedFd) -> PathBuf {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is large enough for a /dev/pts path and NUL-terminated by ttyname_r.
    let rc = unsafe { libc::ttyname_r(fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    assert_eq!(rc, 0, "ttyname_r failed");
    // SAFETY: ttyname_r succeeded, so buf holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    PathBuf::from(name.to_string_lossy().into_owned())
}

fn write_all(fd: &OwnedFd, bytes: &[u8]) {
    let mut off = 0;
    while off < bytes.len() {
        // SAFETY: writing from a valid slice to a valid fd.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                bytes[off..].as_ptr().cast(),
                bytes.len() - off,
            )
        };
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}

enum State {
    User,
    Password(String),
    Shell,
}

/// What the device counts, for the test to read.
struct Counters {
    lines_seen: Arc<AtomicUsize>,
    empty_logins: Arc<AtomicUsize>,
}

/// Printed after a successful login when `last_login_motd` is set: a
/// Debian-style last-login line (whose `login: ` must not read as a login
/// prompt) and a message of the day.
const LAST_LOGIN: &str = "Last login: Sun Dec  6 18:01:02 UTC 2026 on pts/3\r\n";
const MOTD: &str = "\r\nThe programs included with the PTY test device are free software.\r\n\
login: is not a prompt in a message of the day\r\n\r\n";

fn serve(master: OwnedFd, slave: OwnedFd, b: Behaviour, stop: Arc<AtomicBool>, counters: Counters) {
    let Counters {
        lines_seen,
        empty_logins,
    } = counters;
    let say = |text: &str| {
        if !b.silent {
            std::thread::sleep(b.answer_delay);
            write_all(&master, text.as_bytes());
        }
    };
    say("\r\nU-Boot-ish boot log...\r\nfirmware 1.0.0\r\n");
    if !b.silent && !b.banner.is_empty() {
        write_all(&master, &b.banner);
    }
    // `passwd` changes it.
    let mut password = b.password.clone();
    let mut state = if b.login { State::User } else { State::Shell };
    let mut failures = 0u32;
    let mut locked_until: Option<std::time::Instant> = None;
    let prompt_for = |state: &State| match state {
        State::User => "login: ",
        State::Password(_) => "Password: ",
        State::Shell => "dev> ",
    };
    say(prompt_for(&state));
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: reading into a valid buffer from a valid fd.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        for &byte in &buf[..n as usize] {
            if byte == 0x03 {
                // Ctrl-C: drop the line and ask again.
                line.clear();
                say("^C\r\n");
                say(prompt_for(&state));
                continue;
            }
            if byte != b'\r' && byte != b'\n' {
                if line.len() < 4096 {
                    line.push(byte);
                }
                let typed = String::from_utf8_lossy(&[byte]).into_owned();
                match b.echo {
                    Echo::Typed if matches!(state, State::Password(_)) => {}
                    Echo::Typed => say(&typed),
                    Echo::ByteLines => {
                        std::thread::sleep(Duration::from_millis(2));
                        say(&format!("{typed}\r\n"));
                    }
                    Echo::Erased => say(&format!("{typed}\x08 \x08")),
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            let seen = lines_seen.fetch_add(1, Ordering::SeqCst) + 1;
            if b.die_after_lines.is_some_and(|limit| seen >= limit) {
                // The device goes away: both ends of its PTY close.
                drop(master);
                drop(slave);
                return;
            }
            say("\r\n");
            state = match state {
                State::User if text.is_empty() => {
                    // As /bin/login: an empty user name is a failed login.
                    empty_logins.fetch_add(1, Ordering::SeqCst);
                    say("Login incorrect\r\n");
                    State::User
                }
                State::User => State::Password(text),
                State::Password(user) => {
                    let genuine = user == b.user && text == password;
                    let default = (b.default_admin && user == "admin" && text == "admin")
                        || (b.default_root && user == "root" && text == "root");
                    let locked = locked_until.is_some_and(|t| std::time::Instant::now() < t);
                    if (genuine || default) && !locked {
                        failures = 0;
                        if b.last_login_motd {
                            // Written in pieces, as a slow UART delivers it:
                            // `Last login: ` may arrive on its own.
                            say("Last ");
                            std::thread::sleep(Duration::from_millis(30));
                            say("login: ");
                            std::thread::sleep(Duration::from_millis(30));
                            say(&LAST_LOGIN["Last login: ".len()..]);
                            say(MOTD);
                        }
                        State::Shell
                    } else {
                        if !locked {
                            failures += 1;
                        }
                        if let Some((limit, hold)) = b.lockout {
                            if failures >= limit {
                                failures = 0;
                                locked_until = Some(std::time::Instant::now() + hold);
                            }
                        }
                        say("Login incorrect\r\n");
                        State::User
                    }
                }
                State::Shell if text.starts_with("passwd ") => {
                    password = text["passwd ".len()..].to_string();
                    say("ok\r\n");
                    State::Shell
                }
                State::Shell if b.command.as_ref().is_some_and(|(c, _)| c == text.trim()) => {
                    if let Some((_, out)) = &b.command {
                        write_all(&master, out);
                        say("\r\n");
                    }
                    State::Shell
                }
                State::Shell => match text.trim() {
                    "id" => {
                        say(&format!("device_id: {}\r\n", b.id));
                        State::Shell
                    }
                    "logout" if b.login => State::User,
                    "" | "logout" => State::Shell,
                    other => {
                        say(&format!("unknown command: {other}\r\n"));
                        State::Shell
                    }
                },
            };
            say(prompt_for(&state));
        }
    }
}

/// The console declaration `board_file` writes.
pub const CONSOLE_WITH_LOGIN: &str = r#"{ login: "login: ", password: "Password: ", prompt: "dev> ", account: admin, change_password: "passwd {new}" }"#;

/// A board file for a PTY device, written into `dir`.
pub fn board_file(dir: &Path, name: &str, device: &PtyDevice, password_env: &str) -> PathBuf {
    board_file_with_console(dir, name, device, password_env, CONSOLE_WITH_LOGIN)
}

/// A board file for a PTY device with the given `declares.console` value
/// (YAML flow mapping).
pub fn board_file_with_console(
    dir: &Path,
    name: &str,
    device: &PtyDevice,
    password_env: &str,
    console: &str,
) -> PathBuf {
    let text = format!(
        r#"board: {name}
model: PTY test device
hardware:
  serial: {{ port: {tty}, baud: 115200 }}
declares:
  identity:
    logical:
      - console: {{ command: id, pattern: "device_id: (\\S+)" }}
  accounts:
    admin: {{ password: "env:{password_env}" }}
  console: {console}
  support: {{ end_of_support: 2031-12-31, vulnerability_contact: security@example.com }}
"#,
        tty = device.path.display()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write board file");
    path
}

/// Empty lines a console transcript (as hilt saves it: `+S.mmm < text`
/// from the device, `> text` to it, `\r` `\n` escaped) shows being sent
/// while the device's current output line ended with `login:`: each is an
/// empty user name. Returns the offending transcript lines.
pub fn empty_logins_in(transcript: &str) -> Vec<String> {
    let mut current_line = String::new();
    let mut found = Vec::new();
    for line in transcript.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(_at), Some(direction)) = (parts.next(), parts.next()) else {
            continue;
        };
        let body = parts.next().unwrap_or("");
        match direction {
            "<" => {
                let text = body.replace("\\r", "\r").replace("\\n", "\n");
                match text.rfind(['\r', '\n']) {
                    Some(at) => current_line = text[at + 1..].to_string(),
                    None => current_line.push_str(&text),
                }
            }
            ">" => {
                let empty = matches!(body, "\\r" | "\\n" | "\\r\\n" | "");
                if empty && current_line.trim_end().ends_with("login:") {
                    found.push(line.to_string());
                }
            }
            _ => {}
        }
    }
    found
}
