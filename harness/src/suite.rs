//! Suite files (`suites/*.yaml`): a named selection of checks, in order,
//! with parameters and timeouts.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::Params;
use crate::yaml::{self, DefinitionError};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Short name (`nistir-8259a`).
    pub suite: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Floor for every check's timeout, in seconds (a check's own default
    /// is used when larger; an entry's `timeout_s` overrides both).
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Check-specific parameters.
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
}

fn validate(
    file: &Path,
    text: &str,
    spec: &SuiteFile,
    known: &[String],
) -> Result<(), DefinitionError> {
    for (index, entry) in spec.checks.iter().enumerate() {
        if !known.contains(&entry.check) {
            let line = text
                .lines()
                .position(|l| l.contains(entry.check.as_str()))
                .map(|i| i + 1);
            return Err(DefinitionError {
                file: file.to_path_buf(),
                line,
                column: None,
                field: Some(format!("checks[{index}].check")),
                message: format!(
                    "unknown check {:?}; `hilt list` prints the known ones",
                    entry.check
                ),
            });
        }
        if entry.timeout_s == Some(0) {
            return Err(DefinitionError::at_field(
                file,
                text,
                "checks.timeout_s",
                "expected a timeout above 0 seconds",
            ));
        }
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
