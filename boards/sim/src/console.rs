//! The UART console on a PTY: boot log, login, the `sim> ` shell, and
//! MCUmgr SMP frames interleaved with shell input (as Zephyr's shell does).
//!
//! Input is hostile: lines and SMP packets are bounded, nothing panics.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::board::{Board, Control};
use crate::device::{self, Device};
use crate::device_api::{AuthResult, ConfigError, DeviceApi as _, Health};
use crate::{console_upload, smp};

pub const LOGIN_PROMPT: &str = "login: ";
pub const PASSWORD_PROMPT: &str = "Password: ";
pub const SHELL_PROMPT: &str = "sim> ";
const MAX_LINE: usize = 256;
const MAX_FRAME_LINE: usize = 1024;

/// The PTY master. Writes never block for long: output nobody reads is
/// dropped after a short wait, as bytes on an unconnected UART are lost.
pub struct ConsoleOut {
    master: OwnedFd,
    /// Held open so the master never sees a hangup when no client is attached.
    _slave: OwnedFd,
    pub slave_path: PathBuf,
    lock: Mutex<()>,
}

impl ConsoleOut {
    pub fn open() -> std::io::Result<ConsoleOut> {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        // SAFETY: openpty writes two fds into the provided ints; null name,
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
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just returned by openpty and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // Raw mode on the terminal side: the device echoes, not the tty layer.
        // SAFETY: termios is plain data; tcgetattr fills it before use.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::cfsetispeed(&mut t, libc::B115200);
                libc::cfsetospeed(&mut t, libc::B115200);
                libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
            }
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        let mut buf = vec![0u8; 256];
        // SAFETY: buf is writable for its length.
        let rc = unsafe { libc::ttyname_r(slave.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let slave_path = PathBuf::from(String::from_utf8_lossy(&buf[..end]).into_owned());
        Ok(ConsoleOut {
            master,
            _slave: slave,
            slave_path,
            lock: Mutex::new(()),
        })
    }

    pub fn write(&self, data: &[u8]) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut rest = data;
        let mut waits = 0;
        while !rest.is_empty() {
            // SAFETY: rest is a valid readable buffer.
            let n =
                unsafe { libc::write(self.master.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                rest = &rest[n as usize..];
                continue;
            }
            let err = std::io::Error::last_os_error();
            if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if waits >= 10 {
                return; // nobody is reading: the bytes are lost
            }
            waits += 1;
            poll_fd(self.master.as_raw_fd(), libc::POLLOUT, 50);
        }
    }

    pub fn print(&self, s: &str) {
        self.write(s.as_bytes());
    }

    /// Prints lines with CRLF endings.
    pub fn println(&self, s: &str) {
        let mut out = s.replace('\n', "\r\n");
        out.push_str("\r\n");
        self.write(out.as_bytes());
    }

    /// Reads what is available, waiting up to `timeout_ms`.
    fn read(&self, buf: &mut [u8], timeout_ms: i32) -> usize {
        if !poll_fd(self.master.as_raw_fd(), libc::POLLIN, timeout_ms) {
            return 0;
        }
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            n as usize
        } else {
            0
        }
    }

    pub fn link(&self, link: &Path) -> std::io::Result<()> {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&self.slave_path, link)
    }
}

fn poll_fd(fd: i32, events: i16, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    rc > 0 && (p.revents & events) != 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Login,
    Password {
        user: String,
    },
    Shell,
    /// Inside a shell command that asks back (logged in).
    Asking(Question),
}

/// What an interactive shell command (the `rotating-label` product's
/// `passwd` and `system factory-reset`) is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Question {
    OldPassword,
    NewPassword,
    Retype { new: String },
    ConfirmReset,
}

const OLD_PASSWORD_PROMPT: &str = "Old password: ";
const NEW_PASSWORD_PROMPT: &str = "New password: ";
const RETYPE_PROMPT: &str = "Retype: ";
const CONFIRM_RESET_PROMPT: &str = "Type YES to erase everything: ";

struct Session {
    generation: u64,
    device: Option<Arc<Device>>,
    state: State,
    line: Vec<u8>,
    line_overflow: bool,
    last_cr: bool,
    /// Inside an SMP frame line (started by 0x06 0x09 or 0x04 0x14).
    frame: Option<Vec<u8>>,
    pending_marker: Option<u8>,
    smp: smp::Reassembly,
    /// Shape `console-upload`: the image collected by `fw-upload`.
    upload: Vec<u8>,
}

