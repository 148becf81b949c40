use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::needs_console;
use crate::console::{self, STEP};

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
