//! SSH: password logins (the `password` and `keyboard-interactive`
//! methods) through libssh2, and the server's identification string.
//!
//! One [`try_password`] is one connection: key exchange, the server's
//! method list for the user (a `none` request), then the password by every
//! password-bearing method the server offers, then a disconnect. It never
//! opens a channel, so an accepted login runs nothing on the device.
//!
//! What a server says is hostile: its identification string, method names
//! and keyboard-interactive prompts are kept lossily decoded, stripped of
//! control characters and cut short; the method list is read through
//! libssh2 directly (the `ssh2` crate's own wrapper panics on non-UTF-8
//! names). Every call into libssh2 carries a timeout, and a watchdog shuts
//! the socket when the caller's [`Stop`] ends, so no server can hold an
//! attempt past its deadline (a server that keeps asking keyboard-
//! interactive questions included).

use std::ffi::{CStr, CString};
use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use ssh2::{ErrorCode, HashType, KeyboardInteractivePrompt, Prompt, Session};

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;

/// Longest identification string RFC 4253 allows (CR LF included).
const MAX_ID: usize = 255;
/// Bytes read while waiting for the identification string (a server may
/// send other lines before it).
const MAX_PREAMBLE: usize = 8 * 1024;
/// Longest method name, prompt or server message kept.
const MAX_TEXT: usize = 200;
/// Keyboard-interactive rounds answered with the credential; later rounds
/// get empty answers.
const MAX_ROUNDS: usize = 4;
/// How often the watchdog looks at the stop.
const WATCH: Duration = Duration::from_millis(20);

/// The server's host key as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostKey {
    /// The key's type as the key blob names it (`ssh-ed25519`,
    /// `ecdsa-sha2-nistp256`, `ssh-rsa`).
    pub key_type: String,
    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as
    /// `ssh-keygen -l` prints it.
    pub sha256: String,
}

/// How the server answered the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SshAuth {
    /// It let the client in, by `method` (`password`,
    /// `keyboard-interactive`, or `none`: no credential asked at all).
    Accepted { method: String },
    /// It refused the password by every method that carries one.
    Refused { reason: String },
    /// It offers no method that carries a password (keys only): every
    /// password is refused.
    NotOffered { reason: String },
    /// It answered, but neither as a login nor as a refusal (a password
    /// change demanded, an empty method list).
    Unknown { reason: String },
}

/// One method tried and what came of it, for the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodTry {
    pub method: String,
    pub outcome: String,
    /// Keyboard-interactive: the prompts the server showed (text, and
    /// whether the answer is echoed), cut short.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
}

/// One login attempt over SSH. The password appears nowhere in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshLogin {
    pub address: String,
    pub user: String,
    /// The server's identification string (`SSH-2.0-dropbear_2022.83`).
    pub server_id: Option<String>,
    pub host_key: Option<HostKey>,
    /// The methods the server offers this user (its answer to `none`).
    pub methods: Vec<String>,
    pub tried: Vec<MethodTry>,
    pub auth: SshAuth,
    pub elapsed_ms: u128,
}

impl SshLogin {
    /// A transcript for the evidence (no password in it).
    pub fn transcript(&self) -> String {
        let mut t = format!("connect {}\n", self.address);
        if let Some(id) = &self.server_id {
            t.push_str(&format!("server: {id}\n"));
        }
        if let Some(k) = &self.host_key {
            t.push_str(&format!("host key: {} {}\n", k.key_type, k.sha256));
        }
        t.push_str(&format!(
            "methods for {}: {}\n",
            self.user,
            if self.methods.is_empty() {
                "(none listed)".to_string()
            } else {
                self.methods.join(",")
            }
        ));
        for m in &self.tried {
            for p in &m.prompts {
                t.push_str(&format!("{} prompt: {p}\n", m.method));
            }
            t.push_str(&format!(
                "{} as {} with <redacted>: {}\n",
                m.method, self.user, m.outcome
            ));
        }
        t.push_str(&format!("result: {}\n", self.auth.describe()));
        t
    }
}

