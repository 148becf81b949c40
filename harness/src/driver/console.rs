//! The console driver: the login dialogue (login, password, shell prompt,
//! refusal, logout) over the serial transport, as the board file's
//! `declares.console` describes it.
//!
//! Two rules keep a real `/bin/login` from counting failures hilt did not
//! mean: the console is looked at before anything is sent (a prompt hilt
//! already consumed is remembered, see [`Console::mark_rest`]), and no empty
//! line is ever sent where a user name may be expected. A silent console
//! is woken with the declared `wake` key (Ctrl-C unless declared otherwise;
//! the line ending only on consoles without login).

use std::time::{Duration, Instant};

use regex::Regex;

use crate::board::{ConsoleDecl, Secret};
use crate::transport::serial::{last_bytes, Console, SerialError};

/// [`wake`] and [`look`] return this when the console rests at its login
/// prompt...
pub const AT_LOGIN: usize = 0;
/// ...and this when it rests at the shell prompt.
pub const AT_SHELL: usize = 1;

/// Result of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The shell prompt appeared after the credentials.
    LoggedIn,
    /// The console asked again or said no; the text it showed.
    Rejected(String),
    /// A shell prompt was showing before any credentials were given (or
    /// the console declares no login).
    NoLoginRequired,
}

/// The prompt a console rests at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    Login,
    Password,
    Shell,
}

impl Rest {
    pub(crate) fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(tag: u8) -> Option<Self> {
        [Rest::Login, Rest::Password, Rest::Shell]
            .into_iter()
            .find(|r| r.tag() == tag)
    }
}

/// Brings the console to a known state and returns which prompt it rests
/// at ([`AT_LOGIN`] or [`AT_SHELL`]). A session left open (by an earlier
/// check or a person) is ended once, so only a console that shows a shell
/// again without credentials counts as open.
pub fn wake(
    console: &mut Console,
    decl: &ConsoleDecl,
    timeout: Duration,
) -> Result<usize, SerialError> {
    settle_at_prompt(console, decl, timeout, true)
}

/// How long a board may take from power-on to its console prompt: its
/// QEMU machine's `boot_s`, else 30 s.
pub fn boot_time(board: &crate::board::Board) -> Duration {
    board
        .spec
        .hardware
        .qemu
        .as_ref()
        .map_or(Duration::from_secs(30), |q| {
            Duration::from_secs(u64::from(q.boot_s))
        })
}

/// Waits until a board hilt has just powered on rests at its console
/// prompt ([`AT_LOGIN`] or [`AT_SHELL`]), up to [`boot_time`], on a console
/// of its own (closed again), so the first check finds the board booted.
/// None for a board without a console declaration.
pub fn await_power_on(board: &crate::board::Board) -> Result<Option<usize>, SerialError> {
    let (Some(wiring), Some(decl)) = (
        board.spec.hardware.serial.as_ref(),
        board.spec.declares.console.as_ref(),
    ) else {
        return Ok(None);
    };
    let boot = boot_time(board);
    let stop = crate::stop::StopSignal::after(boot + Duration::from_secs(10));
    let mut console = Console::open(wiring, board.base_dir(), stop)?;
    look(&mut console, decl, boot).map(Some)
}

/// Like [`wake`], but never ends an open session: reports the shell prompt
/// as it is (used right after a power cycle, when no session can be open
/// unless the console gives one away).
pub fn look(
    console: &mut Console,
    decl: &ConsoleDecl,
    timeout: Duration,
) -> Result<usize, SerialError> {
    settle_at_prompt(console, decl, timeout, false)
}

