//! Every check hilt knows, found by either of its ids: the check id
//! (`logical_access::open_ports`, used in suites and trial names) or the
//! catalogue id (`AU-07`, used in the catalogue, reports and selection).
//! The planner, `hilt list` and `hilt board check` all look checks up
//! here, so an id means the same check everywhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::check::{Check, CheckMeta, RackCheck};

/// Where an id points.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Board(usize),
    Rack(usize),
}

/// Board checks and rack-wide checks, in catalogue order, indexed by both ids.
#[derive(Clone)]
pub struct Registry {
    checks: Vec<Arc<dyn Check>>,
    rack: Vec<Arc<dyn RackCheck>>,
    by_id: BTreeMap<String, Slot>,
    /// Keys in upper case: catalogue ids are matched in any case.
    by_catalogue_id: BTreeMap<String, Slot>,
}

impl Registry {
    /// Refuses two checks with the same check id (a suite entry would be
    /// ambiguous).
    pub fn new(checks: Vec<Arc<dyn Check>>, rack: Vec<Arc<dyn RackCheck>>) -> Result<Self, String> {
        let mut registry = Self {
            checks,
            rack,
            by_id: BTreeMap::new(),
            by_catalogue_id: BTreeMap::new(),
        };
        let slots: Vec<(Slot, String, &'static str)> = (0..registry.checks.len())
            .map(Slot::Board)
            .chain((0..registry.rack.len()).map(Slot::Rack))
            .map(|slot| {
                let meta = registry.meta_at(slot);
                (slot, meta.id(), meta.catalogue_id)
            })
            .collect();
        for (slot, id, catalogue_id) in slots {
            if registry.by_id.insert(id.clone(), slot).is_some() {
                return Err(format!("two checks have the id {id}"));
            }
            // hilt's catalogue ids are unique (hilt-suites tests it); a
            // caller's own list may reuse one, and the first one is found.
            let key = catalogue_id.to_ascii_uppercase();
            registry.by_catalogue_id.entry(key).or_insert(slot);
        }
        Ok(registry)
    }

    /// Board checks, in catalogue order.
    pub fn checks(&self) -> &[Arc<dyn Check>] {
        &self.checks
    }

    /// Rack-wide checks, in catalogue order.
    pub fn rack_checks(&self) -> &[Arc<dyn RackCheck>] {
        &self.rack
    }

    /// The board check with this check id.
    pub fn check(&self, id: &str) -> Option<&Arc<dyn Check>> {
        match self.by_id.get(id)? {
            Slot::Board(i) => self.checks.get(*i),
            Slot::Rack(_) => None,
        }
    }

    /// The rack-wide check with this check id.
    pub fn rack_check(&self, id: &str) -> Option<&Arc<dyn RackCheck>> {
        match self.by_id.get(id)? {
            Slot::Rack(i) => self.rack.get(*i),
            Slot::Board(_) => None,
        }
    }

    /// Any check's description, by check id.
    pub fn meta(&self, id: &str) -> Option<&CheckMeta> {
        self.by_id.get(id).map(|slot| self.meta_at(*slot))
    }

    /// Any check's description, by catalogue id in any case (`au-07`).
    pub fn by_catalogue_id(&self, catalogue_id: &str) -> Option<&CheckMeta> {
        self.by_catalogue_id
            .get(&catalogue_id.to_ascii_uppercase())
            .map(|slot| self.meta_at(*slot))
    }

    /// Every check's description: board checks, then rack-wide ones.
    pub fn metas(&self) -> impl Iterator<Item = &CheckMeta> {
        let board = self.checks.iter().map(|c| c.meta());
        board.chain(self.rack.iter().map(|c| c.meta()))
    }

    /// Every check id, for validating suite files.
    pub fn ids(&self) -> Vec<String> {
        self.metas().map(CheckMeta::id).collect()
    }

    fn meta_at(&self, slot: Slot) -> &CheckMeta {
        match slot {
            Slot::Board(i) => self.checks[i].meta(),
            Slot::Rack(i) => self.rack[i].meta(),
        }
    }
}
