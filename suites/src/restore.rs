//! The restore strategy run after every destructive check: bring the board
//! back to its golden image, confirmed, with nothing pending in the update
//! slot. Written once for all checks (labgrid's strategies), not per check.
//!
//! The steps are the update drivers' (`crate::update::restore`), through
//! whichever declared update path works; a board that cannot be brought
//! back is reported, and the runner makes its remaining checks
//! INCONCLUSIVE.

use hilt_harness::context::CheckContext;
use hilt_harness::runner::Restore;
use hilt_harness::CheckError;

pub struct GoldenImage;

impl Restore for GoldenImage {
    fn describe(&self) -> &str {
        "the golden firmware image runs confirmed (read back)"
    }

    fn restore(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        crate::update::restore(ctx)
    }
}