fn settle_at_prompt(
    console: &mut Console,
    decl: &ConsoleDecl,
    timeout: Duration,
    end_open_session: bool,
) -> Result<usize, SerialError> {
    let until = crate::stop::instant_after(timeout);
    let mut logged_out = !end_open_session;
    // Look first: whatever arrived since the console was last read (a boot
    // log, a motd, a prompt) is consumed here.
    let shown = console.settle(
        Duration::from_millis(decl.settle_ms),
        Duration::from_secs(2),
    )?;
    let mut rest = resting(console, decl, &shown)?;
    let mut shown = shown;
    let autoboot = match &decl.autoboot {
        Some(a) => Some((compile(&a.pattern)?, a.key.as_bytes().to_vec())),
        None => None,
    };
    for _ in 0..20 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // A bootloader counting down to autoboot: stop it with its key
        // (before any wake key, which it might take for a command).
        if let Some((pattern, key)) = autoboot.as_ref().filter(|_| rest.is_none()) {
            if pattern.is_match(&shown) {
                console.send(key)?;
                shown = wait_for_prompt(console, decl, left.min(Duration::from_secs(10)))?;
                rest = resting(console, decl, &shown)?;
                continue;
            }
        }
        match rest {
            Some(Rest::Login) => return Ok(AT_LOGIN),
            Some(Rest::Shell) if decl.login.is_some() && !logged_out => {
                logged_out = true;
                console.send_line(&decl.logout)?;
                shown = wait_for_prompt(console, decl, left.min(Duration::from_secs(5)))?;
            }
            Some(Rest::Shell) => return Ok(AT_SHELL),
            Some(Rest::Password) => {
                // A stale password prompt (a person walked away): answer it
                // with nothing, a failed login but not an empty user name;
                // a real login may then pause (Debian: 3 s) before asking.
                let ending = console.line_ending().as_bytes().to_vec();
                console.send(&ending)?;
                shown = wait_for_prompt(console, decl, left.min(Duration::from_secs(6)))?;
            }
            None => match decl.wake.bytes(console.line_ending()) {
                Some(key) => {
                    console.send(&key)?;
                    shown = wait_for_prompt(console, decl, left.min(Duration::from_secs(2)))?;
                }
                None => shown = wait_for_prompt(console, decl, left)?,
            },
        }
        rest = resting(console, decl, &shown)?;
    }
    Err(SerialError::Timeout {
        pattern: "login or shell prompt".into(),
        console: console.name().to_string(),
        waited_ms: timeout.as_millis(),
        tail: last_bytes(&console.scrub(&shown), 200),
    })
}

/// The prompt the console rests at after showing `shown`; when it showed
/// nothing, the prompt hilt consumed last. Remembered for the next look.
fn resting(
    console: &mut Console,
    decl: &ConsoleDecl,
    shown: &str,
) -> Result<Option<Rest>, SerialError> {
    let rest = if shown.trim().is_empty() {
        console.rest_mark().and_then(Rest::from_tag)
    } else {
        prompt_at_end(shown, decl)?
    };
    console.mark_rest(rest.map(Rest::tag));
    Ok(rest)
}

/// The prompt `text` ends with, if any.
fn prompt_at_end(text: &str, decl: &ConsoleDecl) -> Result<Option<Rest>, SerialError> {
    let candidates = [
        (Rest::Password, decl.password_pattern()),
        (Rest::Login, decl.login_pattern()),
        (Rest::Shell, Some(decl.prompt_pattern())),
    ];
    for (rest, pattern) in candidates {
        if let Some(pattern) = pattern {
            if compile(&pattern)?.is_match(text) {
                return Ok(Some(rest));
            }
        }
    }
    Ok(None)
}

fn compile(pattern: &str) -> Result<Regex, SerialError> {
    Regex::new(pattern).map_err(|e| SerialError::Unsupported(format!("bad pattern: {e}")))
}

/// Waits for any prompt of `decl` to appear, then for the console to go
/// quiet; returns everything shown (empty if no prompt came in time).
fn wait_for_prompt(
    console: &mut Console,
    decl: &ConsoleDecl,
    timeout: Duration,
) -> Result<String, SerialError> {
    let mut patterns = vec![decl.prompt_pattern()];
    patterns.extend(decl.login_pattern());
    patterns.extend(decl.password_pattern());
    // A countdown to autoboot ends the wait too, so it is stopped in time.
    patterns.extend(decl.autoboot.as_ref().map(|a| a.pattern.clone()));
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    match console.expect_any(&refs, timeout) {
        Ok(found) => {
            // Less than the first look: the prompt is already here, this
            // only catches trailing output.
            let quiet = Duration::from_millis(decl.settle_ms * 3 / 5);
            let rest = console.settle(quiet, Duration::from_secs(2))?;
            Ok(format!("{}{}{}", found.before, found.matched, rest))
        }
        Err(SerialError::Timeout { tail, .. }) => {
            console.settle(Duration::ZERO, Duration::ZERO)?;
            Ok(tail)
        }
        Err(e) => Err(e),
    }
}

