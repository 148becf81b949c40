//! Update drivers. Every way a device takes an image (MCUmgr SMP over the
//! serial console or over UDP, an HTTP(S) upload, a console command that
//! takes the image in encoded chunks) is an [`Updater`]; every way to read
//! back which image runs (SMP `image state`, API fields, a console command)
//! is a [`RunningImage`]. Both are chosen from the board file
//! (`declares.update.paths`, `declares.update.read_back`); the update
//! checks call them and never know which path they drive.
//!
//! Strategies written once on top: [`attempt`] (an image through one path
//! as an authorized user, then the reboot and the read-back that judge it)
//! and [`restore`] (back to the golden image, through any path).

mod attempt;
mod boot;
mod console_upload;
mod http_upload;
mod probe;
mod read_back;
mod restore;
mod smp;

use hilt_harness::board::{ApiRef, Board, ReadBack, UpdatePath};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, CheckError};
use hilt_image::Image;
use sha2::{Digest, Sha256};

pub use attempt::{attempt, attempt_every_path, control_upload, Attempt};
pub(crate) use boot::{has_console, wait_for_boot};
pub use boot::{restart_and_wait, Boot};
pub use restore::restore;

/// Whether an upload is made as the declared, authorized user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Authorized,
    /// Without credentials: no login, no session, no authentication header.
    Unauthenticated,
}

/// What the device answered to an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// Every step was taken; what the device said.
    Taken(String),
    /// A step was refused; what the device said.
    Refused(String),
}

impl Upload {
    pub fn note(&self) -> &str {
        match self {
            Upload::Taken(s) | Upload::Refused(s) => s,
        }
    }

    pub fn taken(&self) -> bool {
        matches!(self, Upload::Taken(_))
    }
}

/// What waits in the update slot, as far as the path can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The path cannot show the update slot.
    Unknown,
    Empty,
    /// An image with this hash.
    Image(Vec<u8>),
}

/// One update path of the device.
pub trait Updater {
    /// How reports name the path (`SMP over serial`, `HTTP POST /fw`).
    fn label(&self) -> String;
    /// Hands `image` to the device and asks it to boot the image once at
    /// the next restart (a test boot), as `session`. The console is left
    /// at rest.
    fn upload(
        &self,
        ctx: &mut CheckContext,
        image: &[u8],
        session: Session,
    ) -> Result<Upload, CheckError>;
    /// Asks the device (authorized) to restart; does not wait for the boot.
    fn restart(&self, ctx: &mut CheckContext) -> Result<(), CheckError>;
    /// Confirms the running image after a test boot (authorized).
    fn confirm(&self, ctx: &mut CheckContext) -> Result<(), CheckError>;
    /// Empties the update slot without booting it; false when the path
    /// has no way to.
    fn discard(&self, ctx: &mut CheckContext) -> Result<bool, CheckError>;
    /// What waits in the update slot.
    fn stored(&self, ctx: &mut CheckContext) -> Result<Stored, CheckError>;
    /// Whether the image replaces the running one directly (no test boot):
    /// a device that then finds no valid image and halts refused it.
    fn in_place(&self) -> bool {
        false
    }
}

/// The running image as a read-back source reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub version: String,
    pub hash: Vec<u8>,
    /// Whether the image is confirmed (None: the source does not say).
    pub confirmed: Option<bool>,
}

impl Running {
    pub fn describe(&self) -> String {
        format!(
            "version {} hash {}{}",
            self.version,
            hex::encode(&self.hash),
            match self.confirmed {
                Some(true) => " (confirmed)",
                Some(false) => " (NOT confirmed: test boot)",
                None => "",
            }
        )
    }

    /// The same image as `other`, and not a test boot.
    pub fn same_confirmed(&self, other: &Running) -> bool {
        self.hash == other.hash && self.version == other.version && self.confirmed != Some(false)
    }
}

/// One way to read back which image runs.
pub trait RunningImage {
    fn label(&self) -> String;
    fn read(&self, ctx: &mut CheckContext) -> Result<Running, CheckError>;
}

