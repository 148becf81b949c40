//! hilt's checks, one module per NIST IR 8259A capability. Each check is
//! data (`CheckMeta`: id, catalogue id, references, pass criterion) plus a
//! `run` that attacks the device and verifies the outcome by authorized
//! read-back. `all()` is the registry the runner and `hilt list` use.

use std::sync::Arc;

use hilt_harness::Check;

mod api;
mod console;
pub mod data_protection;
pub mod device_configuration;
pub mod device_identification;
pub mod liveness;
pub mod logical_access;
pub mod non_technical;
pub mod restore;
pub mod software_update;
pub mod state_awareness;

/// Every check hilt knows, in catalogue order.
pub fn all() -> Vec<Arc<dyn Check>> {
    let mut checks: Vec<Arc<dyn Check>> = Vec::new();
    checks.extend(device_identification::checks());
    checks.extend(device_configuration::checks());
    checks.extend(logical_access::checks());
    checks.extend(data_protection::checks());
    checks.extend(software_update::checks());
    checks.extend(state_awareness::checks());
    checks.extend(non_technical::checks());
    // A PASS or FAIL stands only if the board is shown alive afterwards.
    checks
        .into_iter()
        .map(|check| Arc::new(liveness::AliveAfter(check)) as Arc<dyn Check>)
        .collect()
}

/// Rack-wide checks, run once after every board finished.
pub fn rack() -> Vec<Arc<dyn hilt_harness::RackCheck>> {
    vec![Arc::new(device_identification::DistinctIdentifiers)]
}

/// Ids of every check, for validating suite files.
pub fn ids() -> Vec<String> {
    let mut ids: Vec<String> = all().iter().map(|c| c.meta().id()).collect();
    ids.extend(rack().iter().map(|c| c.meta().id()));
    ids
}
