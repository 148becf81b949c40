//! SSH login: password authentication, by the `password` method and by
//! `keyboard-interactive` (how many devices take passwords), whichever the
//! server offers, over a fresh connection per attempt
//! ([`hilt_net::ssh::try_password`]). A server that offers neither (public
//! keys only) refuses every password: the outcome says "password
//! authentication not offered". The banner is the server's identification
//! string (`SSH-2.0-dropbear_2022.83`), read without logging in.

use hilt_net::ssh::{self, SshAuth};
use hilt_net::{Link, Stop};

use super::{Attempt, LoginError, LoginProbe, Outcome, Target, STEP};
use crate::board::Secret;
use crate::scrub::Scrubber;

pub struct SshProbe {
    label: String,
    link: Link,
    port: u16,
    stop: Stop,
    scrubber: Scrubber,
    /// Attempts so far, and the reason while every one of them was refused
    /// with no password method offered.
    attempts: usize,
    not_taken: Option<String>,
}

impl SshProbe {
    pub fn new(target: &Target<'_>) -> Result<Self, LoginError> {
        Ok(Self {
            label: format!("ssh {}/tcp", target.interface.port),
            link: target.link.clone(),
            port: target.interface.port,
            stop: super::net_stop(target.stop),
            scrubber: target.scrubber.clone(),
            attempts: 0,
            not_taken: None,
        })
    }
}

/// The login outcome of what the server did.
pub fn outcome(auth: &SshAuth) -> Outcome {
    match auth {
        SshAuth::Accepted { .. } => Outcome::Accepted,
        SshAuth::Refused { reason } | SshAuth::NotOffered { reason } => {
            Outcome::Refused(reason.clone())
        }
        SshAuth::Unknown { reason } => Outcome::Unknown(reason.clone()),
    }
}

impl LoginProbe for SshProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError> {
        let login = ssh::try_password(
            &self.link,
            self.port,
            user,
            password.expose(),
            STEP,
            &self.stop,
        )
        .map_err(|e| scrub_error(&self.scrubber, e.into()))?;
        self.not_taken = match (&login.auth, self.attempts) {
            (SshAuth::NotOffered { reason }, 0) => Some(reason.clone()),
            (SshAuth::NotOffered { .. }, _) => self.not_taken.take(),
            _ => None,
        };
        self.attempts += 1;
        let outcome = match outcome(&login.auth) {
            Outcome::Refused(why) => Outcome::Refused(self.scrubber.scrub_text(&why)),
            Outcome::Unknown(why) => Outcome::Unknown(self.scrubber.scrub_text(&why)),
            accepted => accepted,
        };
        Ok(Attempt {
            outcome,
            transcript: self.scrubber.scrub_text(&login.transcript()),
        })
    }

    fn banner(&mut self) -> Result<Option<String>, LoginError> {
        let id = ssh::read_identification(&self.link, self.port, STEP, &self.stop)
            .map_err(|e| scrub_error(&self.scrubber, e.into()))?;
        Ok(Some(self.scrubber.scrub_text(&id)))
    }

    fn passwords_not_taken(&self) -> Option<String> {
        self.not_taken
            .as_ref()
            .map(|why| format!("{} to every user tried", self.scrubber.scrub_text(why)))
    }
}

fn scrub_error(scrubber: &Scrubber, e: LoginError) -> LoginError {
    match e {
        LoginError::Device(m) => LoginError::Device(scrubber.scrub_text(&m)),
        LoginError::Declaration(m) => LoginError::Declaration(scrubber.scrub_text(&m)),
        LoginError::Harness(m) => LoginError::Harness(scrubber.scrub_text(&m)),
        LoginError::Stopped(m) => LoginError::Stopped(scrubber.scrub_text(&m)),
    }
}
