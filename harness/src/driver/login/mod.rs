//! Login drivers: one way to try a user name and password on each kind of
//! interface that authenticates (telnet, SSH, HTTP, MQTT, SNMP, ...),
//! behind one trait, [`LoginProbe`], so a check that guesses credentials
//! (AU-01) or hammers one account (AU-04) is written once for all of them.
//! Which driver serves an interface follows from the board file's
//! interface declaration (its `service`, port and `login:` block), see
//! [`probe_for`].
//!
//! Every attempt reports what the device did ([`Outcome`]) and a
//! transcript for the evidence in which the password never appears (it is
//! sent as a secret; the transcript shows `<redacted>`).

pub mod ftp;
pub mod http;
pub mod mqtt;
pub mod snmp;
pub mod ssh;
pub mod telnet;

use std::time::Duration;

use hilt_net::{Link, NetError, Stop};

/// The network layer's stop for `stop`.
pub fn net_stop(stop: &crate::stop::StopSignal) -> Stop {
    Stop::new(stop.deadline(), stop.interrupted_flag())
}

use crate::board::{Board, ConsoleDecl, InterfaceDecl, Secret};
use crate::outcome::CheckError;
use crate::transport::serial::SerialError;

/// What the device made of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It let the client in (a shell prompt, CONNACK 0, a 2xx answer, an
    /// SNMP answer to the community...).
    Accepted,
    /// It said no, in the way the protocol says no; what it said.
    Refused(String),
    /// It answered, but neither as a login nor as a refusal: the attempt
    /// proves nothing either way (why, in words).
    Unknown(String),
}

/// One attempt: the outcome and what was exchanged.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    /// The exchange, for the evidence: device output as received, what
    /// hilt sent with the password replaced by `<redacted>`. Scrub it with
    /// the board's secrets before it is written (the device may echo).
    pub transcript: String,
}

impl Attempt {
    pub fn accepted(&self) -> bool {
        self.outcome == Outcome::Accepted
    }

    pub fn refused(&self) -> bool {
        matches!(self.outcome, Outcome::Refused(_))
    }
}

/// Why an attempt could not be made or completed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The device did not cooperate (connection refused or lost, no answer
    /// in time): no verdict on this interface (INCONCLUSIVE).
    #[error("{0}")]
    Device(String),
    /// The board file does not say enough (no account, a bad pattern).
    #[error("{0}")]
    Declaration(String),
    /// This host failed (a socket it could not make).
    #[error("{0}")]
    Harness(String),
    /// The run was interrupted or the check's deadline passed.
    #[error("stopped: {0}")]
    Stopped(String),
}

impl From<LoginError> for CheckError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Device(why) => CheckError::Board(why),
            LoginError::Declaration(why) | LoginError::Harness(why) => CheckError::Harness(why),
            LoginError::Stopped(why) => CheckError::Stopped(why),
        }
    }
}

impl From<NetError> for LoginError {
    fn from(e: NetError) -> Self {
        match e {
            e if e.is_peer_fault() => LoginError::Device(e.to_string()),
            NetError::Stopped(why) => LoginError::Stopped(why.to_string()),
            e => LoginError::Harness(e.to_string()),
        }
    }
}

impl From<SerialError> for LoginError {
    fn from(e: SerialError) -> Self {
        match e {
            SerialError::Stopped(why) => LoginError::Stopped(why),
            SerialError::Unsupported(why) => LoginError::Harness(why),
            other => LoginError::Device(other.to_string()),
        }
    }
}

/// One interface's login, ready for attempts. Each attempt stands alone
/// (a fresh connection or request), so one refusal never leaves the next
/// attempt in a half-finished dialogue.
pub trait LoginProbe {
    /// `telnet 23/tcp`: names the interface in reasons and evidence.
    fn label(&self) -> &str;

    /// Tries `user` with `password`.
    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError>;

    /// Whether the protocol takes one secret and no user name (an SNMP
    /// community): `attempt` then ignores its user name, and a dictionary
    /// of such secrets is tried instead of user/password pairs.
    fn secret_only(&self) -> bool {
        false
    }

    /// Tries to get in without any credential, where the protocol has
    /// such a thing (MQTT without a user name, anonymous FTP); None where
    /// it has not.
    fn attempt_anonymous(&mut self) -> Result<Option<Attempt>, LoginError> {
        Ok(None)
    }

    /// What the service shows before authentication (a telnet pre-login
    /// text, an FTP 220 line, an SSH identification string), bounded;
    /// None where the protocol shows nothing.
    fn banner(&mut self) -> Result<Option<String>, LoginError> {
        Ok(None)
    }

