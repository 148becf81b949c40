use hilt_image::sign;

use super::forgery::{distinct_payload, meta, options_like, ForgedSpec};

pub(super) static UNSIGNED: ForgedSpec = ForgedSpec {
    meta: meta(
        "unsigned_image",
        "SU-02",
        "Unsigned image is rejected",
        &["5.3-9", "5.3-10", "5.7-1"],
        &["5.3-10-2", "5.7-1-2"],
    ),
    make: unsigned,
};

fn unsigned(golden: &[u8]) -> Result<Vec<u8>, String> {
    let (image, payload) = distinct_payload(golden)?;
    sign(&payload, &options_like(&image), None).map_err(|e| e.to_string())
}
