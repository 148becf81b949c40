use super::forgery::{meta, tampered_payload, ForgedSpec};

pub(super) static TAMPERED_PAYLOAD: ForgedSpec = ForgedSpec {
    meta: meta(
        "tampered_payload",
        "SU-04",
        "Image with a tampered payload is rejected",
        &["5.3-10", "5.7-1"],
        &["5.3-10-2", "5.7-1-2"],
    ),
    make: tampered_payload,
};
