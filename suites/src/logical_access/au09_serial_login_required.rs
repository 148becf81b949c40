use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome, Rest};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::needs_console;
use crate::console::{self, STEP};

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
        let boot = dialogue::boot_time(ctx.board()).max(Duration::from_secs(30));
        let console = ctx.console()?;
        let state = if fresh_boot {
            dialogue::look(console, &decl, boot)?
        } else {
            dialogue::wake(console, &decl, STEP)?
        };
        if state == dialogue::AT_SHELL || decl.login.is_none() {
            ctx.locate_on_console();
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
                ctx.locate_on_console();
                return Ok(Finding::fail(
                    "the console ran a shell after a user name alone",
                    format!(
                        "after sending {probe:?} at the login prompt the shell prompt appeared"
                    ),
                ));
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
                ctx.locate_on_console();
                return Ok(Finding::fail(
                    "an empty password opened a shell",
                    "shell prompt after an empty password",
                ));
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
