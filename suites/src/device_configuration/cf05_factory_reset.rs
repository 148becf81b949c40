use std::time::Duration;

use hilt_harness::board::{Board, Dialogue};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_config, parameter};
use crate::console;

/// CF-05 and DP-09: factory reset restores the secure defaults and
/// erases credentials set by the user.
pub struct FactoryResetDefaults;

static FACTORY_RESET: CheckMeta = CheckMeta {
    name: "factory_reset",
    capability: Capability::DeviceConfiguration,
    catalogue_id: "CF-05",
    title: "Factory reset restores secure defaults and erases user credentials",
    expected: "after a reset the changed setting is back to its default, the user's password no longer works and the factory credential does",
    nistir_8259a: &["DC-3", "DP-2"],
    en_303_645: &["5.11-1", "5.1-1"],
    ts_103_701: &["5.11-1-2"],
    cra_annex_i: &["b", "m"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for FactoryResetDefaults {
    fn meta(&self) -> &CheckMeta {
        &FACTORY_RESET
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match console_config(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        let login = board
            .spec
            .declares
            .console
            .as_ref()
            .is_some_and(|c| c.login.is_some());
        match &board.spec.declares.factory_reset {
            // A console without login has no credential to erase: the
            // settings alone are judged.
            Some(f) if f.console.is_some() && !login => Applicability::Applicable,
            Some(f) if f.console.is_some() => console::needs_password_dialogue(board),
            _ => Applicability::not_applicable(
                "no console factory reset declared (declares.factory_reset.console)",
                &["declares.factory_reset.console"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (param, value) = parameter(ctx)?;
        let reset = ctx
            .board()
            .spec
            .declares
            .factory_reset
            .as_ref()
            .and_then(|f| f.console.clone())
            .ok_or_else(|| CheckError::Harness("no factory reset dialogue".into()))?;
        if ctx.console_decl()?.login.is_none() {
            return settings_only(ctx, &reset);
        }
        let rotates = ctx
            .board()
            .label()
            .is_some_and(|l| l.rotates_on_factory_reset());
        let user = console::account(ctx)?;
        let factory = ctx.password(&user)?;
        let changed = ctx.new_password()?;
        let decl = console::open_shell(ctx)?;
        let default = console::config_get(ctx, &decl, &param)?;
        console::config_set_verified(ctx, &decl, &param, &value)?;
        console::undo_password_change(ctx, &user, &changed);
        let answer = console::change_password(ctx, &decl, &factory, &changed)?;
        console::close_shell(ctx, &decl)?;
        // The user's password must now work, or the test proves nothing.
        match console::try_login(ctx, &decl, &user, &changed)? {
            LoginOutcome::LoggedIn => {}
            other => {
                return Err(CheckError::Board(format!(
                "changing the password as the user did not take (it answered {}, then {other:?})",
                console::said(&answer)
            )))
            }
        }
        // Reset (as the logged-in user), then wait for the device to return.
        console::restart_with(ctx, &decl, &reset)?;
        console::await_boot(ctx, &decl)?;

        let old_password = console::try_login(ctx, &decl, &user, &changed)?;
        let old_works = old_password == LoginOutcome::LoggedIn;
        if old_works {
            console::close_shell(ctx, &decl)?;
        }
        // A label password that rotates is read again: the reset printed a
        // new one, and the one from before must no longer log in.
        let (current, label_note, old_label_works) = if rotates {
            let current = ctx.reread_password(&user)?;
            if current == factory {
                (current, "; label password after reset: unchanged", false)
            } else {
                let before = console::try_login(ctx, &decl, &user, &factory)?;
                let works = before == LoginOutcome::LoggedIn;
                if works {
                    console::close_shell(ctx, &decl)?;
                }
                let note = if works {
                    "; label password after reset: new, and the one from before still logs in"
                } else {
                    "; label password after reset: new, and the one from before is refused"
                };
                (current, note, works)
            }
        } else {
            (factory.clone(), "", false)
        };
        let factory_login = console::try_login(ctx, &decl, &user, &current)?;
        let mut after = None;
        if factory_login == LoginOutcome::LoggedIn {
            after = Some(console::config_get(ctx, &decl, &param)?);
            console::close_shell(ctx, &decl)?;
        }
        // Leave the board with its factory credential and default setting.
        if old_works {
            if let LoginOutcome::LoggedIn = console::try_login(ctx, &decl, &user, &changed)? {
                console::change_password(ctx, &decl, &changed, &current)?;
                console::config_set(ctx, &decl, &param, &default)?;
                console::close_shell(ctx, &decl)?;
            }
        }
        let observed = format!(
            "{param} default {default:?}, set to {value:?}, after reset {}; user-set password after reset: {}; factory password after reset: {}{label_note}",
            after.as_deref().map(|a| format!("{a:?}")).unwrap_or_else(|| "unreadable".into()),
            if old_works { "still logs in" } else { "refused" },
            if factory_login == LoginOutcome::LoggedIn { "logs in" } else { "refused" }
        );
        if old_works {
            return Ok(Finding::fail(
                "the password set before the reset still works",
                observed,
            ));
        }
        if old_label_works {
            return Ok(Finding::fail(
                "the label password from before the reset still works, though the board file says a reset rotates it",
                observed,
            ));
        }
        if factory_login != LoginOutcome::LoggedIn {
            return Err(CheckError::Board(format!(
                "after the reset the factory credential does not log in either; cannot read the settings back ({observed})"
            )));
        }
        if after.as_deref() != Some(default.as_str()) {
            return Ok(Finding::fail(
                "the reset did not restore the default setting",
                observed,
            ));
        }
        Ok(Finding::pass(
            "defaults restored and user credentials erased",
            observed,
        ))
    }
}

/// The factory reset of a device without credentials (its console has no
/// login): the changed setting must be back at its default.
fn settings_only(ctx: &mut CheckContext, reset: &Dialogue) -> Result<Finding, CheckError> {
    let (param, value) = parameter(ctx)?;
    let decl = console::open_shell(ctx)?;
    let default = console::config_get(ctx, &decl, &param)?;
    console::config_set_verified(ctx, &decl, &param, &value)?;
    console::restart_with(ctx, &decl, reset)?;
    console::await_boot(ctx, &decl)?;
    console::open_shell(ctx)?;
    let after = console::config_get(ctx, &decl, &param)?;
    let observed = format!(
        "{param} default {default:?}, set to {value:?}, after reset {after:?} (the console has no login: no credential to erase)"
    );
    if after != default {
        console::config_set_verified(ctx, &decl, &param, &default)?;
        return Ok(Finding::fail(
            "the reset did not restore the default setting",
            observed,
        ));
    }
    Ok(Finding::pass("defaults restored", observed))
}
