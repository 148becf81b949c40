//! The restore strategy run after every destructive check: bring the board
//! back to its golden image, confirmed, with nothing pending in the update
//! slot. Written once for all checks (labgrid's strategies), not per check.
//!
//! Steps, cheapest first: if the golden image runs confirmed, only clear
//! the update slot; if a test image runs, reboot (MCUboot reverts an
//! unconfirmed image); otherwise install the golden image permanently
//! through the update mechanism. Every step is verified by reading the
//! running image back; a board that cannot be brought back is reported,
//! and the runner makes its remaining checks INCONCLUSIVE.

use hilt_harness::board::UpdateMechanism;
use hilt_harness::context::CheckContext;
use hilt_harness::runner::Restore;
use hilt_harness::transport::smp::Smp;
use hilt_harness::CheckError;

use crate::console::{self, STEP};
use crate::software_update::images::{computed_hash, golden};
use crate::software_update::update_path::{reboot, running, smp_fault};

pub struct GoldenImage;

impl Restore for GoldenImage {
    fn describe(&self) -> &str {
        "the golden firmware image runs confirmed (read back)"
    }

    fn restore(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        let Some(update) = ctx.board().spec.declares.update.clone() else {
            return Ok(());
        };
        if update.mechanism != Some(UpdateMechanism::SmpSerial) || update.golden.is_none() {
            // Nothing hilt can drive: the check itself must not have changed
            // the image (no mechanism was used).
            return Ok(());
        }
        let image = golden(ctx)?;
        let golden_hash = computed_hash(&image)?;

        let decl = console::open_shell(ctx)?;
        let mut state = running(ctx)?;
        if !state.confirmed {
            // An unconfirmed test image: one reboot reverts it.
            reboot(ctx)?;
            console::open_shell(ctx)?;
            state = running(ctx)?;
        }
        if !(state.confirmed && state.hash == golden_hash) {
            let console = ctx.console()?;
            let mut smp = Smp::new(console, STEP);
            smp.upload(&image).map_err(smp_fault)?;
            smp.mark(&golden_hash, true).map_err(smp_fault)?;
            reboot(ctx)?;
            console::open_shell(ctx)?;
            state = running(ctx)?;
        }
        if !(state.confirmed && state.hash == golden_hash) {
            return Err(CheckError::Board(format!(
                "the board could not be brought back to its golden image (runs version {} hash {}, {})",
                state.version,
                hex::encode(&state.hash),
                if state.confirmed { "confirmed" } else { "unconfirmed" }
            )));
        }
        // Leave no candidate behind in the update slot.
        let console = ctx.console()?;
        let mut smp = Smp::new(console, STEP);
        let _ = smp.request(
            2,
            hilt_harness::transport::smp::GROUP_IMAGE,
            5,
            ciborium::Value::Map(vec![]),
        );
        // A state still marked degraded (by a rejected image) is cleared by
        // a clean boot; the next check must start from a healthy device.
        if let Some(state) = ctx.board().spec.declares.state.clone() {
            if let (Some(command), Some(degraded)) = (state.console, state.degraded) {
                if console::ask(ctx, &decl, &command)?.contains(&degraded) {
                    reboot(ctx)?;
                    console::open_shell(ctx)?;
                    let now = console::ask(ctx, &decl, &command)?;
                    if now.contains(&degraded) {
                        return Err(CheckError::Board(format!(
                            "the board still reports a degraded state after a clean boot: {now:?}"
                        )));
                    }
                }
            }
        }
        console::close_shell(ctx, &decl)
    }
}
