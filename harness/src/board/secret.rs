//! Secrets in board files are references, never values.
//!
//! A board file may say `password: env:HILT_SIM0_PASSWORD` or
//! `password: file:secrets/sim-0.pass`; a literal value is rejected when the
//! file is read, so a password never sits in a file that gets committed,
//! copied into evidence or pasted into a ticket.

use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Secret files longer than this are refused (a password is short).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a secret lives. The value is fetched only when a check needs it.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `env:NAME`: an environment variable of the hilt process.
    Env(String),
    /// `file:PATH`: a file, relative to the board file's folder; one trailing newline is dropped.
    File(PathBuf),
    /// `label`: the unit's own password printed on its label, found with
    /// `declares.identity.physical.password` (read again each time, so a
    /// password that rotates at a factory reset is the label's new one).
    Label,
}

/// A secret value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A value the harness itself guesses (a default-credential dictionary
    /// entry): not a board secret, but handled the same way on the wire.
    pub fn from_guess(value: &str) -> Self {
        Self(value.to_string())
    }

    /// A random password of `len` letters and digits with at least one
    /// upper-case letter, one lower-case letter and one digit (what most
    /// password rules ask for), from the operating system's random source.
    pub fn generated(len: usize) -> Result<Self, getrandom::Error> {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let len = len.max(3);
        loop {
            let mut value = String::with_capacity(len);
            let mut bytes = [0u8; 64];
            while value.len() < len {
                getrandom::getrandom(&mut bytes)?;
                // 248 = 4 * 62: rejecting the rest keeps every character
                // equally likely.
                for &b in bytes.iter().filter(|&&b| b < 248) {
                    if value.len() < len {
                        value.push(char::from(ALPHABET[usize::from(b % 62)]));
                    }
                }
            }
            let has = |f: fn(&u8) -> bool| value.as_bytes().iter().any(f);
            if has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit)
            {
                return Ok(Self(value));
            }
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("secret file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("password on the label: {0}")]
    Label(String),
}

impl SecretRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`env:` must be followed by an environment variable name (letters, digits, _), got {name:?}"
                ));
            }
            Ok(Self::Env(name.to_string()))
        } else if text == "label" {
            Ok(Self::Label)
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` must be followed by a path".to_string());
            }
            Ok(Self::File(PathBuf::from(path)))
        } else {
            // Never echo the text back: it may be the password itself.
            Err("expected a secret reference `env:NAME`, `file:PATH` or `label`; literal secrets are not allowed in board files".to_string())
        }
    }

    /// Fetches the value. `base` is the folder of the board file. A
    /// `label` reference is read through the board (`Board::account_password`).
    pub fn resolve(&self, base: &Path) -> Result<Secret, SecretError> {
        match self {
            Self::Label => Err(SecretError::Label(
                "read through the board file's label declaration".into(),
            )),
            Self::Env(name) => std::env::var(name)
                .map(Secret)
                .map_err(|_| SecretError::MissingEnv(name.clone())),
            Self::File(path) => {
                let full = base.join(path);
                let file_error = |message: String| SecretError::File {
                    path: full.clone(),
                    message,
                };
                // Bounded, and a FIFO or device is refused rather than waited on.
                let bytes =
                    crate::yaml::read_regular_file(&full, MAX_SECRET_BYTES).map_err(file_error)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| file_error("not UTF-8 text".to_string()))?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Ok(Secret(text.to_string()))
            }
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Label => f.write_str("label"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(env:[A-Za-z0-9_]+|file:.+|label)$",
            "description": "A reference to a secret: `env:NAME`, `file:PATH` (relative to the board file), or `label` (the unit's password printed on its label, see `declares.identity.physical.password`). Literal secrets are rejected."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_are_rejected_without_echoing_them() {
        let err = SecretRef::parse("hunter2").expect_err("literal must fail");
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn references_parse() {
        assert_eq!(
            SecretRef::parse("env:A_1"),
            Ok(SecretRef::Env("A_1".into()))
        );
        assert!(SecretRef::parse("env:").is_err());
        assert!(SecretRef::parse("env:A-B").is_err());
        assert_eq!(SecretRef::parse("label"), Ok(SecretRef::Label));
        assert_eq!(
            SecretRef::parse("file:x/y"),
            Ok(SecretRef::File(PathBuf::from("x/y")))
        );
    }

    #[test]
    fn generated_passwords_differ_and_mix_kinds() {
        let a = Secret::generated(20).expect("random source");
        let b = Secret::generated(20).expect("random source");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 20);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.expose().bytes().any(|c| c.is_ascii_digit()));
        assert!(a.expose().bytes().any(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret("pw".into());
        assert_eq!(format!("{s} {s:?}"), "<redacted> Secret(<redacted>)");
    }
}
