//! Device Identification (NIST IR 8259A DI-1, DI-2).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::{Board, IdentitySource};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![Arc::new(LogicalIdentifier)]
}

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
};

impl Check for LogicalIdentifier {
    fn meta(&self) -> &CheckMeta {
        &LOGICAL_IDENTIFIER
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match &board.spec.declares.identity {
            Some(identity) if !identity.logical.is_empty() => Applicability::Applicable,
            _ => Applicability::NotApplicable(
                "the declaration names no logical identity source (declares.identity.logical)"
                    .into(),
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let sources = ctx
            .board()
            .spec
            .declares
            .identity
            .as_ref()
            .map(|i| i.logical.clone())
            .unwrap_or_default();
        // Every declared source must be readable before anything is sent:
        // a partial reading cannot show consistency across interfaces.
        if let Some(IdentitySource::Http { path, .. }) = sources
            .iter()
            .find(|s| matches!(s, IdentitySource::Http { .. }))
        {
            return Err(CheckError::Harness(format!(
                "reading the identifier over HTTP ({path}) is not implemented yet"
            )));
        }
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut shell = None;
        for source in &sources {
            match source {
                IdentitySource::Console { command, pattern } => {
                    let decl = match &shell {
                        Some(decl) => decl,
                        None => shell.insert(console::open_shell(ctx)?),
                    };
                    let decl = decl.clone();
                    let output = console::run(ctx, &decl, command)?;
                    let re = regex::Regex::new(pattern)
                        .map_err(|e| CheckError::Harness(format!("identity pattern: {e}")))?;
                    let id = re
                        .captures(&output)
                        .and_then(|c| c.get(1))
                        .map(|m| m.as_str().trim().to_string())
                        .unwrap_or_default();
                    seen.push((format!("console `{command}`"), id));
                }
                IdentitySource::Http { path, .. } => {
                    return Err(CheckError::Harness(format!(
                        "reading the identifier over HTTP ({path}) is not implemented yet"
                    )));
                }
            }
        }
        if let Some(decl) = shell {
            console::close_shell(ctx, &decl)?;
        }
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