/// Sends `line` at the prompt the console rests at and returns the prompt
/// it rests at next (None if none came within `timeout`). Refuses an
/// empty line unless the console is known to rest at a password or shell
/// prompt: anywhere else it may be an empty user name.
pub fn answer(
    console: &mut Console,
    decl: &ConsoleDecl,
    line: &str,
    timeout: Duration,
) -> Result<Option<Rest>, SerialError> {
    let known = console.rest_mark().and_then(Rest::from_tag);
    if line.trim().is_empty() && !matches!(known, Some(Rest::Password | Rest::Shell)) {
        return Err(empty_user_name());
    }
    console.send_line(line)?;
    let shown = wait_for_prompt(console, decl, timeout)?;
    let rest = prompt_at_end(&shown, decl)?;
    console.mark_rest(rest.map(Rest::tag));
    Ok(rest)
}

fn empty_user_name() -> SerialError {
    SerialError::Unsupported(
        "refusing to send an empty line where a user name may be expected: on a real /bin/login it is a failed login"
            .into(),
    )
}

/// Logs in as `user` with `password` following the board's console
/// declaration, from whatever state the console is in (see [`wake`]).
pub fn login(
    console: &mut Console,
    decl: &ConsoleDecl,
    user: &str,
    password: &Secret,
    timeout: Duration,
) -> Result<LoginOutcome, SerialError> {
    let (Some(login_prompt), Some(password_prompt)) =
        (decl.login_pattern(), decl.password_pattern())
    else {
        // An open console: reach its shell all the same.
        wake(console, decl, timeout)?;
        return Ok(LoginOutcome::NoLoginRequired);
    };
    if user.trim().is_empty() {
        return Err(empty_user_name());
    }
    if wake(console, decl, timeout)? == AT_SHELL {
        return Ok(LoginOutcome::NoLoginRequired);
    }
    let shell = decl.prompt_pattern();
    let failure = decl.failure_pattern();
    console.send_line(user)?;
    let mut after_user = vec![
        password_prompt.as_str(),
        shell.as_str(),
        login_prompt.as_str(),
    ];
    after_user.extend(failure.as_deref());
    let found = console.expect_any(&after_user, timeout)?;
    match found.index {
        0 => {}
        1 => {
            console.mark_rest(Some(Rest::Shell.tag()));
            return Ok(LoginOutcome::LoggedIn);
        }
        _ => return refused(console, &login_prompt, found, timeout),
    }
    console.send_secret_line(password)?;
    let mut after_password = vec![shell.as_str(), login_prompt.as_str()];
    after_password.extend(failure.as_deref());
    let found = console.expect_any(&after_password, timeout)?;
    if found.index == 0 {
        console.mark_rest(Some(Rest::Shell.tag()));
        Ok(LoginOutcome::LoggedIn)
    } else {
        refused(console, &login_prompt, found, timeout)
    }
}

/// A refusal: the login prompt came back, or the failure text came first
/// (then the login prompt is awaited, so the next attempt finds it).
fn refused(
    console: &mut Console,
    login_prompt: &str,
    found: crate::transport::serial::Match,
    timeout: Duration,
) -> Result<LoginOutcome, SerialError> {
    let at_login = compile(login_prompt)?.is_match(&found.matched);
    let said = if at_login {
        found.before.trim().to_string()
    } else {
        found.matched.trim().to_string()
    };
    if at_login || console.expect(login_prompt, timeout).is_ok() {
        console.mark_rest(Some(Rest::Login.tag()));
    }
    Ok(LoginOutcome::Rejected(said))
}

/// Runs one shell command at the shell prompt and returns its output;
/// whatever the console printed before is discarded first.
pub fn command(
    console: &mut Console,
    decl: &ConsoleDecl,
    line: &str,
    timeout: Duration,
) -> Result<String, SerialError> {
    let out = console.command(line, &decl.prompt_pattern(), timeout)?;
    console.mark_rest(Some(Rest::Shell.tag()));
    Ok(out)
}

/// Ends the session with the declared logout command and waits (up to
/// `timeout`) for the prompt that follows, so the next login finds it.
pub fn logout(
    console: &mut Console,
    decl: &ConsoleDecl,
    timeout: Duration,
) -> Result<(), SerialError> {
    console.send_line(&decl.logout)?;
    let shown = wait_for_prompt(console, decl, timeout)?;
    let rest = prompt_at_end(&shown, decl)?;
    console.mark_rest(rest.map(Rest::tag));
    Ok(())
}
