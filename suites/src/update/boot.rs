//! Restarting the device through an update path and waiting for it to boot.
//! A device that does not come back is power-cycled once: a hang after a
//! bad image is the device's failure ("no brick"), while a board that does
//! not come back even then is a board fault.

use std::time::{Duration, Instant};

use hilt_harness::context::CheckContext;
use hilt_harness::transport::power::PowerAction;
use hilt_harness::transport::serial::SerialError;
use hilt_harness::CheckError;

use super::Updater;
use crate::console;

/// How long a reboot may take before the board counts as not answering.
pub const BOOT: Duration = Duration::from_secs(20);

/// How a restart ended.
pub enum Boot {
    /// The device came back; its boot log (empty without a console).
    Booted(String),
    /// It did not come back within [`BOOT`]; what the console printed. The
    /// board was then power-cycled and came back (else an error).
    HungUntilPowerCycle(String),
}

impl Boot {
    pub fn log(&self) -> &str {
        match self {
            Boot::Booted(log) | Boot::HungUntilPowerCycle(log) => log,
        }
    }
}

/// Restarts the device through `updater` and waits for it to boot.
pub fn restart_and_wait(ctx: &mut CheckContext, updater: &dyn Updater) -> Result<Boot, CheckError> {
    if has_console(ctx) {
        // A prompt printed before the restart (a path that never reads the
        // console leaves it there) must not read as the boot's end.
        ctx.console()?.discard_pending()?;
    }
    updater.restart(ctx)?;
    match wait_for_boot(ctx)? {
        Ok(log) => Ok(Boot::Booted(log)),
        Err(tail) => {
            if ctx.board().spec.hardware.power.is_none() {
                return Err(CheckError::Board(format!(
                    "the device did not boot within {BOOT:?} after a restart through {} and no power control is wired to recover it (console: {tail:?})",
                    updater.label()
                )));
            }
            if has_console(ctx) {
                let decl = ctx.console_decl()?;
                console::restart(ctx, &decl)?;
            } else {
                ctx.power(PowerAction::Cycle)?;
                if let Err(tail) = wait_for_boot(ctx)? {
                    return Err(CheckError::Board(format!(
                        "the device did not come back even after a power cycle ({tail})"
                    )));
                }
            }
            Ok(Boot::HungUntilPowerCycle(tail))
        }
    }
}

pub(crate) fn has_console(ctx: &CheckContext) -> bool {
    ctx.board().spec.hardware.serial.is_some() && ctx.board().spec.declares.console.is_some()
}

/// The boot log up to the console's login (or shell) prompt, or, without a
/// console, the read-back answering again; inner `Err`: what was seen
/// before [`BOOT`] ran out.
pub(crate) fn wait_for_boot(ctx: &mut CheckContext) -> Result<Result<String, String>, CheckError> {
    if !has_console(ctx) {
        // The device may still answer before it goes down.
        ctx.sleep(Duration::from_secs(2))?;
        let until = Instant::now() + BOOT;
        let mut last = String::new();
        while Instant::now() < until {
            match super::running(ctx) {
                Ok(_) => return Ok(Ok(String::new())),
                Err(CheckError::Board(e)) => last = e,
                Err(e) => return Err(e),
            }
            ctx.sleep(Duration::from_secs(1))?;
        }
        return Ok(Err(last));
    }
    let decl = ctx.console_decl()?;
    let mut ends = vec![decl.prompt_pattern()];
    ends.extend(decl.login_pattern());
    let ends: Vec<&str> = ends.iter().map(String::as_str).collect();
    let console = ctx.console()?;
    match console.expect_any(&ends, BOOT) {
        Ok(found) => Ok(Ok(found.before)),
        Err(SerialError::Timeout { tail, .. }) => Ok(Err(tail)),
        Err(e) => Err(e.into()),
    }
}
