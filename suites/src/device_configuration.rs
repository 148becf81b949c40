//! Device Configuration (NIST IR 8259A DC-1, DC-2, DC-3).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(AuthorizedChange),
        Arc::new(UnauthenticatedWrite),
        Arc::new(FactoryResetDefaults),
    ]
}

fn console_config(board: &Board) -> Applicability {
    let has = board
        .spec
        .declares
        .configuration
        .as_ref()
        .is_some_and(|c| c.console.is_some());
    if !has {
        return Applicability::not_applicable(
            "no console configuration commands declared (declares.configuration.console)",
            &["declares.configuration.console"],
        );
    }
    if board.spec.declares.console.is_none() {
        return Applicability::not_applicable("no console declared", &["declares.console"]);
    }
    Applicability::Applicable
}

fn parameter(ctx: &CheckContext) -> Result<(String, String), CheckError> {
    let c = ctx
        .board()
        .spec
        .declares
        .configuration
        .clone()
        .ok_or_else(|| CheckError::Harness("no configuration declared".into()))?;
    Ok((c.parameter, c.test_value))
}

/// CF-01: an authorized change applies and persists across a power cycle.
pub struct AuthorizedChange;

static AUTHORIZED_CHANGE: CheckMeta = CheckMeta {
    name: "authorized_change",
    capability: Capability::DeviceConfiguration,
    catalogue_id: "CF-01",
    title: "Authorized configuration change applies and persists",
    expected: "the changed value reads back, also after a power cycle",
    nistir_8259a: &["DC-1"],
    en_303_645: &[],
    ts_103_701: &[],
    cra_annex_i: &[],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

impl Check for AuthorizedChange {
    fn meta(&self) -> &CheckMeta {
        &AUTHORIZED_CHANGE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        console_config(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (param, value) = parameter(ctx)?;
        let decl = console::open_shell(ctx)?;
        let original = console::config_get(ctx, &decl, &param)?;
        if original == value {
            return Err(CheckError::Harness(format!(
                "the declared test value {value:?} equals the current value; declare another"
            )));
        }
        let answer = console::config_set(ctx, &decl, &param, &value)?;
        let immediate = console::config_get(ctx, &decl, &param)?;
        console::close_shell(ctx, &decl)?;
        let persisted = if ctx.board().spec.hardware.power.is_some() {
            console::restart(ctx, &decl, "reboot")?;
            console::open_shell(ctx)?;
            let v = console::config_get(ctx, &decl, &param)?;
            console::close_shell(ctx, &decl)?;
            Some(v)
        } else {
            None
        };
        // Put the original value back, verified.
        console::open_shell(ctx)?;
        console::config_set_verified(ctx, &decl, &param, &original)?;
        console::close_shell(ctx, &decl)?;
        let observed = format!(
            "{param}: {original:?} -> set {value:?} (answer {answer:?}) -> reads {immediate:?}{}; restored to {original:?}",
            persisted
                .as_ref()
                .map(|p| format!(" -> after power cycle {p:?}"))
                .unwrap_or_else(|| " (no power control: persistence not tested)".into())
        );
        if immediate != value {
            return Ok(Finding::fail(
                "an authorized change did not apply",
                observed,
            ));
        }
        match persisted {
            Some(p) if p != value => Ok(Finding::fail(
                "the change did not survive a power cycle",
                observed,
            )),
            _ => Ok(Finding::pass("the change applied and persisted", observed)),
        }
    }
}

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
        match &board.spec.declares.factory_reset {
            Some(f) if f.console.is_some() => Applicability::Applicable,
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
            .ok_or_else(|| CheckError::Harness("no factory reset command".into()))?;
        let user = console::account(ctx)?;
        let factory = ctx.password(&user)?;
        let changed = ctx.new_password()?;
        let decl = console::open_shell(ctx)?;
        let default = console::config_get(ctx, &decl, &param)?;
        console::config_set_verified(ctx, &decl, &param, &value)?;
        console::undo_password_change(ctx, &user, &factory, &changed);
        let answer = console::run(ctx, &decl, &format!("passwd {}", changed.expose()))?;
        console::close_shell(ctx, &decl)?;
        // The user's password must now work, or the test proves nothing.
        match console::try_login(ctx, &decl, &user, &changed)? {
            LoginOutcome::LoggedIn => {}
            other => {
                return Err(CheckError::Board(format!(
                    "changing the password as the user did not take ({answer:?}, then {other:?})"
                )))
            }
        }
        // Reset (as the logged-in user), then wait for the device to return.
        let console_handle = ctx.console()?;
        console_handle.send_line(&reset)?;
        console::await_boot(ctx, &decl)?;

        let old_password = console::try_login(ctx, &decl, &user, &changed)?;
        let old_works = old_password == LoginOutcome::LoggedIn;
        if old_works {
            console::close_shell(ctx, &decl)?;
        }
        let factory_login = console::try_login(ctx, &decl, &user, &factory)?;
        let mut after = None;
        if factory_login == LoginOutcome::LoggedIn {
            after = Some(console::config_get(ctx, &decl, &param)?);
            console::close_shell(ctx, &decl)?;
        }
        // Leave the board with its factory credential and default setting.
        if old_works {
            if let LoginOutcome::LoggedIn = console::try_login(ctx, &decl, &user, &changed)? {
                console::run(ctx, &decl, &format!("passwd {}", factory.expose()))?;
                console::config_set(ctx, &decl, &param, &default)?;
                console::close_shell(ctx, &decl)?;
            }
        }
        let observed = format!(
            "{param} default {default:?}, set to {value:?}, after reset {}; user-set password after reset: {}; factory password after reset: {}",
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

/// CF-02: configuration writes over the network without (or with wrong)
/// credentials are refused; the value is read back with authorization.
pub struct UnauthenticatedWrite;

static UNAUTHENTICATED_WRITE: CheckMeta = CheckMeta {
    name: "unauthenticated_write",
    capability: Capability::DeviceConfiguration,
    catalogue_id: "CF-02",
    title: "Configuration change without authorization is refused",
    expected: "writes without or with wrong credentials are refused and the value is unchanged when read back with authorization",
    nistir_8259a: &["DC-2", "LA-2"],
    en_303_645: &["5.5-5"],
    ts_103_701: &["5.5-5-2"],
    cra_annex_i: &["d", "f"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

fn http_config_path(board: &Board) -> Option<String> {
    Some(
        board
            .spec
            .declares
            .configuration
            .as_ref()?
            .http
            .as_ref()?
            .path
            .clone(),
    )
}

impl Check for UnauthenticatedWrite {
    fn meta(&self) -> &CheckMeta {
        &UNAUTHENTICATED_WRITE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if http_config_path(board).is_none() {
            return Applicability::not_applicable(
                "no HTTP configuration resource declared (declares.configuration.http)",
                &["declares.configuration.http"],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use crate::api::{self, Auth};
        use hilt_net::http::HttpRequest;
        let path =
            http_config_path(ctx.board()).ok_or_else(|| CheckError::Harness("no path".into()))?;
        let (param, value) = parameter(ctx)?;
        let target = api::target(ctx)?;
        let before = api::config_value(ctx, &target, &path, &param)?;
        if before == value {
            return Err(CheckError::Harness(format!(
                "the test value {value:?} is already set; declare another"
            )));
        }
        api::undo_config_write(ctx, &target, &path, &param, &before);
        let body = serde_json::json!({ param.clone(): value });
        let anonymous = api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&body),
            Auth::None,
        )?;
        let wrong = api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&body),
            Auth::Wrong("Hilt-not-the-password"),
        )?;
        let after = api::config_value(ctx, &target, &path, &param)?;
        let observed = format!(
            "{param} before {before:?}; PUT without credentials -> {}; with a wrong password -> {}; {param} after {after:?}",
            anonymous.status, wrong.status
        );
        let restore = serde_json::json!({ param.clone(): before.clone() });
        if after != before {
            api::send(
                ctx,
                &target,
                HttpRequest::put(path).json(&restore),
                Auth::Declared,
            )?;
            return Ok(Finding::fail(
                "an unauthenticated write changed the configuration",
                observed,
            ));
        }
        // Positive control: the same write with authorization takes, so the
        // refusals were about authorization, not a request the device ignores.
        let authorized = api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&body),
            Auth::Declared,
        )?;
        let applied = api::config_value(ctx, &target, &path, &param)?;
        api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&restore),
            Auth::Declared,
        )?;
        if applied != value {
            return Err(CheckError::Board(format!(
                "the same write with authorization did not apply either (answer {}, reads {applied:?}); the refusals prove nothing ({observed})",
                authorized.status
            )));
        }
        Ok(Finding::pass(
            "both writes were refused and the value is unchanged",
            observed,
        ))
    }
}