/// Every declared update path, as drivers.
pub fn updaters(board: &Board) -> Vec<Box<dyn Updater>> {
    let Some(update) = &board.spec.declares.update else {
        return Vec::new();
    };
    update.all_paths().into_iter().filter_map(updater).collect()
}

/// The driver for one declared update path (None: no driver for it yet).
pub fn updater(path: UpdatePath) -> Option<Box<dyn Updater>> {
    match path {
        UpdatePath::SmpSerial => Some(Box::new(smp::SmpSerial)),
        UpdatePath::SmpUdp(udp) => Some(Box::new(smp::SmpUdp(udp.port))),
        UpdatePath::Http(http) => Some(Box::new(http_upload::HttpUpload(http))),
        UpdatePath::Console(console) => Some(Box::new(console_upload::ConsoleUpload(console))),
        UpdatePath::Probe(probe) => Some(Box::new(probe::ProbeWrite(probe))),
    }
}

/// The first declared read-back source, as a driver.
pub fn running_image(board: &Board) -> Option<Box<dyn RunningImage>> {
    let update = board.spec.declares.update.as_ref()?;
    let source = update.read_back_sources().into_iter().next()?;
    Some(match source {
        ReadBack::Smp => {
            let paths = update.all_paths();
            let udp = paths.iter().find_map(|p| match p {
                UpdatePath::SmpUdp(u) => Some(u.port),
                _ => None,
            });
            match udp {
                // The console carries SMP when both do: no network needed.
                Some(port) if !paths.contains(&UpdatePath::SmpSerial) => {
                    Box::new(smp::SmpState::Udp(port))
                }
                _ => Box::new(smp::SmpState::Serial),
            }
        }
        ReadBack::Http(http) => Box::new(read_back::HttpFields(http)),
        ReadBack::Console(console) => Box::new(read_back::ConsoleCommand(console)),
    })
}

/// Reads back which image runs.
pub fn running(ctx: &mut CheckContext) -> Result<Running, CheckError> {
    let source = running_image(ctx.board()).ok_or_else(|| {
        CheckError::Harness("no read-back source (applicability should have said)".into())
    })?;
    let running = source.read(ctx)?;
    // For the record's DUT identification: the version and image as read,
    // the first read of a trial being the image before it changed anything.
    ctx.observe_identity("firmware_version", &running.version);
    if running.hash.len() == 32 {
        let hash = hex::encode(&running.hash);
        ctx.observe_identity_once("image_sha256_before", &hash);
        ctx.observe_identity("image_sha256", &hash);
    }
    Ok(running)
}

/// Applicable when the device declares update paths hilt can drive with
/// what is wired, a read-back source and a golden image.
pub fn applicable(board: &Board) -> Applicability {
    let Some(update) = &board.spec.declares.update else {
        return Applicability::not_applicable(
            "the declaration names no update mechanism (declares.update)",
            &["declares.update"],
        );
    };
    if update.not_updatable() {
        return Applicability::not_applicable("the device declares it cannot be updated", &[]);
    }
    if update.golden.is_none() {
        return Applicability::not_applicable(
            "no golden image declared (declares.update.golden) to derive test images from",
            &["declares.update.golden"],
        );
    }
    // One missing field at a time, so the preview names what to add.
    for path in update.all_paths() {
        if let Some(na) = wiring_missing(board, &path) {
            return na;
        }
    }
    let read_back_missing = match update.read_back_sources().first() {
        None => Some(Applicability::not_applicable(
            "no read-back source declared (declares.update.read_back) to show which image runs",
            &["declares.update.read_back"],
        )),
        Some(ReadBack::Smp) => None,
        Some(ReadBack::Http(h)) => needs_http(board, "an HTTP read-back", h.api.as_ref()),
        Some(ReadBack::Console(_)) => needs_console(board, "a console read-back"),
    };
    if let Some(na) = read_back_missing {
        return na;
    }
    Applicability::Applicable
}

