//! Read-back of the running image through the API (two JSON fields of an
//! authenticated GET) or a console command (two patterns on its output).

use hilt_harness::board::{ConsoleReadBack, HttpReadBack};
use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;
use hilt_net::http::HttpRequest;
use regex::Regex;

use super::http_upload::send_ok;
use super::{Running, RunningImage};
use crate::console;

/// A SHA-256 as hex (64 digits), from device output.
fn parse_hash(text: &str, source: &str) -> Result<Vec<u8>, CheckError> {
    let text = text.trim();
    match hex::decode(text) {
        Ok(hash) if hash.len() == 32 => Ok(hash),
        _ => Err(CheckError::Board(format!(
            "{source} gave {:?} where a SHA-256 (64 hex digits) belongs",
            text.chars().take(80).collect::<String>()
        ))),
    }
}

pub(super) struct HttpFields(pub(super) HttpReadBack);

impl RunningImage for HttpFields {
    fn label(&self) -> String {
        format!(
            "GET {} fields {} and {}",
            self.0.path, self.0.version_field, self.0.sha256_field
        )
    }

    fn read(&self, ctx: &mut CheckContext) -> Result<Running, CheckError> {
        let response = send_ok(
            ctx,
            self.0.api.as_ref(),
            HttpRequest::get(&self.0.path),
            "read-back",
        )?;
        let json = response.json().map_err(crate::api::net_fault)?;
        let field = |name: &str| match &json[name] {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Null => Err(CheckError::Board(format!(
                "GET {} has no field {name:?}",
                self.0.path
            ))),
            other => Ok(other.to_string()),
        };
        Ok(Running {
            version: field(&self.0.version_field)?,
            hash: parse_hash(&field(&self.0.sha256_field)?, &self.label())?,
            confirmed: None,
        })
    }
}

pub(super) struct ConsoleCommand(pub(super) ConsoleReadBack);

impl ConsoleCommand {
    fn capture(&self, pattern: &str, out: &str, what: &str) -> Result<String, CheckError> {
        let re = Regex::new(pattern)
            .map_err(|e| CheckError::Harness(format!("read-back {what} pattern: {e}")))?;
        re.captures(out)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
            .ok_or_else(|| {
                CheckError::Board(format!(
                    "`{}` printed no {what} matching {pattern:?}: {:?}",
                    self.0.command,
                    out.chars().take(200).collect::<String>()
                ))
            })
    }
}

impl RunningImage for ConsoleCommand {
    fn label(&self) -> String {
        format!("console `{}`", self.0.command)
    }

    fn read(&self, ctx: &mut CheckContext) -> Result<Running, CheckError> {
        let decl = console::open_shell(ctx)?;
        let out = super::command(ctx, &decl, &self.0.command)?;
        console::close_shell(ctx, &decl)?;
        Ok(Running {
            version: self.capture(&self.0.version, &out, "version")?,
            hash: parse_hash(
                &self.capture(&self.0.sha256, &out, "SHA-256")?,
                &self.label(),
            )?,
            confirmed: None,
        })
    }
}
