use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_config, parameter};
use crate::console;

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
        let persisted = if console::can_restart(ctx.board()) {
            console::restart(ctx, &decl)?;
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
