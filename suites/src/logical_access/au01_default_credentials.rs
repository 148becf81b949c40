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

use hilt_harness::board::{Board, InterfaceDecl, Secret};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::driver::login::{self, Attempt, LoginError, LoginProbe, Outcome};
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::needs_console;
use crate::console::{self, STEP};
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

/// How guesses are paced around a declared lockout, and what was changed
/// to allow it (put back at the end; the undo steps cover a crash).
struct Plan {
    saved_delay: Option<(String, String)>,
    raised: Option<(String, String)>,
    batch: usize,
    pause: Duration,
    locked_possible: bool,
}

impl Plan {
    /// Where the lockout's settings are declared and the settings can be
    /// changed (the console's configuration dialogues or the API's
    /// configuration resource): the delay shortened and the threshold
    /// raised above the dictionary for the duration, so every guess is
    /// really evaluated (each change registers its undo step).
    fn prepare(ctx: &mut CheckContext, limit: usize) -> Result<Self, CheckError> {
        let lockout = ctx.board().spec.declares.lockout.clone();
        let settable = matches!(settings::applicable(ctx.board()), Applicability::Applicable);
        let mut saved_delay = None;
        let mut raised = None;
        let mut delay = lockout.as_ref().and_then(|l| l.delay_s).unwrap_or(0);
        if let Some(l) = lockout.as_ref().filter(|_| settable) {
            if l.delay_parameter.is_some() || l.threshold_parameter.is_some() {
                let settings = Settings::open(ctx)?;
                if let Some(param) = &l.delay_parameter {
                    let original = settings.get(ctx, param)?;
                    settings.set_verified(ctx, param, "2")?;
                    delay = 2;
                    saved_delay = Some((param.clone(), original));
                }
                if let Some(param) = &l.threshold_parameter {
                    let original = settings.get(ctx, param)?;
                    // Room for the dictionary, anonymous and the control.
                    settings.set_verified(ctx, param, &(limit + 5).to_string())?;
                    raised = Some((param.clone(), original));
                }
                settings.close(ctx)?;
            }
        }
        let threshold = match &raised {
            Some(_) => Some((limit + 5) as u32),
            None => lockout.as_ref().map(|l| l.threshold),
        };
        Ok(Self {
            saved_delay,
            batch: threshold
                .map(|t| t.saturating_sub(1).max(1) as usize)
                .unwrap_or(usize::MAX),
            pause: Duration::from_secs(u64::from(delay) + 1),
            locked_possible: lockout.is_some() && raised.is_none(),
            raised,
        })
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

    /// Before guess `n` of a target: waits out a lock when the batch is full.
    fn pace(&self, ctx: &CheckContext, n: usize) -> Result<(), CheckError> {
        if n > 0 && n % self.batch == 0 {
            ctx.sleep(self.pause)?;
        }
        Ok(())
    }

    /// Before the positive control: waits out a lock the guesses may have set.
    fn before_control(&self, ctx: &CheckContext) -> Result<(), CheckError> {
        ctx.sleep(if self.locked_possible {
            self.pause
        } else {
            Duration::ZERO
        })?;
        Ok(())
    }
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
    };
    for (n, (user, password)) in DEFAULT_CREDENTIALS.iter().take(limit).enumerate() {
        plan.pace(ctx, n)?;
        let secret = Secret::from_guess(password);
        let credential = phrase(user, password);
        tried_phrases.push(credential.clone());
        let console = ctx.console()?;
        match dialogue::login(console, &decl, user, &secret, STEP)? {
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
        plan.before_control(ctx)?;
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let console = ctx.console()?;
        match dialogue::login(console, &decl, &user, &password, STEP)? {
            LoginOutcome::LoggedIn => {
                console::close_shell(ctx, &decl)?;
                judged.control = format!("the declared account {user} logged in");
            }
            other => {
                judged.unjudged = Some(format!(
                    "serial console: after the guesses the declared account could not log in ({other:?}); the refusals prove nothing"
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
    ctx.evidence().text(
        &logins::evidence_name("au01", interface),
        "text/plain",
        &format!("default-credential attempts on {label}"),
        &transcript,
    )?;
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
    let mut n = 0;
    match probe.attempt_anonymous() {
        Ok(Some(a)) => {
            n += 1;
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
        plan.pace(ctx, n)?;
        n += 1;
        tried_phrases.push(if probe.secret_only() {
            password.clone()
        } else {
            credential.clone()
        });
        match probe.attempt(&user, &Secret::from_guess(&password)) {
            Ok(a) => note(&credential, &a, judged, &mut unknown),
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
    let Some(account) = login::interface_account(ctx.board(), interface) else {
        judged.control = "no account declared for it (no positive control)".into();
        return Ok(());
    };
    let password = match ctx.board().account_password(&account) {
        Ok(p) => p,
        Err(e) => {
            return Err(CheckError::Harness(format!(
                "the password of {account:?}: {e}"
            )))
        }
    };
    plan.before_control(ctx)?;
    match probe.attempt(&account, &password) {
        Ok(a) => {
            transcript.push_str(&format!(
                "=== declared account {account}: {:?}\n{}\n",
                a.outcome, a.transcript
            ));
            if a.accepted() {
                judged.control = format!("the declared account {account} logged in");
            } else if let Some(why) = probe.passwords_not_taken() {
                // No password is weighed at all (SSH with keys only): the
                // method list that said so shows the service alive.
                judged.control = why;
            } else {
                judged.unjudged = Some(format!(
                    "{}: the declared account {account} did not get in either ({:?}); the refusals prove nothing",
                    judged.label, a.outcome
                ));
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
