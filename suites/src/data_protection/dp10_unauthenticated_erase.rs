use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::api;

/// DP-10: erasing the device (factory reset) over the network needs
/// authorization. A marker setting written with authorization must survive
/// the unauthenticated attempt.
pub struct UnauthenticatedErase;

static UNAUTHENTICATED_ERASE: CheckMeta = CheckMeta {
    name: "unauthenticated_erase",
    capability: Capability::DataProtection,
    catalogue_id: "DP-10",
    title: "Factory reset over the network needs authorization",
    expected: "an unauthenticated reset request is refused and the device's settings are still there afterwards",
    nistir_8259a: &["DP-2", "DC-2"],
    en_303_645: &["5.5-5"],
    ts_103_701: &["5.5-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

impl Check for UnauthenticatedErase {
    fn meta(&self) -> &CheckMeta {
        &UNAUTHENTICATED_ERASE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        let reset = board
            .spec
            .declares
            .factory_reset
            .as_ref()
            .and_then(|f| f.http.as_ref());
        let config = board
            .spec
            .declares
            .configuration
            .as_ref()
            .and_then(|c| c.http.as_ref());
        if reset.is_none() {
            return Applicability::not_applicable(
                "no network factory reset declared (declares.factory_reset.http)",
                &["declares.factory_reset.http"],
            );
        }
        if config.is_none() {
            return Applicability::not_applicable(
                "no HTTP configuration declared to mark the device with",
                &["declares.configuration.http"],
            );
        }
        api::needs_api(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use crate::api::Auth;
        use hilt_net::http::HttpRequest;
        let decl = &ctx.board().spec.declares;
        let reset = decl.factory_reset.as_ref().and_then(|f| f.http.clone());
        let config = decl.configuration.clone();
        let (Some(reset), Some(config)) = (reset, config) else {
            return Err(CheckError::Harness(
                "declaration changed under the check".into(),
            ));
        };
        let path = config
            .http
            .map(|h| h.path)
            .ok_or_else(|| CheckError::Harness("no config path".into()))?;
        let target = api::for_config(ctx)?;
        let reset_api = api::for_factory_reset(ctx)?;
        let original = api::config_value(ctx, &target, &path, &config.parameter)?;
        let marker = serde_json::json!({ config.parameter.clone(): config.test_value.clone() });
        let set = api::send(
            ctx,
            &target,
            HttpRequest::put(path.clone()).json(&marker),
            Auth::Declared,
        )?;
        let marked = api::config_value(ctx, &target, &path, &config.parameter)?;
        if marked != config.test_value {
            return Err(CheckError::Board(format!(
                "an authorized write of the marker did not take (answer {}, reads {marked:?})",
                set.status
            )));
        }
        let attempt = api::send(
            ctx,
            &reset_api,
            HttpRequest::post(reset.clone()),
            Auth::None,
        )?;
        // A reset, had it happened, reboots the device: give it time to show.
        ctx.sleep(Duration::from_secs(2))?;
        let mut after = None;
        for _ in 0..10 {
            match api::config_value(ctx, &target, &path, &config.parameter) {
                Ok(v) => {
                    after = Some(v);
                    break;
                }
                Err(CheckError::Board(_)) => ctx.sleep(Duration::from_secs(1))?,
                Err(e) => return Err(e),
            }
        }
        let after = after.ok_or_else(|| {
            CheckError::Board("the API did not answer after the reset attempt".into())
        })?;
        let observed = format!(
            "marker {}={:?} set; POST {reset} without credentials -> {}; {} afterwards {after:?}",
            config.parameter, config.test_value, attempt.status, config.parameter
        );
        let restore = serde_json::json!({ config.parameter.clone(): original });
        api::send(
            ctx,
            &target,
            HttpRequest::put(path).json(&restore),
            Auth::Declared,
        )?;
        if after == config.test_value {
            Ok(Finding::pass(
                "the unauthenticated reset was refused; the settings are intact",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "an unauthenticated request erased the device's settings",
                observed,
            ))
        }
    }
}
