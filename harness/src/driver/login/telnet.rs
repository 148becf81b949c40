//! Telnet login (RFC 854): a fresh connection per attempt, the server's
//! option negotiation answered (its echo and suppress-go-ahead agreed to,
//! everything else refused, see [`Rfc2217::telnet`]), then the login
//! dialogue through the console driver's expect engine, with the patterns
//! of the interface's `login:` block (else the console's, else Linux's).

use std::time::Duration;

use hilt_net::Link;

use super::{Attempt, LoginError, LoginProbe, Outcome, Target, STEP};
use crate::board::{ConsoleDecl, LineEnding, Secret};
use crate::driver::console::{self, LoginOutcome};
use crate::scrub::Scrubber;
use crate::stop::StopSignal;
use crate::transport::rfc2217::Rfc2217;
use crate::transport::serial::{Console, SerialError};

/// Read poll of the socket (the console loop's own tick).
const POLL: Duration = Duration::from_millis(20);
/// Most pre-login text kept as a banner.
const MAX_BANNER: usize = 4096;

pub struct TelnetProbe {
    label: String,
    link: Link,
    port: u16,
    decl: ConsoleDecl,
    stop: StopSignal,
    scrubber: Scrubber,
}

impl TelnetProbe {
    pub fn new(target: &Target<'_>) -> Result<Self, LoginError> {
        let decl = super::telnet_dialogue(target.board, target.interface);
        if let Some((field, why)) = decl.pattern_error() {
            return Err(LoginError::Declaration(format!(
                "telnet {}/tcp: login pattern {field}: {why}",
                target.interface.port
            )));
        }
        Ok(Self {
            label: format!("telnet {}/tcp", target.interface.port),
            link: target.link.clone(),
            port: target.interface.port,
            decl,
            stop: target.stop.clone(),
            scrubber: target.scrubber.clone(),
        })
    }

    fn connect(&self) -> Result<Console, LoginError> {
        let stream = self.link.tcp_connect(self.port, STEP)?;
        stream
            .set_read_timeout(Some(POLL))
            .map_err(|e| LoginError::Harness(format!("telnet socket: {e}")))?;
        let mut console =
            Console::from_stream(Rfc2217::telnet(stream), LineEnding::Crlf, self.stop.clone())
                .with_name(format!("telnet {}", self.link.to(self.port)));
        console.set_scrubber(self.scrubber.clone());
        Ok(console)
    }
}

impl LoginProbe for TelnetProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError> {
        let mut console = self.connect()?;
        let result = console::login(&mut console, &self.decl, user, password, STEP);
        let outcome = match result {
            Ok(LoginOutcome::LoggedIn) => {
                // Leave politely; the connection closes either way.
                let _ = console.send_line(&self.decl.logout);
                Outcome::Accepted
            }
            Ok(LoginOutcome::NoLoginRequired) => Outcome::Accepted,
            Ok(LoginOutcome::Rejected(said)) => Outcome::Refused(console.scrub(&said)),
            Err(SerialError::Timeout {
                pattern, waited_ms, ..
            }) => Outcome::Unknown(format!(
                "no recognised answer within {waited_ms} ms (waiting for {pattern})"
            )),
            Err(e) => return Err(e.into()),
        };
        Ok(Attempt {
            outcome,
            transcript: console.transcript(),
        })
    }

    fn banner(&mut self) -> Result<Option<String>, LoginError> {
        let mut console = self.connect()?;
        let login = self
            .decl
            .login_pattern()
            .ok_or_else(|| LoginError::Declaration("no telnet login pattern".into()))?;
        let found = console.expect(&login, STEP)?;
        let text = console.scrub(found.before.trim());
        Ok(Some(crate::transport::serial::last_bytes(
            &text, MAX_BANNER,
        )))
    }
}
