//! Logins on the network interfaces that authenticate (telnet, SSH, HTTP,
//! MQTT, SNMP, ...), through the harness's login drivers
//! (`hilt_harness::driver::login`): which interfaces a check can judge,
//! the driver for each (or why none), turning an interface that is off by
//! default on through its declared toggle (and back), and the per-attempt
//! transcripts kept as evidence.

use std::time::{Duration, Instant};

use hilt_harness::board::{AuthRequirement, Board, InterfaceDecl, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::login::{self, LoginError, LoginProbe, Target};
use hilt_harness::CheckError;

use crate::api;
use crate::settings::{self, Settings};

/// `telnet 23/tcp`.
pub fn label(interface: &InterfaceDecl) -> String {
    format!(
        "{} {}/{}",
        interface.service.to_ascii_lowercase(),
        interface.port,
        match interface.protocol {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    )
}

/// The declared interfaces that authenticate (`auth: required`), when the
/// network is wired.
pub fn authenticating(board: &Board) -> Vec<InterfaceDecl> {
    if board.spec.hardware.network.is_none() {
        return Vec::new();
    }
    board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.auth == AuthRequirement::Required)
        .cloned()
        .collect()
}

/// The driver for `interface`, or why there is none (named in reasons).
pub fn open(
    ctx: &mut CheckContext,
    interface: &InterfaceDecl,
) -> Result<Result<Box<dyn LoginProbe>, String>, CheckError> {
    let link = api::link(ctx)?;
    let scrubber = ctx.evidence().scrubber().clone();
    let stop = ctx.stop().clone();
    let found = login::probe_for(Target {
        board: ctx.board(),
        interface,
        link: &link,
        stop: &stop,
        scrubber,
    });
    match found {
        Ok(Some(probe)) => Ok(Ok(probe)),
        Ok(None) => Ok(Err(no_driver(interface))),
        Err(LoginError::Device(why)) => Ok(Err(why)),
        Err(LoginError::Declaration(why)) => Ok(Err(format!("{why} (board file)"))),
        Err(e) => Err(e.into()),
    }
}

fn no_driver(interface: &InterfaceDecl) -> String {
    let service = interface.service.to_ascii_lowercase();
    if service.starts_with("http") {
        format!(
            "{}: no API declared on it, so hilt does not know how it authenticates (declares.interfaces[].api)",
            label(interface)
        )
    } else {
        format!(
            "{}: hilt has no login driver for the service {:?}",
            label(interface),
            interface.service
        )
    }
}

/// A toggled interface hilt turned on, to be put back.
pub struct TurnedOn {
    parameter: String,
    original: String,
}

/// Whether a TCP port takes a connection now.
fn tcp_open(ctx: &CheckContext, port: u16) -> Result<bool, CheckError> {
    let link = api::link(ctx)?;
    Ok(link.tcp_connect(port, Duration::from_secs(3)).is_ok())
}

/// Makes sure `interface` listens: a TCP interface that is off by default
/// and closed is turned on through its declared toggle (authorized, put
/// back with [`put_back`]); Err(why) when it stays closed.
pub fn ensure_on(
    ctx: &mut CheckContext,
    interface: &InterfaceDecl,
) -> Result<Result<Option<TurnedOn>, String>, CheckError> {
    if interface.protocol != Transport::Tcp || tcp_open(ctx, interface.port)? {
        return Ok(Ok(None));
    }
    let name = label(interface);
    let Some(toggle) = interface.toggle.clone() else {
        return Ok(Err(if interface.enabled_by_default {
            format!("{name}: closed (connection refused)")
        } else {
            format!("{name}: off by default and closed, with no toggle declared to turn it on (declares.interfaces[].toggle)")
        }));
    };
    if !matches!(
        settings::applicable(ctx.board()),
        hilt_harness::Applicability::Applicable
    ) {
        return Ok(Err(format!(
            "{name}: closed, and no way to change its toggle {} is declared",
            toggle.parameter
        )));
    }
    let settings = Settings::open(ctx)?;
    let original = settings.get(ctx, &toggle.parameter)?;
    settings.set_verified(ctx, &toggle.parameter, &toggle.on)?;
    settings.close(ctx)?;
    let until = Instant::now() + Duration::from_secs(10);
    while !tcp_open(ctx, interface.port)? {
        if Instant::now() > until {
            return Ok(Err(format!(
                "{name}: still closed 10 s after {} = {:?}",
                toggle.parameter, toggle.on
            )));
        }
        ctx.sleep(Duration::from_millis(200))?;
    }
    Ok(Ok(Some(TurnedOn {
        parameter: toggle.parameter,
        original,
    })))
}

/// Puts back a toggle [`ensure_on`] changed.
pub fn put_back(ctx: &mut CheckContext, turned: Option<TurnedOn>) -> Result<(), CheckError> {
    let Some(t) = turned else {
        return Ok(());
    };
    let settings = Settings::open(ctx)?;
    settings.set_verified(ctx, &t.parameter, &t.original)?;
    settings.close(ctx)
}

/// Evidence file name for an interface's transcripts.
pub fn evidence_name(prefix: &str, interface: &InterfaceDecl) -> String {
    format!(
        "{prefix}-{}-{}.txt",
        interface
            .service
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        interface.port
    )
}
