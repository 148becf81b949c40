//! AU-01: no universal default credential opens any interface that
//! authenticates: the serial console's login, and every declared network
//! interface with `auth: required` that hilt has a login driver for
//! (telnet, SSH, HTTP Basic/Digest/form/token login, MQTT, SNMP
//! communities). Each is given the public dictionary of IoT defaults (and
//! an anonymous login where the protocol has one); the declared account
//! then logs in on it (the positive control), so a refusal is the device's
//! and not a broken driver's. FAIL names every interface and credential
//! accepted; PASS only when every interface was reached and refused every
//! guess; an interface it cannot judge is named and keeps it from PASS.

use std::time::Duration;

use hilt_harness::board::{Board, InterfaceDecl, LockoutDecl, Secret};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::driver::login::{self, Attempt, LoginError, LoginProbe, Outcome};
use hilt_harness::evidence::Locator;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::needs_console;
use crate::console::{self, STEP};
use crate::lockout::{Pacer, Relief};
use crate::logins;
use crate::settings::{self, Settings};

/// AU-01: no universal default credential opens an interface.
pub struct DefaultCredentials;

static DEFAULT_CREDENTIALS_META: CheckMeta = CheckMeta {
    name: "default_credentials",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-01",
    title: "No universal default credentials on any interface that authenticates",
    expected: "no pair from the default-credential dictionary (nor an anonymous login) gets in on the console or any authenticating network interface",
    nistir_8259a: &["LA-2"],
    en_303_645: &["5.1-1"],
    ts_103_701: &["5.1-1-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(300),
    params: &[ParamSpec {
        name: "max_attempts",
        meaning: "how many pairs of the default-credential dictionary to try on each interface, in order",
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

/// SNMP communities agents ship with.
pub const DEFAULT_COMMUNITIES: &[&str] =
    &["public", "private", "community", "admin", "manager", "snmp"];

/// What one interface (or the console) showed.
struct Judged {
    label: String,
    /// Credentials it accepted (dictionary phrases).
    accepted: Vec<String>,
    /// Why it could not be judged, if it could not.
    unjudged: Option<String>,
    /// How many guesses it refused.
    refused: usize,
    /// The positive control, in words.
    control: String,
    /// The line of the interface's attempts file where the first
    /// accepted guess begins.
    accepted_at: Option<u64>,
}

impl Check for DefaultCredentials {
    fn meta(&self) -> &CheckMeta {
        &DEFAULT_CREDENTIALS_META
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if console_target(board) || !logins::authenticating(board).is_empty() {
            return Applicability::Applicable;
        }
        Applicability::not_applicable(
            "nothing that authenticates: no console login and no network interface with `auth: required`",
            &[
                "declares.console.login",
                "declares.interfaces[].auth",
                "hardware.network.address",
            ],
        )
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let limit = ctx.param_u64("max_attempts")? as usize;
        let plan = Plan::prepare(ctx, limit)?;
        let mut judged = Vec::new();
        let mut tried_phrases: Vec<String> = Vec::new();
        if console_target(ctx.board()) {
            judged.push(judge_console(ctx, &plan, limit, &mut tried_phrases)?);
        }
        for interface in logins::authenticating(ctx.board()) {
            judged.push(judge_interface(
                ctx,
                &interface,
                &plan,
                limit,
                &mut tried_phrases,
            )?);
        }
        plan.restore(ctx)?;
        verdict(judged, &tried_phrases)
    }
}

fn console_target(board: &Board) -> bool {
    matches!(needs_console(board), Applicability::Applicable)
        && board
            .spec
            .declares
            .console
            .as_ref()
            .is_some_and(|c| c.login.is_some())
}

/// What was changed on the device so that every guess is weighed (put
/// back at the end; the undo steps cover a crash), and the board's
/// lockout as it holds while the check runs.
struct Plan {
    saved_delay: Option<(String, String)>,
    raised: Option<(String, String)>,
    board_lockout: Option<LockoutDecl>,
}

impl Plan {
    /// Where the lockout's settings are declared and the settings can be
    /// changed (the console's configuration dialogues or the API's
    /// configuration resource): the delay shortened and the threshold
    /// raised above the dictionary for the duration, so every guess is
    /// really evaluated (each change registers its undo step).
    fn prepare(ctx: &mut CheckContext, limit: usize) -> Result<Self, CheckError> {
        let mut board_lockout = ctx.board().spec.declares.lockout.clone();
        let settable = matches!(settings::applicable(ctx.board()), Applicability::Applicable);
        let mut saved_delay = None;
        let mut raised = None;
        if let Some(l) = board_lockout.as_mut().filter(|_| settable) {
            if l.delay_parameter.is_some() || l.threshold_parameter.is_some() {
                let settings = Settings::open(ctx)?;
                if let Some(param) = &l.delay_parameter {
                    let original = settings.get(ctx, param)?;
                    settings.set_verified(ctx, param, "2")?;
                    l.delay_s = Some(2);
                    saved_delay = Some((param.clone(), original));
                }
                if let Some(param) = &l.threshold_parameter {
                    let original = settings.get(ctx, param)?;
                    // Room for the dictionary, anonymous and the control.
                    let room = (limit + 5) as u32;
                    settings.set_verified(ctx, param, &room.to_string())?;
                    l.threshold = room;
                    raised = Some((param.clone(), original));
                }
                settings.close(ctx)?;
            }
        }
        Ok(Self {
            saved_delay,
            raised,
            board_lockout,
        })
    }

    /// The count of the lockout that holds on `interface` (the console:
    /// None), from zero.
    fn pacer(&self, interface: Option<&InterfaceDecl>) -> Pacer {
        Pacer::new(
            interface
                .and_then(|i| i.lockout.clone())
                .or_else(|| self.board_lockout.clone()),
        )
    }

    fn restore(self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        if self.saved_delay.is_none() && self.raised.is_none() {
            return Ok(());
        }
        let settings = Settings::open(ctx)?;
        for (param, original) in self.saved_delay.iter().chain(self.raised.iter()) {
            settings.set_verified(ctx, param, original)?;
        }
        settings.close(ctx)
    }
}

/// Before an attempt as `user` (the positive control included): relieves
/// the lockout's count when the attempt could trip it, by waiting its
/// window out or by logging the declared account in (`log_in`, which
/// reports whether it got in). Err(why) when that login failed: the
/// guesses so far may have locked it, and prove nothing.
fn relieve(
    ctx: &mut CheckContext,
    pacer: &mut Pacer,
    user: &str,
    account: Option<&str>,
    control: bool,
    log_in: impl FnOnce(&mut CheckContext) -> Result<bool, CheckError>,
) -> Result<Result<(), String>, CheckError> {
    match pacer.before(user, account) {
        Relief::None => {}
        // The control is itself the login that clears the count.
        Relief::LogIn if control => {}
        Relief::LogIn => {
            let account = account.unwrap_or_default();
            if !log_in(ctx)? {
                return Ok(Err(format!(
                    "the declared account {account} could not log in between guesses (to clear the lockout's count)"
                )));
            }
            pacer.attempted(account, true);
        }
        Relief::Wait(pause) => {
            ctx.sleep(pause)?;
            pacer.waited();
        }
    }
    Ok(Ok(()))
}

/// Wrong passwords the declared account is given in a row before the
/// positive control, when no lockout is declared: as many as any
/// dictionary account failed before its last guess, less the declared
/// account's own. It stands in for every account: a device that locks an
/// account after that many failures refuses the control, and then the
/// dictionary's refusals prove nothing (its last guesses may have met the
/// lock, not a wrong password).
fn canary_failures<'a>(users: impl Iterator<Item = &'a str>, account: &str) -> usize {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for user in users {
        *counts.entry(user).or_insert(0) += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    most.saturating_sub(1)
        .saturating_sub(counts.get(account).copied().unwrap_or(0))
}

/// The declared account's positive control after `canary` wrong
/// passwords in a row (console or interface alike): Ok(the control in
/// words) when it got in; Err(why the refusals prove nothing) when it was
/// refused after a canary; None when it was refused without one (the
/// caller knows why).
fn control_after_canary(
    account: &str,
    canary: usize,
    got_in: bool,
) -> Option<Result<String, String>> {
    if got_in {
        let mut control = format!("the declared account {account} logged in");
        if canary > 0 {
            control.push_str(&format!(" after {canary} wrong password(s) in a row"));
        }
        Some(Ok(control))
    } else if canary > 0 {
        Some(Err(undeclared_lock(account, canary)))
    } else {
        None
    }
}

/// Why a refused control after the canary's wrong passwords proves the
/// refusals nothing.
fn undeclared_lock(account: &str, canary: usize) -> String {
    format!(
        "the declared account {account} was refused after {canary} wrong password(s) in a row: the device locks an account after so few failures, which the board file does not declare (declares.lockout), so a default refused later may have met the lock; the refusals prove nothing"
    )
}

/// The phrase naming a dictionary entry (`admin/admin`, `root/<empty>`).
fn phrase(user: &str, password: &str) -> String {
    format!(
        "{user}/{}",
        if password.is_empty() {
            "<empty>"
        } else {
            password
        }
    )
}

fn judge_console(
    ctx: &mut CheckContext,
    plan: &Plan,
    limit: usize,
    tried_phrases: &mut Vec<String>,
) -> Result<Judged, CheckError> {
    let decl = ctx.console_decl()?;
    let mut judged = Judged {
        label: "serial console".into(),
        accepted: Vec::new(),
        unjudged: None,
        refused: 0,
        control: String::new(),
        accepted_at: None,
    };
    let account = console::account(ctx)?;
    let account_password = ctx.password(&account)?;
    let mut pacer = plan.pacer(None);
    // The declared account's login on the console (it closes the shell).
    let log_in = |ctx: &mut CheckContext| -> Result<bool, CheckError> {
        let console = ctx.console()?;
        let outcome = dialogue::login(console, &decl, &account, &account_password, STEP)?;
        if outcome == LoginOutcome::LoggedIn {
            console::close_shell(ctx, &decl)?;
        }
        Ok(outcome == LoginOutcome::LoggedIn)
    };
    for (user, password) in DEFAULT_CREDENTIALS.iter().take(limit) {
        if let Err(why) = relieve(ctx, &mut pacer, user, Some(&account), false, log_in)? {
            judged.unjudged = Some(format!("serial console: {why}"));
            return Ok(judged);
        }
        let secret = Secret::from_guess(password);
        let credential = phrase(user, password);
        tried_phrases.push(credential.clone());
        let console = ctx.console()?;
        let outcome = dialogue::login(console, &decl, user, &secret, STEP)?;
        pacer.attempted(user, !matches!(outcome, LoginOutcome::Rejected(_)));
        match outcome {
            LoginOutcome::Rejected(_) => judged.refused += 1,
            LoginOutcome::LoggedIn => {
                judged.accepted.push(credential);
                console::close_shell(ctx, &decl)?;
            }
            LoginOutcome::NoLoginRequired => {
                judged
                    .accepted
                    .push("no credential at all (a shell without login)".into());
                console::close_shell(ctx, &decl)?;
                break;
            }
        }
    }
    if judged.accepted.is_empty() {
        if let Err(why) = relieve(ctx, &mut pacer, &account, Some(&account), true, log_in)? {
            judged.unjudged = Some(format!("serial console: {why}"));
            return Ok(judged);
        }
        let canary = if pacer.declared() {
            0
        } else {
            canary_failures(
                DEFAULT_CREDENTIALS.iter().take(limit).map(|(u, _)| *u),
                &account,
            )
        };
        let wrong = Secret::from_guess("Hilt-canary-wrong");
        for _ in 0..canary {
            let console = ctx.console()?;
            if dialogue::login(console, &decl, &account, &wrong, STEP)? == LoginOutcome::LoggedIn {
                console::close_shell(ctx, &decl)?;
                judged
                    .accepted
                    .push(format!("{account} with a wrong password"));
                return Ok(judged);
            }
        }
        match control_after_canary(&account, canary, log_in(ctx)?) {
            Some(Ok(control)) => judged.control = control,
            Some(Err(why)) => judged.unjudged = Some(format!("serial console: {why}")),
            None => {
                judged.unjudged = Some(format!(
                    "serial console: after the guesses the declared account {account} could not log in; the refusals prove nothing"
                ))
            }
        }
    }
    Ok(judged)
}

fn judge_interface(
    ctx: &mut CheckContext,
    interface: &InterfaceDecl,
    plan: &Plan,
    limit: usize,
    tried_phrases: &mut Vec<String>,
) -> Result<Judged, CheckError> {
    let label = logins::label(interface);
    let mut judged = Judged {
        label: label.clone(),
        accepted: Vec::new(),
        unjudged: None,
        refused: 0,
        control: String::new(),
        accepted_at: None,
    };
    let mut probe = match logins::open(ctx, interface)? {
        Ok(p) => p,
        Err(why) => {
            judged.unjudged = Some(why);
            return Ok(judged);
        }
    };
    let turned = match logins::ensure_on(ctx, interface)? {
        Ok(t) => t,
        Err(why) => {
            judged.unjudged = Some(why);
            return Ok(judged);
        }
    };
    let mut transcript = String::new();
    let result = guess(
        ctx,
        probe.as_mut(),
        interface,
        plan,
        limit,
        &mut judged,
        &mut transcript,
        tried_phrases,
    );
    logins::put_back(ctx, turned)?;
    let name = logins::evidence_name("au01", interface);
    ctx.evidence().text(
        &name,
        "text/plain",
        &format!("default-credential attempts on {label}"),
        &transcript,
    )?;
    if let Some(line) = judged.accepted_at {
        ctx.evidence().locate(&name, Locator::Line(line));
    }
    result?;
    Ok(judged)
}

#[allow(clippy::too_many_arguments)]
fn guess(
    ctx: &mut CheckContext,
    probe: &mut dyn LoginProbe,
    interface: &InterfaceDecl,
    plan: &Plan,
    limit: usize,
    judged: &mut Judged,
    transcript: &mut String,
    tried_phrases: &mut Vec<String>,
) -> Result<(), CheckError> {
    let mut unknown = Vec::new();
    let mut note =
        |credential: &str, attempt: &Attempt, judged: &mut Judged, unknown: &mut Vec<String>| {
            if matches!(attempt.outcome, Outcome::Accepted) && judged.accepted_at.is_none() {
                judged.accepted_at = Some(transcript.lines().count() as u64 + 1);
            }
            transcript.push_str(&format!(
                "=== {credential}: {:?}\n{}\n",
                attempt.outcome, attempt.transcript
            ));
            match &attempt.outcome {
                Outcome::Accepted => judged.accepted.push(credential.to_string()),
                Outcome::Refused(_) => judged.refused += 1,
                Outcome::Unknown(why) => unknown.push(format!("{credential}: {why}")),
            }
        };
    let guesses: Vec<(String, String, String)> = if probe.secret_only() {
        DEFAULT_COMMUNITIES
            .iter()
            .map(|c| (String::new(), c.to_string(), format!("community {c}")))
            .collect()
    } else {
        DEFAULT_CREDENTIALS
            .iter()
            .take(limit)
            .map(|(u, p)| (u.to_string(), p.to_string(), phrase(u, p)))
            .collect()
    };
    // The declared account: the positive control, and the login that
    // clears a lockout's count where one does.
    let account = login::interface_account(ctx.board(), interface);
    let account_password = match &account {
        Some(a) => Some(
            ctx.board()
                .account_password(a)
                .map_err(|e| CheckError::Harness(format!("the password of {a:?}: {e}")))?,
        ),
        None => None,
    };
    let mut pacer = plan.pacer(Some(interface));
    // An anonymous attempt is counted as one by a source's count.
    match probe.attempt_anonymous() {
        Ok(Some(a)) => {
            pacer.attempted("", a.accepted());
            note("anonymous", &a, judged, &mut unknown);
        }
        Ok(None) => {}
        Err(LoginError::Device(why)) => {
            judged.unjudged = Some(format!("{}: {why}", judged.label));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    for (user, password, credential) in guesses {
        let relieved = relieve(
            ctx,
            &mut pacer,
            &user,
            account.as_deref(),
            false,
            |_: &mut CheckContext| match (&account, &account_password) {
                (Some(a), Some(p)) => match probe.attempt(a, p) {
                    Ok(attempt) => Ok(attempt.accepted()),
                    Err(LoginError::Device(_)) => Ok(false),
                    Err(e) => Err(e.into()),
                },
                _ => Ok(false),
            },
        )?;
        if let Err(why) = relieved {
            judged.unjudged = Some(format!("{}: {why}", judged.label));
            return Ok(());
        }
        tried_phrases.push(if probe.secret_only() {
            password.clone()
        } else {
            credential.clone()
        });
        match probe.attempt(&user, &Secret::from_guess(&password)) {
            Ok(a) => {
                pacer.attempted(&user, a.accepted());
                note(&credential, &a, judged, &mut unknown)
            }
            Err(LoginError::Device(why)) => {
                judged.unjudged = Some(format!("{}: {why}", judged.label));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !judged.accepted.is_empty() {
        return Ok(());
    }
    if !unknown.is_empty() {
        judged.unjudged = Some(format!(
            "{}: answers that are neither a login nor a refusal ({})",
            judged.label,
            unknown.join("; ")
        ));
        return Ok(());
    }
    // The positive control: the declared account gets in.
    let (Some(account), Some(password)) = (account, account_password) else {
        judged.control = "no account declared for it (no positive control)".into();
        return Ok(());
    };
    // (The control is itself the login that would clear the count.)
    relieve(ctx, &mut pacer, &account, Some(&account), true, |_| {
        Ok(true)
    })?
    .map_err(CheckError::Harness)?;
    let canary = if pacer.declared() || probe.secret_only() || probe.passwords_not_taken().is_some()
    {
        0
    } else {
        canary_failures(
            DEFAULT_CREDENTIALS.iter().take(limit).map(|(u, _)| *u),
            &account,
        )
    };
    let wrong = Secret::from_guess("Hilt-canary-wrong");
    for _ in 0..canary {
        match probe.attempt(&account, &wrong) {
            Ok(a) => {
                transcript.push_str(&format!(
                    "=== declared account {account}, wrong password: {:?}\n{}\n",
                    a.outcome, a.transcript
                ));
                if a.accepted() {
                    judged
                        .accepted
                        .push(format!("{account} with a wrong password"));
                    return Ok(());
                }
            }
            Err(LoginError::Device(why)) => {
                judged.unjudged = Some(format!("{}: {why}", judged.label));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    match probe.attempt(&account, &password) {
        Ok(a) => {
            transcript.push_str(&format!(
                "=== declared account {account}: {:?}\n{}\n",
                a.outcome, a.transcript
            ));
            match control_after_canary(&account, canary, a.accepted()) {
                Some(Ok(control)) => judged.control = control,
                Some(Err(why)) => judged.unjudged = Some(format!("{}: {why}", judged.label)),
                None => match probe.passwords_not_taken() {
                    // No password is weighed at all (SSH with keys only):
                    // the method list that said so shows the service alive.
                    Some(why) => judged.control = why,
                    None => {
                        judged.unjudged = Some(format!(
                            "{}: the declared account {account} did not get in either ({:?}); the refusals prove nothing",
                            judged.label, a.outcome
                        ))
                    }
                },
            }
        }
        Err(LoginError::Device(why)) => {
            judged.unjudged = Some(format!("{}: positive control: {why}", judged.label))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn verdict(judged: Vec<Judged>, tried: &[String]) -> Result<Finding, CheckError> {
    let accepted: Vec<String> = judged
        .iter()
        .filter(|j| !j.accepted.is_empty())
        .map(|j| format!("{} accepted {}", j.label, j.accepted.join(", ")))
        .collect();
    let unjudged: Vec<String> = judged.iter().filter_map(|j| j.unjudged.clone()).collect();
    let held: Vec<String> = judged
        .iter()
        .filter(|j| j.accepted.is_empty() && j.unjudged.is_none())
        .map(|j| format!("{} refused {} ({})", j.label, j.refused, j.control))
        .collect();
    let mut observed = Vec::new();
    observed.extend(accepted.iter().cloned());
    observed.extend(held.iter().cloned());
    observed.extend(unjudged.iter().map(|u| format!("not judged: {u}")));
    let observed = observed.join("; ");
    let finding = if !accepted.is_empty() {
        let mut reason = format!("default credentials get in: {}", accepted.join("; "));
        if !unjudged.is_empty() {
            reason.push_str(&format!("; not judged: {}", unjudged.join("; ")));
        }
        Finding::fail(reason, observed)
    } else if !unjudged.is_empty() {
        let mut reason = format!(
            "not every interface could be judged: {}",
            unjudged.join("; ")
        );
        if !held.is_empty() {
            reason.push_str(&format!("; held: {}", held.join("; ")));
        }
        return Err(CheckError::Board(reason));
    } else {
        Finding::pass(
            format!(
                "no default credential got in on {} interface(s), each shown able to let a login in or to take no password at all (its control is in the observation)",
                held.len()
            ),
            observed,
        )
    };
    let finding = finding.with("interfaces", judged.len()).with(
        "accepted_on",
        judged.iter().filter(|j| !j.accepted.is_empty()).count(),
    );
    Ok(credential_finding(finding, tried))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_control_after_a_canary_proves_nothing() {
        assert_eq!(
            control_after_canary("admin", 2, true),
            Some(Ok(
                "the declared account admin logged in after 2 wrong password(s) in a row".into()
            ))
        );
        assert_eq!(
            control_after_canary("admin", 0, true),
            Some(Ok("the declared account admin logged in".into()))
        );
        assert!(matches!(
            control_after_canary("admin", 2, false),
            Some(Err(_))
        ));
        assert_eq!(control_after_canary("admin", 0, false), None);
    }
}
