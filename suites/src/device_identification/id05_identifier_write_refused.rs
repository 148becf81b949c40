use std::time::Duration;

use hilt_harness::board::{ApiRef, Board, IdentitySource};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::id01_logical_identifier::LogicalIdentifier;
use super::read_identifiers;

/// ID-05: the identifier cannot be overwritten without authorization. hilt
/// writes a new identifier, unauthenticated, to every HTTP resource that
/// reports or configures it, then reads the identifier back over every
/// declared source.
pub struct IdentifierWriteRefused;

static IDENTIFIER_WRITE: CheckMeta = CheckMeta {
    name: "identifier_write_refused",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-05",
    title: "Identifier cannot be overwritten without authorization",
    expected: "unauthenticated writes of the identifier are refused and every source still reports the original identifier",
    nistir_8259a: &["DI-1", "DC-2"],
    en_303_645: &["5.4-2"],
    ts_103_701: &["5.4-2-2"],
    cra_annex_i: &["f"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

/// The (path, field, API) an attacker would write the identifier to:
/// every HTTP identity source, and the configuration resource.
fn identity_write_targets(board: &Board) -> Vec<(String, String, Option<ApiRef>)> {
    let mut targets: Vec<(String, String, Option<ApiRef>)> = board
        .spec
        .declares
        .identity
        .iter()
        .flat_map(|i| i.logical.iter())
        .filter_map(|s| match s {
            IdentitySource::Http { path, field, api } => {
                Some((path.clone(), field.clone(), api.clone()))
            }
            IdentitySource::Console { .. } => None,
        })
        .collect();
    if let Some(http) = board
        .spec
        .declares
        .configuration
        .as_ref()
        .and_then(|c| c.http.as_ref())
    {
        let field = targets
            .first()
            .map(|(_, f, _)| f.clone())
            .unwrap_or_else(|| "device_id".into());
        targets.push((http.path.clone(), field, http.api.clone()));
    }
    targets
}

impl Check for IdentifierWriteRefused {
    fn meta(&self) -> &CheckMeta {
        &IDENTIFIER_WRITE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match crate::api::needs_api(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        if identity_write_targets(board).is_empty() {
            return Applicability::not_applicable(
                "no HTTP resource reports or configures the identifier",
                &[
                    "declares.identity.logical[].http",
                    "declares.configuration.http",
                ],
            );
        }
        LogicalIdentifier.applicability(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use crate::api::{self, Auth};
        use hilt_net::http::HttpRequest;
        let before = read_identifiers(ctx)?;
        let original = before
            .first()
            .map(|(_, id)| id.clone())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| CheckError::Board("the device reports no identifier".into()))?;
        let expected = before.clone();
        ctx.on_undo(
            "identifier",
            format!("the identifier still reads {original:?}"),
            move |ctx| match read_identifiers(ctx)? {
                now if now == expected => Ok(()),
                now => Err(CheckError::Board(format!("the identifier reads {now:?}"))),
            },
        );
        let forged = format!("hilt-forged-{}", std::process::id());
        let mut attempts = Vec::new();
        for (path, field, wanted) in identity_write_targets(ctx.board()) {
            let target = api::target_for(ctx, wanted.as_ref())?;
            let body = serde_json::json!({ field.clone(): forged.clone() });
            for request in [HttpRequest::put(&path), HttpRequest::post(&path)] {
                let method = request.method.as_str();
                let response = api::send(ctx, &target, request.json(&body), Auth::None)?;
                attempts.push(format!(
                    "{method} {path} {{{field}}} -> {}",
                    response.status
                ));
            }
        }
        let after = read_identifiers(ctx)?;
        // Each source against itself: sources that disagree from the start
        // are ID-01's finding, not a write that took.
        let changed: Vec<String> = before
            .iter()
            .zip(after.iter())
            .filter(|((_, was), (_, now))| was != now)
            .map(|((_, was), (source, now))| format!("{source} changed from {was:?} to {now:?}"))
            .collect();
        let observed = format!(
            "identifier before: {}; unauthenticated writes: {}; after: {}",
            before
                .iter()
                .map(|(source, id)| format!("{source}: {id:?}"))
                .collect::<Vec<_>>()
                .join("; "),
            attempts.join(", "),
            after
                .iter()
                .map(|(source, id)| format!("{source}: {id:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if changed.is_empty() {
            return Ok(Finding::pass(
                "every unauthenticated write was refused; the identifier is unchanged",
                observed,
            ));
        }
        // Put the original back the way it was broken, and say whether that
        // worked: a board left with a forged identifier misleads later checks.
        for (path, field, wanted) in identity_write_targets(ctx.board()) {
            let target = api::target_for(ctx, wanted.as_ref())?;
            let body = serde_json::json!({ field: original.clone() });
            api::send(
                ctx,
                &target,
                HttpRequest::put(&path).json(&body),
                Auth::None,
            )?;
        }
        let restored = read_identifiers(ctx)? == before;
        Ok(Finding::fail(
            format!(
                "an unauthenticated write changed the identifier: {}",
                changed.join("; ")
            ),
            format!(
                "{observed}; original written back: {}",
                if restored { "yes" } else { "NO" }
            ),
        ))
    }
}
