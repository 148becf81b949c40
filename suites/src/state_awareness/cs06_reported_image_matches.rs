use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::Image;

use crate::console;
use crate::update::{self, golden, image_hash, running};

/// CS-06: the image hash the device reports is that of the installed image.
pub struct ReportedImageMatches;

static REPORTED_IMAGE: CheckMeta = CheckMeta {
    name: "reported_image_matches",
    capability: Capability::StateAwareness,
    catalogue_id: "CS-06",
    title: "Reported software version and hash match the installed image",
    expected: "the version and hash the device reports equal those of the image it was given",
    nistir_8259a: &["CS-1", "DI-1"],
    en_303_645: &["5.3-16"],
    ts_103_701: &["5.3-16-2"],
    cra_annex_i: &["c"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for ReportedImageMatches {
    fn meta(&self) -> &CheckMeta {
        &REPORTED_IMAGE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board
            .spec
            .declares
            .state
            .as_ref()
            .and_then(|s| s.version_console.as_ref())
            .is_none()
        {
            return Applicability::not_applicable(
                "no console version command declared (declares.state.version_console)",
                &["declares.state.version_console"],
            );
        }
        update::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let command = ctx
            .board()
            .spec
            .declares
            .state
            .as_ref()
            .and_then(|s| s.version_console.clone())
            .ok_or_else(|| CheckError::Harness("no version command".into()))?;
        let image = golden(ctx)?;
        let parsed =
            Image::parse(&image).map_err(|e| CheckError::Harness(format!("golden image: {e}")))?;
        let golden_hash = hex::encode(image_hash(&image)?);
        let v = parsed.header.version;
        let golden_version = format!("{}.{}.{}", v.major, v.minor, v.revision);
        let decl = console::open_shell(ctx)?;
        let reported = console::ask(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        let slot = running(ctx)?;
        let hex64 = regex::Regex::new(r"\b[0-9a-fA-F]{64}\b")
            .map_err(|e| CheckError::Harness(e.to_string()))?;
        let reported_hash = hex64
            .find(&reported)
            .map(|m| m.as_str().to_ascii_lowercase());
        let observed = format!(
            "console reports {:?}; read back: version {} hash {}; installed (golden) image: version {golden_version} hash {golden_hash}",
            reported.trim(),
            slot.version,
            hex::encode(&slot.hash)
        );
        if hex::encode(&slot.hash) != golden_hash {
            return Err(CheckError::Board(format!(
                "the board does not run its golden image; restore it first ({observed})"
            )));
        }
        match reported_hash {
            Some(h) if h == golden_hash && reported.contains(&golden_version) => Ok(Finding::pass(
                "the reported version and hash are the installed image's",
                observed,
            )),
            Some(_) => Ok(Finding::fail(
                "the device reports a hash or version other than the installed image's",
                observed,
            )),
            None => Ok(Finding::fail("the device reports no image hash", observed)),
        }
    }
}
