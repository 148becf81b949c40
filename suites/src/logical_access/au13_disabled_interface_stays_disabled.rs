use std::time::{Duration, Instant};

use hilt_harness::board::{Board, InterfaceDecl, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::{Link, NetError};

use crate::api;
use crate::settings::{self, Settings};

/// AU-13: an interface turned off stays off across a power cycle.
pub struct DisabledInterfaceStaysDisabled;

static DISABLED_INTERFACE: CheckMeta = CheckMeta {
    name: "disabled_interface_stays_disabled",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-13",
    title: "A disabled interface stays disabled after a power cycle",
    expected: "after the interface is turned off, its port is closed and stays closed across a power cycle, and the setting still reads off",
    nistir_8259a: &["LA-1"],
    en_303_645: &["5.6-1"],
    ts_103_701: &["5.6-1-2"],
    cra_annex_i: &["j"],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

fn toggled_interface(board: &Board) -> Option<InterfaceDecl> {
    board
        .spec
        .declares
        .interfaces
        .iter()
        .find(|i| i.protocol == Transport::Tcp && i.toggle.is_some())
        .cloned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortState {
    Open,
    Closed,
    /// Neither an answer nor a refusal within the timeout.
    Silent,
}

/// The state of the board's `port`, reached through its link (a link that
/// is down reads as silent, never as closed).
fn port_state(link: &Link, port: u16) -> PortState {
    match link.tcp_connect(port, Duration::from_secs(1)) {
        Ok(_) => PortState::Open,
        Err(NetError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            PortState::Closed
        }
        Err(_) => PortState::Silent,
    }
}

/// Polls until the port reaches `wanted` or `within` passes; the last state.
fn await_port(
    ctx: &CheckContext,
    link: &Link,
    port: u16,
    wanted: PortState,
    within: Duration,
) -> PortState {
    let until = Instant::now() + within;
    loop {
        let state = port_state(link, port);
        if state == wanted || Instant::now() >= until || ctx.stop().is_interrupted() {
            return state;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Check for DisabledInterfaceStaysDisabled {
    fn meta(&self) -> &CheckMeta {
        &DISABLED_INTERFACE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.network.is_none() {
            return Applicability::not_applicable(
                "no network wired (hardware.network)",
                &["hardware.network.address"],
            );
        }
        if toggled_interface(board).is_none() {
            return Applicability::not_applicable(
"no TCP interface declares a setting that turns it off (declares.interfaces[].toggle)", &["declares.interfaces[].toggle"]);
        }
        match settings::applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        if !settings::can_restart(board) {
            return Applicability::not_applicable(
                "the board cannot be restarted: no power control and no reboot dialogue",
                &["hardware.power", "declares.console.reboot"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let interface = toggled_interface(ctx.board())
            .ok_or_else(|| CheckError::Harness("no toggled interface".into()))?;
        let toggle = interface
            .toggle
            .clone()
            .ok_or_else(|| CheckError::Harness("no toggle".into()))?;
        let link = api::link(ctx)?;
        let port = interface.port;
        let name = format!("{} tcp/{}", interface.service, interface.port);
        let settings = Settings::open(ctx)?;
        let original = settings.get(ctx, &toggle.parameter)?;
        // Control: turning the interface on opens its port, so "closed"
        // later means the setting worked, not that the port never existed.
        settings.set_verified(ctx, &toggle.parameter, &toggle.on)?;
        let on_state = await_port(ctx, &link, port, PortState::Open, Duration::from_secs(3));
        settings.set_verified(ctx, &toggle.parameter, &toggle.off)?;
        let off_state = await_port(ctx, &link, port, PortState::Closed, Duration::from_secs(3));
        settings.close(ctx)?;
        if on_state != PortState::Open {
            settings.reopen(ctx)?;
            settings.set_verified(ctx, &toggle.parameter, &original)?;
            settings.close(ctx)?;
            return Err(CheckError::Board(format!(
                "{} = {:?} did not open {name} (port {on_state:?}): the declared toggle does not control it",
                toggle.parameter, toggle.on
            )));
        }
        settings.restart(ctx, &toggle.parameter)?;
        let after_state = port_state(&link, port);
        // Control: an interface that is on by default answers, so the board
        // is up and reachable when the toggled port reads closed.
        let control = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .find(|i| i.protocol == Transport::Tcp && i.enabled_by_default && i.toggle.is_none())
            .map(|i| i.port);
        let control_state =
            control.map(|c| await_port(ctx, &link, c, PortState::Open, Duration::from_secs(5)));
        let setting_after = settings.get(ctx, &toggle.parameter)?;
        settings.set_verified(ctx, &toggle.parameter, &original)?;
        settings.close(ctx)?;
        let observed = format!(
            "{name}: on -> {on_state:?}; off -> {off_state:?}; after a power cycle: {after_state:?}, {} reads {setting_after:?}; control port: {}; setting put back to {original:?}",
            toggle.parameter,
            match (control, control_state) {
                (Some(c), Some(s)) => format!("{} {s:?}", link.to(c)),
                _ => "none declared".into(),
            }
        );
        if off_state == PortState::Silent || after_state == PortState::Silent {
            // Closed means the board refused the connection; silence may be
            // a dead board or a lost link.
            return Err(CheckError::Board(format!(
                "{name} neither answered nor refused a connection; cannot tell off from unreachable ({observed})"
            )));
        }
        if matches!(control_state, Some(s) if s != PortState::Open) {
            return Err(CheckError::Board(format!(
                "the board's always-on interface does not answer after the power cycle ({observed})"
            )));
        }
        if off_state == PortState::Open {
            return Ok(Finding::fail(
                format!("turning {name} off did not close it"),
                observed,
            ));
        }
        if after_state == PortState::Open {
            return Ok(Finding::fail(
                format!("{name} was turned off but is open again after a power cycle"),
                observed,
            ));
        }
        if setting_after.trim() != toggle.off {
            return Ok(Finding::fail(
                format!(
                    "{} reads {setting_after:?} after a power cycle, not {:?}",
                    toggle.parameter, toggle.off
                ),
                observed,
            ));
        }
        Ok(Finding::pass(
            format!("{name} stayed off across a power cycle"),
            observed,
        ))
    }
}
