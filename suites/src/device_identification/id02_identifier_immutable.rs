use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_source, read_console_id};
use crate::console;

/// ID-02: the identifier survives a power cycle.
pub struct IdentifierImmutable;

static IDENTIFIER_IMMUTABLE: CheckMeta = CheckMeta {
    name: "identifier_immutable",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-02",
    title: "Logical identifier unchanged across power cycles",
    expected: "the identifier read after a power cycle equals the one read before",
    nistir_8259a: &["DI-1"],
    en_303_645: &["5.4-2"],
    ts_103_701: &["5.4-2-2"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(90),
    params: &[ParamSpec {
        name: "cycles",
        meaning: "power cycles after which the identifier is read again",
        kind: ParamKind::Integer {
            min: 1,
            max: 10,
            default: 2,
            unit: "",
        },
    }],
};

impl Check for IdentifierImmutable {
    fn meta(&self) -> &CheckMeta {
        &IDENTIFIER_IMMUTABLE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if console_source(board).is_none() {
            return Applicability::not_applicable(
                "no console identity source declared",
                &["declares.identity.logical[].console"],
            );
        }
        if board.spec.hardware.power.is_none() {
            return Applicability::not_applicable(
                "no power control wired (hardware.power) to cycle the board",
                &["hardware.power"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (command, pattern) = console_source(ctx.board())
            .ok_or_else(|| CheckError::Harness("no console identity source".into()))?;
        let decl = console::open_shell(ctx)?;
        let before = read_console_id(ctx, &decl, &command, &pattern)?;
        console::close_shell(ctx, &decl)?;
        let mut seen = vec![before.clone()];
        let cycles = ctx.param_u64("cycles")?;
        for _ in 0..cycles {
            console::restart(ctx, &decl)?;
            console::open_shell(ctx)?;
            seen.push(read_console_id(ctx, &decl, &command, &pattern)?);
            console::close_shell(ctx, &decl)?;
        }
        let observed = format!(
            "identifiers read before and after {cycles} power cycles: {}",
            seen.join(", ")
        );
        if seen.iter().all(|id| *id == before) {
            Ok(Finding::pass("the identifier did not change", observed))
        } else {
            Ok(Finding::fail(
                "the identifier changed across a power cycle",
                observed,
            ))
        }
    }
}
