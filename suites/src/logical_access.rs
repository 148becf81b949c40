//! Logical Access to Interfaces (NIST IR 8259A LA-1, LA-2, LA-3).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome, Rest};
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console::{self, STEP};

mod debug_port;
mod exposure;
pub use debug_port::DebugPortLocked;
pub use exposure::{DisabledInterfaceStaysDisabled, MetadataLeakage};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(ConsoleDefaultCredentials),
        Arc::new(PasswordChange),
        Arc::new(BruteForceLockout),
        Arc::new(SerialLoginRequired),
        Arc::new(OpenPorts),
        Arc::new(DebugPortLocked),
        Arc::new(MetadataLeakage),
        Arc::new(DisabledInterfaceStaysDisabled),
    ]
}

fn needs_console(board: &Board) -> Applicability {
    if board.spec.hardware.serial.is_none() {
        Applicability::not_applicable(
            "the board has no serial console wired (hardware.serial)",
            &["hardware.serial.port", "hardware.serial.tcp"],
        )
    } else if board.spec.declares.console.is_none() {
        Applicability::not_applicable(
            "the declaration describes no console (declares.console)",
            &["declares.console"],
        )
    } else {
        Applicability::Applicable
    }
}

/// AU-09: the serial console asks for credentials before giving a shell.
pub struct SerialLoginRequired;

static SERIAL_LOGIN_REQUIRED: CheckMeta = CheckMeta {
    name: "serial_login_required",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-09",
    title: "Serial console requires login",
    expected: "the console shows a login prompt and no shell until valid credentials are given",
    nistir_8259a: &["LA-1", "LA-2"],
    en_303_645: &["5.6-4"],
    ts_103_701: &["5.6-4-2"],
    cra_annex_i: &["j"],
    destructive: false,
    default_timeout: Duration::from_secs(30),
    params: &[],
};

impl Check for SerialLoginRequired {
    fn meta(&self) -> &CheckMeta {
        &SERIAL_LOGIN_REQUIRED
    }

