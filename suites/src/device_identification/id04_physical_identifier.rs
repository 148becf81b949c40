use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_source, read_identifiers};

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
        let logical = board
            .spec
            .declares
            .identity
            .as_ref()
            .map_or(0, |i| i.logical.len());
        if logical == 0 {
            return Applicability::not_applicable(
                "no logical identity source declared to compare the label with (declares.identity.logical)",
                &["declares.identity.logical"],
            );
        }
        if label_pattern(board).is_none() {
            return Applicability::not_applicable(
                "no pattern for the label's identifier: neither the label's own (declares.identity.physical.identifier) nor a console identity source's",
                &["declares.identity.physical.identifier"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let label_pattern = label_pattern(ctx.board())
            .ok_or_else(|| CheckError::Harness("no label identifier pattern".into()))?;
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
        // What the device reports through its first declared source
        // (console or API alike); whether the sources agree is ID-01's.
        let logical = read_identifiers(ctx)?;
        let Some((source, logical)) = logical.into_iter().next() else {
            return Err(CheckError::Harness("no logical identity source".into()));
        };
        let Some(physical) = physical else {
            return Ok(Finding::fail(
                "the label carries no identifier",
                format!(
                    "label has nothing matching {label_pattern:?}; device ({source}) {logical}"
                ),
            ));
        };
        let observed = format!("label {physical}; device ({source}) {logical}");
        if physical == logical {
            Ok(Finding::pass(
                "label and device report the same identifier",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "the device reports an identifier other than its label's",
                observed,
            ))
        }
    }
}

/// The pattern that finds the identifier on the label: the label's own,
/// else the first console identity source's (the same text format).
fn label_pattern(board: &Board) -> Option<String> {
    board
        .label()
        .and_then(|l| l.identifier_pattern())
        .map(str::to_string)
        .or_else(|| console_source(board).map(|(_, pattern)| pattern))
}
