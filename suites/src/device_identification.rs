//! Device Identification (NIST IR 8259A DI-1, DI-2).

use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::{Board, IdentitySource, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(LogicalIdentifier),
        Arc::new(IdentifierImmutable),
        Arc::new(PhysicalMatchesLogical),
        Arc::new(IdentifierWriteRefused),
    ]
}

/// The first console identity source: command and pattern.
fn console_source(board: &Board) -> Option<(String, String)> {
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
    command: &str,
    pattern: &str,
) -> Result<String, CheckError> {
    let output = console::run(ctx, decl, command)?;
    let re = regex::Regex::new(pattern)
        .map_err(|e| CheckError::Harness(format!("identity pattern: {e}")))?;
    re.captures(&output)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            CheckError::Board(format!(
                "`{command}` printed no identifier matching {pattern:?}: {output:?}"
            ))
        })
}

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
            console::restart(ctx, &decl, "reboot")?;
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
        let label_path = ctx
            .board()
            .spec
            .declares
            .identity
            .as_ref()
            .and_then(|i| i.physical.clone())
            .map(|p| ctx.board().resolve_path(&p))
            .ok_or_else(|| CheckError::Harness("no label declared".into()))?;
        // The label as an operator would transcribe it (bounded: a label is short).
        // A missing label is a setup fault (the preflight finds it first).
        let label = hilt_harness::yaml::read_regular_file(&label_path, 1 << 20)
            .map_err(|e| CheckError::Harness(format!("the label {}: {e}", label_path.display())))?;
        let label = String::from_utf8_lossy(&label[..label.len().min(4096)]).into_owned();
        ctx.evidence().text(
            "label.txt",
            "text/plain",
            "the physical label as transcribed",
            &label,
        )?;
        let re = regex::Regex::new(&pattern)
            .map_err(|e| CheckError::Harness(format!("identity pattern: {e}")))?;
        let physical = re
            .captures(&label)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().trim().to_string());
        let decl = console::open_shell(ctx)?;
        let logical = read_console_id(ctx, &decl, &command, &pattern)?;
        console::close_shell(ctx, &decl)?;
        match physical {
            None => Ok(Finding::fail(
                "the label carries no identifier",
                format!("label has nothing matching {pattern:?}; logical {logical}"),
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
            IdentitySource::Http { path, field } => {
                seen.push((format!("HTTPS {path}"), read_http_id(ctx, path, field)?));
            }
        }
    }
    if let Some(decl) = shell {
        console::close_shell(ctx, &decl)?;
    }
    Ok(seen)
}

/// Reads the identifier from a JSON resource of the declared HTTPS API
/// (anonymously, as identity is usually public; with the declared
/// account if the device asks for it).
fn read_http_id(ctx: &mut CheckContext, path: &str, field: &str) -> Result<String, CheckError> {
    use crate::api::{self, net_fault, Auth};
    use hilt_net::http::HttpRequest;
    if crate::api::https_endpoint(ctx.board()).is_none() {
        return Err(CheckError::Harness(format!(
            "identity source HTTPS {path} declared but no HTTPS interface is"
        )));
    }
    let target = api::target(ctx)?;
    let mut response = api::send(ctx, &target, HttpRequest::get(path), Auth::None)?;
    if response.status == 401 || response.status == 403 {
        response = api::send(ctx, &target, HttpRequest::get(path), Auth::Declared)?;
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

/// ID-03: boards of the same model carry distinct logical identifiers.
/// A rack-wide check: it compares the identifiers ID-01 read on every
/// board of the run.
pub struct DistinctIdentifiers;

static DISTINCT_IDENTIFIERS: CheckMeta = CheckMeta {
    name: "distinct_identifiers",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-03",
    title: "Boards of one model have distinct identifiers",
    expected: "no two boards of the same model report the same logical identifier",
    nistir_8259a: &["DI-1"],
    en_303_645: &["5.4-2"],
    ts_103_701: &["5.4-2-2"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(5),
    params: &[],
};

impl hilt_harness::RackCheck for DistinctIdentifiers {
    fn meta(&self) -> &CheckMeta {
        &DISTINCT_IDENTIFIERS
    }

    fn run(&self, record: &hilt_reports::RunRecord) -> Result<Finding, CheckError> {
        use std::collections::BTreeMap;
        // model -> [(board, id)]
        let mut by_model: BTreeMap<&str, Vec<(&str, Option<&str>)>> = BTreeMap::new();
        for board in &record.boards {
            by_model.entry(board.model.as_str()).or_default().push((
                board.name.as_str(),
                board
                    .observed_identity
                    .get("logical_id")
                    .map(String::as_str),
            ));
        }
        let comparable: Vec<_> = by_model
            .iter()
            .filter(|(_, boards)| boards.len() >= 2)
            .collect();
        if comparable.is_empty() {
            return Err(CheckError::NotApplicable(
                "needs at least two boards of one model in the run".into(),
            ));
        }
        let mut observed = Vec::new();
        let mut clashes = Vec::new();
        for (model, boards) in comparable {
            if let Some((board, _)) = boards.iter().find(|(_, id)| id.is_none()) {
                return Err(CheckError::Board(format!(
                    "no identifier was read from {board} (ID-01 must run on every board first)"
                )));
            }
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            for (board, id) in boards {
                let id = id.unwrap_or_default();
                observed.push(format!("{board} ({model}): {id}"));
                if let Some(other) = seen.insert(id, board) {
                    clashes.push(format!("{other} and {board} both report {id}"));
                }
            }
        }
        let observed = observed.join("; ");
        if clashes.is_empty() {
            Ok(Finding::pass(
                "every board reports its own identifier",
                observed,
            ))
        } else {
            Ok(Finding::fail(clashes.join("; "), observed))
        }
    }
}

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

/// The (path, field) pairs an attacker would write the identifier to:
/// every HTTP identity source, and the configuration resource.
fn identity_write_targets(board: &Board) -> Vec<(String, String)> {
    let mut targets: Vec<(String, String)> = board
        .spec
        .declares
        .identity
        .iter()
        .flat_map(|i| i.logical.iter())
        .filter_map(|s| match s {
            IdentitySource::Http { path, field } => Some((path.clone(), field.clone())),
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
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| "device_id".into());
        targets.push((http.path.clone(), field));
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
        let target = api::target(ctx)?;
        let mut attempts = Vec::new();
        for (path, field) in identity_write_targets(ctx.board()) {
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
        for (path, field) in identity_write_targets(ctx.board()) {
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
