//! Runs a device dialogue the board file declares (`declares.console.
//! change_password`, `declares.factory_reset.console`, configuration get
//! and set, ...) at the shell prompt: each step's line is typed with its
//! placeholders filled in, then the prompt the step expects is awaited.
//! Lines that carry a password are sent as secrets: the transcript shows
//! the line with `<old>`/`<new>` in their place.

use std::time::Duration;

use crate::board::{resting_prompt, ConsoleDecl, Dialogue, Secret};
use crate::transport::serial::{Console, SerialError};

use super::console::Rest;

/// The values a check fills into a dialogue's placeholders.
#[derive(Default, Clone, Copy)]
pub struct Fill<'a> {
    pub old: Option<&'a Secret>,
    pub new: Option<&'a Secret>,
    pub param: Option<&'a str>,
    pub value: Option<&'a str>,
}

impl<'a> Fill<'a> {
    /// For a password change from `old` to `new`.
    pub fn password(old: &'a Secret, new: &'a Secret) -> Self {
        Self {
            old: Some(old),
            new: Some(new),
            ..Self::default()
        }
    }

    /// For a configuration parameter (and the value to set).
    pub fn setting(param: &'a str, value: Option<&'a str>) -> Self {
        Self {
            param: Some(param),
            value,
            ..Self::default()
        }
    }

    /// `line` with its placeholders filled in; the text to show in the
    /// transcript and whether the line carries a secret.
    fn apply(&self, line: &str) -> Result<(String, String, bool), SerialError> {
        let mut sent = line.to_string();
        let mut shown = line.to_string();
        let mut secret = false;
        let values: [(&str, Option<&str>, bool); 4] = [
            ("{old}", self.old.map(Secret::expose), true),
            ("{new}", self.new.map(Secret::expose), true),
            ("{param}", self.param, false),
            ("{value}", self.value, false),
        ];
        for (name, value, is_secret) in values {
            if !line.contains(name) {
                continue;
            }
            let value = value.ok_or_else(|| {
                SerialError::Unsupported(format!(
                    "the dialogue line {line:?} needs {name}, which this check does not give"
                ))
            })?;
            sent = sent.replace(name, value);
            if is_secret {
                secret = true;
                shown = shown.replace(name, &format!("<{}>", name.trim_matches(['{', '}'])));
            } else {
                shown = shown.replace(name, value);
            }
        }
        Ok((sent, shown, secret))
    }
}

/// How a dialogue ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// At the shell prompt (the last step's output ends there).
    Prompt,
    /// The device restarts (a reboot or a factory reset): the last line is
    /// sent and nothing more awaited; the caller waits for the boot.
    Restart,
}

/// What the device said during a dialogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Its output (echoed lines of the first step removed), CR removed.
    pub output: String,
    /// Whether the declared success text appeared; None when the board
    /// file declares none (the caller judges by the effect).
    pub success: Option<bool>,
    /// Whether every step's prompt came; false when the device went back
    /// to its shell prompt before the dialogue was done (a refusal).
    pub completed: bool,
}

/// Runs `dialogue` at the shell prompt (the console must be at it).
pub fn run(
    console: &mut Console,
    decl: &ConsoleDecl,
    dialogue: &Dialogue,
    fill: &Fill,
    ending: Ending,
    timeout: Duration,
) -> Result<Said, SerialError> {
    let shell = decl.prompt_pattern();
    let steps = dialogue.steps();
    console.discard_pending()?;
    let mut output = String::new();
    let mut completed = true;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let (sent, shown, secret) = fill.apply(&step.send)?;
        if secret {
            console.send_secret_line_as(&Secret::from_guess(&sent), &shown)?;
        } else {
            console.send_line(&sent)?;
        }
        if last && ending == Ending::Restart && step.expect.is_none() {
            console.mark_rest(None);
            break;
        }
        let wanted = step.expect.as_deref().map(resting_prompt);
        let mut patterns = vec![shell.as_str()];
        patterns.extend(wanted.as_deref());
        let found = console.expect_any(&patterns, timeout)?;
        let text = found.before.replace('\r', "");
        // The device echoes what was typed (not a secret): drop the echo.
        let text = if secret {
            text.as_str()
        } else {
            text.strip_prefix(sent.as_str()).unwrap_or(&text)
        };
        output.push_str(text.trim_start_matches('\n'));
        if found.index == 0 {
            console.mark_rest(Some(Rest::Shell.tag()));
            if !last || step.expect.is_some() {
                // Back at the shell before the dialogue was done.
                completed = false;
                break;
            }
        } else {
            output.push_str(&found.matched);
            output.push('\n');
            console.mark_rest(None);
        }
    }
    let output = output.trim_end().to_string();
    let success = match dialogue.success_pattern() {
        Some(pattern) => Some(
            regex::Regex::new(&pattern)
                .map_err(|e| SerialError::Unsupported(format!("bad pattern: {e}")))?
                .is_match(&output),
        ),
        None => None,
    };
    Ok(Said {
        output,
        success,
        completed,
    })
}