impl SshAuth {
    pub fn describe(&self) -> String {
        match self {
            SshAuth::Accepted { method } => format!("accepted ({method})"),
            SshAuth::Refused { reason } => format!("refused: {reason}"),
            SshAuth::NotOffered { reason } => format!("refused: {reason}"),
            SshAuth::Unknown { reason } => format!("unknown: {reason}"),
        }
    }
}

/// Tries `user` with `password` on the SSH server at the board's `port`.
/// `step` bounds each exchange, `stop` the whole attempt.
///
/// Errors: the connection could not be made or was lost, the key exchange
/// failed, or the server went silent (a board fault: nothing was learnt
/// about the password); `Stopped` when `stop` ended it.
pub fn try_password(
    link: &Link,
    port: u16,
    user: &str,
    password: &str,
    step: Duration,
    stop: &Stop,
) -> Result<SshLogin, NetError> {
    let started = Instant::now();
    if let Some(why) = stop.reason() {
        return Err(NetError::Stopped(why));
    }
    if user.contains('\0') || password.contains('\0') {
        return Err(NetError::Setup(
            "an SSH user name or password cannot hold a NUL byte".into(),
        ));
    }
    let address = link.to(port).to_string();
    let sock = link.tcp_connect(port, stop.bound(step))?;
    let watchdog = Watchdog::start(&sock, stop)?;
    let mut session =
        Session::new().map_err(|e| NetError::Setup(format!("libssh2 session: {e}")))?;
    session.set_blocking(true);
    session.set_tcp_stream(sock);

    let bound = |session: &Session| {
        let ms = stop.bound(step).as_millis().clamp(1, u128::from(u32::MAX));
        session.set_timeout(u32::try_from(ms).unwrap_or(u32::MAX));
    };

    bound(&session);
    session
        .handshake()
        .map_err(|e| session_error(&e, stop, &format!("SSH handshake with {address}")))?;
    let server_id = session.banner_bytes().map(|b| printable(b, MAX_ID));
    let host_key = host_key(&session);

    let mut login = SshLogin {
        address: address.clone(),
        user: printable(user.as_bytes(), MAX_TEXT),
        server_id,
        host_key,
        methods: Vec::new(),
        tried: Vec::new(),
        auth: SshAuth::Unknown {
            reason: "not tried".into(),
        },
        elapsed_ms: 0,
    };

    bound(&session);
    let listed = auth_list(&session, user)
        .map_err(|e| session_error(&e, stop, &format!("SSH method list from {address}")))?;
    login.auth = match listed {
        None if session.authenticated() => SshAuth::Accepted {
            method: "none".into(),
        },
        None => SshAuth::Unknown {
            reason: "the server listed no authentication method".into(),
        },
        Some(methods) => {
            login.methods = methods;
            attempt_methods(&session, &mut login, user, password, &bound, stop)?
        }
    };
    bound(&session);
    let _ = session.disconnect(None, "hilt: login probe done", None);
    drop(session);
    watchdog.finish();
    login.elapsed_ms = started.elapsed().as_millis();
    Ok(login)
}

