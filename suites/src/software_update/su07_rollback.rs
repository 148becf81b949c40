use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::forgery::{judge_refused, prove_refusals};
use super::images::declared_image;
use crate::update::{self, attempt_every_path, image_version};

/// SU-07: an older, genuinely signed image with a lower security counter
/// is refused.
pub struct Rollback;

static ROLLBACK: CheckMeta = CheckMeta {
    name: "rollback",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-07",
    title: "Rollback to an older image is refused",
    expected: "an older genuine image with a lower security counter does not run",
    nistir_8259a: &["SU-2", "SU-4"],
    en_303_645: &["5.3-2", "5.3-10"],
    ts_103_701: &["5.3-2-2", "5.3-10-2"],
    cra_annex_i: &["c", "f"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for Rollback {
    fn meta(&self) -> &CheckMeta {
        &ROLLBACK
    }

    fn uses(&self) -> &'static [Reference] {
        &[
            Reference::GoldenImage,
            Reference::TrustedKey,
            Reference::OlderImage,
        ]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match update::applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        let update = board.spec.declares.update.as_ref();
        if update.is_some_and(|u| !u.rollback_protection) {
            return Applicability::not_applicable(
                "the declaration says rollback is an authorized path (rollback_protection: false)",
                &["declares.update.rollback_protection"],
            );
        }
        match update.and_then(|u| u.older.as_ref()) {
            Some(_) => Applicability::Applicable,
            None => Applicability::not_applicable(
                "no older genuine image declared (declares.update.older)",
                &["declares.update.older"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let image = declared_image(ctx, "older", |u| u.older.clone())?;
        let version = image_version(&image)?;
        let attempts = attempt_every_path(ctx, &image)?;
        prove_refusals(ctx, &attempts)?;
        Ok(judge_refused(
            &attempts,
            &format!("the older image {version}"),
        ))
    }
}
