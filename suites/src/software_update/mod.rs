//! Software Update (NIST IR 8259A SU-1 to SU-6): forged, tampered and
//! unauthenticated updates sent through the declared update mechanism.
//!
//! Every negative check proves its negative by authorized read-back: after
//! the device reboots, the running image (hash, version and whether it is
//! confirmed, as MCUmgr's `image state` reports) must be the one that ran
//! before. An error code at upload proves nothing on its own.

use std::sync::Arc;

use hilt_harness::Check;

pub(crate) mod forgery;
pub(crate) mod images;
use forgery::Forged;

mod su01_genuine_update;
mod su02_unsigned_image;
mod su03_bad_signature;
mod su04_tampered_payload;
mod su05_wrong_key;
mod su06_truncated_image;
mod su07_rollback;
mod su09_edited_security_counter;
mod su11_unauthenticated_update;
mod su14_update_setting_enforced;
mod su15_primary_slot_tamper;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(su01_genuine_update::GenuineUpdate),
        Arc::new(Forged(&su02_unsigned_image::UNSIGNED)),
        Arc::new(Forged(&su03_bad_signature::BAD_SIGNATURE)),
        Arc::new(Forged(&su04_tampered_payload::TAMPERED_PAYLOAD)),
        Arc::new(Forged(&su05_wrong_key::WRONG_KEY)),
        Arc::new(Forged(&su06_truncated_image::LYING_SIZE)),
        Arc::new(su07_rollback::Rollback),
        Arc::new(Forged(&su09_edited_security_counter::EDITED_COUNTER)),
        Arc::new(su11_unauthenticated_update::UnauthenticatedUpdate),
        Arc::new(su14_update_setting_enforced::UpdateSettingEnforced),
        Arc::new(su15_primary_slot_tamper::PrimarySlotTamper),
    ]
}
