//! Trials grouped the ways a reader asks about them: per NIST IR 8259A
//! capability, per ETSI EN 303 645 provision, per board and capability.

use std::collections::{BTreeMap, BTreeSet};

use crate::record::{RunRecord, TrialRecord, Verdict};

/// The six device cybersecurity capabilities of NIST IR 8259A, by the
/// prefix of their element ids (`SU-2` is Software Update).
pub const CAPABILITIES: &[(&str, &str)] = &[
    ("DI", "Device Identification"),
    ("DC", "Device Configuration"),
    ("DP", "Data Protection"),
    ("LA", "Logical Access to Interfaces"),
    ("SU", "Software Update"),
    ("CS", "Cybersecurity State Awareness"),
];

/// The row of trials that reference no 8259A element (non-technical checks).
pub const NO_CAPABILITY: &str = "-";

/// The clause headings of ETSI EN 303 645 V2.1.1, by clause number.
const EN_303_645_CLAUSES: &[(&str, &str)] = &[
    ("5.1", "No universal default passwords"),
    (
        "5.2",
        "Implement a means to manage reports of vulnerabilities",
    ),
    ("5.3", "Keep software updated"),
    ("5.4", "Securely store sensitive security parameters"),
    ("5.5", "Communicate securely"),
    ("5.6", "Minimize exposed attack surfaces"),
    ("5.7", "Ensure software integrity"),
    ("5.8", "Ensure that personal data is secure"),
    ("5.9", "Make systems resilient to outages"),
    ("5.10", "Examine system telemetry data"),
    ("5.11", "Make it easy for users to delete user data"),
    ("5.12", "Make installation and maintenance of devices easy"),
    ("5.13", "Validate input data"),
    ("6", "Data protection provisions for consumer IoT"),
];

/// The capability key (`SU`) of an 8259A element (`SU-2`).
pub fn capability_of(element: &str) -> &str {
    element.split('-').next().unwrap_or(element)
}

/// The capability's name, or its key when it is not one of the six.
pub fn capability_name(key: &str) -> &str {
    CAPABILITIES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, name)| name)
}

/// The heading of the EN 303 645 clause a provision (`5.3-10`) belongs to.
pub fn clause_heading(provision: &str) -> &'static str {
    let clause = provision.split('-').next().unwrap_or(provision);
    EN_303_645_CLAUSES
        .iter()
        .find(|(c, _)| *c == clause)
        .map_or("", |(_, heading)| heading)
}

/// What the decision rule makes of a group of trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A trial FAILed.
    DoesNotConform,
    /// No FAIL, but a trial was INCONCLUSIVE or ERROR.
    NotEstablished,
    /// Only DECLARED trials besides PASS and NOT_APPLICABLE.
    Review,
    /// Every trial PASS or NOT_APPLICABLE, at least one PASS.
    Conforms,
    /// Every trial NOT_APPLICABLE.
    NotApplicable,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Self::DoesNotConform => "does not conform",
            Self::NotEstablished => "not established",
            Self::Review => "lab review",
            Self::Conforms => "conforms",
            Self::NotApplicable => "not applicable",
        }
    }

    /// The CSS class the report colours it with.
    pub fn class(self) -> &'static str {
        match self {
            Self::DoesNotConform => "s-fail",
            Self::NotEstablished => "s-open",
            Self::Review => "s-review",
            Self::Conforms => "s-pass",
            Self::NotApplicable => "s-na",
        }
    }
}

/// Verdict counts of a group of trials.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: BTreeMap<Verdict, usize>,
}

impl Tally {
    pub fn add(&mut self, verdict: Verdict) {
        *self.counts.entry(verdict).or_insert(0) += 1;
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.counts.get(&verdict).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// hilt's default decision rule, applied to this group.
    pub fn status(&self) -> Status {
        let any = |v: Verdict| self.count(v) > 0;
        if any(Verdict::Fail) {
            Status::DoesNotConform
        } else if any(Verdict::Inconclusive) || any(Verdict::Error) {
            Status::NotEstablished
        } else if any(Verdict::Declared) {
            Status::Review
        } else if any(Verdict::Pass) {
            Status::Conforms
        } else {
            Status::NotApplicable
        }
    }
}

/// One row of a summary: a capability or a provision.
#[derive(Debug, Default)]
pub struct Group {
    pub tally: Tally,
    /// The catalogue ids of the checks counted here.
    pub checks: BTreeSet<String>,
    /// The 8259A elements that put them here (capabilities only).
    pub references: BTreeSet<String>,
}

/// The capability keys of a trial (each once), or [`NO_CAPABILITY`].
pub fn trial_capabilities(trial: &TrialRecord) -> BTreeSet<&str> {
    let keys: BTreeSet<&str> = trial
        .references
        .nistir_8259a
        .iter()
        .map(|e| capability_of(e))
        .collect();
    if keys.is_empty() {
        BTreeSet::from([NO_CAPABILITY])
    } else {
        keys
    }
}

/// Per capability, in the order of 8259A (unknown prefixes after, then
/// trials with no element).
pub fn by_capability(record: &RunRecord) -> Vec<(String, Group)> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for trial in &record.trials {
        // A trial counts once per capability, however many of its
        // elements fall in it.
        for key in trial_capabilities(trial) {
            let group = groups.entry(key.to_string()).or_default();
            group.tally.add(trial.verdict);
            group.checks.insert(trial.catalogue_id.clone());
            let elements = trial.references.nistir_8259a.iter();
            group
                .references
                .extend(elements.filter(|e| capability_of(e) == key).cloned());
        }
    }
    let mut rows: Vec<(String, Group)> = groups.into_iter().collect();
    rows.sort_by_key(|(key, _)| capability_order(key));
    rows
}

