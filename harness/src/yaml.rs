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
/// list indices in brackets: `checks[2].params.max_attempts`) by walking
/// the indentation of `text`. Good enough for the block-style YAML board
/// and suite files use; `None` if not found.
pub fn locate_field(text: &str, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let segments: Vec<(&str, Option<usize>)> = field
        .split('.')
        .filter(|k| !k.is_empty())
        .map(|k| match k.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse().ok()),
            None => (k, None),
        })
        .collect();
    // The block being searched: lines `from..end`, keys deeper than `parent`.
    let (mut from, mut end, mut parent) = (0, lines.len(), None::<usize>);
    for (n, (key, index)) in segments.iter().enumerate() {
        let (at, indent) = find_key(&lines[from..end], parent, key)?;
        let at = from + at;
        let last = n + 1 == segments.len();
        if last && index.is_none() {
            return Some((at + 1, indent + 1));
        }
        let trimmed = lines[at].trim_start_matches([' ', '-']);
        // A flow mapping (`serial: { port: x, baud: y }`) holds the
        // remaining keys on this same line.
        if index.is_none() && trimmed.contains('{') {
            let mut column = indent;
            let mut rest = trimmed;
            for (key, _) in &segments[n + 1..] {
                let found = rest.find(&format!("{key}:"))?;
                column += found;
                rest = &rest[found..];
            }
            return Some((at + 1, column + 1));
        }
        (from, parent) = (at + 1, Some(indent));
        if let Some(index) = index {
            let (item_from, item_end) = find_item(&lines[from..end], indent, *index)?;
            (from, end) = (from + item_from, from + item_end);
            if last {
                let item = lines[from];
                let column = item.len() - item.trim_start_matches([' ', '-']).len();
                return Some((from + 1, column + 1));
            }
            // An item's keys start on its `- ` line, at the indent of the
            // text after the dash.
            parent = None;
        }
    }
    None
}

/// The line (within `lines`) and indent of `key` in the block that starts
/// at `lines[0]` and ends at the first line not deeper than `parent`.
fn find_key(lines: &[&str], parent: Option<usize>, key: &str) -> Option<(usize, usize)> {
    let mut block_indent = None;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start_matches([' ', '-']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent.is_some_and(|p| indent <= p) {
            return None;
        }
        let block = *block_indent.get_or_insert(indent);
        let is_key = indent == block
            && trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if is_key {
            return Some((index, indent));
        }
    }
    None
}

/// Lines `start..end` (within `lines`) of item `wanted` of the block list
/// under a key indented by `parent`.
fn find_item(lines: &[&str], parent: usize, wanted: usize) -> Option<(usize, usize)> {
    let mut starts = Vec::new();
    let mut end = lines.len();
    let mut dash_column = None;
    for (index, line) in lines.iter().enumerate() {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[spaces..];
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        let item_start = rest.starts_with('-') && dash_column.is_none_or(|c| c == spaces);
        if item_start {
            dash_column = Some(spaces);
            starts.push(index);
        } else if spaces <= parent && !(spaces == parent && rest.starts_with('-')) {
            end = index;
            break;
        }
    }
    let start = *starts.get(wanted)?;
    let item_end = starts.get(wanted + 1).copied().unwrap_or(end);
    Some((start, item_end))
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

    #[test]
    fn locates_keys_inside_list_items() {
        let text = "suite: s\nchecks:\n  - check: a\n    timeout_s: 5\n  - check: b\n    params: { max_attempts: 0 }\n  - check: c\n    timeout_s: 9\n";
        assert_eq!(locate_field(text, "checks[2].timeout_s"), Some((8, 5)));
        assert_eq!(locate_field(text, "checks[0].timeout_s"), Some((4, 5)));
        assert_eq!(locate_field(text, "checks[1].timeout_s"), None);
        assert_eq!(
            locate_field(text, "checks[1].params.max_attempts"),
            Some((6, 15))
        );
        assert_eq!(locate_field(text, "checks[2]"), Some((7, 5)));
        let nested = "checks:\n- check: a\n  params:\n    cycles: 0\n";
        assert_eq!(
            locate_field(nested, "checks[0].params.cycles"),
            Some((4, 5))
        );
    }
}
