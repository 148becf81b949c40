//! SU-14: the user's "updates disabled" setting holds: an authorized,
//! genuine update pushed while updating is disabled does not install.

use std::time::Duration;

use ciborium::Value;
use hilt_harness::board::{Board, Reference, UpdateSettingDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::transport::smp::{Smp, GROUP_IMAGE};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::{computed_hash, declared_image, version_of};
use super::update_path::{attempt_update, smp_applicable, smp_fault};
use crate::console::{self, STEP};

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
        match smp_applicable(board) {
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
        console::needs_config_commands(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let setting =
            setting(ctx.board()).ok_or_else(|| CheckError::Harness("no update setting".into()))?;
        let image = declared_image(ctx, "candidate", |u| u.candidate.clone())?;
        let version = version_of(&image)?;
        let image_hash = computed_hash(&image)?;
        let decl = console::open_shell(ctx)?;
        let original = console::config_get(ctx, &decl, &setting.parameter)?;
        console::config_set_verified(ctx, &decl, &setting.parameter, &setting.disabled)?;
        console::close_shell(ctx, &decl)?;
        // Whatever happens, the user's setting is put back.
        let attempt = attempt_update(ctx, &image);
        console::open_shell(ctx)?;
        let restored = console::config_set_verified(ctx, &decl, &setting.parameter, &original);
        console::close_shell(ctx, &decl)?;
        let attempt = attempt?;
        restored?;
        let observed = format!(
            "{} = {:?}: {}",
            setting.parameter,
            setting.disabled,
            attempt.observed()
        );
        if attempt.after.hash == image_hash || attempt.after.version == version {
            return Ok(Finding::fail(
                format!("the device installed {version} while updating was disabled"),
                observed,
            ));
        }
        // Control: with updating enabled the same authorized upload is
        // taken, so the refusal came from the setting and not from an
        // update path that takes nothing. The slot is emptied afterwards.
        let decl = console::open_shell(ctx)?;
        console::config_set_verified(ctx, &decl, &setting.parameter, &setting.enabled)?;
        let console = ctx.console()?;
        let mut smp = Smp::new(console, STEP);
        let uploaded = smp.upload(&image);
        let taken = smp
            .image_state()
            .map_err(smp_fault)?
            .iter()
            .any(|s| s.slot == 1 && s.hash == image_hash);
        let _ = smp.request(2, GROUP_IMAGE, 5, Value::Map(vec![]));
        console::config_set_verified(ctx, &decl, &setting.parameter, &original)?;
        console::close_shell(ctx, &decl)?;
        if uploaded.is_err() || !taken {
            return Err(CheckError::Board(format!(
                "with updating enabled the upload was not taken either ({uploaded:?}); the refusal proves nothing ({observed})"
            )));
        }
        Ok(Finding::pass(
            "the update did not install while disabled; with updating enabled the upload was taken",
            observed,
        ))
    }
}