/// The password by `password`, then by `keyboard-interactive`, whichever
/// the server offers, until one lets the client in.
fn attempt_methods(
    session: &Session,
    login: &mut SshLogin,
    user: &str,
    password: &str,
    bound: &dyn Fn(&Session),
    stop: &Stop,
) -> Result<SshAuth, NetError> {
    let offers = |m: &str| login.methods.iter().any(|o| o == m);
    let (by_password, by_kbdint) = (offers("password"), offers("keyboard-interactive"));
    if !by_password && !by_kbdint {
        return Ok(SshAuth::NotOffered {
            reason: format!(
                "password authentication not offered (the server offers: {})",
                login.methods.join(",")
            ),
        });
    }
    let mut refusals = Vec::new();
    let mut unknown = None;
    for (method, offered) in [
        ("password", by_password),
        ("keyboard-interactive", by_kbdint),
    ] {
        if !offered {
            continue;
        }
        let mut answers = Answers::new(user, password);
        bound(session);
        let result = if method == "password" {
            session.userauth_password(user, password)
        } else {
            session.userauth_keyboard_interactive(user, &mut answers)
        };
        let change_demanded = answers.change_demanded;
        let mut record = |outcome: String| {
            login.tried.push(MethodTry {
                method: method.into(),
                outcome,
                prompts: std::mem::take(&mut answers.seen),
            })
        };
        match result {
            _ if change_demanded && !session.authenticated() => {
                record("password change demanded".into());
                unknown = Some(format!(
                    "{method}: the server asks for a new password for {} (it took the \
                     current one and demands a change)",
                    login.user
                ));
            }
            Ok(()) if session.authenticated() => {
                record("accepted".into());
                return Ok(SshAuth::Accepted {
                    method: method.into(),
                });
            }
            Ok(()) => {
                record("no failure, yet not authenticated".into());
                unknown = Some(format!(
                    "{method}: the server neither refused nor completed the login"
                ));
            }
            Err(e) if code(&e) == Some(libssh2_sys::LIBSSH2_ERROR_AUTHENTICATION_FAILED) => {
                record("refused".into());
                refusals.push(method);
            }
            Err(e) if code(&e) == Some(libssh2_sys::LIBSSH2_ERROR_PASSWORD_EXPIRED) => {
                record("password change demanded".into());
                unknown = Some(format!(
                    "{method}: the server demands a new password for {} (it may have \
                     taken the old one)",
                    login.user
                ));
            }
            Err(e) => {
                let err = session_error(&e, stop, &format!("SSH {method} login"));
                if matches!(err, NetError::Stopped(_)) || refusals.is_empty() {
                    return Err(err);
                }
                // Refused by an earlier method, then the connection ended
                // (many servers hang up after a refusal): the refusal stands.
                record(format!("not completed: {}", clip(&err.to_string())));
            }
        }
    }
    if let Some(reason) = unknown {
        return Ok(SshAuth::Unknown { reason });
    }
    Ok(SshAuth::Refused {
        reason: format!("the server refused the password ({})", refusals.join(", ")),
    })
}

/// The methods the server offers `user`, from its answer to a `none`
/// request: `None` when it listed none (then it may have let the client
/// in without any credential).
fn auth_list(session: &Session, user: &str) -> Result<Option<Vec<String>>, ssh2::Error> {
    let name = CString::new(user).map_err(|_| {
        ssh2::Error::new(
            ErrorCode::Session(libssh2_sys::LIBSSH2_ERROR_INVAL),
            "user name holds a NUL byte",
        )
    })?;
    let len = libc::c_uint::try_from(user.len()).map_err(|_| {
        ssh2::Error::new(
            ErrorCode::Session(libssh2_sys::LIBSSH2_ERROR_INVAL),
            "user name too long",
        )
    })?;
    let listed = {
        let mut raw = session.raw();
        // SAFETY: `raw` is the session's live handle, held locked for the
        // call; `name` outlives it. libssh2 returns NULL or a NUL-terminated
        // string owned by the session, copied before the lock is released.
        unsafe {
            let list = libssh2_sys::libssh2_userauth_list(&mut *raw, name.as_ptr(), len);
            (!list.is_null()).then(|| CStr::from_ptr(list).to_bytes().to_vec())
        }
    };
    match listed {
        Some(bytes) => Ok(Some(
            bytes
                .split(|b| *b == b',')
                .filter(|m| !m.is_empty())
                .take(32)
                .map(|m| printable(m, MAX_TEXT))
                .collect(),
        )),
        None if session.authenticated() => Ok(None),
        None => match ssh2::Error::last_session_error(session) {
            Some(e) if code(&e) != Some(0) => Err(e),
            _ => Ok(None),
        },
    }
}

fn host_key(session: &Session) -> Option<HostKey> {
    let (blob, kind) = session.host_key()?;
    let key_type = key_type_name(blob).unwrap_or_else(|| format!("{kind:?}"));
    let sha256 = session.host_key_hash(HashType::Sha256).map(|h| {
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)
        )
    })?;
    Some(HostKey { key_type, sha256 })
}

