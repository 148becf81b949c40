//! Device Identification (NIST IR 8259A DI-1, DI-2).

use std::sync::Arc;

use hilt_harness::board::{Board, Dialogue, IdentitySource};
use hilt_harness::context::CheckContext;
use hilt_harness::{Check, CheckError};

use crate::console;

mod id01_logical_identifier;
mod id02_identifier_immutable;
mod id03_distinct_identifiers;
mod id04_physical_identifier;
mod id05_identifier_write_refused;
pub use id03_distinct_identifiers::DistinctIdentifiers;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(id01_logical_identifier::LogicalIdentifier),
        Arc::new(id02_identifier_immutable::IdentifierImmutable),
        Arc::new(id04_physical_identifier::PhysicalMatchesLogical),
        Arc::new(id05_identifier_write_refused::IdentifierWriteRefused),
    ]
}

/// The first console identity source: command and pattern.
fn console_source(board: &Board) -> Option<(Dialogue, String)> {
    board
        .spec
        .declares
        .identity
        .as_ref()?
        .logical
        .iter()
        .find_map(|s| match s {
            IdentitySource::Console { command, pattern } => {
                Some((command.clone(), pattern.clone()))
            }
            IdentitySource::Http { .. } => None,
        })
}

/// Reads the logical identifier from the console (logged in by the caller).
fn read_console_id(
    ctx: &mut CheckContext,
    decl: &hilt_harness::board::ConsoleDecl,
    command: &Dialogue,
    pattern: &str,
) -> Result<String, CheckError> {
    let output = console::ask(ctx, decl, command)?;
    let re = regex::Regex::new(pattern)
        .map_err(|e| CheckError::Harness(format!("identity pattern: {e}")))?;
    re.captures(&output)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            CheckError::Board(format!(
                "`{}` printed no identifier matching {pattern:?}: {output:?}",
                command.first_line()
            ))
        })
}

/// Reads the identifier from every declared logical source, in order:
/// (source description, identifier; empty when the source printed none).
fn read_identifiers(ctx: &mut CheckContext) -> Result<Vec<(String, String)>, CheckError> {
    let sources = ctx
        .board()
        .spec
        .declares
        .identity
        .as_ref()
        .map(|i| i.logical.clone())
        .unwrap_or_default();
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
                let output = console::ask(ctx, &decl, command)?;
                let re = regex::Regex::new(pattern)
                    .map_err(|e| CheckError::Harness(format!("identity pattern: {e}")))?;
                let id = re
                    .captures(&output)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().trim().to_string())
                    .unwrap_or_default();
                seen.push((format!("console `{}`", command.first_line()), id));
            }
            IdentitySource::Http { path, field, api } => {
                let id = read_http_id(ctx, api.as_ref(), path, field)?;
                seen.push((format!("API {path}"), id));
            }
        }
    }
    if let Some(decl) = shell {
        console::close_shell(ctx, &decl)?;
    }
    Ok(seen)
}

/// Reads the identifier from a JSON resource of a declared API
/// (anonymously, as identity is usually public; with the declared
/// account if the device asks for it).
fn read_http_id(
    ctx: &mut CheckContext,
    api: Option<&hilt_harness::board::ApiRef>,
    path: &str,
    field: &str,
) -> Result<String, CheckError> {
    use crate::api::{net_fault, Auth};
    use hilt_net::http::HttpRequest;
    if ctx.board().spec.api(api).is_none() {
        return Err(CheckError::Harness(format!(
            "identity source http {path} declared but no API is"
        )));
    }
    let target = crate::api::target_for(ctx, api)?;
    let mut response = crate::api::send(ctx, &target, HttpRequest::get(path), Auth::None)?;
    if response.status == 401 || response.status == 403 {
        response = crate::api::send(ctx, &target, HttpRequest::get(path), Auth::Declared)?;
    }
    if response.status != 200 {
        return Err(CheckError::Board(format!(
            "GET {path} answered {}",
            response.status
        )));
    }
    let json = response.json().map_err(net_fault)?;
    Ok(json[field].as_str().unwrap_or_default().trim().to_string())
}
