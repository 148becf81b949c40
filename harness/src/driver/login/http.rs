//! HTTP login through the API driver: the interface's declared API
//! (Basic, Digest, form or token login) asked for one of its protected
//! read resources (else `/`) as the user with the password. A 2xx answer
//! is a login; 401 or 403 (or a refused form or token login) a refusal;
//! anything else proves nothing.

use hilt_net::http::HttpRequest;

use super::{net_stop, Attempt, LoginError, LoginProbe, Outcome, Target, STEP};
use crate::board::{ApiAuth, ApiRef, Secret};
use crate::driver::api::{ApiClient, ApiError, Credentials};
use crate::scrub::Scrubber;
use crate::stop::StopSignal;

pub struct HttpProbe {
    label: String,
    client: ApiClient,
    path: String,
    stop: StopSignal,
    scrubber: Scrubber,
}

fn api_fault(e: ApiError) -> LoginError {
    match e {
        ApiError::Net(n) => n.into(),
        ApiError::Device(why) => LoginError::Device(why),
        ApiError::Declaration(why) => LoginError::Declaration(why),
    }
}

impl HttpProbe {
    /// The driver for an interface with an API (`api:`, or an
    /// authenticated https interface); None for one without.
    pub fn new(target: &Target<'_>) -> Result<Option<Self>, LoginError> {
        let port = target.interface.port;
        if target.board.spec.api(Some(&ApiRef::Port(port))).is_none() {
            return Ok(None);
        }
        let client = ApiClient::open(target.board, target.link, Some(&ApiRef::Port(port)))
            .map_err(api_fault)?
            .with_timeout(STEP);
        if matches!(client.auth(), ApiAuth::Bearer(b) if b.login.is_none()) {
            // A token issued out of band has no user name to guess.
            return Ok(None);
        }
        let path = client
            .read_paths()
            .first()
            .cloned()
            .unwrap_or_else(|| "/".into());
        Ok(Some(Self {
            label: format!(
                "{} {port}/tcp ({})",
                if client.speaks_tls() { "https" } else { "http" },
                client.auth().name()
            ),
            client,
            path,
            stop: target.stop.clone(),
            scrubber: target.scrubber.clone(),
        }))
    }
}

impl LoginProbe for HttpProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError> {
        let client = self.client.as_account(user);
        let reply = client
            .send(
                HttpRequest::get(self.path.clone()),
                &Credentials::Wrong(password.expose().to_string()),
                &net_stop(&self.stop),
            )
            .map_err(api_fault)?;
        let mut scrubber = self.scrubber.clone();
        scrubber.add(password);
        for learned in &reply.learned {
            scrubber.add(&Secret::from_guess(learned));
        }
        let transcript = reply
            .exchanges
            .iter()
            .map(|e| format!("{}\n{}\n", e.request, e.response))
            .collect::<String>();
        let status = reply.response.status;
        let outcome = if reply.login_refused || status == 401 || status == 403 {
            Outcome::Refused(format!("GET {} -> {status}", self.path))
        } else if (200..300).contains(&status) {
            Outcome::Accepted
        } else {
            Outcome::Unknown(format!(
                "GET {} -> {status}: neither a login nor a refusal",
                self.path
            ))
        };
        Ok(Attempt {
            outcome,
            transcript: scrubber.scrub_text(&transcript),
        })
    }
}
