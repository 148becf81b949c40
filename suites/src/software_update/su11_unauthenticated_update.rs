use std::time::Duration;

use ciborium::Value;
use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::transport::smp::{Smp, SmpError, GROUP_IMAGE};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::{computed_hash, golden};
use super::update_path::{smp_applicable, smp_fault};
use crate::console::{self, STEP};

/// SU-11: an update without authentication is refused.
pub struct UnauthenticatedUpdate;

static UNAUTHENTICATED_UPDATE: CheckMeta = CheckMeta {
    name: "unauthenticated_update",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-11",
    title: "Update without authentication is refused",
    expected: "an upload without a session is refused and nothing reaches the update slot",
    nistir_8259a: &["SU-4"],
    en_303_645: &["5.5-5"],
    ts_103_701: &["5.5-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for UnauthenticatedUpdate {
    fn meta(&self) -> &CheckMeta {
        &UNAUTHENTICATED_UPDATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage, Reference::TrustedKey]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        smp_applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        // A genuine, harmless image (the golden one): only the lack of a
        // session should stop it.
        let image = golden(ctx)?;
        let image_hash = computed_hash(&image)?;
        // With authorization, empty the update slot first, so whatever is
        // there afterwards came from the unauthenticated attempt.
        let decl = console::open_shell(ctx)?;
        {
            let console = ctx.console()?;
            let mut smp = Smp::new(console, STEP);
            let _ = smp.request(2, GROUP_IMAGE, 5, Value::Map(vec![]));
            if smp
                .image_state()
                .map_err(smp_fault)?
                .iter()
                .any(|s| s.slot == 1)
            {
                return Err(CheckError::Board(
                    "the update slot could not be emptied before the attempt".into(),
                ));
            }
        }
        console::close_shell(ctx, &decl)?;
        let console = ctx.console()?;
        // A console declared without login is itself the unauthenticated
        // path: what it takes, anyone with a cable can install.
        if dialogue::wake(console, &decl, STEP)? != dialogue::AT_LOGIN && decl.login.is_some() {
            return Err(CheckError::Board(
                "the console is at a shell without login; cannot test an unauthenticated update"
                    .into(),
            ));
        }
        let mut smp = Smp::new(console, STEP);
        let outcome = match smp.upload(&image) {
            Ok(()) => "upload accepted without a session".to_string(),
            Err(SmpError::Refused(rc)) => format!("upload refused (rc {rc})"),
            Err(e) => return Err(smp_fault(e)),
        };
        // Read-back (state reads need no session): what is in slot 1 now?
        let states = smp.image_state().map_err(smp_fault)?;
        let landed = states.iter().any(|s| s.slot == 1 && s.hash == image_hash);
        let observed = format!(
            "{outcome}; slot 1 afterwards: {}",
            if landed {
                "holds the uploaded image"
            } else {
                "empty"
            }
        );
        if landed || outcome.starts_with("upload accepted") {
            return Ok(Finding::fail(
                "the device took an update without authentication",
                observed,
            ));
        }
        // Positive control: with a session the same upload is taken (then
        // removed), so the refusal was about authentication, not an update
        // path that refuses everything.
        let decl = console::open_shell(ctx)?;
        let console = ctx.console()?;
        let mut smp = Smp::new(console, STEP);
        let authorized = smp.upload(&image);
        let taken = smp
            .image_state()
            .map_err(smp_fault)?
            .iter()
            .any(|s| s.slot == 1 && s.hash == image_hash);
        let _ = smp.request(2, GROUP_IMAGE, 5, Value::Map(vec![]));
        console::close_shell(ctx, &decl)?;
        if authorized.is_err() || !taken {
            return Err(CheckError::Board(format!(
                "the same upload with a session was not taken either ({authorized:?}); the refusal proves nothing ({observed})"
            )));
        }
        Ok(Finding::pass(
            "the upload was refused without a session and taken with one",
            observed,
        ))
    }
}
