use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::declared_image;
use crate::update::{self, attempt, image_hash, image_version, restore, updaters};

/// SU-01: a genuine newer image installs (positive control: without it, a
/// device that refuses every update would pass every negative check).
pub struct GenuineUpdate;

static GENUINE_UPDATE: CheckMeta = CheckMeta {
    name: "genuine_update",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-01",
    title: "Genuine signed update installs",
    expected: "a genuine newer image installs and runs; its version and hash are reported",
    nistir_8259a: &["SU-1"],
    en_303_645: &["5.3-2"],
    ts_103_701: &["5.3-2-2"],
    cra_annex_i: &["c"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for GenuineUpdate {
    fn meta(&self) -> &CheckMeta {
        &GENUINE_UPDATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[
            Reference::GoldenImage,
            Reference::TrustedKey,
            Reference::CandidateImage,
        ]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match update::applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        match board
            .spec
            .declares
            .update
            .as_ref()
            .and_then(|u| u.candidate.as_ref())
        {
            Some(_) => Applicability::Applicable,
            None => Applicability::not_applicable(
                "no genuine newer image declared (declares.update.candidate)",
                &["declares.update.candidate"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let image = declared_image(ctx, "candidate", |u| u.candidate.clone())?;
        let version = image_version(&image)?;
        let expected_hash = image_hash(&image)?;
        let mut observed = Vec::new();
        let mut failed = Vec::new();
        let paths = updaters(ctx.board());
        for (i, updater) in paths.iter().enumerate() {
            if i > 0 {
                // The test image reverts at the next restart: every path
                // starts from the golden image.
                restore(ctx)?;
            }
            let attempt = attempt(ctx, updater.as_ref(), &image)?;
            if attempt.after.version != version || attempt.after.hash != expected_hash {
                failed.push(attempt.path.clone());
            }
            observed.push(attempt.observed());
        }
        let observed = observed.join(" | ");
        if failed.is_empty() {
            Ok(Finding::pass(
                format!(
                    "the genuine image {version} installed and ran through every declared path ({})",
                    paths.iter().map(|p| p.label()).collect::<Vec<_>>().join(", ")
                ),
                observed,
            )
            .with("installed_version", &version))
        } else {
            Ok(Finding::fail(
                format!(
                    "the genuine image {version} did not install through: {}",
                    failed.join(", ")
                ),
                observed,
            ))
        }
    }
}
