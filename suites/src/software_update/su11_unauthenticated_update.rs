use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::images::declared_image;
use crate::update::{
    self, control_upload, golden, image_hash, restart_and_wait, restore, running, updaters,
    Session, Stored, Updater,
};

/// SU-11: an update without authentication is refused.
pub struct UnauthenticatedUpdate;

static UNAUTHENTICATED_UPDATE: CheckMeta = CheckMeta {
    name: "unauthenticated_update",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-11",
    title: "Update without authentication is refused",
    expected: "through every update path, an upload without authentication is refused and nothing it sent is stored or runs; the same path takes an authorized upload",
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
        update::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        // A genuine image: only the lack of authentication should stop it.
        // The candidate shows in the read-back if it ever runs; the golden
        // image only where the path shows its update slot.
        let golden = golden(ctx)?;
        let image = match declared_image(ctx, "candidate", |u| u.candidate.clone()) {
            Ok(candidate) => candidate,
            Err(_) => golden.clone(),
        };
        let mut failed = Vec::new();
        let mut observed = Vec::new();
        for updater in updaters(ctx.board()) {
            let (fault, seen) = through(ctx, updater.as_ref(), &image, &golden)?;
            if let Some(fault) = fault {
                failed.push(format!("{}: {fault}", updater.label()));
            }
            observed.push(format!("{}: {seen}", updater.label()));
        }
        let observed = observed.join(" | ");
        if failed.is_empty() {
            Ok(Finding::pass(
                "every update path refused the upload without authentication and took it with",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!(
                    "the device took an update without authentication: {}",
                    failed.join("; ")
                ),
                observed,
            ))
        }
    }
}

/// The unauthenticated attempt through one path, then the authorized
/// control: (why the path fails, what was seen).
fn through(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    image: &[u8],
    golden: &[u8],
) -> Result<(Option<String>, String), CheckError> {
    let hash = image_hash(image)?;
    // With authorization, empty the update slot first, so whatever is there
    // afterwards came from the unauthenticated attempt.
    updater.discard(ctx)?;
    let outcome = updater.upload(ctx, image, Session::Unauthenticated)?;
    let mut seen = vec![format!("without authentication: {}", outcome.note())];
    if outcome.taken() {
        clean_up(ctx, updater, golden)?;
        return Ok((Some("the upload was taken".into()), seen.join("; ")));
    }
    let landed = match updater.stored(ctx)? {
        Stored::Image(stored) => {
            seen.push(format!("update slot afterwards holds {}", hex::encode(&stored)));
            stored == hash
        }
        Stored::Empty => {
            seen.push("update slot afterwards empty".into());
            false
        }
        Stored::Unknown if image != golden => {
            // The path cannot show its slot: restart and see what runs.
            restart_and_wait(ctx, updater)?;
            let now = running(ctx)?;
            seen.push(format!("after a restart runs {}", now.describe()));
            now.hash == hash
        }
        Stored::Unknown => {
            return Err(CheckError::Board(format!(
                "{} shows no update slot and no candidate image is declared (declares.update.candidate) to show in the read-back whether the unauthenticated upload landed",
                updater.label()
            )))
        }
    };
    if landed {
        clean_up(ctx, updater, golden)?;
        return Ok((
            Some("the image sent without authentication was stored".into()),
            seen.join("; "),
        ));
    }
    // Control: with authentication the same path takes an upload (the
    // golden image, harmless), so the refusal was about authentication.
    let control = control_upload(ctx, updater, golden)?;
    seen.push(format!("with authentication: {}", control.note()));
    if !control.taken() {
        return Err(CheckError::Board(format!(
            "{} refused the authorized upload too; the refusal proves nothing ({})",
            updater.label(),
            seen.join("; ")
        )));
    }
    Ok((None, seen.join("; ")))
}

/// After the device took an image it should have refused: the golden
/// image replaces it in the update slot (a path that cannot empty its slot
/// would otherwise boot it at the next restart), then the golden image runs.
fn clean_up(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    golden: &[u8],
) -> Result<(), CheckError> {
    restore(ctx)?;
    control_upload(ctx, updater, golden)?;
    Ok(())
}
