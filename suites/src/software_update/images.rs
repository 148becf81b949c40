//! The images the board file declares besides the golden one (candidate,
//! older); the golden image and image hashes are the update drivers'
//! (`crate::update`).

use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;

/// Reads a declared image (candidate or older) named by `pick`.
pub(crate) fn declared_image(
    ctx: &CheckContext,
    what: &str,
    pick: fn(&hilt_harness::board::UpdateDecl) -> Option<std::path::PathBuf>,
) -> Result<Vec<u8>, CheckError> {
    let path = ctx
        .board()
        .spec
        .declares
        .update
        .as_ref()
        .and_then(pick)
        .ok_or_else(|| CheckError::Harness(format!("no {what} image declared")))?;
    let path = ctx.board().resolve_path(&path);
    std::fs::read(&path).map_err(|e| {
        CheckError::Harness(format!("cannot read {what} image {}: {e}", path.display()))
    })
}
