use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_source, read_console_id};
use crate::console;

/// ID-04: the identifier on the label matches the logical one.
pub struct PhysicalMatchesLogical;

static PHYSICAL_MATCHES_LOGICAL: CheckMeta = CheckMeta {
    name: "physical_identifier",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-04",
    title: "Physical identifier (label) matches the logical identifier",
    expected: "the label carries the identifier the device reports",
    nistir_8259a: &["DI-2"],
    en_303_645: &["5.3-16"],
    ts_103_701: &["5.3-16-2"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(30),
    params: &[],
};

impl Check for PhysicalMatchesLogical {
    fn meta(&self) -> &CheckMeta {
        &PHYSICAL_MATCHES_LOGICAL
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::Label]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        let physical = board
            .spec
            .declares
            .identity
            .as_ref()
            .and_then(|i| i.physical.as_ref());
        if physical.is_none() {
            return Applicability::not_applicable(
                "no physical identifier declared (declares.identity.physical)",
                &["declares.identity.physical"],
            );
        }
        if console_source(board).is_none() {
            return Applicability::not_applicable(
                "no console identity source declared",
                &["declares.identity.logical[].console"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let (command, pattern) = console_source(ctx.board())
            .ok_or_else(|| CheckError::Harness("no console identity source".into()))?;
        // The label's identifier has its own pattern where the label
        // prints it differently from the console.
        let label_pattern = ctx
            .board()
            .label()
            .and_then(|l| l.identifier_pattern())
            .unwrap_or(&pattern)
            .to_string();
        // The label as an operator would transcribe it (bounded: a label is short).
        // A missing label is a setup fault (the preflight finds it first).
        let label = ctx.board().label_text().map_err(CheckError::Harness)?;
        // Its evidence copy is scrubbed of a password printed on it.
        ctx.evidence().text(
            "label.txt",
            "text/plain",
            "the physical label as transcribed",
            &label,
        )?;
        let physical = hilt_harness::board::capture(&label_pattern, &label)
            .map_err(|e| CheckError::Harness(format!("label identifier pattern: {e}")))?;
        let decl = console::open_shell(ctx)?;
        let logical = read_console_id(ctx, &decl, &command, &pattern)?;
        console::close_shell(ctx, &decl)?;
        match physical {
            None => Ok(Finding::fail(
                "the label carries no identifier",
                format!("label has nothing matching {label_pattern:?}; logical {logical}"),
            )),
            Some(physical) if physical == logical => Ok(Finding::pass(
                "label and device report the same identifier",
                format!("label {physical}; device {logical}"),
            )),
            Some(physical) => Ok(Finding::fail(
                "the device reports an identifier other than its label's",
                format!("label {physical}; device {logical}"),
            )),
        }
    }
}
