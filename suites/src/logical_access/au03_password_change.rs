use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{needs_console, verdict_word};
use crate::console;

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
            Some(c) if c.login.is_some() => console::needs_password_dialogue(board),
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
        console::undo_password_change(ctx, &user, &new);
        let answer = console::change_password(ctx, &decl, &old, &new)?;
        console::close_shell(ctx, &decl)?;
        let old_after = console::try_login(ctx, &decl, &user, &old)?;
        if old_after == LoginOutcome::LoggedIn {
            console::close_shell(ctx, &decl)?;
        }
        let new_after = console::try_login(ctx, &decl, &user, &new)?;
        // Put the original password back with whichever one works.
        let restored = match (&new_after, &old_after) {
            (LoginOutcome::LoggedIn, _) => {
                console::change_password(ctx, &decl, &new, &old)?;
                console::close_shell(ctx, &decl)?;
                true
            }
            (_, LoginOutcome::LoggedIn) => true,
            _ => false,
        };
        if !restored {
            return Err(CheckError::Board(format!(
                "neither the old nor the new password logs in after the password change (it answered {}); the board's credential is unknown",
                console::said(&answer)
            )));
        }
        let observed = format!(
            "the password change answered {}; old password afterwards: {}; new password: {}",
            console::said(&answer),
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
