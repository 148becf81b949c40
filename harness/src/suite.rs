//! Suite files (`suites/*.yaml`): a named selection of checks, in order,
//! with parameters and timeouts.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::check::CheckMeta;
use crate::context::Params;
use crate::yaml::{self, DefinitionError};

/// The longest timeout a suite may give a check (24 hours): long enough
/// for any real check, short enough that deadlines never overflow.
pub const MAX_TIMEOUT_S: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Short name (`nistir-8259a`).
    pub suite: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Floor for every check's timeout, in seconds, 1 to 86400 (a check's
    /// own default is used when larger; an entry's `timeout_s` overrides both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_timeout_s: Option<u64>,
    /// Checks in the order they run on each board.
    pub checks: Vec<SuiteEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    /// Check id (`software_update::unsigned_image`); `hilt list` shows them all.
    pub check: String,
    /// The check's timeout in seconds, 1 to 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Check-specific parameters, each declared by the check with its
    /// type, range and default (`hilt list --params`); anything else is
    /// an error.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub params: Params,
    /// Heading under which reports group this entry (e.g. an EN 303 645
    /// provision with its TS 103 701 test case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub file: PathBuf,
    pub text: String,
    pub spec: SuiteFile,
}

impl Suite {
    /// Reads a suite file and checks every entry names a known check.
    pub fn load(file: &Path, known: &[String]) -> Result<Self, DefinitionError> {
        let (spec, text): (SuiteFile, String) = yaml::load(file)?;
        validate(file, &text, &spec, known)?;
        Ok(Self {
            file: file.to_path_buf(),
            text,
            spec,
        })
    }

    /// Checks every entry's parameters against the declaration of its
    /// check (`metas`: every check the suite may name): unknown or
    /// misspelt keys, wrong types, out-of-range values and values that
    /// would let a check test nothing are errors naming the field.
    pub fn validate_params(&self, metas: &[&CheckMeta]) -> Result<(), DefinitionError> {
        for (index, entry) in self.spec.checks.iter().enumerate() {
            let specs = metas
                .iter()
                .find(|m| m.id() == entry.check)
                .map_or(&[][..], |m| m.params);
            crate::params::validate(specs, &entry.params).map_err(|e| {
                let field = format!("checks[{index}].params.{}", e.key);
                DefinitionError::at_field(&self.file, &self.text, &field, e.message)
            })?;
        }
        Ok(())
    }
}

fn validate(
    file: &Path,
    text: &str,
    spec: &SuiteFile,
    known: &[String],
) -> Result<(), DefinitionError> {
    let entry_keys = check_key_positions(text, spec.checks.len());
    let at_entry = |index: usize, message: String| {
        let (line, column) = entry_keys.get(index).copied().unzip();
        DefinitionError {
            file: file.to_path_buf(),
            line,
            column,
            field: Some(format!("checks[{index}].check")),
            message,
        }
    };
    let mut first_listed = std::collections::BTreeMap::new();
    for (index, entry) in spec.checks.iter().enumerate() {
        if let Some(&first) = first_listed.get(entry.check.as_str()) {
            let where_first = match entry_keys.get(first) {
                Some((line, _)) => format!("line {line} (checks[{first}])"),
                None => format!("checks[{first}]"),
            };
            return Err(at_entry(
                index,
                format!(
                    "check {:?} is already listed at {where_first}; list each check once",
                    entry.check
                ),
            ));
        }
        first_listed.insert(entry.check.as_str(), index);
    }
    for (index, entry) in spec.checks.iter().enumerate() {
        if !known.contains(&entry.check) {
            return Err(at_entry(
                index,
                format!(
                    "unknown check {:?}; `hilt list` prints the known ones",
                    entry.check
                ),
            ));
        }
        if let Some(timeout) = entry.timeout_s {
            check_timeout(file, text, &format!("checks[{index}].timeout_s"), timeout)?;
        }
    }
    if let Some(timeout) = spec.default_timeout_s {
        check_timeout(file, text, "default_timeout_s", timeout)?;
    }
    if spec.checks.is_empty() {
        return Err(DefinitionError::at_field(
            file,
            text,
            "checks",
            "a suite needs at least one check",
        ));
    }
    Ok(())
}

fn check_timeout(
    file: &Path,
    text: &str,
    field: &str,
    seconds: u64,
) -> Result<(), DefinitionError> {
    if seconds == 0 || seconds > MAX_TIMEOUT_S {
        return Err(DefinitionError::at_field(
            file,
            text,
            field,
            format!("{seconds} s is out of range: a timeout is 1 to {MAX_TIMEOUT_S} seconds"),
        ));
    }
    Ok(())
}

/// Line and column of each entry's `check:` key, in order, when the suite
/// lists its checks in block style (one `- check: id` per entry); empty
/// when the count does not match `entries` (flow style), so no location is
/// better than a wrong one.
fn check_key_positions(text: &str, entries: usize) -> Vec<(usize, usize)> {
    let positions: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let key = line.trim_start_matches([' ', '-']);
            let is_entry = key
                .strip_prefix("check")
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
            is_entry.then(|| (index + 1, line.len() - key.len() + 1))
        })
        .collect();
    if positions.len() == entries {
        positions
    } else {
        Vec::new()
    }
}
