//! The debug-probe path: the image written in place, over the update slot
//! the board file names, through the GDB remote endpoint's memory writes
//! (OpenOCD, a J-Link GDB server, the simulated board), then the board
//! power-cycled. Only an image that fits the slot is written. A locked
//! debug port refuses the write; a device whose bootloader then finds no
//! valid image and halts refused the image (the golden one is written back
//! through the same port).

use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError};
use hilt_harness::board::ProbeUploadPath;
use hilt_harness::context::CheckContext;
use hilt_harness::transport::power::PowerAction;
use hilt_harness::CheckError;

use super::{Session, Stored, Updater, Upload};

pub(super) struct ProbeWrite(pub(super) ProbeUploadPath);

fn endpoint(ctx: &CheckContext) -> Result<String, CheckError> {
    ctx.board()
        .spec
        .hardware
        .debug
        .as_ref()
        .and_then(|d| d.gdb.as_ref().map(ToString::to_string))
        .ok_or_else(|| CheckError::Harness("no GDB endpoint wired (hardware.debug.gdb)".into()))
}

impl Updater for ProbeWrite {
    fn label(&self) -> String {
        format!("debug probe write at {:#x}", self.0.address)
    }

    fn in_place(&self) -> bool {
        true
    }

    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        _session: Session,
    ) -> Result<Upload, CheckError> {
        // A debug port has no session: a locked one refuses everyone.
        if image.len() as u64 > self.0.size {
            return Ok(Upload::Refused(format!(
                "the image ({} bytes) does not fit the declared slot ({} bytes); not written",
                image.len(),
                self.0.size
            )));
        }
        let endpoint = endpoint(ctx)?;
        let mut client = GdbClient::connect(&endpoint, GdbConfig::default())
            .map_err(|e| CheckError::Board(format!("debug server {endpoint}: {e}")))?;
        match client.write_memory(self.0.address, image) {
            Ok(()) => Ok(Upload::Taken(format!(
                "{} bytes written at {:#x}",
                image.len(),
                self.0.address
            ))),
            Err(e @ GdbError::MemoryWriteRefused { .. }) => Ok(Upload::Refused(format!(
                "the debug port refused the write: {e}"
            ))),
            Err(e) => Err(CheckError::Board(format!("debug server {endpoint}: {e}"))),
        }
    }

    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        if ctx.board().spec.declares.console.is_some() {
            // Keep the console open: the boot log is the bootloader's verdict.
            ctx.power_watching_console(PowerAction::Cycle)
        } else {
            ctx.power(PowerAction::Cycle)
        }
    }

    fn confirm(&self, _ctx: &mut CheckContext) -> Result<(), CheckError> {
        // Written in place, the image runs as the device's own: nothing
        // to confirm.
        Ok(())
    }

    fn discard(&self, _ctx: &mut CheckContext) -> Result<bool, CheckError> {
        Ok(false)
    }

    fn stored(&self, _ctx: &mut CheckContext) -> Result<Stored, CheckError> {
        Ok(Stored::Unknown)
    }
}