impl Session {
    fn authenticated(&self) -> bool {
        matches!(self.state, State::Shell | State::Asking(_))
    }
}

/// Runs the console forever (the PTY outlives power cycles, as a USB-UART
/// adapter outlives the board it is wired to).
pub fn run(board: Arc<Board>) {
    let mut s = Session {
        generation: u64::MAX,
        device: None,
        state: State::Login,
        line: Vec::new(),
        line_overflow: false,
        last_cr: false,
        frame: None,
        pending_marker: None,
        smp: smp::Reassembly::default(),
        upload: Vec::new(),
    };
    let mut buf = [0u8; 4096];
    loop {
        let n = board.console.read(&mut buf, 100);
        let gen = board.generation.load(Ordering::SeqCst);
        if gen != s.generation {
            s.generation = gen;
            s.device = board.running();
            s.state = match &s.device {
                Some(d)
                    if d.behaviour.serial_no_login
                        || d.shape(crate::shapes::open_console::NAME) =>
                {
                    State::Shell
                }
                _ => State::Login,
            };
            s.line.clear();
            s.frame = None;
            s.pending_marker = None;
            s.smp = smp::Reassembly::default();
            s.upload = Vec::new();
        }
        let Some(dev) = s.device.clone().filter(|d| d.alive()) else {
            continue; // powered off or halted: input is lost
        };
        for &b in &buf[..n] {
            if board.generation.load(Ordering::SeqCst) != s.generation {
                break;
            }
            byte(&board, &dev, &mut s, b);
        }
    }
}

fn byte(board: &Board, dev: &Arc<Device>, s: &mut Session, b: u8) {
    // SMP frame detection at the start of a line.
    if let Some(frame) = s.frame.as_mut() {
        if b == b'\n' {
            let body = std::mem::take(frame);
            s.frame = None;
            let first = body.first() == Some(&0x09);
            let text = body.get(1..).unwrap_or(&[]);
            if let Some(pkt) = s.smp.push(first, text) {
                let authed = s.authenticated();
                let out = smp::handle(dev, &pkt, authed);
                if let Some(out) = out {
                    board.console.write(&out.frames);
                    if out.reset {
                        board.send(Control::Reboot {
                            delay: Duration::from_millis(100),
                        });
                    }
                }
            }
        } else if frame.len() < MAX_FRAME_LINE {
            frame.push(b);
        } else {
            s.frame = None; // oversize frame: dropped
        }
        return;
    }
    if let Some(m) = s.pending_marker.take() {
        if (m == 0x06 && b == 0x09) || (m == 0x04 && b == 0x14) {
            s.frame = Some(vec![b]);
            return;
        }
        // Not a frame after all: ignore the stray control byte.
    }
    let smp_here = crate::shapes::update::smp_on_console(|n| dev.manifest.has_shape(n));
    if smp_here && s.line.is_empty() && (b == 0x06 || b == 0x04) {
        s.pending_marker = Some(b);
        return;
    }
    let echo = !matches!(
        s.state,
        State::Password { .. }
            | State::Asking(
                Question::OldPassword | Question::NewPassword | Question::Retype { .. }
            )
    );
    match b {
        b'\r' | b'\n' => {
            if b == b'\n' && s.last_cr {
                s.last_cr = false;
                return;
            }
            s.last_cr = b == b'\r';
            board.console.print("\r\n");
            let overflow = std::mem::replace(&mut s.line_overflow, false);
            let line = String::from_utf8_lossy(&std::mem::take(&mut s.line)).into_owned();
            if overflow {
                board.console.println("error: line too long");
                reprompt(board, dev, s);
                return;
            }
            handle_line(board, dev, s, line.trim());
        }
        0x08 | 0x7f => {
            s.last_cr = false;
            if s.line.pop().is_some() && echo {
                board.console.print("\x08 \x08");
            }
        }
        0x03 => {
            // Ctrl-C: drop the line (and leave a command that asks back).
            s.line.clear();
            if matches!(s.state, State::Asking(_)) {
                s.state = State::Shell;
            }
            board.console.print("^C\r\n");
            reprompt(board, dev, s);
        }
        0x20..=0x7e => {
            s.last_cr = false;
            if s.line.len() < MAX_LINE {
                s.line.push(b);
                if echo {
                    board.console.write(&[b]);
                }
            } else {
                s.line_overflow = true;
            }
        }
        _ => {
            s.last_cr = false;
        }
    }
}

