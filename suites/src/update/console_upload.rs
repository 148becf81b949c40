//! The console upload path: the image in encoded chunks, one declared
//! command per chunk (`{offset}`, `{chunk}`, `{size}`), then the finish
//! command; each must print the declared success text.

use base64::Engine as _;
use hilt_harness::board::{at_line_start, ChunkEncoding, ConsoleDecl, ConsoleUploadPath};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::transport::serial::SerialError;
use hilt_harness::CheckError;
use regex::Regex;
use sha2::{Digest, Sha256};

use super::{Session, Stored, Updater, Upload};
use crate::console::{self, STEP};

pub(super) struct ConsoleUpload(pub(super) ConsoleUploadPath);

impl ConsoleUpload {
    fn success(&self) -> Result<Regex, CheckError> {
        Regex::new(&at_line_start(&self.0.success))
            .map_err(|e| CheckError::Harness(format!("declares.update console success: {e}")))
    }

    /// Every command the upload sends, in order: the chunks, then finish.
    fn commands(&self, image: &[u8]) -> Vec<String> {
        let size = image.len().to_string();
        let mut commands: Vec<String> = image
            .chunks(self.0.chunk_size.max(1))
            .enumerate()
            .map(|(i, chunk)| {
                let encoded = match self.0.encoding {
                    ChunkEncoding::Hex => hex::encode(chunk),
                    ChunkEncoding::Base64 => {
                        base64::engine::general_purpose::STANDARD.encode(chunk)
                    }
                };
                self.0
                    .command
                    .replace("{offset}", &(i * self.0.chunk_size).to_string())
                    .replace("{size}", &size)
                    .replace("{chunk}", &encoded)
            })
            .collect();
        commands.push(
            self.0
                .finish
                .replace("{size}", &size)
                .replace("{sha256}", &hex::encode(Sha256::digest(image))),
        );
        commands
    }

    /// Sends the commands at the shell; the first refusal ends it.
    fn at_shell(
        &self,
        ctx: &mut CheckContext,
        decl: &ConsoleDecl,
        commands: &[String],
    ) -> Result<Upload, CheckError> {
        let success = self.success()?;
        let total = commands.len();
        for (i, command) in commands.iter().enumerate() {
            let out = super::command(ctx, decl, command)?;
            if !success.is_match(&out) {
                return Ok(Upload::Refused(format!(
                    "command {} of {total} answered {:?}",
                    i + 1,
                    last_line(&out)
                )));
            }
        }
        Ok(Upload::Taken(format!(
            "{} chunk commands and `{}` answered as declared",
            total - 1,
            self.0.finish
        )))
    }
}

fn last_line(out: &str) -> &str {
    out.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
}

impl Updater for ConsoleUpload {
    fn label(&self) -> String {
        let verb = self.0.command.split_whitespace().next().unwrap_or("");
        format!("console `{verb}` ({:?} chunks)", self.0.encoding).to_lowercase()
    }

    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        session: Session,
    ) -> Result<Upload, CheckError> {
        let commands = self.commands(image);
        if session == Session::Authorized {
            let decl = console::open_shell(ctx)?;
            let outcome = self.at_shell(ctx, &decl, &commands);
            console::close_shell(ctx, &decl)?;
            return outcome;
        }
        let decl = ctx.console_decl()?;
        if dialogue::wake(ctx.console()?, &decl, STEP)? == dialogue::AT_SHELL {
            // Open without login: every command there is unauthenticated.
            return self.at_shell(ctx, &decl, &commands);
        }
        // At the login prompt: the first chunk command, as a person without
        // an account would type it. Unless the device takes it, stop there
        // (each refused line may count as a failed login).
        let success = self.success()?;
        let mut ends = vec![success.as_str().to_string()];
        ends.extend(decl.password_pattern());
        ends.extend(decl.login_pattern());
        let ends: Vec<&str> = ends.iter().map(String::as_str).collect();
        let console = ctx.console()?;
        console.send_line(&commands[0])?;
        let answer = match console.expect_any(&ends, STEP) {
            Ok(found) if found.index == 0 => None,
            Ok(found) => Some(format!(
                "the console answered with its prompt {:?}",
                found.matched.trim()
            )),
            Err(SerialError::Timeout { tail, .. }) => {
                Some(format!("the console answered {:?}", last_line(&tail)))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(refusal) = answer {
            // Back to a known prompt (a password prompt is answered there).
            dialogue::wake(ctx.console()?, &decl, STEP)?;
            return Ok(Upload::Refused(format!(
                "at the login prompt the first chunk command was not taken: {refusal}"
            )));
        }
        for (i, command) in commands.iter().enumerate().skip(1) {
            let console = ctx.console()?;
            console.send_line(command)?;
            if let Err(e) = console.expect(success.as_str(), STEP) {
                dialogue::wake(ctx.console()?, &decl, STEP)?;
                return Ok(Upload::Refused(format!(
                    "at the login prompt the first chunk was taken, command {} was not ({e})",
                    i + 1
                )));
            }
        }
        dialogue::wake(ctx.console()?, &decl, STEP)?;
        Ok(Upload::Taken(format!(
            "at the login prompt, without logging in: {} chunk commands and `{}` answered as declared",
            commands.len() - 1,
            self.0.finish
        )))
    }

    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        console::open_shell(ctx)?;
        Ok(ctx.console()?.send_line(&self.0.reboot)?)
    }

    fn confirm(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        let command = self.0.confirm.clone().ok_or_else(|| {
            CheckError::Harness(format!(
                "{} declares no confirm command (declares.update.paths[].console.confirm)",
                self.label()
            ))
        })?;
        let decl = console::open_shell(ctx)?;
        let out = super::command(ctx, &decl, &command)?;
        console::close_shell(ctx, &decl)?;
        if !self.success()?.is_match(&out) {
            return Err(CheckError::Board(format!(
                "`{command}` answered {:?}",
                last_line(&out)
            )));
        }
        Ok(())
    }

    fn discard(&self, _ctx: &mut CheckContext) -> Result<bool, CheckError> {
        Ok(false)
    }

    fn stored(&self, _ctx: &mut CheckContext) -> Result<Stored, CheckError> {
        Ok(Stored::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(encoding: ChunkEncoding) -> ConsoleUpload {
        ConsoleUpload(ConsoleUploadPath {
            command: "fw-upload {offset} {chunk}".into(),
            encoding,
            chunk_size: 3,
            success: "ok".into(),
            finish: "fw-install {size} {sha256}".into(),
            reboot: "reboot".into(),
            confirm: None,
        })
    }

    #[test]
    fn chunks_carry_their_offset_and_encoding() {
        let image = [0u8, 1, 2, 0xff, 0xfe];
        let hex = path(ChunkEncoding::Hex).commands(&image);
        assert_eq!(hex[0], "fw-upload 0 000102");
        assert_eq!(hex[1], "fw-upload 3 fffe");
        assert!(hex[2].starts_with("fw-install 5 "), "{}", hex[2]);
        let b64 = path(ChunkEncoding::Base64).commands(&image);
        assert_eq!(b64[0], "fw-upload 0 AAEC");
        assert_eq!(b64[1], "fw-upload 3 //4=");
        assert_eq!(b64.len(), 3);
    }
}
