//! The images the board file declares (golden, candidate, older) and what
//! `image state` would report for them.

use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;
use hilt_image::Image;
use sha2::{Digest, Sha256};

pub(crate) fn golden(ctx: &CheckContext) -> Result<Vec<u8>, CheckError> {
    let path = ctx
        .board()
        .spec
        .declares
        .update
        .as_ref()
        .and_then(|u| u.golden.clone())
        .ok_or_else(|| CheckError::Harness("no golden image declared".into()))?;
    let path = ctx.board().resolve_path(&path);
    std::fs::read(&path).map_err(|e| {
        CheckError::Harness(format!("cannot read golden image {}: {e}", path.display()))
    })
}

/// The hash MCUmgr's `image state` reports for an image: SHA-256 over
/// header, payload and protected TLVs, computed here (not read from the
/// image's own hash TLV, which a forgery may carry unchanged).
pub(crate) fn computed_hash(image: &[u8]) -> Result<Vec<u8>, CheckError> {
    let parsed = Image::parse(image).map_err(|e| CheckError::Harness(format!("image: {e}")))?;
    image
        .get(parsed.hashed_range())
        .map(|b| Sha256::digest(b).to_vec())
        .ok_or_else(|| CheckError::Harness("image hash range out of bounds".into()))
}

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

pub(crate) fn version_of(image: &[u8]) -> Result<String, CheckError> {
    let parsed =
        Image::parse(image).map_err(|e| CheckError::Harness(format!("declared image: {e}")))?;
    let v = parsed.header.version;
    Ok(format!("{}.{}.{}", v.major, v.minor, v.revision))
}