/// The type name a public key blob starts with (a length-prefixed string).
fn key_type_name(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    (len > 0 && len <= 64 && name.iter().all(|b| b.is_ascii_graphic()))
        .then(|| String::from_utf8_lossy(name).into_owned())
}

fn code(e: &ssh2::Error) -> Option<libc::c_int> {
    match e.code() {
        ErrorCode::Session(c) => Some(c),
        _ => None,
    }
}

/// A libssh2 error as this crate's error: the stop's reason when the stop
/// ended it, a timeout as the peer's silence, a lost connection as I/O,
/// the rest as the peer's protocol.
fn session_error(e: &ssh2::Error, stop: &Stop, what: &str) -> NetError {
    if let Some(why) = stop.reason() {
        return NetError::Stopped(why);
    }
    let msg = clip(e.message());
    match code(e) {
        Some(libssh2_sys::LIBSSH2_ERROR_TIMEOUT) => NetError::Stopped(crate::stop::TIMED_OUT),
        Some(
            libssh2_sys::LIBSSH2_ERROR_SOCKET_DISCONNECT
            | libssh2_sys::LIBSSH2_ERROR_SOCKET_RECV
            | libssh2_sys::LIBSSH2_ERROR_SOCKET_SEND
            | libssh2_sys::LIBSSH2_ERROR_BANNER_RECV
            | libssh2_sys::LIBSSH2_ERROR_BANNER_SEND,
        ) => NetError::io(
            what.to_string(),
            std::io::Error::new(std::io::ErrorKind::ConnectionAborted, msg),
        ),
        Some(libssh2_sys::LIBSSH2_ERROR_ALLOC) => NetError::Setup(format!("{what}: {msg}")),
        _ => NetError::Protocol(format!("{what}: {msg}")),
    }
}

/// Answers keyboard-interactive prompts: the password to a hidden prompt
/// or one that asks for a password, the user name to a shown prompt that
/// asks for one, nothing to anything else.
struct Answers<'a> {
    user: &'a str,
    password: &'a str,
    rounds: usize,
    seen: Vec<String>,
    /// The server asked for a new password (it took the old one and
    /// demands a change): no answer is given from then on.
    change_demanded: bool,
}

impl<'a> Answers<'a> {
    fn new(user: &'a str, password: &'a str) -> Self {
        Self {
            user,
            password,
            rounds: 0,
            seen: Vec::new(),
            change_demanded: false,
        }
    }
}

impl KeyboardInteractivePrompt for Answers<'_> {
    fn prompt<'b>(
        &mut self,
        _user: &str,
        _instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        self.rounds += 1;
        if prompts.iter().any(|p| asks_new_password(&p.text)) {
            self.change_demanded = true;
        }
        let answering = self.rounds <= MAX_ROUNDS && !self.change_demanded;
        prompts
            .iter()
            .map(|p| {
                if self.seen.len() < 16 {
                    self.seen.push(format!(
                        "{:?} ({})",
                        printable(p.text.as_bytes(), MAX_TEXT),
                        if p.echo { "shown" } else { "hidden" }
                    ));
                }
                let text = p.text.to_ascii_lowercase();
                if !answering {
                    String::new()
                } else if !p.echo || text.contains("pass") {
                    self.password.to_string()
                } else if ["user", "login", "name"].iter().any(|w| text.contains(w)) {
                    self.user.to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    }
}

/// A prompt for a new password (PAM's `New password:`, `Retype new
/// password:`, `Enter new UNIX password:`), which a server shows only
/// after it took the current one.
fn asks_new_password(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("password") && t.contains("new")
}

/// Shuts the socket when the stop ends, so that no libssh2 call outlives
/// the attempt's deadline.
struct Watchdog {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn start(sock: &TcpStream, stop: &Stop) -> Result<Self, NetError> {
        let sock = sock
            .try_clone()
            .map_err(|e| NetError::io("cloning the SSH socket", e))?;
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("hilt-ssh-watchdog".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    if stop.reason().is_some() {
                        let _ = sock.shutdown(Shutdown::Both);
                        return;
                    }
                    std::thread::sleep(WATCH.min(stop.remaining().max(Duration::from_millis(1))));
                }
            })
            .map_err(|e| NetError::Setup(format!("SSH watchdog thread: {e}")))?;
        Ok(Self {
            done,
            thread: Some(thread),
        })
    }

    fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Reads the server's identification string (`SSH-2.0-...`) from the