    /// Why no password can get in, when every attempt so far was refused
    /// before any password was weighed: the service offers those users no
    /// password login at all (SSH with public keys only). Its refusals then
    /// need no positive control: the answer that lists no password method
    /// shows the service alive. None where passwords are taken (the
    /// default), or once any attempt was weighed.
    fn passwords_not_taken(&self) -> Option<String> {
        None
    }
}

/// How long one step of a login dialogue may take.
pub const STEP: Duration = Duration::from_secs(10);

/// What a probe needs from the board.
pub struct Target<'a> {
    pub board: &'a Board,
    pub interface: &'a InterfaceDecl,
    pub link: &'a Link,
    pub stop: &'a crate::stop::StopSignal,
    /// The secrets the transcript and errors must not show.
    pub scrubber: crate::scrub::Scrubber,
}

/// Whether hilt has a login driver for `interface` ([`probe_for`] builds
/// one), so a check can decide its applicability from the board file.
/// HTTP interfaces are served through their API (`api:`), see
/// [`http::HttpProbe`]; this names the others.
pub fn has_probe(interface: &InterfaceDecl) -> bool {
    matches!(
        interface.service.to_ascii_lowercase().as_str(),
        "telnet" | "ssh" | "snmp" | "mqtt" | "mqtts" | "ftp"
    )
}

/// The login driver for `interface`, from its service name: `Ok(None)`
/// when hilt has none for that service (the caller names the interface
/// as not judged).
pub fn probe_for(target: Target<'_>) -> Result<Option<Box<dyn LoginProbe>>, LoginError> {
    let service = target.interface.service.to_ascii_lowercase();
    Ok(match service.as_str() {
        "telnet" => Some(Box::new(telnet::TelnetProbe::new(&target)?)),
        "ssh" => Some(Box::new(ssh::SshProbe::new(&target)?)),
        "snmp" => Some(Box::new(snmp::SnmpProbe::new(&target))),
        "ftp" => Some(Box::new(ftp::FtpProbe::new(&target))),
        "mqtt" | "mqtts" => Some(Box::new(mqtt::MqttProbe::new(&target))),
        "http" | "https" | "http-alt" | "https-alt" => match http::HttpProbe::new(&target)? {
            Some(p) => Some(Box::new(p)),
            None => None,
        },
        _ => None,
    })
}

/// The account that must log in on `interface` (its `login.account`, else
/// its API's account, else the console's account, else the first admin
/// account, else the only declared account).
pub fn interface_account(board: &Board, interface: &InterfaceDecl) -> Option<String> {
    let declares = &board.spec.declares;
    let api = board
        .spec
        .api(Some(&crate::board::ApiRef::Port(interface.port)))
        .and_then(|a| board.spec.api_account(&a));
    interface
        .login
        .as_ref()
        .and_then(|l| l.account.clone())
        .or(api)
        .or_else(|| declares.console.as_ref().and_then(|c| c.account.clone()))
        .or_else(|| {
            declares
                .accounts
                .iter()
                .find(|(_, a)| a.role == crate::board::Role::Admin)
                .map(|(name, _)| name.clone())
        })
        .or_else(|| {
            (declares.accounts.len() == 1)
                .then(|| declares.accounts.keys().next().cloned())
                .flatten()
        })
}

/// The dialogue a telnet login follows: the interface's `login:` patterns,
/// else the console's, else the usual Linux ones.
pub fn telnet_dialogue(board: &Board, interface: &InterfaceDecl) -> ConsoleDecl {
    let own = interface.login.clone().unwrap_or_default();
    let console = board.spec.declares.console.as_ref();
    let from_console = |f: fn(&ConsoleDecl) -> Option<String>| console.and_then(f);
    ConsoleDecl {
        login: own
            .login
            .or_else(|| from_console(|c| c.login.clone()))
            .or_else(|| Some(r"(?:\S+ )?login: ".into())),
        password: own
            .password
            .or_else(|| from_console(|c| c.password.clone()))
            .or_else(|| Some("Password: ".into())),
        prompt: own
            .prompt
            .or_else(|| console.map(|c| c.prompt.clone()))
            .unwrap_or_else(|| r"[^\n]*[#$>] ?".into()),
        failure: own
            .failure
            .or_else(|| from_console(|c| c.failure.clone()))
            .or_else(|| Some("Login incorrect".into())),
        account: None,
        logout: console.map_or_else(|| "exit".into(), |c| c.logout.clone()),
        change_password: None,
        reboot: None,
        settle_ms: console.map_or(250, |c| c.settle_ms),
        // A telnet server speaks first; nothing is sent to wake it.
        wake: crate::board::Wake::None,
        autoboot: None,
    }
}
