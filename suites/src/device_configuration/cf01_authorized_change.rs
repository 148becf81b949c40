use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::parameter;
use crate::settings::{self, Settings};

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
        settings::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (param, value) = parameter(ctx)?;
        let settings = Settings::open(ctx)?;
        let original = settings.get(ctx, &param)?;
        if original == value {
            return Err(CheckError::Harness(format!(
                "the declared test value {value:?} equals the current value; declare another"
            )));
        }
        let answer = settings.set(ctx, &param, &value)?;
        let immediate = settings.get(ctx, &param)?;
        let persisted = if settings::can_restart(ctx.board()) {
            settings.close(ctx)?;
            settings.restart(ctx, &param)?;
            Some(settings.get(ctx, &param)?)
        } else {
            None
        };
        // Put the original value back, verified.
        settings.set_verified(ctx, &param, &original)?;
        settings.close(ctx)?;
        let observed = format!(
            "{param}: {original:?} -> set {value:?} (answer {answer:?}) -> reads {immediate:?}{}; restored to {original:?}",
            persisted
                .as_ref()
                .map(|p| format!(" -> after a restart {p:?}"))
                .unwrap_or_else(|| " (no power control or reboot dialogue: persistence not tested)".into())
        );
        if immediate != value {
            return Ok(Finding::fail(
                "an authorized change did not apply",
                observed,
            ));
        }
        match persisted {
            Some(p) if p != value => Ok(Finding::fail(
                "the change did not survive a restart",
                observed,
            )),
            _ => Ok(Finding::pass("the change applied and persisted", observed)),
        }
    }
}