fn reprompt(board: &Board, dev: &Device, s: &Session) {
    board.console.print(match &s.state {
        State::Login => LOGIN_PROMPT,
        State::Password { .. } => PASSWORD_PROMPT,
        State::Shell => dev.shell_prompt(),
        State::Asking(q) => q.prompt(),
    });
}

impl Question {
    fn prompt(&self) -> &'static str {
        match self {
            Question::OldPassword => OLD_PASSWORD_PROMPT,
            Question::NewPassword => NEW_PASSWORD_PROMPT,
            Question::Retype { .. } => RETYPE_PROMPT,
            Question::ConfirmReset => CONFIRM_RESET_PROMPT,
        }
    }
}

/// One answer to an interactive command; the state after it.
fn answer(board: &Board, dev: &Arc<Device>, question: Question, line: &str) -> State {
    let c = &board.console;
    match question {
        Question::OldPassword => {
            if dev.admin_password_ok(line) {
                c.print(NEW_PASSWORD_PROMPT);
                State::Asking(Question::NewPassword)
            } else {
                dev.record(
                    crate::device_api::event_kind::LOGIN_FAILED,
                    4,
                    "console",
                    "user=admin: wrong old password for passwd",
                );
                c.println("passwd: authentication failed");
                c.print(dev.shell_prompt());
                State::Shell
            }
        }
        Question::NewPassword => {
            c.print(RETYPE_PROMPT);
            State::Asking(Question::Retype {
                new: line.chars().take(MAX_LINE).collect(),
            })
        }
        Question::Retype { new } => {
            if new != line {
                c.println("passwd: passwords do not match");
            } else {
                match dev.change_password(&new, "console") {
                    Ok(()) => c.println("passwd: password updated"),
                    Err(e) => c.println(&format!("passwd: {e}")),
                }
            }
            c.print(dev.shell_prompt());
            State::Shell
        }
        Question::ConfirmReset => {
            if line == "YES" {
                c.println("Factory reset: erasing configuration, accounts and logs...");
                let _ = dev.factory_reset(true, "console");
            } else {
                c.println("factory reset cancelled");
                c.print(dev.shell_prompt());
            }
            State::Shell
        }
    }
}

fn handle_line(board: &Board, dev: &Arc<Device>, s: &mut Session, line: &str) {
    match s.state.clone() {
        State::Login => {
            if line.is_empty() {
                board.console.print(LOGIN_PROMPT);
                return;
            }
            if dev.behaviour.console_upload_unauthenticated
                && dev
                    .manifest
                    .has_shape(crate::shapes::update::CONSOLE_UPLOAD)
                && console_upload::is_command(line)
            {
                // The flaw: the upload handler runs before the login check.
                let out = console_upload::run(dev, &mut s.upload, line, true);
                board.console.println(&out);
                board.console.print(LOGIN_PROMPT);
                return;
            }
            s.state = State::Password {
                user: line.chars().take(64).collect(),
            };
            board.console.print(PASSWORD_PROMPT);
        }
        State::Password { user } => match dev.authenticate(&user, line, "console") {
            AuthResult::Ok => {
                s.state = State::Shell;
                board
                    .console
                    .println(&format!("Welcome to {} ({})", dev.device_id(), dev.version));
                board.console.print(dev.shell_prompt());
            }
            AuthResult::Denied | AuthResult::LockedOut => {
                s.state = State::Login;
                board.console.println("Login incorrect");
                board.console.print(LOGIN_PROMPT);
            }
        },
        State::Asking(question) => {
            s.state = answer(board, dev, question, line);
        }
        State::Shell => {
            if !line.is_empty() {
                let keep = shell(board, dev, s, line);
                if !keep {
                    return;
                }
            }
            board.console.print(dev.shell_prompt());
        }
    }
}

const HELP: &str = "commands:
  id                      device identifier
  version                 firmware version and running image SHA-256
  status                  normal or degraded
  config get KEY          read a configuration value
  config set KEY VALUE    write a configuration value
  config list             all configuration values
  log                     security event log
  log clear               clear the event log
  passwd NEW              change the admin password
  reboot                  restart the device
  factory-reset           erase configuration, accounts and logs, then restart
  logout                  end the session
  help                    this text";

