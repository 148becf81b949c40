use std::time::{Duration, Instant};

use hilt_harness::board::{ApiRef, Board, Dialogue, IdentitySource};
use hilt_harness::context::CheckContext;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::transport::power::PowerAction;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::{console_source, read_console_id, read_http_id};
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
        if source(board).is_none() {
            return Applicability::not_applicable(
                "no identity source to read across a power cycle: no console identity source on a wired console, and no API identity source",
                &[
                    "declares.identity.logical[].console",
                    "declares.identity.logical[].http",
                ],
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
        let source =
            source(ctx.board()).ok_or_else(|| CheckError::Harness("no identity source".into()))?;
        let mut seen = vec![source.read(ctx)?];
        let before = seen[0].clone();
        let cycles = ctx.param_u64("cycles")?;
        for _ in 0..cycles {
            source.cycle_and_read(ctx, &mut seen)?;
        }
        let observed = format!(
            "identifiers read from {} before and after {cycles} power cycles: {}",
            source.describe(),
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

/// Where the identifier is read: the console when one is wired and
/// declares an identity dialogue, else the API's identity resource.
enum Source {
    Console(Dialogue, String),
    Api {
        path: String,
        field: String,
        api: Option<ApiRef>,
    },
}

fn source(board: &Board) -> Option<Source> {
    let console_wired =
        board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some();
    if console_wired {
        if let Some((command, pattern)) = console_source(board) {
            return Some(Source::Console(command, pattern));
        }
    }
    // The API is reached over the board's network.
    board.spec.hardware.network.as_ref()?;
    board
        .spec
        .declares
        .identity
        .as_ref()?
        .logical
        .iter()
        .find_map(|s| match s {
            IdentitySource::Http { path, field, api } => Some(Source::Api {
                path: path.clone(),
                field: field.clone(),
                api: api.clone(),
            }),
            IdentitySource::Console { .. } => None,
        })
}

/// How long the API may take to answer again after a power cycle.
const BOOT: Duration = Duration::from_secs(60);

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Console(command, _) => format!("console `{}`", command.first_line()),
            Source::Api { path, .. } => format!("API {path}"),
        }
    }

    fn read(&self, ctx: &mut CheckContext) -> Result<String, CheckError> {
        match self {
            Source::Console(command, pattern) => {
                let decl = console::open_shell(ctx)?;
                let id = read_console_id(ctx, &decl, command, pattern)?;
                console::close_shell(ctx, &decl)?;
                Ok(id)
            }
            Source::Api { path, field, api } => {
                let id = read_http_id(ctx, api.as_ref(), path, field)?;
                if id.is_empty() {
                    return Err(CheckError::Board(format!("{path} reports no {field}")));
                }
                Ok(id)
            }
        }
    }

    /// Power-cycles the board and reads the identifier once it is back.
    fn cycle_and_read(
        &self,
        ctx: &mut CheckContext,
        seen: &mut Vec<String>,
    ) -> Result<(), CheckError> {
        if let Source::Console(..) = self {
            let decl = ctx.console_decl()?;
            console::restart(ctx, &decl)?;
            seen.push(self.read(ctx)?);
            return Ok(());
        }
        ctx.power(PowerAction::Cycle)?;
        // Give the device time to go down before asking again.
        ctx.sleep(Duration::from_secs(2))?;
        let until = Instant::now() + BOOT;
        loop {
            match self.read(ctx) {
                Ok(id) => {
                    seen.push(id);
                    return Ok(());
                }
                Err(CheckError::Board(why)) if Instant::now() < until => {
                    let _ = why;
                    ctx.sleep(Duration::from_secs(1))?;
                }
                Err(CheckError::Board(why)) => {
                    return Err(CheckError::Board(format!(
                        "the API did not answer within {}s of a power cycle: {why}",
                        BOOT.as_secs()
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }
}
