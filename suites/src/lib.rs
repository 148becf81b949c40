//! hilt's checks, one folder per NIST IR 8259A capability and one file per
//! check, named by catalogue id (`logical_access/au07_open_ports.rs`). Each
//! check is data (`CheckMeta`: id, catalogue id, references, pass
//! criterion) plus a `run` that attacks the device and verifies the outcome
//! by authorized read-back. A capability's `mod.rs` lists its checks and
//! keeps what several of them share; helpers shared by a family live in
//! named modules beside them (`software_update/forgery.rs`).
//! `registry()` finds checks by check id or catalogue id; the planner,
//! `hilt list` and `hilt board check` use it.

use std::sync::Arc;

use hilt_harness::{Check, Registry};

mod api;
mod console;
pub mod data_protection;
pub mod device_configuration;
pub mod device_identification;
pub mod health;
pub mod liveness;
mod lockout;
pub mod logical_access;
mod logins;
pub mod non_technical;
mod open_console;
pub mod restore;
mod settings;
pub mod software_update;
pub mod state_awareness;
mod tls_peer;
mod update;

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

/// Every check, board and rack-wide, found by check id or catalogue id:
/// what the planner, `hilt list` and `hilt board check` look checks up in.
pub fn registry() -> Registry {
    match Registry::new(all(), rack()) {
        Ok(registry) => registry,
        // hilt's own check list, not input: the test below keeps it unique.
        Err(e) => panic!("hilt's checks: {e}"),
    }
}

/// Ids of every check, for validating suite files.
pub fn ids() -> Vec<String> {
    registry().ids()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_check_id_and_catalogue_id_is_unique() {
        let checks = super::all();
        let rack = super::rack();
        let mut catalogue_ids: Vec<&str> = checks
            .iter()
            .map(|c| c.meta().catalogue_id)
            .chain(rack.iter().map(|c| c.meta().catalogue_id))
            .collect();
        let count = catalogue_ids.len();
        catalogue_ids.sort_unstable();
        catalogue_ids.dedup();
        assert_eq!(catalogue_ids.len(), count, "a catalogue id used twice");
        let registry = hilt_harness::Registry::new(checks, rack).expect("unique check ids");
        let open_ports = registry.by_catalogue_id("au-07").expect("AU-07");
        assert_eq!(open_ports.id(), "logical_access::open_ports");
        assert!(registry.check("logical_access::open_ports").is_some());
        let rack_wide = registry.by_catalogue_id("ID-03").expect("ID-03");
        assert!(registry.rack_check(&rack_wide.id()).is_some());
        assert!(registry.check(&rack_wide.id()).is_none());
    }
}
