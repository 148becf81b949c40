//! FTP login (RFC 959): a fresh connection per attempt, the 220 greeting,
//! `USER` then `PASS`. 230 is a login (also straight after `USER`, an
//! account without password); 530 a refusal; anything else proves
//! nothing. Anonymous is `USER anonymous` with an e-mail-like password.
//! The banner is the 220 greeting. Replies are read line by line, bounded
//! ([`MAX_REPLY`]); a multi-line reply (`220-` ... `220 `) is read whole.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hilt_net::Link;

use super::{Attempt, LoginError, LoginProbe, Outcome, Target, STEP};
use crate::board::Secret;
use crate::stop::StopSignal;

/// Most bytes of one reply kept.
pub const MAX_REPLY: usize = 4096;
const POLL: Duration = Duration::from_millis(50);

pub struct FtpProbe {
    label: String,
    link: Link,
    port: u16,
    stop: StopSignal,
}

/// One FTP reply: its code (None when the text is no reply) and its text.
struct Reply {
    code: Option<u16>,
    text: String,
}

/// The code of a complete reply in `text` (its last line `NNN ` or
/// `NNN` alone), or None while more is needed.
pub fn complete_reply(text: &str) -> Option<Option<u16>> {
    if !text.ends_with('\n') {
        return None;
    }
    let first = text.lines().next()?;
    let code: Option<u16> = first.get(..3).and_then(|c| c.parse().ok());
    let Some(code) = code else {
        return Some(None);
    };
    let multi = first.as_bytes().get(3) == Some(&b'-');
    if !multi {
        return Some(Some(code));
    }
    let end = format!("{code} ");
    let end_bare = format!("{code}");
    text.lines()
        .skip(1)
        .any(|l| l.starts_with(&end) || l.trim_end() == end_bare)
        .then_some(Some(code))
}

impl FtpProbe {
    pub fn new(target: &Target<'_>) -> Self {
        Self {
            label: format!("ftp {}/tcp", target.interface.port),
            link: target.link.clone(),
            port: target.interface.port,
            stop: target.stop.clone(),
        }
    }

    fn read_reply(&self, sock: &mut TcpStream) -> Result<Reply, LoginError> {
        let until = Instant::now() + STEP;
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(code) = complete_reply(&text) {
                return Ok(Reply { code, text });
            }
            if got.len() >= MAX_REPLY {
                return Ok(Reply { code: None, text });
            }
            if let Err(crate::stop::Stopped(why)) = self.stop.check() {
                return Err(LoginError::Stopped(why));
            }
            if Instant::now() > until {
                return Err(LoginError::Device(format!(
                    "{}: no complete reply within {} s",
                    self.label,
                    STEP.as_secs()
                )));
            }
            match sock.read(&mut buf) {
                Ok(0) => {
                    return Ok(Reply {
                        code: None,
                        text: format!("{text}(connection closed)"),
                    })
                }
                Ok(n) => got.extend_from_slice(&buf[..n.min(MAX_REPLY)]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    return Err(LoginError::Device(format!(
                        "{}: read failed: {e}",
                        self.label
                    )))
                }
            }
        }
    }

    fn connect(&self, transcript: &mut String) -> Result<(TcpStream, Reply), LoginError> {
        let mut sock = self.link.tcp_connect(self.port, STEP)?;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| LoginError::Harness(format!("FTP socket: {e}")))?;
        let greeting = self.read_reply(&mut sock)?;
        transcript.push_str(&format!("< {}", greeting.text));
        Ok((sock, greeting))
    }

    fn send(&self, sock: &mut TcpStream, line: &str) -> Result<(), LoginError> {
        sock.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| LoginError::Device(format!("{}: write failed: {e}", self.label)))
    }

    fn login(&self, user: &str, password: &str) -> Result<Attempt, LoginError> {
        let mut transcript = String::new();
        let (mut sock, greeting) = self.connect(&mut transcript)?;
        if greeting.code != Some(220) {
            return Ok(Attempt {
                outcome: Outcome::Unknown(format!("greeting {:?}", greeting.code)),
                transcript,
            });
        }
        self.send(&mut sock, &format!("USER {user}"))?;
        transcript.push_str(&format!("> USER {user}\r\n"));
        let reply = self.read_reply(&mut sock)?;
        transcript.push_str(&format!("< {}", reply.text));
        let reply = match reply.code {
            Some(331) | Some(332) => {
                self.send(&mut sock, &format!("PASS {password}"))?;
                transcript.push_str("> PASS <redacted>\r\n");
                let r = self.read_reply(&mut sock)?;
                transcript.push_str(&format!("< {}", r.text));
                r
            }
            _ => reply,
        };
        let outcome = match reply.code {
            Some(230) => Outcome::Accepted,
            Some(530) => Outcome::Refused(reply.text.trim().to_string()),
            other => Outcome::Unknown(format!("reply {other:?}: {}", reply.text.trim())),
        };
        let _ = self.send(&mut sock, "QUIT");
        Ok(Attempt {
            outcome,
            transcript,
        })
    }
}

impl LoginProbe for FtpProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError> {
        self.login(user, password.expose())
    }

    fn attempt_anonymous(&mut self) -> Result<Option<Attempt>, LoginError> {
        self.login("anonymous", "hilt@example.com").map(Some)
    }

    fn banner(&mut self) -> Result<Option<String>, LoginError> {
        let mut transcript = String::new();
        let (mut sock, greeting) = self.connect(&mut transcript)?;
        let _ = self.send(&mut sock, "QUIT");
        Ok(Some(greeting.text))
    }
}

#[cfg(test)]
mod tests {
    use super::complete_reply;

    #[test]
    fn replies_single_multi_and_garbage() {
        assert_eq!(complete_reply("220 ready\r\n"), Some(Some(220)));
        assert_eq!(complete_reply("220 rea"), None);
        assert_eq!(complete_reply("220-a\r\nb\r\n"), None);
        assert_eq!(complete_reply("220-a\r\nb\r\n220 end\r\n"), Some(Some(220)));
        assert_eq!(complete_reply("hello\r\n"), Some(None));
        assert_eq!(complete_reply("\n"), Some(None));
        assert_eq!(complete_reply("2\u{e9}0 x\n"), Some(None));
    }
}
