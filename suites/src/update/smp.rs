//! MCUmgr SMP update paths: over the serial console (the console's login is
//! the session) and over UDP (MCUmgr's UDP transport carries no
//! authentication of its own: what is sent "authorized" and what is sent
//! "unauthenticated" are the same datagrams), and `image state` read-back.

use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::transport::serial::SerialError;
use hilt_harness::transport::smp::{SlotState, Smp, SmpCarrier, SmpError, UdpCarrier};
use hilt_harness::CheckError;

use super::{Running, RunningImage, Session, Stored, Updater, Upload};
use crate::console::{self, STEP};

pub(crate) fn smp_fault(e: SmpError) -> CheckError {
    match e {
        SmpError::Serial(s) => s.into(),
        SmpError::Udp(e) => CheckError::Harness(format!("SMP over UDP: {e}")),
        other => CheckError::Board(other.to_string()),
    }
}

/// SMP over the serial console.
pub(super) struct SmpSerial;

/// SMP over UDP to this port of the board.
pub(super) struct SmpUdp(pub(super) u16);

/// Runs `f` on SMP over the console, logged in (or, unauthenticated, at the
/// login prompt), and leaves the console at rest.
fn on_console<T>(
    ctx: &mut CheckContext,
    session: Session,
    f: impl FnOnce(&mut Smp<hilt_harness::transport::smp::SerialCarrier<'_>>) -> Result<T, SmpError>,
) -> Result<T, CheckError> {
    let decl = match session {
        Session::Authorized => console::open_shell(ctx)?,
        Session::Unauthenticated => {
            let decl = ctx.console_decl()?;
            // A console that opens without login gives every caller a
            // session: what is sent there is unauthenticated all the same.
            dialogue::wake(ctx.console()?, &decl, STEP)?;
            decl
        }
    };
    let result = {
        let console = ctx.console()?;
        f(&mut Smp::new(console, STEP)).map_err(smp_fault)
    };
    if session == Session::Authorized {
        console::close_shell(ctx, &decl)?;
    }
    result
}

fn on_udp<T>(
    ctx: &mut CheckContext,
    port: u16,
    f: impl FnOnce(&mut Smp<UdpCarrier>) -> Result<T, SmpError>,
) -> Result<T, CheckError> {
    let link = crate::api::link(ctx)?;
    let socket = link.udp_socket().map_err(crate::api::net_fault)?;
    let mut smp = Smp::over(UdpCarrier::new(socket, link.to(port)), STEP);
    f(&mut smp).map_err(smp_fault)
}

/// Upload, then a test boot of the image the device stored.
fn upload_and_mark<C: SmpCarrier>(smp: &mut Smp<C>, image: &[u8]) -> Result<Upload, SmpError> {
    match smp.upload(image) {
        Ok(()) => {}
        Err(SmpError::Refused(rc)) => {
            return Ok(Upload::Refused(format!("upload refused (rc {rc})")))
        }
        Err(e) => return Err(e),
    }
    let states = smp.image_state()?;
    let Some(slot1) = states.iter().find(|s| s.slot == 1) else {
        return Ok(Upload::Refused(
            "upload answered, yet slot 1 holds no image".into(),
        ));
    };
    let stored = format!("upload accepted, slot 1 holds {}", describe_slot(slot1));
    if states.iter().any(|s| s.active && s.hash == slot1.hash) {
        // MCUmgr refuses a test boot of the image that runs (rc 6).
        return Ok(Upload::Taken(format!(
            "{stored}, the running image: no test boot to request"
        )));
    }
    match smp.mark(&slot1.hash, false) {
        Ok(()) => Ok(Upload::Taken(format!("{stored}; test boot requested"))),
        Err(SmpError::Refused(rc)) => Ok(Upload::Refused(format!(
            "{stored}; test boot refused (rc {rc})"
        ))),
        Err(e) => Err(e),
    }
}

fn describe_slot(slot: &SlotState) -> String {
    format!("version {} hash {}", slot.version, hex::encode(&slot.hash))
}

fn stored_in<C: SmpCarrier>(smp: &mut Smp<C>) -> Result<Stored, SmpError> {
    Ok(match smp.image_state()?.into_iter().find(|s| s.slot == 1) {
        Some(slot) => Stored::Image(slot.hash),
        None => Stored::Empty,
    })
}

/// A reset that some devices perform before answering.
fn reset<C: SmpCarrier>(smp: &mut Smp<C>) -> Result<(), SmpError> {
    match smp.reset() {
        Ok(()) => Ok(()),
        Err(SmpError::Serial(SerialError::Timeout { .. }) | SmpError::NoAnswer { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Updater for SmpSerial {
    fn label(&self) -> String {
        "SMP over serial".into()
    }

    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        session: Session,
    ) -> Result<Upload, CheckError> {
        on_console(ctx, session, |smp| upload_and_mark(smp, image))
    }

    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        console::open_shell(ctx)?;
        let console = ctx.console()?;
        reset(&mut Smp::new(console, STEP)).map_err(smp_fault)
    }

    fn confirm(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        on_console(ctx, Session::Authorized, |smp| smp.confirm_running())
    }

    fn discard(&self, ctx: &mut CheckContext) -> Result<bool, CheckError> {
        on_console(ctx, Session::Authorized, |smp| smp.erase().map(|()| true))
    }

    // The closure is not redundant: it is generic over the console's borrow.
    #[allow(clippy::redundant_closure)]
    fn stored(&self, ctx: &mut CheckContext) -> Result<Stored, CheckError> {
        on_console(ctx, Session::Authorized, |smp| stored_in(smp))
    }
}

impl Updater for SmpUdp {
    fn label(&self) -> String {
        format!("SMP over UDP port {}", self.0)
    }

    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        _session: Session,
    ) -> Result<Upload, CheckError> {
        on_udp(ctx, self.0, |smp| upload_and_mark(smp, image))
    }

    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        on_udp(ctx, self.0, reset)
    }

    fn confirm(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        on_udp(ctx, self.0, |smp| smp.confirm_running())
    }

    fn discard(&self, ctx: &mut CheckContext) -> Result<bool, CheckError> {
        on_udp(ctx, self.0, |smp| smp.erase().map(|()| true))
    }

    fn stored(&self, ctx: &mut CheckContext) -> Result<Stored, CheckError> {
        on_udp(ctx, self.0, stored_in)
    }
}

/// `image state` read-back: the active slot.
pub(super) enum SmpState {
    Serial,
    Udp(u16),
}

fn active<C: SmpCarrier>(smp: &mut Smp<C>) -> Result<Option<SlotState>, SmpError> {
    Ok(smp.image_state()?.into_iter().find(|s| s.active))
}

impl RunningImage for SmpState {
    fn label(&self) -> String {
        match self {
            SmpState::Serial => "SMP image state over serial".into(),
            SmpState::Udp(port) => format!("SMP image state over UDP port {port}"),
        }
    }

    // The closure is not redundant: it is generic over the console's borrow.
    #[allow(clippy::redundant_closure)]
    fn read(&self, ctx: &mut CheckContext) -> Result<Running, CheckError> {
        let slot = match self {
            SmpState::Serial => on_console(ctx, Session::Authorized, |smp| active(smp))?,
            SmpState::Udp(port) => on_udp(ctx, *port, active)?,
        }
        .ok_or_else(|| CheckError::Board("image state names no active image".into()))?;
        Ok(Running {
            version: slot.version,
            hash: slot.hash,
            confirmed: Some(slot.confirmed),
        })
    }
}