    fn applicability(&self, board: &Board) -> Applicability {
        needs_console(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let decl = ctx.console_decl()?;
        // Right after a power cycle no session can be open: whatever the
        // console offers then, it offers to anyone with a cable.
        let fresh_boot = ctx.board().spec.hardware.power.is_some();
        if fresh_boot {
            ctx.power(hilt_harness::transport::power::PowerAction::Cycle)?;
        }
        let console = ctx.console()?;
        let state = if fresh_boot {
            dialogue::look(console, &decl, Duration::from_secs(30))?
        } else {
            dialogue::wake(console, &decl, STEP)?
        };
        if state == dialogue::AT_SHELL || decl.login.is_none() {
            return Ok(Finding::fail(
                "a shell prompt was reachable without any credentials",
                format!(
                    "{}the console showed the shell prompt {:?}{}",
                    if fresh_boot {
                        "after a power cycle "
                    } else {
                        ""
                    },
                    decl.prompt,
                    if decl.login.is_none() {
                        " (the board file declares no login)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        // At the login prompt: a shell command typed as the user name must
        // lead to the password prompt, not run.
        let probe = "id";
        match dialogue::answer(console, &decl, probe, STEP)? {
            Some(Rest::Password) => {}
            Some(Rest::Shell) => {
                return Ok(Finding::fail(
                    "the console ran a shell after a user name alone",
                    format!(
                        "after sending {probe:?} at the login prompt the shell prompt appeared"
                    ),
                ))
            }
            other => {
                return Err(CheckError::Board(format!(
                    "after a user name the console showed no password prompt ({other:?})"
                )))
            }
        }
        // Answer the password prompt with nothing; expect to be sent back.
        match dialogue::answer(console, &decl, "", STEP)? {
            Some(Rest::Login) => {}
            Some(Rest::Shell) => {
                return Ok(Finding::fail(
                    "an empty password opened a shell",
                    "shell prompt after an empty password",
                ))
            }
            other => {
                return Err(CheckError::Board(format!(
                    "after an empty password the console showed no login prompt ({other:?})"
                )))
            }
        }
        // Positive control: the genuine account gets in, so the refusals
        // above were the device's decision, not a broken console.
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let console = ctx.console()?;
        match dialogue::login(console, &decl, &user, &password, STEP)? {
            LoginOutcome::LoggedIn => {}
            other => {
                return Err(CheckError::Board(format!(
                    "the declared account could not log in ({other:?}); cannot tell refusal from a broken console"
                )))
            }
        }
        console::close_shell(ctx, &decl)?;
        Ok(Finding::pass(
            "login prompt shown; no shell without valid credentials; declared account works",
            "login prompt at wake-up; user name alone and empty password refused; declared account logged in",
        ))
    }
}

/// AU-01 (console): no universal default credential opens the console.
pub struct ConsoleDefaultCredentials;

static CONSOLE_DEFAULT_CREDENTIALS: CheckMeta = CheckMeta {
    name: "console_default_credentials",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-01",
    title: "No universal default credentials on the serial console",
    expected: "no pair from the default-credential dictionary logs in",
    nistir_8259a: &["LA-2"],
    en_303_645: &["5.1-1"],
    ts_103_701: &["5.1-1-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(180),
    params: &[ParamSpec {
        name: "max_attempts",
        meaning: "how many pairs of the default-credential dictionary to try, in order",
        kind: ParamKind::Integer {
            min: 1,
            max: DEFAULT_CREDENTIALS.len() as u64,
            default: DEFAULT_CREDENTIALS.len() as u64,
            unit: "",
        },
    }],
};

/// Credentials IoT devices have shipped with (vendor lists, Mirai's table).
pub const DEFAULT_CREDENTIALS: &[(&str, &str)] = &[
    ("admin", "admin"),
    ("root", ""),
    ("root", "root"),
    ("admin", "password"),
    ("admin", "1234"),
    ("admin", ""),
    ("root", "12345"),
    ("user", "user"),
    ("support", "support"),
    ("root", "vizxv"),
];

impl Check for ConsoleDefaultCredentials {
    fn meta(&self) -> &CheckMeta {
        &CONSOLE_DEFAULT_CREDENTIALS
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match needs_console(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        match &board.spec.declares.console {
            Some(c) if c.login.is_some() => Applicability::Applicable,
            _ => Applicability::not_applicable(
                "the console declares no login; AU-09 covers an open console",
                &["declares.console.login"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let decl = ctx.console_decl()?;
        let lockout = ctx.board().spec.declares.lockout.clone();
        // Shorten the lock (authorized, if a parameter is declared), then
        // stay under the threshold, waiting out the lock between batches,
        // so every guess is really evaluated by the device.
        let saved = if lockout
            .as_ref()
            .is_some_and(|l| l.delay_parameter.is_some())
        {
            console::open_shell(ctx)?;
            let shortened = console::shorten_lockout(ctx, &decl, 2)?;
            console::close_shell(ctx, &decl)?;
            Some(shortened)
        } else {
            None
        };
        let delay = match &saved {
            Some((delay, _)) => *delay,
            None => lockout.as_ref().and_then(|l| l.delay_s).unwrap_or(0),
        };
        // Where the threshold is a declared setting, raise it above the
        // dictionary for the duration (read back, put back afterwards), so
        // the guesses need no pauses.
        let limit = ctx.param_u64("max_attempts")? as usize;
        let raised = match lockout.as_ref().and_then(|l| l.threshold_parameter.clone()) {
            Some(param) => {
                console::open_shell(ctx)?;
                let original = console::config_get(ctx, &decl, &param)?;
                let wanted = (limit + 5).to_string();
                console::config_set_verified(ctx, &decl, &param, &wanted)?;
                console::close_shell(ctx, &decl)?;
                Some((param, original, limit + 5))
            }
            None => None,
        };
        let threshold = match &raised {
            Some((_, _, raised)) => Some(*raised as u32),
            None => lockout.as_ref().map(|l| l.threshold),
        };
        let batch = threshold
            .map(|t| t.saturating_sub(1).max(1) as usize)
            .unwrap_or(usize::MAX);
        let pause = Duration::from_secs(u64::from(delay) + 1);
        let mut tried = Vec::new();
        for (n, (user, password)) in DEFAULT_CREDENTIALS.iter().take(limit).enumerate() {
            if n > 0 && n % batch == 0 {
                ctx.sleep(pause)?;
            }
            let secret = hilt_harness::board::Secret::from_guess(password);
            let console = ctx.console()?;
            let outcome = dialogue::login(console, &decl, user, &secret, STEP)?;
            // Composed from the dictionary entry, never from device output:
            // the phrase may pass scrubbing (see `credential_finding`).
            let credential = format!(
                "{user}/{}",
                if password.is_empty() {
                    "<empty>"
                } else {
                    password
                }
            );
            tried.push(credential.clone());
            let (reason, observed) = match outcome {
                LoginOutcome::Rejected(_) => continue,
                LoginOutcome::LoggedIn => (
                    format!(
                        "logged in with the default credential {credential}; it opened a shell"
                    ),
                    format!("tried {}", tried.join(", ")),
                ),
                LoginOutcome::NoLoginRequired => (
                    "the console gives a shell without login".to_string(),
                    "shell prompt before credentials".to_string(),
                ),
            };
            // In a shell now: put the lockout settings back from here.
            if let Some((_, saved)) = saved {
                console::restore_lockout(ctx, &decl, saved)?;
            }
            if let Some((param, original, _)) = raised {
                console::config_set_verified(ctx, &decl, &param, &original)?;
            }
            console::close_shell(ctx, &decl)?;
            return Ok(credential_finding(Finding::fail(reason, observed), &tried));
        }
        // Positive control after the guesses (after any lock expired).
        let locked_possible = lockout.is_some() && raised.is_none();
        ctx.sleep(if locked_possible {
            pause
        } else {
            Duration::ZERO
        })?;
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let console = ctx.console()?;
        match dialogue::login(console, &decl, &user, &password, STEP)? {
            LoginOutcome::LoggedIn => {
                if let Some((_, saved)) = saved {
                    console::restore_lockout(ctx, &decl, saved)?;
                }
                if let Some((param, original, _)) = raised {
                    console::config_set_verified(ctx, &decl, &param, &original)?;
                }
                console::close_shell(ctx, &decl)?
            }
            other => {
                return Err(CheckError::Board(format!(
                    "after the guesses the declared account could not log in ({other:?}); the refusals prove nothing"
                )))
            }
        }
        let finding = Finding::pass(
            "no default credential logged in; the declared account did",
            format!("refused: {}", tried.join(", ")),
        )
        .with("attempts", tried.len());
        Ok(credential_finding(finding, &tried))
    }
}

/// Lets the dictionary entries a finding names through scrubbing. The
/// dictionary is public (it is in hilt's source), so naming an entry
/// reveals only what the finding says; without this, a device whose
/// declared password is the default `admin` would have its finding read
/// "logged in with the default credential <redacted>/<redacted>".
fn credential_finding(finding: Finding, tried: &[String]) -> Finding {
    tried.iter().fold(finding, |f, phrase| {
        f.naming_public_credential(phrase.clone())
    })
}

/// AU-03: a password change works and invalidates the old password.
pub struct PasswordChange;

static PASSWORD_CHANGE: CheckMeta = CheckMeta {
    name: "password_change",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-03",
    title: "Password change works and invalidates the old password",
    expected: "after a change the old password fails and the new one works",
    nistir_8259a: &["LA-2"],
    en_303_645: &["5.1-4"],
    ts_103_701: &["5.1-4-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for PasswordChange {
    fn meta(&self) -> &CheckMeta {
        &PASSWORD_CHANGE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match needs_console(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        match &board.spec.declares.console {
            Some(c) if c.login.is_some() => Applicability::Applicable,
            _ => Applicability::not_applicable(
                "the console declares no login",
                &["declares.console.login"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let user = console::account(ctx)?;
        let old = ctx.password(&user)?;
        let new = ctx.new_password()?;
        let decl = console::open_shell(ctx)?;
        console::undo_password_change(ctx, &user, &old, &new);
        let answer = console::run(ctx, &decl, &format!("passwd {}", new.expose()))?;
        console::close_shell(ctx, &decl)?;
        let old_after = console::try_login(ctx, &decl, &user, &old)?;
        if old_after == LoginOutcome::LoggedIn {
            console::close_shell(ctx, &decl)?;
        }
        let new_after = console::try_login(ctx, &decl, &user, &new)?;
        // Put the original password back with whichever one works.
        let restored = match (&new_after, &old_after) {
            (LoginOutcome::LoggedIn, _) => {
                console::run(ctx, &decl, &format!("passwd {}", old.expose()))?;
                console::close_shell(ctx, &decl)?;
                true
            }
            (_, LoginOutcome::LoggedIn) => true,
            _ => false,
        };
        if !restored {
            return Err(CheckError::Board(format!(
                "neither the old nor the new password logs in after `passwd` ({answer:?}); the board's credential is unknown"
            )));
        }
        let observed = format!(
            "passwd answered {answer:?}; old password afterwards: {}; new password: {}",
            verdict_word(&old_after),
            verdict_word(&new_after)
        );
        match (old_after, new_after) {
            (LoginOutcome::Rejected(_), LoginOutcome::LoggedIn) => Ok(Finding::pass(
                "the new password works and the old one no longer does",
                observed,
            )),
            (LoginOutcome::LoggedIn, _) => Ok(Finding::fail(
                "the old password still works after the change",
                observed,
            )),
            _ => Ok(Finding::fail("the new password does not work", observed)),
        }
    }
}

fn verdict_word(outcome: &LoginOutcome) -> &'static str {
    match outcome {
        LoginOutcome::LoggedIn => "logs in",
        LoginOutcome::Rejected(_) => "refused",
        LoginOutcome::NoLoginRequired => "no login asked",
    }
}

/// AU-04: repeated failures lock the account (or delay further attempts).
pub struct BruteForceLockout;

static BRUTE_FORCE_LOCKOUT: CheckMeta = CheckMeta {
    name: "brute_force_lockout",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-04",
    title: "Brute force is stopped by lockout or delay",
    expected: "on the console and on the network API, after the declared number of failures (10 when none is declared) even the right password is refused until the lock passes, or the attempts are slowed",
    nistir_8259a: &["LA-3"],
    en_303_645: &["5.1-5"],
    ts_103_701: &["5.1-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(180),
    params: &[],
};

/// Wrong passwords tried when the board file declares no lockout
/// threshold: the number TS 103 701's test for 5.1-5 makes, so a device
/// that declares nothing is judged as the standard would judge it.
pub const UNDECLARED_ATTEMPTS: u32 = 10;

/// Waits, after a lock the board file does not describe, before the right
/// password is tried again (60 s in all): a lock that lasts longer cannot
/// be told from a broken login.
const UNDECLARED_WAITS_S: [u64; 6] = [1, 2, 4, 8, 15, 30];

/// What the board file says about the lock the guesses should cause.
struct LockPlan {
    attempts: u32,
    /// The declared (or shortened) lock time; None when undeclared.
    wait: Option<Duration>,
}

impl LockPlan {
    /// Pauses before each retry of the right password after a lock.
    fn waits(&self) -> Vec<Duration> {
        match self.wait {
            Some(wait) => vec![wait],
            None => UNDECLARED_WAITS_S
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }

    fn describe(&self) -> String {
        match self.wait {
            Some(_) => format!("{} wrong attempts (the declared threshold)", self.attempts),
            None => format!(
                "{} wrong attempts (no lockout declared; TS 103 701's number)",
                self.attempts
            ),
        }
    }
}

/// Whether wrong attempts were slowed: every one of the last attempts took
/// at least twice as long as the fastest first one, and a second longer.
/// A real delay slows each later attempt; one hiccup of a loaded host
/// slows only one, and must not read as a delay.
fn slowed(timings_ms: &[u128]) -> bool {
    if timings_ms.len() < 4 {
        return false;
    }
    let head = timings_ms.len().min(6) / 2;
    let first = timings_ms[..head].iter().copied().min().unwrap_or(0);
    let last = timings_ms[timings_ms.len() - head..]
        .iter()
        .copied()
        .min()
        .unwrap_or(0);
    last >= first.saturating_mul(2) + 1000
}

impl Check for BruteForceLockout {
    fn meta(&self) -> &CheckMeta {
        &BRUTE_FORCE_LOCKOUT
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match needs_console(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        match &board.spec.declares.console {
            Some(c) if c.login.is_some() => Applicability::Applicable,
            _ => Applicability::not_applicable(
                "the console asks for no password: there is nothing to guess (AU-09 judges an open console)",
                &["declares.console.login"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let lockout = ctx.board().spec.declares.lockout.clone();
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let decl = ctx.console_decl()?;
        let (plan, saved) = match &lockout {
            Some(l) => {
                // Two seconds: short, yet long enough that a loaded host
                // still tries the right password while the lock holds.
                let (delay, saved) = if l.delay_parameter.is_some() {
                    console::open_shell(ctx)?;
                    let shortened = console::shorten_lockout(ctx, &decl, 2)?;
                    console::close_shell(ctx, &decl)?;
                    shortened
                } else {
                    (l.delay_s.unwrap_or(0), None)
                };
                let plan = LockPlan {
                    attempts: l.threshold,
                    wait: Some(Duration::from_secs(u64::from(delay) + 1)),
                };
                (plan, saved)
            }
            None => (
                LockPlan {
                    attempts: UNDECLARED_ATTEMPTS,
                    wait: None,
                },
                None,
            ),
        };
        // Whatever happens next, the lock the guesses cause is waited out
        // before the board is handed on.
        console::undo_lock(ctx, &user);
        let mut observed = Vec::new();
        let mut unstopped = Vec::new();

        // The console login.
        let wrong = hilt_harness::board::Secret::from_guess("Hilt-wrong-guess");
        let mut timings = Vec::new();
        for _ in 0..plan.attempts {
            let start = std::time::Instant::now();
            let outcome = console::try_login(ctx, &decl, &user, &wrong)?;
            timings.push(start.elapsed().as_millis());
            if outcome == LoginOutcome::LoggedIn {
                return Ok(Finding::fail(
                    "a wrong password logged in on the console",
                    "login with a wrong password succeeded",
                ));
            }
        }
        ctx.evidence().text(
            "au04-console-timings.csv",
            "text/csv",
            "milliseconds each wrong console login took",
            &timings
                .iter()
                .enumerate()
                .map(|(n, ms)| format!("{},{ms}\n", n + 1))
                .collect::<String>(),
        )?;
        // Now the right password, at once: a locked account refuses it.
        let during = console::try_login(ctx, &decl, &user, &password)?;
        let locked = during != LoginOutcome::LoggedIn;
        let delayed = slowed(&timings);
        let mut after = String::new();
        if locked {
            // It must work again once the lock passes, or the refusal
            // proves nothing.
            let mut waited = Duration::ZERO;
            let mut back = false;
            for pause in plan.waits() {
                ctx.sleep(pause)?;
                waited += pause;
                if console::try_login(ctx, &decl, &user, &password)? == LoginOutcome::LoggedIn {
                    back = true;
                    break;
                }
            }
            if !back {
                return Err(CheckError::Board(format!(
                    "the right password still fails on the console {} s after the guesses; cannot tell a lock from a broken login",
                    waited.as_secs()
                )));
            }
            after = format!("; after {} s: logs in", waited.as_secs());
        }
        console::close_shell(ctx, &decl)?;
        if !locked && !delayed {
            unstopped.push("console");
        }
        observed.push(format!(
            "console: {} (ms each: {timings:?}{}); right password right after: {}{after}",
            plan.describe(),
            if delayed { ", slowed" } else { ", not slowed" },
            verdict_word(&during),
        ));

        // The network login (HTTP basic authentication on the API), when
        // the device has one: brute force must be stopped there too.
        if matches!(
            crate::api::needs_api(ctx.board()),
            Applicability::Applicable
        ) {
            let (stopped, note) = brute_force_http(ctx, &plan)?;
            observed.push(note);
            if !stopped {
                unstopped.push("HTTPS API");
            }
        }

        if saved.is_some() {
            console::open_shell(ctx)?;
            console::restore_lockout(ctx, &decl, saved)?;
            console::close_shell(ctx, &decl)?;
        }
        // The declared account logged in after the guesses: no lock left.
        ctx.settle_undo(&console::lock_key(&user));
        let observed = observed.join("; ");
        if unstopped.is_empty() {
            Ok(Finding::pass(
                "every login locked or slowed after the failures, and let the right password in afterwards",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!(
                    "no lockout or delay: the right password worked at once after {} wrong ones on {} and the attempts were not slowed",
                    plan.attempts,
                    unstopped.join(", ")
                ),
                observed,
            ))
        }
    }
}

/// Brute force against the API's HTTP authentication: the plan's wrong
/// passwords, then the right one at once (must be refused, unless the
/// wrong ones were slowed), then after the lock (must be accepted).
/// Returns (stopped, what was seen).
fn brute_force_http(ctx: &mut CheckContext, plan: &LockPlan) -> Result<(bool, String), CheckError> {
    use crate::api::{self, Auth};
    use hilt_net::http::HttpRequest;
    let target = api::target(ctx)?;
    let path = ctx
        .board()
        .spec
        .declares
        .state
        .as_ref()
        .and_then(|s| s.http.clone())
        .unwrap_or_else(|| "/".into());
    let mut statuses = Vec::new();
    let mut timings = Vec::new();
    for _ in 0..plan.attempts {
        let start = std::time::Instant::now();
        let r = api::send(
            ctx,
            &target,
            HttpRequest::get(&path),
            Auth::Wrong("Hilt-wrong-guess"),
        )?;
        timings.push(start.elapsed().as_millis());
        if (200..300).contains(&r.status) {
            return Ok((
                false,
                format!("HTTPS: a wrong password was accepted ({})", r.status),
            ));
        }
        statuses.push(r.status);
    }
    let during = api::send(ctx, &target, HttpRequest::get(&path), Auth::Declared)?.status;
    let locked = !(200..300).contains(&during);
    let mut after = String::new();
    if locked {
        let mut waited = Duration::ZERO;
        let mut last = during;
        for pause in plan.waits() {
            ctx.sleep(pause)?;
            waited += pause;
            last = api::send(ctx, &target, HttpRequest::get(&path), Auth::Declared)?.status;
            if (200..300).contains(&last) {
                break;
            }
        }
        if !(200..300).contains(&last) {
            return Err(CheckError::Board(format!(
                "the right password still fails on the API {} s after the guesses (status {last}); cannot tell a lock from a broken login",
                waited.as_secs()
            )));
        }
        after = format!("; after {} s: {last}", waited.as_secs());
    }
    let delayed = slowed(&timings);
    Ok((
        locked || delayed,
        format!(
            "HTTPS GET {path}: {} answered {statuses:?} (ms each: {timings:?}); right password right after: {during}{after}",
            plan.describe()
        ),
    ))
}

/// AU-07: every open TCP port is a declared interface.
pub struct OpenPorts;

static OPEN_PORTS: CheckMeta = CheckMeta {
    name: "open_ports",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-07",
    title: "Only declared network interfaces are open",
    expected: "a full TCP scan finds no open port beyond the declared interfaces",
    nistir_8259a: &["LA-1"],
    en_303_645: &["5.6-1"],
    ts_103_701: &["5.6-1-2"],
    cra_annex_i: &["j"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for OpenPorts {
    fn meta(&self) -> &CheckMeta {
        &OPEN_PORTS
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.network.is_none() {
            return Applicability::not_applicable(
                "no network wired (hardware.network)",
                &["hardware.network.address"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use hilt_harness::board::Transport;
        use hilt_net::scan::{scan_tcp, TcpScanOptions};
        let link = crate::api::link(ctx)?;
        let address = link.board();
        let stop = crate::api::stop(ctx);
        // A dead or cut-off board shows no open port either: the scan
        // counts only between two controls that show the board alive.
        let (scan, alive) = crate::liveness::around(ctx, |_| {
            scan_tcp(&link, &TcpScanOptions::default(), &stop).map_err(crate::api::net_fault)
        })?;
        ctx.evidence().text(
            "tcp-scan.json",
            "application/json",
            "full TCP connect scan of the board's address",
            &serde_json::to_string_pretty(&scan).unwrap_or_default(),
        )?;
        // On a loopback address, listeners bound to every address of the
        // host answer too: subtract what a control address shows.
        let mut host_wide = Vec::new();
        if address.is_loopback() {
            let control = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 254, 254, 254));
            if control != address {
                host_wide = scan_tcp(&link.with_board(control), &TcpScanOptions::default(), &stop)
                    .map_err(crate::api::net_fault)?
                    .open;
            }
        }
        let declared: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp)
            .map(|i| i.port)
            .collect();
        let extra: Vec<u16> = scan
            .open
            .iter()
            .copied()
            .filter(|p| !declared.contains(p) && !host_wide.contains(p))
            .collect();
        if !scan.undetermined.is_empty() {
            return Err(CheckError::Harness(format!(
                "{} ports could not be scanned (local resource errors)",
                scan.undetermined.len()
            )));
        }
        let observed = format!(
            "open: {:?}; declared: {:?}; host-wide listeners ignored: {:?}; {} closed, {} filtered, in {} ms; {alive}",
            scan.open, declared, host_wide, scan.closed, scan.filtered, scan.elapsed_ms
        );
        if scan.open.is_empty() && scan.closed == 0 {
            return Err(CheckError::Board(format!(
                "every port was filtered: the scan did not reach the board ({observed})"
            )));
        }
        // Positive control: the declared services answer, so the scan
        // reached the board (a board that is down shows no open port and
        // must not pass for having none).
        // Interfaces that are off by default may be closed.
        let required: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default)
            .map(|i| i.port)
            .collect();
        let missing: Vec<u16> = required
            .iter()
            .copied()
            .filter(|p| !scan.open.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(CheckError::Board(format!(
                "declared ports {missing:?} are not open: the scan may not have reached the board ({observed})"
            )));
        }
        // Declared but off by default: open only if its setting says on
        // (read with authorization); otherwise the device contradicts its
        // own declaration.
        let mut off_but_open = Vec::new();
        let mut settings = Vec::new();
        let optional: Vec<hilt_harness::board::InterfaceDecl> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp && !i.enabled_by_default)
            .filter(|i| scan.open.contains(&i.port) && !host_wide.contains(&i.port))
            .cloned()
            .collect();
        for interface in optional {
            let setting = match &interface.toggle {
                Some(toggle) if needs_console(ctx.board()) == Applicability::Applicable => {
                    let decl = console::open_shell(ctx)?;
                    let value = console::config_get(ctx, &decl, &toggle.parameter)?;
                    console::close_shell(ctx, &decl)?;
                    settings.push(format!("{} = {value:?}", toggle.parameter));
                    Some(value.trim() == toggle.on)
                }
                _ => None,
            };
            if setting != Some(true) {
                off_but_open.push(interface.port);
            }
        }
        let observed = if settings.is_empty() {
            observed
        } else {
            format!("{observed}; settings: {}", settings.join(", "))
        };
        let mut problems = Vec::new();
        if !extra.is_empty() {
            problems.push(format!("undeclared open ports: {extra:?}"));
        }
        if !off_but_open.is_empty() {
            problems.push(format!(
                "ports declared off by default are open without being turned on: {off_but_open:?}"
            ));
        }
        if problems.is_empty() {
            Ok(Finding::pass("no undeclared port is open", observed))
        } else {
            Ok(Finding::fail(problems.join("; "), observed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slowed;

    #[test]
    fn a_growing_delay_is_slowing() {
        assert!(slowed(&[
            200, 210, 190, 900, 2400, 2500, 2600, 2700, 2800, 2900
        ]));
    }

    #[test]
    fn one_hiccup_of_a_loaded_host_is_not_slowing() {
        // Before: the slowest of the last attempts counted, so one 3 s
        // stall passed a device that never delays.
        assert!(!slowed(&[
            200, 210, 190, 200, 220, 210, 200, 3000, 210, 200
        ]));
    }

    #[test]
    fn too_few_attempts_prove_nothing() {
        assert!(!slowed(&[100, 5000, 5000]));
    }
}
