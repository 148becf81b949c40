use std::time::{Duration, Instant};

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use hilt_harness::board::{InterfaceDecl, LockoutDecl, Secret};
use hilt_harness::driver::login::{self, LoginError, LoginProbe, Outcome};

use super::{needs_console, verdict_word};
use crate::console;
use crate::lockout::{self, Relief};
use crate::logins;
use crate::settings::Settings;

/// AU-04: repeated failures lock the account (or delay further attempts).
pub struct BruteForceLockout;

static BRUTE_FORCE_LOCKOUT: CheckMeta = CheckMeta {
    name: "brute_force_lockout",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-04",
    title: "Brute force is stopped by lockout or delay",
    expected: "on the console, the network API and every other interface that authenticates (telnet, SSH, MQTT, SNMP, ...), after the declared number of failures (10 when none is declared) even the right password is refused until the lock passes, or the attempts are slowed",
    nistir_8259a: &["LA-3"],
    en_303_645: &["5.1-5"],
    ts_103_701: &["5.1-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(300),
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

/// What the board file says about the lock the guesses should cause on
/// one interface (or the console).
struct LockPlan {
    attempts: u32,
    /// The declared (or shortened) lock time; None when undeclared.
    wait: Option<Duration>,
    /// Before the guesses: what makes the lockout forget earlier attempts
    /// (other checks' logins), so that the declared threshold is what
    /// trips it.
    settle: Relief,
}

impl LockPlan {
    /// The plan for a target governed by `lockout` (None: undeclared).
    fn new(lockout: Option<&LockoutDecl>) -> Self {
        match lockout {
            Some(l) => LockPlan {
                attempts: l.threshold,
                // A second more than the lock, for the clocks of both sides.
                wait: Some(Duration::from_secs(u64::from(l.delay_s.unwrap_or(0)) + 1)),
                settle: match l.window_s {
                    None => Relief::None,
                    Some(_) if l.reset_on_success => Relief::LogIn,
                    Some(_) => Relief::Wait(lockout::forget_after(l)),
                },
            },
            None => LockPlan {
                attempts: UNDECLARED_ATTEMPTS,
                wait: None,
                settle: Relief::None,
            },
        }
    }

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

/// After a lock that engaged at `since` (the right password's refused
/// attempt began): waits the plan's pauses, counted from then, trying the
/// right password after each (`right_works`, told how long was waited in
/// all), until it gets in. Ok(waited) once it did; Err(waited) when it
/// never did, so a lock cannot be told from a broken login.
fn wait_until_back(
    ctx: &mut CheckContext,
    plan: &LockPlan,
    since: Instant,
    mut right_works: impl FnMut(&mut CheckContext, Duration) -> Result<bool, CheckError>,
) -> Result<Result<Duration, Duration>, CheckError> {
    let mut until = Duration::ZERO;
    for pause in plan.waits() {
        until += pause;
        // A refusal that took long (a dropped connection's timeout) has
        // already spent part of the lock.
        ctx.sleep(until.saturating_sub(since.elapsed()))?;
        let waited = since.elapsed();
        if right_works(ctx, waited)? {
            return Ok(Ok(waited));
        }
    }
    Ok(Err(since.elapsed()))
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
        if console_login(board) || api_login(board) || !other_logins(board).is_empty() {
            return Applicability::Applicable;
        }
        match needs_console(board) {
            Applicability::Applicable => Applicability::not_applicable(
                "no password to guess: the console asks for none (AU-09 judges an open console) and no API is declared",
                &["declares.console.login", "declares.interfaces[].api"],
            ),
            Applicability::NotApplicable { .. } => Applicability::not_applicable(
                "no password to guess: no console with a login wired, and no API declared",
                &[
                    "hardware.serial",
                    "declares.console.login",
                    "declares.interfaces[].api",
                ],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        // The board's lockout, its delay shortened to two seconds where it
        // is adjustable: short, yet long enough that a loaded host still
        // tries the right password while the lock holds.
        let mut board_lockout = ctx.board().spec.declares.lockout.clone();
        let mut saved = None;
        if let Some(l) = board_lockout.as_mut() {
            if let Some(param) = &l.delay_parameter {
                let settings = Settings::open(ctx)?;
                let original = settings.get(ctx, param)?;
                settings.set_verified(ctx, param, "2")?;
                settings.close(ctx)?;
                l.delay_s = Some(2);
                saved = Some((param.clone(), original));
            }
        }
        let plan_for = |interface: Option<&InterfaceDecl>| {
            LockPlan::new(
                interface
                    .and_then(|i| i.lockout.as_ref())
                    .or(board_lockout.as_ref()),
            )
        };
        let plan = plan_for(None);
        let mut observed = Vec::new();
        let mut unstopped: Vec<String> = Vec::new();
        let console_user = if console_login(ctx.board()) {
            let user = console::account(ctx)?;
            match brute_force_console(ctx, &plan, &user, &mut observed)? {
                (Some(failed), _) => return Ok(failed),
                (None, false) => unstopped.push("console".to_string()),
                (None, true) => {}
            }
            Some(user)
        } else {
            None
        };

        // The API's login (its declared authentication), when the device
        // has one: brute force must be stopped there too.
        if api_login(ctx.board()) {
            let api_interface = first_api_interface(ctx.board());
            let (stopped, note) = brute_force_http(ctx, &plan_for(api_interface.as_ref()))?;
            observed.push(note);
            if !stopped {
                unstopped.push("the API".to_string());
            }
        }

        // Every other interface that authenticates, through its login
        // driver.
        let mut unjudged = Vec::new();
        for interface in other_logins(ctx.board()) {
            match brute_force_interface(ctx, &plan_for(Some(&interface)), &interface)? {
                Judged::Stopped(note) => observed.push(note),
                Judged::Unstopped(note) => {
                    observed.push(note);
                    unstopped.push(logins::label(&interface));
                }
                Judged::Unjudged(why) => unjudged.push(why),
            }
        }

        if let Some((param, original)) = saved {
            let settings = Settings::open(ctx)?;
            settings.set_verified(ctx, &param, &original)?;
            settings.close(ctx)?;
        }
        if let Some(user) = console_user {
            // The declared account logged in after the guesses: no lock left.
            ctx.settle_undo(&console::lock_key(&user));
        }
        let mut observed = observed.join("; ");
        if !unjudged.is_empty() {
            observed.push_str(&format!("; not judged: {}", unjudged.join("; ")));
        }
        if unstopped.is_empty() && !unjudged.is_empty() {
            return Err(CheckError::Board(format!(
                "not every interface could be judged: {}; seen: {observed}",
                unjudged.join("; ")
            )));
        }
        if unstopped.is_empty() {
            Ok(Finding::pass(
                "every login that takes passwords locked or slowed after the failures and let the right password in afterwards; any that takes none is named in the observation",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!(
                    "no lockout or delay: the right password worked at once after the wrong ones on {} and the attempts were not slowed",
                    unstopped.join(", ")
                ),
                observed,
            ))
        }
    }
}

fn console_login(board: &Board) -> bool {
    matches!(needs_console(board), Applicability::Applicable)
        && matches!(&board.spec.declares.console, Some(c) if c.login.is_some())
}

fn api_login(board: &Board) -> bool {
    matches!(crate::api::needs_api(board), Applicability::Applicable)
}

/// The interface of the API judged through the API driver (the board's
/// first), when it has one.
fn first_api_interface(board: &Board) -> Option<InterfaceDecl> {
    let port = api_login(board)
        .then(|| board.spec.api(None).map(|a| a.port()))
        .flatten()?;
    board
        .spec
        .declares
        .interfaces
        .iter()
        .find(|i| i.port == port && i.protocol == hilt_harness::board::Transport::Tcp)
        .cloned()
}

/// The interfaces that authenticate other than the API judged through the
/// API driver (the board's first): telnet, SSH, MQTT, SNMP, other APIs.
fn other_logins(board: &Board) -> Vec<InterfaceDecl> {
    let first_api = first_api_interface(board).map(|i| i.port);
    logins::authenticating(board)
        .into_iter()
        .filter(|i| Some(i.port) != first_api || i.protocol != hilt_harness::board::Transport::Tcp)
        .collect()
}

/// One interface's brute force, in words.
enum Judged {
    Stopped(String),
    Unstopped(String),
    Unjudged(String),
}

/// Brute force through an interface's login driver: the plan's wrong
/// passwords for the interface's declared account, then the right one at
/// once (a locked account refuses it), then after the lock (it must get
/// in, or the refusal proves nothing).
fn brute_force_interface(
    ctx: &mut CheckContext,
    plan: &LockPlan,
    interface: &InterfaceDecl,
) -> Result<Judged, CheckError> {
    let label = logins::label(interface);
    let mut probe = match logins::open(ctx, interface)? {
        Ok(p) => p,
        Err(why) => return Ok(Judged::Unjudged(why)),
    };
    let Some(account) = login::interface_account(ctx.board(), interface) else {
        return Ok(Judged::Unjudged(format!(
            "{label}: no account declared for it (declares.interfaces[].login.account)"
        )));
    };
    let password = ctx
        .board()
        .account_password(&account)
        .map_err(|e| CheckError::Harness(format!("the password of {account:?}: {e}")))?;
    let turned = match logins::ensure_on(ctx, interface)? {
        Ok(t) => t,
        Err(why) => return Ok(Judged::Unjudged(why)),
    };
    let mut transcript = String::new();
    let result = hammer(
        ctx,
        plan,
        probe.as_mut(),
        &label,
        interface.port,
        &account,
        &password,
        &mut transcript,
    );
    logins::put_back(ctx, turned)?;
    ctx.evidence().text(
        &logins::evidence_name("au04", interface),
        "text/plain",
        &format!("brute force on {label}"),
        &transcript,
    )?;
    result
}

#[allow(clippy::too_many_arguments)]
fn hammer(
    ctx: &mut CheckContext,
    plan: &LockPlan,
    probe: &mut dyn LoginProbe,
    label: &str,
    port: u16,
    account: &str,
    password: &Secret,
    transcript: &mut String,
) -> Result<Judged, CheckError> {
    let device = |e: LoginError| -> Result<Judged, CheckError> {
        match e {
            LoginError::Device(why) => Ok(Judged::Unjudged(format!("{label}: {why}"))),
            other => Err(other.into()),
        }
    };
    match &plan.settle {
        Relief::None => {}
        Relief::Wait(pause) => ctx.sleep(*pause)?,
        Relief::LogIn => {
            // A login clears the lockout's count: earlier checks' attempts
            // no longer count, and the right password is shown to work.
            let before = match probe.attempt(account, password) {
                Ok(a) => a,
                Err(e) => return device(e),
            };
            transcript.push_str(&format!(
                "=== right password before the guesses: {:?}\n{}\n",
                before.outcome, before.transcript
            ));
            if !before.accepted() {
                return Ok(Judged::Unjudged(format!(
                    "{label}: the right password did not get in before the guesses ({:?})",
                    before.outcome
                )));
            }
        }
    }
    let wrong = Secret::from_guess("Hilt-wrong-guess");
    let mut timings = Vec::new();
    // The attempt from which the service dropped the connections, and how.
    let mut dropped: Option<(usize, String)> = None;
    for n in 0..plan.attempts as usize {
        let start = std::time::Instant::now();
        let attempt = match probe.attempt(account, &wrong) {
            Ok(a) => a,
            // A service that refused earlier attempts and now drops the
            // connection may be a firewall's limit: judged below.
            Err(LoginError::Device(why)) if n > 0 => {
                transcript.push_str(&format!("=== wrong password: dropped: {why}\n"));
                dropped = Some((n + 1, why));
                break;
            }
            Err(e) => return device(e),
        };
        timings.push(start.elapsed().as_millis());
        transcript.push_str(&format!(
            "=== wrong password: {:?}\n{}\n",
            attempt.outcome, attempt.transcript
        ));
        if attempt.accepted() {
            return Ok(Judged::Unstopped(format!(
                "{label}: a wrong password got in"
            )));
        }
    }
    if let Some(why) = probe.passwords_not_taken() {
        return Ok(Judged::Stopped(format!(
            "{label}: no password to guess ({why})"
        )));
    }
    let since = Instant::now();
    let (locked, word) = match probe.attempt(account, password) {
        Ok(during) => {
            transcript.push_str(&format!(
                "=== right password at once: {:?}\n{}\n",
                during.outcome, during.transcript
            ));
            let word = match &during.outcome {
                Outcome::Accepted => "logs in".to_string(),
                Outcome::Refused(_) => "refused".to_string(),
                Outcome::Unknown(why) => format!("no answer ({why})"),
            };
            (!during.accepted(), word)
        }
        Err(LoginError::Device(why)) if !timings.is_empty() => {
            transcript.push_str(&format!("=== right password at once: dropped: {why}\n"));
            dropped.get_or_insert((timings.len() + 1, why.clone()));
            (true, format!("dropped ({why})"))
        }
        Err(e) => return device(e),
    };
    // A dropped connection is a lock only if the board is alive meanwhile
    // (another service answers) and the right password works again.
    let mut alive = String::new();
    if let Some((from, why)) = &dropped {
        match crate::liveness::control_besides(
            ctx,
            Some(port),
            "while the connections were dropped",
        ) {
            Ok(seen) => {
                alive =
                    format!("; dropped from attempt {from} on, the board alive meanwhile ({seen})")
            }
            Err(CheckError::Board(dead)) => {
                return Ok(Judged::Unjudged(format!(
                    "{label}: connections dropped from attempt {from} on ({why}), and {dead}"
                )))
            }
            Err(e) => return Err(e),
        }
    }
    let mut after = String::new();
    if locked {
        let back = wait_until_back(ctx, plan, since, |_, waited| {
            match probe.attempt(account, password) {
                Ok(again) => {
                    transcript.push_str(&format!(
                        "=== right password after {} s: {:?}\n{}\n",
                        waited.as_secs(),
                        again.outcome,
                        again.transcript
                    ));
                    Ok(again.accepted())
                }
                // Still dropped: not back yet.
                Err(LoginError::Device(why)) => {
                    transcript.push_str(&format!(
                        "=== right password after {} s: dropped: {why}\n",
                        waited.as_secs()
                    ));
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })?;
        match back {
            Ok(waited) => after = format!("; after {} s: logs in", waited.as_secs()),
            Err(waited) => {
                return Ok(Judged::Unjudged(format!(
                    "{label}: the right password still fails {} s after the guesses; cannot tell a lock from a broken login",
                    waited.as_secs()
                )))
            }
        }
    }
    let delayed = slowed(&timings);
    let note = format!(
        "{label}: {} (ms each: {timings:?}{}); right password right after: {word}{alive}{after}",
        plan.describe(),
        if delayed { ", slowed" } else { ", not slowed" },
    );
    Ok(if locked || delayed {
        Judged::Stopped(note)
    } else {
        Judged::Unstopped(note)
    })
}

/// Brute force against the console login: the plan's wrong passwords,
/// then the right one at once, then after the lock. A finding when a
/// wrong password logged in, and whether the guesses were stopped (locked
/// or slowed); what was seen goes to `observed`.
fn brute_force_console(
    ctx: &mut CheckContext,
    plan: &LockPlan,
    user: &str,
    observed: &mut Vec<String>,
) -> Result<(Option<Finding>, bool), CheckError> {
    let password = ctx.password(user)?;
    let decl = ctx.console_decl()?;
    // Whatever happens next, the lock the guesses cause is waited out
    // before the board is handed on.
    console::undo_lock(ctx, user);
    // The console login.
    let wrong = hilt_harness::board::Secret::from_guess("Hilt-wrong-guess");
    let mut timings = Vec::new();
    for _ in 0..plan.attempts {
        let start = std::time::Instant::now();
        let outcome = console::try_login(ctx, &decl, user, &wrong)?;
        timings.push(start.elapsed().as_millis());
        if outcome == LoginOutcome::LoggedIn {
            return Ok((
                Some(Finding::fail(
                    "a wrong password logged in on the console",
                    "login with a wrong password succeeded",
                )),
                false,
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
    let since = Instant::now();
    let during = console::try_login(ctx, &decl, user, &password)?;
    let locked = during != LoginOutcome::LoggedIn;
    let delayed = slowed(&timings);
    let mut after = String::new();
    if locked {
        // It must work again once the lock passes, or the refusal
        // proves nothing.
        let back = wait_until_back(ctx, plan, since, |ctx, _| {
            Ok(console::try_login(ctx, &decl, user, &password)? == LoginOutcome::LoggedIn)
        })?;
        let waited = back.map_err(|waited| {
            CheckError::Board(format!(
                "the right password still fails on the console {} s after the guesses; cannot tell a lock from a broken login",
                waited.as_secs()
            ))
        })?;
        after = format!("; after {} s: logs in", waited.as_secs());
    }
    console::close_shell(ctx, &decl)?;
    observed.push(format!(
        "console: {} (ms each: {timings:?}{}); right password right after: {}{after}",
        plan.describe(),
        if delayed { ", slowed" } else { ", not slowed" },
        verdict_word(&during),
    ));
    Ok((None, locked || delayed))
}

/// Brute force against the API's HTTP authentication: the plan's wrong
/// passwords, then the right one at once (must be refused, unless the
/// wrong ones were slowed), then after the lock (must be accepted).
/// Returns (stopped, what was seen).
fn brute_force_http(ctx: &mut CheckContext, plan: &LockPlan) -> Result<(bool, String), CheckError> {
    use crate::api::{self, Auth};
    use hilt_net::http::HttpRequest;
    let target = api::target(ctx)?;
    let path = target
        .read_paths()
        .first()
        .cloned()
        .unwrap_or_else(|| "/".into());
    let mut statuses = Vec::new();
    let mut timings = Vec::new();
    match &plan.settle {
        Relief::None => {}
        Relief::Wait(pause) => ctx.sleep(*pause)?,
        Relief::LogIn => {
            // A login clears the lockout's count (earlier checks' attempts).
            let before = api::send(ctx, &target, HttpRequest::get(&path), Auth::Declared)?.status;
            if !(200..300).contains(&before) {
                return Err(CheckError::Board(format!(
                    "the right password did not get in on the API before the guesses (status {before})"
                )));
            }
        }
    }
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
                format!(
                    "{}: a wrong password was accepted ({})",
                    target.label(),
                    r.status
                ),
            ));
        }
        statuses.push(r.status);
    }
    let since = Instant::now();
    let during = api::send(ctx, &target, HttpRequest::get(&path), Auth::Declared)?.status;
    let locked = !(200..300).contains(&during);
    let mut after = String::new();
    if locked {
        let mut last = during;
        let back = wait_until_back(ctx, plan, since, |ctx, _| {
            last = api::send(ctx, &target, HttpRequest::get(&path), Auth::Declared)?.status;
            Ok((200..300).contains(&last))
        })?;
        let waited = back.map_err(|waited| {
            CheckError::Board(format!(
                "the right password still fails on the API {} s after the guesses (status {last}); cannot tell a lock from a broken login",
                waited.as_secs()
            ))
        })?;
        after = format!("; after {} s: {last}", waited.as_secs());
    }
    let delayed = slowed(&timings);
    Ok((
        locked || delayed,
        format!(
            "{} GET {path}: {} answered {statuses:?} (ms each: {timings:?}); right password right after: {during}{after}",
            target.label(),
            plan.describe()
        ),
    ))
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
