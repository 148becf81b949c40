//! Reading YAML definitions (board files, suite files) with errors a user can
//! act on: every message names the file, line, column and field, and says
//! what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Definition files larger than this are refused before parsing.
const MAX_DEFINITION_BYTES: u64 = 1 << 20;

/// An error in a definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending field (`hardware.serial.baud`), when known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DefinitionError {}

impl DefinitionError {
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// An error about a field found valid by serde but wrong in context;
    /// the line is that of the field's key in `text`.
    pub fn at_field(file: &Path, text: &str, field: &str, message: impl Into<String>) -> Self {
        let (line, column) = locate_field(text, field).unzip();
        Self {
            file: file.to_path_buf(),
            line,
            column,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// Reads and parses a definition file.
pub fn load<T: DeserializeOwned>(file: &Path) -> Result<(T, String), DefinitionError> {
    let meta = std::fs::metadata(file)
        .map_err(|e| DefinitionError::whole_file(file, format!("cannot read: {e}")))?;
    if meta.len() > MAX_DEFINITION_BYTES {
        return Err(DefinitionError::whole_file(
            file,
            format!(
                "file is {} bytes; definitions are limited to {MAX_DEFINITION_BYTES}",
                meta.len()
            ),
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| DefinitionError::whole_file(file, format!("cannot read: {e}")))?;
    let value = parse(file, &text)?;
    Ok((value, text))
}

/// Parses definition text that came from `file`.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, DefinitionError> {
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    // Enums are written as one-key maps (`console: {...}`), not YAML tags.
    let tracked = serde_path_to_error::Deserializer::new(deserializer, &mut track);
    yaml_serde::with::singleton_map_recursive::deserialize(tracked).map_err(
        |inner: yaml_serde::Error| {
            let path = track.path().to_string();
            let mut field = (path != "." && !path.is_empty()).then_some(path);
            // serde reports a missing field at its parent; name the field itself.
            let message = inner.to_string();
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                field = Some(match field {
                    Some(parent) => format!("{parent}.{missing}"),
                    None => missing.to_string(),
                });
            }
            let location = inner.location();
            DefinitionError {
                file: file.to_path_buf(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                field,
                message: strip_location(&inner.to_string()),
            }
        },
    )
}

/// yaml_serde appends " at line L column C" (and may prefix the path); we
/// report both separately, so drop them from the message.
fn strip_location(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    // A leading "path: " duplicates the field we report.
    let message = match message.split_once(": ") {
        Some((head, tail)) if !head.contains(' ') && head.contains('.') => tail,
        _ => message,
    };
    message.trim().to_string()
}

/// Finds the line and column of the key that ends `field` (a dotted path,
/// list indices in brackets) by walking the indentation of `text`. Good
/// enough for the block-style YAML board files use; `None` if not found.
pub fn locate_field(text: &str, field: &str) -> Option<(usize, usize)> {
    let keys: Vec<&str> = field
        .split('.')
        .map(|k| k.split('[').next().unwrap_or(k))
        .filter(|k| !k.is_empty())
        .collect();
    let mut want = keys.iter().peekable();
    // Indent of the block being searched (learned from its first key) and
    // of its parent key; leaving the parent's block means "not found".
    let mut parent_indent: Option<usize> = None;
    let mut block_indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '-']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent_indent.is_some_and(|p| indent <= p) {
            return None;
        }
        let block = *block_indent.get_or_insert(indent);
        let key = want.peek()?;
        let is_key = indent == block
            && trimmed
                .strip_prefix(**key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if is_key {
            want.next();
            if want.peek().is_none() {
                return Some((index + 1, indent + 1));
            }
            // A flow mapping (`serial: { port: x, baud: y }`) holds the
            // remaining keys on this same line.
            if trimmed.contains('{') {
                let mut column = indent;
                let mut rest = trimmed;
                for key in want.by_ref() {
                    let pattern = format!("{key}:");
                    let at = rest.find(&pattern)?;
                    column += at;
                    rest = &rest[at..];
                }
                return Some((index + 1, column + 1));
            }
            parent_indent = Some(indent);
            block_indent = None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys() {
        let text = "a:\n  b: 1\n  c:\n    d: 2\nd: 3\n";
        assert_eq!(locate_field(text, "a.c.d"), Some((4, 5)));
        assert_eq!(locate_field(text, "d"), Some((5, 1)));
        assert_eq!(locate_field(text, "a.x"), None);
    }
}
