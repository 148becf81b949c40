use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::parameter;
use crate::console;
use crate::open_console::{combine, has_console, login_first, unauthenticated_shell, PathResult};

/// CF-02: configuration writes without (or with wrong) credentials are
/// refused, over every declared path: the API (the value is read back
/// with authorization) and the console (a shell reached without a login
/// must not change a setting).
pub struct UnauthenticatedWrite;

static UNAUTHENTICATED_WRITE: CheckMeta = CheckMeta {
    name: "unauthenticated_write",
    capability: Capability::DeviceConfiguration,
    catalogue_id: "CF-02",
    title: "Configuration change without authorization is refused",
    expected: "writes without or with wrong credentials are refused (on the API, and on a console shell reached without login) and the value is unchanged when read back with authorization",
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
        if console_path(board) {
            return Applicability::Applicable;
        }
        if http_config_path(board).is_none() {
            return Applicability::not_applicable(
                "no configuration path declared: neither an HTTP resource (declares.configuration.http) nor console commands (declares.configuration.console)",
                &["declares.configuration.http", "declares.configuration.console"],
            );
        }
        crate::api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let mut paths = Vec::new();
        if console_path(ctx.board()) {
            paths.push(console_write(ctx)?);
        }
        let api = http_config_path(ctx.board()).is_some()
            && crate::api::needs_api(ctx.board()) == Applicability::Applicable;
        if api {
            paths.push(PathResult::from_finding(api_write(ctx)?));
        }
        Ok(combine(
            paths,
            "every write without valid credentials was refused and the value is unchanged",
        ))
    }
}

/// Whether the console is a path to the settings.
fn console_path(board: &Board) -> bool {
    has_console(board)
        && board
            .spec
            .declares
            .configuration
            .as_ref()
            .is_some_and(|c| c.console.is_some())
}

/// The console path: a shell reached without credentials must not change
/// the setting (put back if it did).
fn console_write(ctx: &mut CheckContext) -> Result<PathResult, CheckError> {
    let Some(decl) = unauthenticated_shell(ctx)? else {
        return Ok(login_first());
    };
    let (param, value) = parameter(ctx)?;
    let before = console::config_get(ctx, &decl, &param)?;
    if before == value {
        return Err(CheckError::Harness(format!(
            "the test value {value:?} is already set; declare another"
        )));
    }
    let answer = console::config_set(ctx, &decl, &param, &value)?;
    let after = console::config_get(ctx, &decl, &param)?;
    let observed = format!(
        "console without login: {param} before {before:?}; set {value:?} answered {answer:?}; {param} after {after:?}"
    );
    if after == value {
        console::config_set_verified(ctx, &decl, &param, &before)?;
        return Ok(PathResult::failed(
            "the console changed a setting without any login",
            observed,
        ));
    }
    Ok(PathResult::held(observed))
}

/// The API path.
fn api_write(ctx: &mut CheckContext) -> Result<Finding, CheckError> {
    use crate::api::{self, Auth};
    use hilt_net::http::HttpRequest;
    let path =
        http_config_path(ctx.board()).ok_or_else(|| CheckError::Harness("no path".into()))?;
    let (param, value) = parameter(ctx)?;
    let target = api::for_config(ctx)?;
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
