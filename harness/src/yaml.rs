//! Reading YAML definitions (board files, suite files) with errors a user can
//! act on: every message names the file, line, column and field, and says
//! what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Definition files larger than this are refused before parsing.
pub const MAX_DEFINITION_BYTES: u64 = 1 << 20;

/// Deepest nesting of mappings and lists a definition may use (board
/// files need about 6). Checked before parsing, so a hostile file of
/// `[[[[...` costs one pass over its text, not a parser run to the
/// YAML crate's own recursion limit.
pub const MAX_NESTING: usize = 32;

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
    let text = read_bounded(file)?;
    check_nesting(file, &text)?;
    let value = parse(file, &text)?;
    Ok((value, text))
}

/// Reads a definition file of at most `MAX_DEFINITION_BYTES`, counting what
/// is read rather than trusting the length the filesystem reports (`/proc`
/// files report 0, a device or FIFO reports nothing useful).
pub fn read_bounded(file: &Path) -> Result<String, DefinitionError> {
    let bytes = read_regular_file(file, MAX_DEFINITION_BYTES)
        .map_err(|message| DefinitionError::whole_file(file, message))?;
    String::from_utf8(bytes).map_err(|e| {
        DefinitionError::whole_file(
            file,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads at most `limit` bytes of a regular file; anything else (a FIFO,
/// a device such as `/dev/zero`, a folder) is refused before it is opened,
/// and the file is opened non-blocking so one swapped in meanwhile cannot
/// stall the open either. The error says what is wrong, without the path.
pub fn read_regular_file(file: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let kind = |meta: &std::fs::Metadata| {
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(());
        }
        let what = if kind.is_dir() {
            "a folder"
        } else {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() || kind.is_block_device() {
                "a device"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            }
        };
        Err(format!("cannot read: {what}, expected a regular file"))
    };
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    kind(&meta)?;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| format!("cannot read: {e}"))?;
    kind(&opened.metadata().map_err(|e| format!("cannot read: {e}"))?)?;
    let mut bytes = Vec::new();
    opened
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "larger than {limit} bytes, the limit for this file"
        ));
    }
    Ok(bytes)
}

/// Refuses text nested deeper than `MAX_NESTING`, counting block levels
/// (indentation, `- ` items) and flow brackets outside quotes and comments.
/// An estimate on the safe side: it may count a level too many, never too few.
pub fn check_nesting(file: &Path, text: &str) -> Result<(), DefinitionError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (index, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        if flow == 0 && !body.is_empty() && !body.starts_with('#') {
            let indent = line.len() - body.len();
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut depth = indents.len();
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        let mut at_item_start = true;
        for (column, c) in line.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous == ' ' || previous == '\t' => break,
                    '"' | '\'' => quote = Some(c),
                    '[' | '{' => flow += 1,
                    ']' | '}' => flow = flow.saturating_sub(1),
                    // `- - - x` opens one block list per dash.
                    '-' if at_item_start && flow == 0 => depth += 1,
                    _ => {}
                },
            }
            at_item_start = quote.is_none() && (c == ' ' || (c == '-' && at_item_start));
            previous = c;
            if depth + flow > MAX_NESTING {
                return Err(DefinitionError {
                    file: file.to_path_buf(),
                    line: Some(index + 1),
                    column: Some(column + 1),
                    field: None,
                    message: format!(
                        "nested deeper than {MAX_NESTING} levels of mappings and lists"
                    ),
                });
            }
        }
    }
    Ok(())
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
            let field_reported = field.clone();
            DefinitionError {
                file: file.to_path_buf(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                field,
                message: strip_location(&message, field_reported.as_deref()),
            }
        },
    )
}

/// yaml_serde appends " at line L column C" (and may prefix the path); we
/// report both separately, so drop them from the message.
fn strip_location(message: &str, field: Option<&str>) -> String {
    let message = match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    // A leading "path: " duplicates the field we report.
    let message = match message.split_once(": ") {
        Some((head, tail))
            if !head.contains(' ')
                && (head.contains('.')
                    || head.contains('[')
                    || field.is_some_and(|f| f.split(['.', '[']).next() == Some(head))) =>
        {
            tail
        }
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
            let column = flow_keys_column(trimmed, indent, &segments[n + 1..])?;
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
            // A flow-mapping item (`- { server: x, port: y }`) holds the
            // remaining keys on its own line.
            let item = lines[from];
            let body = item.trim_start_matches([' ', '-']);
            if body.starts_with('{') {
                let indent = item.len() - body.len();
                let column = flow_keys_column(body, indent, &segments[n + 1..])?;
                return Some((from + 1, column + 1));
            }
            // An item's keys start on its `- ` line, at the indent of the
            // text after the dash.
            parent = None;
        }
    }
    None
}

/// The column (0-based) of the last of `keys`, nested one in the other, in
/// the flow mapping `text` that starts at column `indent`.
fn flow_keys_column(text: &str, indent: usize, keys: &[(&str, Option<usize>)]) -> Option<usize> {
    let (mut column, mut rest) = (indent, text);
    for (key, _) in keys {
        let found = rest.find(&format!("{key}:"))?;
        column += found;
        rest = &rest[found..];
    }
    Some(column)
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

#[cfg(test)]
mod nesting {
    use super::*;

    fn nesting_error(text: &str) -> Option<DefinitionError> {
        check_nesting(Path::new("deep.yaml"), text).err()
    }

    #[test]
    fn deep_flow_and_block_nesting_are_refused_before_parsing() {
        let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = nesting_error(&flow).expect("flow too deep");
        // The top level counts as one.
        assert_eq!((e.line, e.column), (Some(1), Some(MAX_NESTING)));
        let maps = format!("a: {}1{}", "{a: ".repeat(50_000), "}".repeat(50_000));
        assert!(nesting_error(&maps).is_some());
        let block: String = (0..2000)
            .map(|d| format!("{}a:\n", " ".repeat(d)))
            .collect();
        let e = nesting_error(&block).expect("block too deep");
        assert_eq!(e.line, Some(MAX_NESTING + 1));
        let dashes = format!("{}x\n", "- ".repeat(100));
        assert!(nesting_error(&dashes).is_some());
    }

    #[test]
    fn ordinary_definitions_pass() {
        let text = "a:\n  b: [1, {c: \"[[[[\"}]\n  d:\n    - e: 1 # [[[[[\n      f: '{{{{'\n";
        assert!(nesting_error(text).is_none());
        let shipped = ["../boards", "../suites"]
            .into_iter()
            .flat_map(|dir| std::fs::read_dir(dir).expect("shipped folder"))
            .map(|entry| entry.expect("folder entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"));
        for file in shipped {
            let text = std::fs::read_to_string(&file).expect("shipped definition");
            assert!(nesting_error(&text).is_none(), "{}", file.display());
        }
    }
}