/// board's `port`, sending nothing. Lines a server may send before it
/// (RFC 4253 4.2) are skipped, within 8 KiB.
pub fn read_identification(
    link: &Link,
    port: u16,
    timeout: Duration,
    stop: &Stop,
) -> Result<String, NetError> {
    let stop = stop.within(timeout);
    let addr = link.to(port);
    let mut sock = crate::tls::tcp_connect(link, port, &stop)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            if line.starts_with(b"SSH-") {
                return Ok(printable(&line, MAX_ID));
            }
        }
        if buf.starts_with(b"SSH-") && buf.len() > MAX_ID {
            return Ok(printable(&buf, MAX_ID));
        }
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        match sock.read(&mut chunk) {
            Ok(0) => {
                return Err(NetError::Protocol(format!(
                    "{addr} closed the connection without an SSH identification string"
                )))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_PREAMBLE {
                    return Err(NetError::Protocol(format!(
                        "{addr} sent {} bytes without an SSH identification string",
                        buf.len()
                    )));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                return Err(NetError::io(
                    format!("reading the SSH identification of {addr}"),
                    e,
                ))
            }
        }
    }
}

/// Lossy text of what a server sent: control characters dropped (CR LF
/// included), at most `max` characters.
fn printable(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

fn clip(s: &str) -> String {
    printable(s.as_bytes(), MAX_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_come_from_the_blob_and_bad_blobs_give_none() {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        assert_eq!(key_type_name(&blob).as_deref(), Some("ssh-ed25519"));
        assert_eq!(key_type_name(&[0, 0, 0, 200, b'a']), None);
        assert_eq!(key_type_name(&[0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(key_type_name(&[0, 0]), None);
        assert_eq!(key_type_name(&[0, 0, 0, 2, 0x1b, b'x']), None);
    }

    #[test]
    fn server_text_is_cut_and_stripped_of_controls() {
        assert_eq!(printable(b"SSH-2.0-x\r\n", 255), "SSH-2.0-x");
        assert_eq!(printable(b"a\x1b[2Jb\xff", 255), "a[2Jb\u{fffd}");
        assert_eq!(printable(&[b'a'; 1000], 10).len(), 10);
    }

    #[test]
    fn keyboard_interactive_answers_by_prompt_and_stops_after_its_rounds() {
        let mut a = Answers::new("root", "pw");
        let prompts = [
            Prompt {
                text: "Password: ".into(),
                echo: false,
            },
            Prompt {
                text: "Login: ".into(),
                echo: true,
            },
            Prompt {
                text: "Favourite colour? ".into(),
                echo: true,
            },
        ];
        assert_eq!(a.prompt("", "", &prompts), ["pw", "root", ""]);
        for _ in 1..MAX_ROUNDS {
            a.prompt("", "", &prompts);
        }
        assert_eq!(a.prompt("", "", &prompts), ["", "", ""]);
        assert!(a.seen.len() <= 16);
        assert!(a.seen.iter().all(|s| !s.contains("pw")));
    }

    #[test]
    fn a_new_password_prompt_stops_the_answers() {
        let mut a = Answers::new("root", "pw");
        let first = [Prompt {
            text: "Password: ".into(),
            echo: false,
        }];
        assert_eq!(a.prompt("", "", &first), ["pw"]);
        let change = [Prompt {
            text: "New password: ".into(),
            echo: false,
        }];
        assert_eq!(a.prompt("", "", &change), [""]);
        assert!(a.change_demanded);
        assert_eq!(a.prompt("", "", &first), [""]);
    }
}
