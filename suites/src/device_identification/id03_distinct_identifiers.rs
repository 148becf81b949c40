use std::time::Duration;

use hilt_harness::{Capability, CheckError, CheckMeta, Finding};

/// ID-03: boards of the same model carry distinct logical identifiers.
/// A rack-wide check: it compares the identifiers ID-01 read on every
/// board of the run.
pub struct DistinctIdentifiers;

static DISTINCT_IDENTIFIERS: CheckMeta = CheckMeta {
    name: "distinct_identifiers",
    capability: Capability::DeviceIdentification,
    catalogue_id: "ID-03",
    title: "Boards of one model have distinct identifiers",
    expected: "no two boards of the same model report the same logical identifier",
    nistir_8259a: &["DI-1"],
    en_303_645: &["5.4-2"],
    ts_103_701: &["5.4-2-2"],
    cra_annex_i: &[],
    destructive: false,
    default_timeout: Duration::from_secs(5),
    params: &[],
};

impl hilt_harness::RackCheck for DistinctIdentifiers {
    fn meta(&self) -> &CheckMeta {
        &DISTINCT_IDENTIFIERS
    }

    fn run(&self, record: &hilt_reports::RunRecord) -> Result<Finding, CheckError> {
        use std::collections::BTreeMap;
        // model -> [(board, id)]
        let mut by_model: BTreeMap<&str, Vec<(&str, Option<&str>)>> = BTreeMap::new();
        for board in &record.boards {
            by_model.entry(board.model.as_str()).or_default().push((
                board.name.as_str(),
                board
                    .observed_identity
                    .get("logical_id")
                    .map(String::as_str),
            ));
        }
        let comparable: Vec<_> = by_model
            .iter()
            .filter(|(_, boards)| boards.len() >= 2)
            .collect();
        if comparable.is_empty() {
            return Err(CheckError::NotApplicable(
                "needs at least two boards of one model in the run".into(),
            ));
        }
        let mut observed = Vec::new();
        let mut clashes = Vec::new();
        for (model, boards) in comparable {
            if let Some((board, _)) = boards.iter().find(|(_, id)| id.is_none()) {
                return Err(CheckError::Board(format!(
                    "no identifier was read from {board} (ID-01 must run on every board first)"
                )));
            }
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            for (board, id) in boards {
                let id = id.unwrap_or_default();
                observed.push(format!("{board} ({model}): {id}"));
                if let Some(other) = seen.insert(id, board) {
                    clashes.push(format!("{other} and {board} both report {id}"));
                }
            }
        }
        let observed = observed.join("; ");
        if clashes.is_empty() {
            Ok(Finding::pass(
                "every board reports its own identifier",
                observed,
            ))
        } else {
            Ok(Finding::fail(clashes.join("; "), observed))
        }
    }
}