/// Runs one shell command. Returns false when no prompt should follow.
fn shell(board: &Board, dev: &Arc<Device>, s: &mut Session, line: &str) -> bool {
    let c = &board.console;
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let rotating = dev.shape(crate::shapes::rotating_label::NAME);
    if rotating {
        // This product's own commands: an interactive `passwd`, and
        // `system restart` / `system factory-reset` (which asks first).
        match (cmd, args.as_slice()) {
            ("passwd", []) => {
                c.print(OLD_PASSWORD_PROMPT);
                s.state = State::Asking(Question::OldPassword);
                return false;
            }
            ("system", ["restart"]) => {
                c.println("Restarting...");
                let _ = dev.reboot(true, "console");
                return false;
            }
            ("system", ["factory-reset"]) => {
                c.print(CONFIRM_RESET_PROMPT);
                s.state = State::Asking(Question::ConfirmReset);
                return false;
            }
            ("passwd", _) | ("reboot", _) | ("factory-reset", _) => {
                c.println(&format!(
                    "error: unknown command '{}' (try help)",
                    device::sanitize(line, 40)
                ));
                return true;
            }
            _ => {}
        }
    }
    match (cmd, args.as_slice()) {
        ("help", _) => c.println(HELP),
        ("id", []) => c.println(&format!("device_id: {}", dev.device_id())),
        ("version", []) => {
            c.println(&format!("version: {}", dev.version));
            c.println(&format!("image_sha256: {}", dev.reported_hash_hex()));
        }
        ("status", []) => {
            let st = dev.status();
            match st.health {
                Health::Normal => c.println("status: normal"),
                Health::Degraded => {
                    c.println("status: degraded");
                    for r in st.reasons {
                        c.println(&format!("reason: {r}"));
                    }
                }
            }
        }
        ("config", ["get", key]) => match dev.config_get(key) {
            Some(v) => c.println(&format!("{key}={v}")),
            None => c.println(&format!("error: unknown key {}", device::sanitize(key, 40))),
        },
        ("config", ["list"]) | ("config", []) => {
            for (k, v) in dev.config_all() {
                c.println(&format!("{k}={v}"));
            }
        }
        ("config", ["set", key, value @ ..]) => {
            let value = value.join(" ");
            match dev.config_set(key, &value, s.authenticated(), "console") {
                Ok(()) => c.println("ok"),
                Err(ConfigError::Unauthorized) => c.println("error: authentication required"),
                Err(e) => c.println(&format!("error: {e}")),
            }
        }
        ("log", []) => match dev.events(s.authenticated(), "console") {
            Ok(evs) => {
                if evs.is_empty() {
                    c.println("(no events)");
                }
                for e in evs {
                    c.println(&format!(
                        "#{} {} {} {} source={} {}",
                        e.seq,
                        rfc3339(e.time),
                        severity_name(e.severity),
                        e.kind,
                        e.source,
                        e.detail
                    ));
                }
            }
            Err(e) => c.println(&format!("error: {e}")),
        },
        ("log", ["clear"]) => match dev.clear_events(s.authenticated(), "console") {
            Ok(()) => c.println("ok"),
            Err(e) => c.println(&format!("error: {e}")),
        },
        ("passwd", [new]) => match dev.change_password(new, "console") {
            Ok(()) => c.println("ok"),
            Err(e) => c.println(&format!("error: {e}")),
        },
        ("reboot", []) => {
            c.println("Rebooting...");
            let _ = dev.reboot(true, "console");
            return false;
        }
        ("factory-reset", []) => {
            c.println("Factory reset: erasing configuration, accounts and logs...");
            let _ = dev.factory_reset(true, "console");
            return false;
        }
        ("logout", []) if dev.shape(crate::shapes::open_console::NAME) => {
            // Nothing to log out of: the console has no login.
        }
        ("logout", []) => {
            s.state = State::Login;
            c.print(LOGIN_PROMPT);
            return false;
        }
        _ if dev
            .manifest
            .has_shape(crate::shapes::update::CONSOLE_UPLOAD)
            && console_upload::is_command(line) =>
        {
            let authenticated = s.authenticated();
            c.println(&console_upload::run(
                dev,
                &mut s.upload,
                line,
                authenticated,
            ));
        }
        _ => c.println(&format!(
            "error: unknown command '{}' (try help)",
            device::sanitize(line, 40)
        )),
    }
    true
}

pub fn severity_name(s: u8) -> &'static str {
    match s {
        0 => "emerg",
        1 => "alert",
        2 => "crit",
        3 => "err",
        4 => "warning",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let rem = t % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    if m <= 2 {
        y += 1;
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}