/// Sort key of a capability: 8259A's order, then others by name, then none.
pub fn capability_order(key: &str) -> (usize, String) {
    match CAPABILITIES.iter().position(|(k, _)| *k == key) {
        Some(i) => (i, String::new()),
        None if key == NO_CAPABILITY => (CAPABILITIES.len() + 1, String::new()),
        None => (CAPABILITIES.len(), key.to_string()),
    }
}

/// Per EN 303 645 provision, in clause order (`5.3-2` before `5.3-10`).
pub fn by_provision(record: &RunRecord) -> Vec<(String, Group)> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for trial in &record.trials {
        let provisions: BTreeSet<&String> = trial.references.en_303_645.iter().collect();
        for provision in provisions {
            let group = groups.entry(provision.clone()).or_default();
            group.tally.add(trial.verdict);
            group.checks.insert(trial.catalogue_id.clone());
        }
    }
    let mut rows: Vec<(String, Group)> = groups.into_iter().collect();
    rows.sort_by_key(|(a, _)| provision_order(a));
    rows
}

/// `5.13-1A` as `[(5,""), (13,""), (1,"A")]`, so numbers sort as numbers.
fn provision_order(provision: &str) -> Vec<(u64, String)> {
    provision
        .split(['.', '-'])
        .map(|part| {
            let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (number, rest) = part.split_at(digits);
            (number.parse().unwrap_or(u64::MAX), rest.to_string())
        })
        .collect()
}

/// The board names of the record, then any name trials use that no board
/// has (`rack` for rack-wide checks), each once.
pub fn board_names(record: &RunRecord) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    let all = record
        .boards
        .iter()
        .map(|b| b.name.as_str())
        .chain(record.trials.iter().map(|t| t.board.as_str()));
    for name in all {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Board × capability: a tally per cell.
pub struct Matrix {
    pub capabilities: Vec<String>,
    pub rows: Vec<(String, Vec<Tally>)>,
}

pub fn board_matrix(record: &RunRecord) -> Matrix {
    let mut capabilities: Vec<String> = record
        .trials
        .iter()
        .flat_map(trial_capabilities)
        .map(String::from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    capabilities.sort_by_key(|key| capability_order(key));
    let rows = board_names(record)
        .into_iter()
        .map(|board| {
            let mut cells = vec![Tally::default(); capabilities.len()];
            for trial in record.trials.iter().filter(|t| t.board == board) {
                for key in trial_capabilities(trial) {
                    if let Some(i) = capabilities.iter().position(|c| c == key) {
                        cells[i].add(trial.verdict);
                    }
                }
            }
            (board.to_string(), cells)
        })
        .collect();
    Matrix { capabilities, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisions_sort_as_numbers() {
        let mut p = vec!["5.3-10", "5.13-1A", "5.3-2", "6-1", "5.10-1", "5.3-2"];
        p.sort_by_key(|a| provision_order(a));
        assert_eq!(p, ["5.3-2", "5.3-2", "5.3-10", "5.10-1", "5.13-1A", "6-1"]);
    }

    #[test]
    fn the_decision_rule_takes_the_worst_kind() {
        let tally = |vs: &[Verdict]| {
            let mut t = Tally::default();
            vs.iter().for_each(|v| t.add(*v));
            t.status()
        };
        use Verdict::*;
        assert_eq!(tally(&[Pass, Error, Fail]), Status::DoesNotConform);
        assert_eq!(tally(&[Pass, Inconclusive]), Status::NotEstablished);
        assert_eq!(tally(&[Pass, Declared]), Status::Review);
        assert_eq!(tally(&[Pass, NotApplicable]), Status::Conforms);
        assert_eq!(tally(&[NotApplicable]), Status::NotApplicable);
    }
}
