//! Back to the golden image, confirmed, with nothing left in the update
//! slot: the strategy run after every destructive check (and between the
//! paths of one check), through whichever path works.
//!
//! Steps, cheapest first: if the golden image runs confirmed, only empty
//! the update slot; if another image runs, restart (a test boot reverts);
//! otherwise install the golden image through the first path that takes it
//! and confirm it. Every step is verified by reading the running image
//! back; a board that cannot be brought back is a board fault.

use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;

use super::{golden, image_hash, restart_and_wait, running, running_image, updaters, Running};
use super::{Session, Updater, Upload};
use crate::console;

fn golden_runs(state: &Running, golden_hash: &[u8]) -> bool {
    state.hash == golden_hash && state.confirmed != Some(false)
}

pub fn restore(ctx: &mut CheckContext) -> Result<(), CheckError> {
    let board = ctx.board();
    let usable = board
        .spec
        .declares
        .update
        .as_ref()
        .is_some_and(|u| !u.not_updatable() && u.golden.is_some());
    let paths = updaters(board);
    if !usable || paths.is_empty() || running_image(board).is_none() {
        // Nothing hilt can drive: no check can have changed the image.
        return Ok(());
    }
    let image = golden(ctx)?;
    let golden_hash = image_hash(&image)?;
    let mut state = running(ctx)?;
    if !golden_runs(&state, &golden_hash) {
        // A test image reverts at the next restart.
        restart_and_wait(ctx, paths[0].as_ref())?;
        state = running(ctx)?;
    }
    if !golden_runs(&state, &golden_hash) {
        let mut refused = Vec::new();
        for updater in &paths {
            match install(ctx, updater.as_ref(), &image, &golden_hash) {
                Ok(now) if golden_runs(&now, &golden_hash) => {
                    state = now;
                    break;
                }
                Ok(now) => {
                    refused.push(format!("{}: runs {}", updater.label(), now.describe()));
                    state = now;
                }
                Err(e) => refused.push(format!("{}: {e}", updater.label())),
            }
        }
        if !golden_runs(&state, &golden_hash) {
            return Err(CheckError::Board(format!(
                "the board could not be brought back to its golden image (runs {}; {})",
                state.describe(),
                refused.join("; ")
            )));
        }
    }
    // Leave no candidate behind in the update slot, where a path can.
    for updater in &paths {
        if updater.discard(ctx).unwrap_or(false) {
            break;
        }
    }
    clear_degraded(ctx)
}

/// The golden image through one path: upload, test boot, confirm.
fn install(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    image: &[u8],
    golden_hash: &[u8],
) -> Result<Running, CheckError> {
    if let Upload::Refused(why) = updater.upload(ctx, image, Session::Authorized)? {
        return Err(CheckError::Board(why));
    }
    restart_and_wait(ctx, updater)?;
    let state = running(ctx)?;
    if state.hash == golden_hash && state.confirmed != Some(true) {
        updater.confirm(ctx)?;
        return running(ctx);
    }
    Ok(state)
}

/// A state still marked degraded (by a rejected image) is cleared by a
/// clean boot; the next check must start from a healthy device.
fn clear_degraded(ctx: &mut CheckContext) -> Result<(), CheckError> {
    let Some(state) = ctx.board().spec.declares.state.clone() else {
        return Ok(());
    };
    let (Some(command), Some(degraded)) = (state.console, state.degraded) else {
        return Ok(());
    };
    if ctx.board().spec.declares.console.is_none() {
        return Ok(());
    }
    let decl = console::open_shell(ctx)?;
    let now = console::ask(ctx, &decl, &command)?;
    console::close_shell(ctx, &decl)?;
    if !now.contains(&degraded) {
        return Ok(());
    }
    let paths = updaters(ctx.board());
    let first = paths
        .first()
        .ok_or_else(|| CheckError::Harness("no update path".into()))?;
    restart_and_wait(ctx, first.as_ref())?;
    let decl = console::open_shell(ctx)?;
    let now = console::ask(ctx, &decl, &command)?;
    console::close_shell(ctx, &decl)?;
    if now.contains(&degraded) {
        return Err(CheckError::Board(format!(
            "the board still reports a degraded state after a clean boot: {now:?}"
        )));
    }
    Ok(())
}