fn wiring_missing(board: &Board, path: &UpdatePath) -> Option<Applicability> {
    match path {
        UpdatePath::SmpSerial => needs_console(board, "SMP over serial"),
        UpdatePath::Console(_) => needs_console(board, "a console upload"),
        UpdatePath::SmpUdp(_) => board.spec.hardware.network.is_none().then(|| {
            Applicability::not_applicable(
                "SMP over UDP needs the network (hardware.network)",
                &["hardware.network.address"],
            )
        }),
        UpdatePath::Http(h) => needs_http(board, "an HTTP upload", h.api.as_ref()),
        UpdatePath::Probe(_) => {
            let hw = &board.spec.hardware;
            if hw.debug.as_ref().and_then(|d| d.gdb.as_ref()).is_none() {
                Some(Applicability::not_applicable(
                    "a probe update path writes through a GDB endpoint (hardware.debug.gdb)",
                    &["hardware.debug.gdb"],
                ))
            } else if hw.power.is_none() {
                Some(Applicability::not_applicable(
                    "a probe update path restarts the board by power (hardware.power)",
                    &["hardware.power"],
                ))
            } else {
                None
            }
        }
    }
}

fn needs_console(board: &Board, what: &str) -> Option<Applicability> {
    let why = format!("{what} needs the console (hardware.serial, declares.console)");
    if board.spec.hardware.serial.is_none() {
        return Some(Applicability::not_applicable(
            why,
            &["hardware.serial.port", "hardware.serial.tcp"],
        ));
    }
    if board.spec.declares.console.is_none() {
        return Some(Applicability::not_applicable(why, &["declares.console"]));
    }
    None
}

fn needs_http(board: &Board, what: &str, wanted: Option<&ApiRef>) -> Option<Applicability> {
    if board.spec.hardware.network.is_none() {
        return Some(Applicability::not_applicable(
            format!("{what} needs the network (hardware.network)"),
            &["hardware.network.address"],
        ));
    }
    let Some(api) = board.spec.api(wanted) else {
        return Some(Applicability::not_applicable(
            format!("{what} needs its API declared (declares.interfaces[].api)"),
            &["declares.interfaces[].api"],
        ));
    };
    if board.spec.api_account(&api).is_none() {
        return Some(Applicability::not_applicable(
            format!(
                "{what} needs an account to authenticate with on {}",
                api.label()
            ),
            &["declares.interfaces[].api.accounts"],
        ));
    }
    None
}

/// Runs one command line at the shell prompt (the console must be at it).
fn command(
    ctx: &mut CheckContext,
    decl: &hilt_harness::board::ConsoleDecl,
    line: &str,
) -> Result<String, CheckError> {
    let console = ctx.console()?;
    Ok(hilt_harness::driver::console::command(
        console,
        decl,
        line,
        crate::console::STEP,
    )?)
}

/// The declared golden image.
pub fn golden(ctx: &CheckContext) -> Result<Vec<u8>, CheckError> {
    let path = ctx
        .board()
        .spec
        .declares
        .update
        .as_ref()
        .and_then(|u| u.golden.clone())
        .ok_or_else(|| CheckError::Harness("no golden image declared".into()))?;
    let path = ctx.board().resolve_path(&path);
    std::fs::read(&path).map_err(|e| {
        CheckError::Harness(format!("cannot read golden image {}: {e}", path.display()))
    })
}

/// The hash a device reports for an image (MCUmgr `image state`, MCUboot):
/// SHA-256 over header, payload and protected TLVs, computed here (not
/// read from the image's own hash TLV, which a forgery may carry unchanged).
pub fn image_hash(image: &[u8]) -> Result<Vec<u8>, CheckError> {
    let parsed = Image::parse(image).map_err(|e| CheckError::Harness(format!("image: {e}")))?;
    image
        .get(parsed.hashed_range())
        .map(|b| Sha256::digest(b).to_vec())
        .ok_or_else(|| CheckError::Harness("image hash range out of bounds".into()))
}

/// The version in an image's header, `X.Y.Z`.
pub fn image_version(image: &[u8]) -> Result<String, CheckError> {
    let parsed = Image::parse(image).map_err(|e| CheckError::Harness(format!("image: {e}")))?;
    let v = parsed.header.version;
    Ok(format!("{}.{}.{}", v.major, v.minor, v.revision))
}
