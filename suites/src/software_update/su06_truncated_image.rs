use hilt_image::{forge, ForgeKeys, Forgery};

use super::forgery::{meta, ForgedSpec};

pub(super) static LYING_SIZE: ForgedSpec = ForgedSpec {
    meta: meta(
        "truncated_image",
        "SU-06",
        "Image whose header lies about its size is rejected",
        &["5.3-2"],
        &["5.3-2-2"],
    ),
    make: lying_size,
};

fn lying_size(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(golden, &Forgery::LyingImgSize, &ForgeKeys::default()).map_err(|e| e.to_string())
}
