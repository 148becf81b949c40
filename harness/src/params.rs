//! Suite parameters: what each check accepts, declared once in its
//! metadata (`CheckMeta::params`). The same declaration validates suite
//! files, supplies the defaults a check reads, and is printed by
//! `hilt list --params`, so the three cannot drift apart.

use std::fmt;

use serde_json::Value;

/// Parameters a suite passes to a check (`params:` in the suite file).
pub type Params = std::collections::BTreeMap<String, Value>;

/// One parameter a check accepts.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    /// What it changes, in one line.
    pub meaning: &'static str,
    pub kind: ParamKind,
}

/// The type, allowed values and default of a parameter.
#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    /// A whole number in `min..=max` (`unit` is for humans: "s", "ms", "").
    /// `min` is where the check still tests something: a zero that would
    /// let it test nothing is below it.
    Integer {
        min: u64,
        max: u64,
        default: u64,
        unit: &'static str,
    },
    /// A list of `min_items..=max_items` strings, each accepted by `item`.
    Strings {
        min_items: usize,
        max_items: usize,
        item: ItemRule,
        default: &'static [&'static str],
    },
}

/// What one string of a list must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRule {
    /// A memory address in hex, `0x` optional (`0x20000000`).
    HexAddress,
}

impl ItemRule {
    fn check(self, item: &str) -> Result<(), String> {
        match self {
            Self::HexAddress => parse_hex_address(item)
                .map(|_| ())
                .ok_or_else(|| format!("{item:?} is not a hex address such as \"0x20000000\"")),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::HexAddress => "hex address",
        }
    }
}

/// Parses `0x2000_0000`-style hex (the `0x` optional, no underscores).
pub fn parse_hex_address(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

impl ParamSpec {
    /// `integer 1..=10 (default 10)`, for listings and docs.
    pub fn type_text(&self) -> String {
        match self.kind {
            ParamKind::Integer {
                min,
                max,
                default,
                unit,
            } => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                format!("integer {min}..={max}{unit} (default {default})")
            }
            ParamKind::Strings {
                min_items,
                max_items,
                item,
                default,
            } => format!(
                "list of {min_items}..={max_items} {}es (default [{}])",
                item.describe(),
                default.join(", ")
            ),
        }
    }

    /// The default as a suite file would write it.
    pub fn default_value(&self) -> Value {
        match self.kind {
            ParamKind::Integer { default, .. } => Value::from(default),
            ParamKind::Strings { default, .. } => Value::from(
                default
                    .iter()
                    .map(|s| Value::from(*s))
                    .collect::<Vec<Value>>(),
            ),
        }
    }

    /// Checks one value against this declaration.
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        match self.kind {
            ParamKind::Integer { min, max, .. } => {
                let number = match value {
                    Value::Number(n) => n,
                    other => {
                        return Err(format!(
                            "expected an integer {min}..={max}, found {}",
                            describe(other)
                        ))
                    }
                };
                let Some(n) = number.as_u64() else {
                    return Err(if number.is_f64() {
                        format!("expected an integer {min}..={max}, found {number}")
                    } else {
                        format!("{number} is out of range {min}..={max}")
                    });
                };
                if n == 0 && min > 0 {
                    Err(format!(
                        "0 would let the check test nothing; allowed {min}..={max}"
                    ))
                } else if n < min || n > max {
                    Err(format!("{n} is out of range {min}..={max}"))
                } else {
                    Ok(())
                }
            }
            ParamKind::Strings {
                min_items,
                max_items,
                item,
                ..
            } => {
                let Value::Array(items) = value else {
                    return Err(format!(
                        "expected a list of {}es, found {}",
                        item.describe(),
                        describe(value)
                    ));
                };
                if items.is_empty() && min_items > 0 {
                    return Err(format!(
                        "an empty list would let the check test nothing; give {min_items}..={max_items} items"
                    ));
                }
                if items.len() < min_items || items.len() > max_items {
                    return Err(format!(
                        "{} items; allowed {min_items}..={max_items}",
                        items.len()
                    ));
                }
                for (index, entry) in items.iter().enumerate() {
                    let Value::String(text) = entry else {
                        return Err(format!(
                            "item {index}: expected a {} string, found {}",
                            item.describe(),
                            describe(entry)
                        ));
                    };
                    item.check(text).map_err(|e| format!("item {index}: {e}"))?;
                }
                Ok(())
            }
        }
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// A parameter a suite entry got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's key as written in the suite.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter `{}`: {}", self.key, self.message)
    }
}

/// Checks a suite entry's parameters against the check's declaration:
/// every key declared, every value of its type and within its range.
pub fn validate(specs: &[ParamSpec], params: &Params) -> Result<(), ParamError> {
    for (key, value) in params {
        let Some(spec) = specs.iter().find(|s| s.name == key) else {
            return Err(ParamError {
                key: key.clone(),
                message: unknown_message(specs, key),
            });
        };
        spec.validate(value).map_err(|message| ParamError {
            key: key.clone(),
            message,
        })?;
    }
    Ok(())
}

fn unknown_message(specs: &[ParamSpec], key: &str) -> String {
    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    let closest = names
        .iter()
        .map(|n| (edit_distance(n, key), *n))
        .filter(|(d, _)| *d <= 3)
        .min();
    let known = if names.is_empty() {
        "this check takes no parameters".to_string()
    } else {
        format!("it takes {}", names.join(", "))
    };
    match closest {
        Some((_, name)) => format!("unknown parameter; did you mean `{name}`? ({known})"),
        None => format!("unknown parameter ({known})"),
    }
}

/// Levenshtein distance, for "did you mean" on misspelt keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTEMPTS: ParamSpec = ParamSpec {
        name: "max_attempts",
        meaning: "guesses",
        kind: ParamKind::Integer {
            min: 1,
            max: 10,
            default: 10,
            unit: "",
        },
    };

    fn params(yaml: serde_json::Value) -> Params {
        serde_json::from_value(yaml).expect("params")
    }

    #[test]
    fn rejects_what_would_test_nothing_or_is_wrong() {
        let specs = [ATTEMPTS];
        let ok = params(serde_json::json!({"max_attempts": 3}));
        assert_eq!(validate(&specs, &ok), Ok(()));
        for (value, wanted) in [
            (serde_json::json!({"max_attempts": 0}), "test nothing"),
            (serde_json::json!({"max_attempts": 11}), "out of range"),
            (serde_json::json!({"max_attempts": -1}), "out of range"),
            (
                serde_json::json!({"max_attempts": 2.5}),
                "expected an integer",
            ),
            (serde_json::json!({"max_attempts": "5"}), "found a string"),
            (
                serde_json::json!({"max_attempt": 5}),
                "did you mean `max_attempts`",
            ),
        ] {
            let err = validate(&specs, &params(value.clone())).expect_err("rejected");
            assert!(err.message.contains(wanted), "{value}: {err}");
        }
    }

    #[test]
    fn hex_addresses() {
        assert_eq!(parse_hex_address("0x20000000"), Some(0x2000_0000));
        assert_eq!(parse_hex_address("ff"), Some(0xff));
        assert_eq!(parse_hex_address("0x"), None);
        assert_eq!(parse_hex_address("0xzz"), None);
    }
}
