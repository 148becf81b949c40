use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::read_identifiers;

/// ID-01: the logical identifier is present and the same on every
/// interface that reports it.
pub struct LogicalIdentifier;

static LOGICAL_IDENTIFIER: CheckMeta = CheckMeta {
    name: "logical_identifier",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-01",
    title: "Logical identifier present and consistent across interfaces",
    expected: "every declared identity source reports the same non-empty identifier",
    nistir_8259a: &["DI-1"],
    en_303_645: &["5.4-2"],
    ts_103_701: &["5.4-2-2"],
    cra_annex_i: &["d"],
    destructive: false,
    default_timeout: Duration::from_secs(30),
    params: &[],
};

impl Check for LogicalIdentifier {
    fn meta(&self) -> &CheckMeta {
        &LOGICAL_IDENTIFIER
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match &board.spec.declares.identity {
            Some(identity) if !identity.logical.is_empty() => Applicability::Applicable,
            _ => Applicability::not_applicable(
                "the declaration names no logical identity source (declares.identity.logical)",
                &["declares.identity.logical"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let seen = read_identifiers(ctx)?;
        let observed = seen
            .iter()
            .map(|(source, id)| format!("{source}: {id:?}"))
            .collect::<Vec<_>>()
            .join("; ");
        if let Some((_, id)) = seen.first() {
            if !id.is_empty() {
                ctx.observe_identity("logical_id", id);
            }
        }
        if seen.iter().any(|(_, id)| id.is_empty()) {
            return Ok(Finding::fail(
                "a declared source reported no identifier",
                observed,
            ));
        }
        let first = &seen[0].1;
        if seen.iter().all(|(_, id)| id == first) {
            Ok(Finding::pass("identifier present and consistent", observed)
                .with("logical_id", first))
        } else {
            Ok(Finding::fail(
                "interfaces disagree about the identifier",
                observed,
            ))
        }
    }
}
