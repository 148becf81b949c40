//! SU-14: the user's "updates disabled" setting holds: an authorized,
//! genuine update pushed while updating is disabled does not install.

use std::time::Duration;

use hilt_harness::board::{Board, Reference, UpdateSettingDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::declared_image;
use crate::settings::{self, Settings};
use crate::update::{self, attempt_every_path, control_upload, golden, image_version, updaters};

pub struct UpdateSettingEnforced;

static UPDATE_SETTING: CheckMeta = CheckMeta {
    name: "update_setting_enforced",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-14",
    title: "Updates stay off while the user has disabled them",
    expected: "with updating disabled, a genuine update pushed by an authorized user does not install; with updating enabled the same upload is taken",
    nistir_8259a: &["SU-5", "SU-6"],
    en_303_645: &["5.3-4", "5.3-6"],
    ts_103_701: &["5.3-4-2", "5.3-6-2"],
    cra_annex_i: &["c"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

fn setting(board: &Board) -> Option<UpdateSettingDecl> {
    board.spec.declares.update.as_ref()?.setting.clone()
}

impl Check for UpdateSettingEnforced {
    fn meta(&self) -> &CheckMeta {
        &UPDATE_SETTING
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
        if setting(board).is_none() {
            return Applicability::not_applicable(
                "no setting that disables updating is declared (declares.update.setting)",
                &["declares.update.setting"],
            );
        }
        if board
            .spec
            .declares
            .update
            .as_ref()
            .and_then(|u| u.candidate.as_ref())
            .is_none()
        {
            return Applicability::not_applicable(
                "no genuine newer image declared (declares.update.candidate)",
                &["declares.update.candidate"],
            );
        }
        settings::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let setting =
            setting(ctx.board()).ok_or_else(|| CheckError::Harness("no update setting".into()))?;
        let image = declared_image(ctx, "candidate", |u| u.candidate.clone())?;
        let version = image_version(&image)?;
        let settings = Settings::open(ctx)?;
        let original = settings.get(ctx, &setting.parameter)?;
        settings.set_verified(ctx, &setting.parameter, &setting.disabled)?;
        settings.close(ctx)?;
        // Whatever happens, the user's setting is put back.
        let attempts = attempt_every_path(ctx, &image);
        settings.reopen(ctx)?;
        // Whether "disabled" outlived the restarts of the attempts: a
        // setting lost at a restart lets a later path install.
        let after = settings.get(ctx, &setting.parameter);
        let restored = settings.set_verified(ctx, &setting.parameter, &original);
        settings.close(ctx)?;
        let attempts = attempts?;
        restored?;
        let observed = format!(
            "{} = {:?}: {}",
            setting.parameter,
            setting.disabled,
            attempts
                .iter()
                .map(|a| a.observed())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let installed: Vec<&str> = attempts
            .iter()
            .filter(|a| !a.unchanged())
            .map(|a| a.path.as_str())
            .collect();
        if !installed.is_empty() {
            let lost = match &after {
                Ok(now) if *now != setting.disabled => format!(
                    " ({} read {now:?} afterwards: the setting did not survive a restart)",
                    setting.parameter
                ),
                _ => String::new(),
            };
            return Ok(Finding::fail(
                format!(
                    "the device installed {version} while updating was disabled, through: {}{lost}",
                    installed.join(", ")
                ),
                observed,
            ));
        }
        after?;
        // Control: with updating enabled each path takes an authorized
        // upload, so the refusal came from the setting and not from an
        // update path that takes nothing.
        let golden = golden(ctx)?;
        let mut refused = Vec::new();
        for updater in updaters(ctx.board()) {
            let control = control_upload(ctx, updater.as_ref(), &golden)?;
            if !control.taken() {
                refused.push(format!("{}: {}", updater.label(), control.note()));
            }
        }
        if !refused.is_empty() {
            return Err(CheckError::Board(format!(
                "with updating enabled the upload was not taken either ({}); the refusal proves nothing ({observed})",
                refused.join("; ")
            )));
        }
        Ok(Finding::pass(
            "the update did not install through any path while disabled; with updating enabled each path took an upload",
            observed,
        ))
    }
}
