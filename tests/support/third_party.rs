//! What the tests of devices nobody here wrote share: the verdict tables
//! of docs/third-party.md, and the processes a run may have left.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// The verdict table under `### <dir>` in `doc`: catalogue id -> verdict.
/// `None` when the heading or its table is missing.
pub fn verdict_table(doc: &str, dir: &str) -> Option<BTreeMap<String, String>> {
    let heading = format!("### {dir}");
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != heading).skip(1);
    // Prose until the table's header; another heading first means no table.
    let header = lines.find(|l| l.starts_with('|') || l.starts_with('#'))?;
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    if cells(header).get(..3)? != ["check", "verdict", "why"] {
        return None;
    }
    let mut table = BTreeMap::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let row = cells(line);
        let (id, verdict) = (row.first()?.clone(), row.get(1)?.clone());
        assert!(
            table.insert(id.clone(), verdict).is_none(),
            "{dir}: {id} twice in the table"
        );
    }
    Some(table)
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if line.contains(needle) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}
