use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::transport::smp::SlotState;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::{computed_hash, declared_image, version_of};
use super::update_path::{attempt_update, describe, http_update, reboot, running, smp_applicable};
use crate::console;

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
        match smp_applicable(board) {
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
        let version = version_of(&image)?;
        let expected_hash = computed_hash(&image)?;
        let installed = |state: &SlotState| state.version == version && state.hash == expected_hash;
        let attempt = attempt_update(ctx, &image)?;
        let mut observed = vec![format!("SMP: {}", attempt.observed())];
        let mut failed = Vec::new();
        if !installed(&attempt.after) {
            failed.push("SMP over serial");
        }
        let http = ctx
            .board()
            .spec
            .declares
            .update
            .as_ref()
            .and_then(|u| u.http.clone());
        if let Some(http) = http {
            // The test image reverts at the next reset: start the second
            // path from the golden image again.
            console::open_shell(ctx)?;
            reboot(ctx)?;
            let decl = console::open_shell(ctx)?;
            let before = running(ctx)?;
            console::close_shell(ctx, &decl)?;
            if before.hash != attempt.before.hash || !before.confirmed {
                return Err(CheckError::Board(format!(
                    "the board did not revert to its image after the SMP test boot (runs {})",
                    describe(&before)
                )));
            }
            let (steps, after) = http_update(ctx, &http, &image)?;
            observed.push(format!(
                "HTTPS: {}; after reboot: {}",
                steps.join(", "),
                describe(&after)
            ));
            if !installed(&after) {
                failed.push("HTTPS");
            }
        }
        let observed = observed.join("; ");
        if failed.is_empty() {
            Ok(Finding::pass(
                format!(
                    "the genuine image {version} installed and ran through every declared path"
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
