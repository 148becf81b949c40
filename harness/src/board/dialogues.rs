//! What hilt asks the device to do at its shell, as the board file
//! declares it (change a password, reset, reboot, read a setting, print
//! the log): one command line, or several steps when the device asks back
//! (`passwd` → `Old password:` → `New password:` → `Retype:`). Checks name
//! the dialogue they want; the text the device is sent is the board file's.
//!
//! Placeholders in a line are filled in by the check: `{old}` and `{new}`
//! (passwords: sent as secrets, never written to the transcript), `{param}`
//! and `{value}` (a configuration parameter and its value).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dialogue::{at_line_start, resting_prompt};

/// One device dialogue: a command line (`passwd {new}`, `reboot`), or
/// `{ steps: [...], success: ... }` when the device asks back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Dialogue {
    /// One line, sent at the shell prompt.
    Command(String),
    /// Lines sent in turn, each after the prompt the step before waits for.
    Steps(DialogueSteps),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DialogueSteps {
    /// The steps, in order (at least one).
    pub steps: Vec<DialogueStep>,
    /// Text the device prints when the dialogue worked (a regular
    /// expression anchored to a line start, e.g. `password updated`).
    /// Without it hilt judges only by the effect (the new password logs
    /// in, the setting reads back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DialogueStep {
    /// The line to type (placeholders allowed).
    pub send: String,
    /// The prompt the device shows next, where the following step is
    /// typed (a regular expression anchored to a line start that must end
    /// the output, like the console's prompts). Absent on the last step:
    /// the dialogue ends at the shell prompt (or, for a reboot or reset,
    /// when the line is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

/// Placeholders a dialogue line may contain, and which are secrets.
pub const PLACEHOLDERS: &[(&str, bool)] = &[
    ("{old}", true),
    ("{new}", true),
    ("{param}", false),
    ("{value}", false),
];

impl Dialogue {
    /// The dialogue as steps (a command is one step without `expect`).
    pub fn steps(&self) -> Vec<DialogueStep> {
        match self {
            Dialogue::Command(line) => vec![DialogueStep {
                send: line.clone(),
                expect: None,
            }],
            Dialogue::Steps(s) => s.steps.clone(),
        }
    }

    /// The success pattern (anchored to a line start), if declared.
    pub fn success_pattern(&self) -> Option<String> {
        match self {
            Dialogue::Command(_) => None,
            Dialogue::Steps(s) => s.success.as_deref().map(at_line_start),
        }
    }

    /// The first line, for messages (placeholders unfilled).
    pub fn first_line(&self) -> String {
        self.steps()
            .first()
            .map(|s| s.send.clone())
            .unwrap_or_default()
    }

    /// Whether any line uses `placeholder` (e.g. `{old}`).
    pub fn uses(&self, placeholder: &str) -> bool {
        self.steps().iter().any(|s| s.send.contains(placeholder))
    }

    /// Why this dialogue cannot be used where only `allowed` placeholders
    /// are filled in, if so (for `file:line:col` errors at load time).
    pub fn problem(&self, allowed: &[&str]) -> Option<String> {
        let steps = self.steps();
        if steps.is_empty() {
            return Some("expected at least one step".into());
        }
        for step in &steps {
            if step.send.trim().is_empty() {
                return Some(
                    "a step sends an empty line (at a login prompt that is a failed login)".into(),
                );
            }
            if step.send.chars().any(char::is_control) {
                return Some(format!("{:?} contains control characters", step.send));
            }
            for (name, _) in PLACEHOLDERS {
                if step.send.contains(name) && !allowed.contains(name) {
                    return Some(format!(
                        "{:?} uses {name}, which this dialogue does not fill in (it fills in: {})",
                        step.send,
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
            }
            if let Some(expect) = &step.expect {
                if let Some(why) = pattern_problem(expect, &resting_prompt(expect)) {
                    return Some(format!("expect {expect:?}: {why}"));
                }
            }
        }
        if let Dialogue::Steps(s) = self {
            if let Some(success) = &s.success {
                if let Some(why) = pattern_problem(success, &at_line_start(success)) {
                    return Some(format!("success {success:?}: {why}"));
                }
            }
        }
        None
    }
}

/// Why `text` (and its anchored form) is not a usable pattern, if so.
pub fn pattern_problem(text: &str, anchored: &str) -> Option<String> {
    match (regex::Regex::new(text), regex::Regex::new(anchored)) {
        (Err(e), _) | (_, Err(e)) => Some(format!("invalid regular expression: {e}")),
        (Ok(alone), Ok(_)) if alone.is_match("") => Some(format!(
            "{text:?} matches empty text, so it would match anywhere"
        )),
        _ => None,
    }
}

/// The physical label: a transcription of what is printed on the unit (a
/// file, standing in for an operator reading it), and how to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LabelDecl {
    /// The label file alone: its identifier is found with the console
    /// identity source's pattern.
    File(std::path::PathBuf),
    /// The label file with its own patterns.
    Read(LabelReading),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelReading {
    /// The label transcription, relative to the board file.
    pub file: std::path::PathBuf,
    /// Regular expression whose first capture group is the identifier as
    /// the label prints it (e.g. `S/N: (\S+)`). Default: the console
    /// identity source's pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Regular expression whose first capture group is the unit's own
    /// password printed on the label (e.g. `PW: (\S+)`). An account whose
    /// password is `label` uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Whether a factory reset gives the unit a new password, shown on the
    /// label: hilt reads the label again after a reset, and CF-05 expects
    /// the password from before the reset to stop working.
    #[serde(default)]
    pub rotates_on_factory_reset: bool,
}

impl LabelDecl {
    pub fn file(&self) -> &std::path::Path {
        match self {
            LabelDecl::File(path) => path,
            LabelDecl::Read(r) => &r.file,
        }
    }

    pub fn identifier_pattern(&self) -> Option<&str> {
        match self {
            LabelDecl::File(_) => None,
            LabelDecl::Read(r) => r.identifier.as_deref(),
        }
    }

    pub fn password_pattern(&self) -> Option<&str> {
        match self {
            LabelDecl::File(_) => None,
            LabelDecl::Read(r) => r.password.as_deref(),
        }
    }

    pub fn rotates_on_factory_reset(&self) -> bool {
        matches!(self, LabelDecl::Read(r) if r.rotates_on_factory_reset)
    }

    /// The first label pattern that is no usable capture: its field and why.
    pub fn pattern_error(&self) -> Option<(&'static str, String)> {
        let LabelDecl::Read(r) = self else {
            return None;
        };
        [
            ("identifier", r.identifier.as_deref()),
            ("password", r.password.as_deref()),
        ]
        .into_iter()
        .find_map(|(field, text)| {
            let text = text?;
            let why = match regex::Regex::new(text) {
                Err(e) => format!("invalid regular expression: {e}"),
                Ok(re) if re.captures_len() < 2 => {
                    format!("{text:?} has no capture group `( )` around the value")
                }
                Ok(_) => return None,
            };
            Some((field, why))
        })
    }
}

/// The first capture group of `pattern` in `text`, trimmed; None when it
/// does not match or captures nothing.
pub fn capture(pattern: &str, text: &str) -> Result<Option<String>, regex::Error> {
    let re = regex::Regex::new(pattern)?;
    Ok(re
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim().to_string())
        .filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Dialogue {
        yaml_serde::from_str(yaml).expect("dialogue parses")
    }

    #[test]
    fn a_command_and_steps_both_parse() {
        assert_eq!(
            parse("passwd {new}"),
            Dialogue::Command("passwd {new}".into())
        );
        let d = parse(
            "steps:\n  - { send: passwd, expect: 'Old password: ' }\n  - { send: '{old}', expect: 'New password: ' }\n  - { send: '{new}' }\nsuccess: password updated\n",
        );
        assert_eq!(d.steps().len(), 3);
        assert!(d.uses("{old}") && d.uses("{new}") && !d.uses("{param}"));
        assert_eq!(d.first_line(), "passwd");
        assert!(d.success_pattern().is_some());
        assert_eq!(d.problem(&["{old}", "{new}"]), None);
    }

    #[test]
    fn problems_name_what_is_wrong() {
        let why = parse("passwd {new}").problem(&[]).expect("problem");
        assert!(why.contains("{new}"), "{why}");
        let why = parse("steps: []").problem(&[]).expect("problem");
        assert!(why.contains("at least one"), "{why}");
        let why = parse("steps: [ { send: x, expect: '(' } ]")
            .problem(&[])
            .expect("problem");
        assert!(why.contains("invalid regular expression"), "{why}");
        let why = parse("steps: [ { send: ' ' } ]")
            .problem(&[])
            .expect("problem");
        assert!(why.contains("empty line"), "{why}");
    }

    #[test]
    fn labels_read_by_their_own_patterns() {
        let label: LabelDecl = yaml_serde::from_str(
            "{ file: label.txt, identifier: 'S/N: (\\S+)', password: 'PW: (\\S+)', rotates_on_factory_reset: true }",
        )
        .expect("label parses");
        assert!(label.rotates_on_factory_reset());
        assert_eq!(label.pattern_error(), None);
        let text = "Thermostat\nS/N: HS-01\nPW: abc123\n";
        let id = capture(label.identifier_pattern().expect("declared"), text);
        assert_eq!(id.ok().flatten().as_deref(), Some("HS-01"));
        let plain: LabelDecl = yaml_serde::from_str("label.txt").expect("a path parses");
        assert_eq!(plain.file(), std::path::Path::new("label.txt"));
        assert!(!plain.rotates_on_factory_reset());
        let bad: LabelDecl =
            yaml_serde::from_str("{ file: l, password: 'PW: \\S+' }").expect("parses");
        assert_eq!(bad.pattern_error().map(|e| e.0), Some("password"));
    }
}
