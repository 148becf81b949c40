//! Logical Access to Interfaces (NIST IR 8259A LA-1, LA-2, LA-3).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::transport::serial::{self, LoginOutcome};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console::{self, STEP};

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(SerialLoginRequired),
        Arc::new(ConsoleDefaultCredentials),
    ]
}

fn needs_console(board: &Board) -> Applicability {
    if board.spec.hardware.serial.is_none() {
        Applicability::NotApplicable(
            "the board has no serial console wired (hardware.serial)".into(),
        )
    } else if board.spec.declares.console.is_none() {
        Applicability::NotApplicable(
            "the declaration describes no console (declares.console)".into(),
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
        let console = ctx.console()?;
        let state = serial::wake(console, &decl, STEP)?;
        if state == 1 || decl.login.is_none() {
            return Ok(Finding::fail(
                "a shell prompt was reachable without any credentials",
                format!("console answered with the shell prompt {:?}", decl.prompt),
            ));
        }
        // At the login prompt: a shell command typed as the user name must
        // lead to the password prompt, not run.
        let probe = "id";
        console.send_line(probe)?;
        let password_prompt = decl.password.clone().unwrap_or_default();
        let found = console.expect_any(
            &[
                &regex::escape(&password_prompt),
                &regex::escape(&decl.prompt),
            ],
            STEP,
        )?;
        if found.index == 1 {
            return Ok(Finding::fail(
                "the console ran a shell after a user name alone",
                format!("after sending {probe:?} at the login prompt the shell prompt appeared"),
            ));
        }
        // Answer the password prompt with nothing; expect to be sent back.
        console.send_line("")?;
        let back = console.expect_any(
            &[
                &regex::escape(decl.login.as_deref().unwrap_or_default()),
                &regex::escape(&decl.prompt),
            ],
            STEP,
        )?;
        if back.index == 1 {
            return Ok(Finding::fail(
                "an empty password opened a shell",
                "shell prompt after an empty password",
            ));
        }
        // Positive control: the genuine account gets in, so the refusals
        // above were the device's decision, not a broken console.
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let console = ctx.console()?;
        match serial::login(console, &decl, &user, &password, STEP)? {
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
    destructive: false,
    default_timeout: Duration::from_secs(180),
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
            _ => Applicability::NotApplicable(
                "the console declares no login; AU-09 covers an open console".into(),
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let decl = ctx.console_decl()?;
        let lockout = ctx.board().spec.declares.lockout.clone();
        // Stay under the lockout threshold, waiting out the lock between
        // batches, so every guess is really evaluated by the device.
        let batch = lockout
            .as_ref()
            .map(|l| l.threshold.saturating_sub(1).max(1) as usize)
            .unwrap_or(usize::MAX);
        let pause =
            Duration::from_secs(lockout.as_ref().and_then(|l| l.delay_s).unwrap_or(0) as u64 + 1);
        let limit = ctx.param_u64("max_attempts", DEFAULT_CREDENTIALS.len() as u64) as usize;
        let mut tried = Vec::new();
        for (n, (user, password)) in DEFAULT_CREDENTIALS.iter().take(limit).enumerate() {
            if n > 0 && n % batch == 0 {
                ctx.sleep(pause)?;
            }
            let secret = hilt_harness::board::Secret::from_guess(password);
            let console = ctx.console()?;
            let outcome = serial::login(console, &decl, user, &secret, STEP)?;
            tried.push(format!(
                "{user}/{}",
                if password.is_empty() {
                    "<empty>"
                } else {
                    password
                }
            ));
            match outcome {
                LoginOutcome::LoggedIn => {
                    console::close_shell(ctx, &decl)?;
                    return Ok(Finding::fail(
                        format!("default credential {user}/{password:?} opened a shell"),
                        format!("tried {}", tried.join(", ")),
                    ));
                }
                LoginOutcome::NoLoginRequired => {
                    return Ok(Finding::fail(
                        "the console gives a shell without login",
                        "shell prompt before credentials",
                    ));
                }
                LoginOutcome::Rejected(_) => {}
            }
        }
        // Positive control after the guesses (and after any lock expired).
        ctx.sleep(if lockout.is_some() {
            pause
        } else {
            Duration::ZERO
        })?;
        let user = console::account(ctx)?;
        let password = ctx.password(&user)?;
        let console = ctx.console()?;
        match serial::login(console, &decl, &user, &password, STEP)? {
            LoginOutcome::LoggedIn => console::close_shell(ctx, &decl)?,
            other => {
                return Err(CheckError::Board(format!(
                    "after the guesses the declared account could not log in ({other:?}); the refusals prove nothing"
                )))
            }
        }
        Ok(Finding::pass(
            "no default credential logged in; the declared account did",
            format!("refused: {}", tried.join(", ")),
        )
        .with("attempts", tried.len()))
    }
}
