use hilt_image::{forge, ForgeKeys, Forgery};

use super::forgery::{meta, ForgedSpec};

pub(super) static EDITED_COUNTER: ForgedSpec = ForgedSpec {
    meta: meta(
        "edited_security_counter",
        "SU-09",
        "Protected metadata edited without re-signing is rejected",
        &["5.3-10"],
        &["5.3-10-2"],
    ),
    make: edited_counter,
};

fn edited_counter(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(
        golden,
        &Forgery::EditedSecurityCounter,
        &ForgeKeys::default(),
    )
    .map_err(|e| e.to_string())
}
