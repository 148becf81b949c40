//! USB debug probes through probe-rs: list probes, select one by
//! `VID:PID[:SERIAL]`, attach by chip name, read and write memory, flash
//! ELF/HEX/BIN images, reset, erase.
//!
//! probe-rs may panic on some targets and probes (the fake probe without a
//! mocked core, some chip sequences); every call into it here is wrapped
//! so a panic becomes [`ProbeError::Panicked`] instead of taking the run
//! down.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use probe_rs::architecture::arm::{ArmError, DapError};
use probe_rs::config::{Registry, RegistryError};
use probe_rs::flashing::{
    self, BinLoader, BinOptions, DownloadOptions, ElfLoader, ElfOptions, FlashLoader,
    FlashProgress, HexLoader,
};
use probe_rs::probe::list::Lister;
use probe_rs::probe::{
    DebugProbeError, DebugProbeInfo, DebugProbeSelector, Probe, ProbeCreationError,
};
use probe_rs::{MemoryInterface, Permissions, Session};

/// Suggestions offered for an unknown chip name.
const SUGGESTIONS: usize = 8;

/// Errors of the probe transport. Each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("bad probe selector {input:?}: {reason} (expected VID:PID or VID:PID:SERIAL, e.g. 1366:1015:000683000000)")]
    BadSelector { input: String, reason: String },
    #[error("unknown chip {name:?}{}", suggest(suggestions))]
    UnknownChip {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("chip name {name:?} matches several chips; name one of: {candidates}")]
    AmbiguousChip { name: String, candidates: String },
    #[error(
        "no debug probe found matching {selector}; attached probes: {}",
        list_or_none(attached)
    )]
    NoProbe {
        selector: String,
        attached: Vec<String>,
    },
    #[error("{count} debug probes match {selector}; add the serial number to choose one: {}", candidates.join(", "))]
    AmbiguousProbe {
        selector: String,
        count: usize,
        candidates: Vec<String>,
    },
    #[error("cannot open debug probe {probe}: {reason} (in use by another program, or no permission for the USB device?)")]
    Open {
        probe: String,
        reason: String,
        /// What probe-rs's typed error says (see [`port_state`]).
        state: PortState,
    },
    #[error("cannot attach to {chip} through {probe}: {reason} (check wiring, target power and that the chip name is right)")]
    Attach {
        probe: String,
        chip: String,
        reason: String,
        /// What probe-rs's typed error says (see [`port_state`]).
        state: PortState,
    },
    #[error("the chip has no core {0}")]
    NoCore(usize),
    #[error("cannot read {len} bytes at {addr:#x}: {reason}")]
    Read {
        addr: u64,
        len: usize,
        reason: String,
        /// What probe-rs's typed error says (see [`port_state`]).
        state: PortState,
    },
    #[error("cannot write {len} bytes at {addr:#x}: {reason}")]
    Write {
        addr: u64,
        len: usize,
        reason: String,
    },
    #[error("cannot load image {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("cannot flash image {path}: {reason}")]
    Flash { path: PathBuf, reason: String },
    #[error("cannot tell the image format of {0} from its name; say elf, hex or bin")]
    UnknownFormat(PathBuf),
    #[error("reset failed: {0}")]
    Reset(String),
    #[error("erase failed: {0}")]
    Erase(String),
    #[error("probe-rs panicked during {operation}: {message} (a probe-rs limitation for this probe or chip)")]
    Panicked { operation: String, message: String },
}

/// What a probe-rs error says about the debug port, read from the error's
/// type (and the types in its `source()` chain), never from its text: no
/// wording in an error message can make a port look locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    /// The chip's debug access is locked and probe-rs needs permission to
    /// erase the chip to go on (nRF APPROTECT, the SAM security bit):
    /// `ArmError::MissingPermissions` (as `Error::Arm`) or
    /// `Error::MissingPermissions`. `permission` is what it asked for
    /// (`erase_all`).
    Locked { permission: String },
    /// The target answered a memory access with a FAULT
    /// (`DapError::FaultResponse`): the bus refused it.
    AccessFault,
    /// No such probe (`ProbeCreationError::NotFound`).
    NoProbe,
    /// The probe, or the host's USB, could not be reached: the other
    /// `ProbeCreationError`s (in use, USB permissions, and `Usb` on a host
    /// with no USB bus at all, such as a container without
    /// `/sys/bus/usb/devices`).
    ProbeUnavailable,
    /// The probe works but nothing answers on the wire
    /// (`ArmError::NoTargetResponse`, `DebugProbeError::TargetNotFound`,
    /// `DapError::NoAcknowledge`): the target is off, not wired, or its
    /// debug port is disabled for good (an STM32 at readout protection
    /// level 2 looks exactly like this).
    NoTargetResponse,
    /// Nothing the types tell; proves nothing about the port.
    Unknown,
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortState::Locked { permission } => {
                write!(f, "locked (probe-rs needs the {permission} permission)")
            }
            PortState::AccessFault => f.write_str("access refused with a FAULT response"),
            PortState::NoProbe => f.write_str("no such probe"),
            PortState::ProbeUnavailable => f.write_str("probe or USB unreachable"),
            PortState::NoTargetResponse => f.write_str("no target response"),
            PortState::Unknown => f.write_str("not a debug-port state"),
        }
    }
}

/// Classifies a probe-rs error (any error: `probe_rs::Error`,
/// `ArmError`, `DebugProbeError`, ...) by walking its `source()` chain and
/// matching the first type that says something. Pure; unit-tested with
/// constructed errors.
pub fn port_state(error: &(dyn std::error::Error + 'static)) -> PortState {
    let mut next = Some(error);
    // The chain is finite in probe-rs; the bound keeps a cyclic one finite.
    for _ in 0..32 {
        let Some(e) = next else { break };
        if let Some(state) = state_of(e) {
            return state;
        }
        next = e.source();
    }
    PortState::Unknown
}

fn state_of(e: &(dyn std::error::Error + 'static)) -> Option<PortState> {
    if let Some(e) = e.downcast_ref::<probe_rs::Error>() {
        return match e {
            probe_rs::Error::MissingPermissions(p) => Some(PortState::Locked {
                permission: p.clone(),
            }),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<ArmError>() {
        return match e {
            ArmError::MissingPermissions(p) => Some(PortState::Locked {
                permission: p.clone(),
            }),
            ArmError::NoTargetResponse { .. } => Some(PortState::NoTargetResponse),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<DebugProbeError>() {
        return match e {
            DebugProbeError::ProbeCouldNotBeCreated(c) => Some(creation_state(c)),
            DebugProbeError::TargetNotFound => Some(PortState::NoTargetResponse),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<ProbeCreationError>() {
        return Some(creation_state(e));
    }
    if let Some(e) = e.downcast_ref::<DapError>() {
        return match e {
            DapError::FaultResponse => Some(PortState::AccessFault),
            DapError::NoAcknowledge => Some(PortState::NoTargetResponse),
            _ => None,
        };
    }
    None
}

fn creation_state(e: &ProbeCreationError) -> PortState {
    match e {
        ProbeCreationError::NotFound => PortState::NoProbe,
        _ => PortState::ProbeUnavailable,
    }
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        "; no similar chip names are known to probe-rs".into()
    } else {
        format!("; did you mean: {}?", names.join(", "))
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Runs `f`, turning a panic into [`ProbeError::Panicked`].
fn guarded<T>(operation: &str, f: impl FnOnce() -> Result<T, ProbeError>) -> Result<T, ProbeError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(ProbeError::Panicked {
                operation: operation.into(),
                message,
            })
        }
    }
}

/// Which probe to use: USB vendor and product id, and optionally the
/// serial number (needed when several probes of one kind are attached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSelector {
    pub vendor_id: u16,
    pub product_id: u16,
    pub serial: Option<String>,
}

impl ProbeSelector {
    /// Whether a listed probe is the one meant.
    pub fn matches(&self, probe: &ProbeSummary) -> bool {
        probe.vendor_id == self.vendor_id
            && probe.product_id == self.product_id
            && self
                .serial
                .as_deref()
                .is_none_or(|s| probe.serial.as_deref() == Some(s))
    }
}

impl fmt::Display for ProbeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor_id, self.product_id)?;
        if let Some(serial) = &self.serial {
            write!(f, ":{serial}")?;
        }
        Ok(())
    }
}

impl FromStr for ProbeSelector {
    type Err = ProbeError;

    /// Parses `VID:PID` or `VID:PID:SERIAL`; ids are hex (`1366`, `0x1366`).
    /// The serial is everything after the second colon.
    fn from_str(input: &str) -> Result<Self, ProbeError> {
        let bad = |reason: String| ProbeError::BadSelector {
            input: input.into(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let mut parts = trimmed.splitn(3, ':');
        let vid = parts.next().unwrap_or_default();
        let Some(pid) = parts.next() else {
            return Err(bad("no product id (missing ':')".into()));
        };
        let serial = parts.next();
        let parse_id = |what: &str, text: &str| -> Result<u16, ProbeError> {
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .unwrap_or(text);
            if digits.is_empty() {
                return Err(bad(format!("the {what} is empty")));
            }
            if digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "the {what} {text:?} is not a 16-bit hex number"
                )));
            }
            u16::from_str_radix(digits, 16).map_err(|e| bad(format!("the {what} {text:?}: {e}")))
        };
        let vendor_id = parse_id("vendor id", vid)?;
        let product_id = parse_id("product id", pid)?;
        let serial = match serial {
            None => None,
            Some("") => return Err(bad("the serial number after the second ':' is empty".into())),
            Some(s) if s.chars().any(|c| c.is_control() || c.is_whitespace()) => {
                return Err(bad(format!(
                    "the serial number {s:?} contains spaces or control characters"
                )))
            }
            Some(s) => Some(s.to_string()),
        };
        Ok(Self {
            vendor_id,
            product_id,
            serial,
        })
    }
}

/// A probe attached to this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSummary {
    /// probe-rs's name for it ("J-Link", "STLink V3", ...).
    pub name: String,
    pub vendor_id: u16,
    pub product_id: u16,
    pub serial: Option<String>,
}

impl ProbeSummary {
    /// `VID:PID[:SERIAL]`, as a board file would name it.
    pub fn selector(&self) -> String {
        ProbeSelector {
            vendor_id: self.vendor_id,
            product_id: self.product_id,
            serial: self.serial.clone(),
        }
        .to_string()
    }
}

impl fmt::Display for ProbeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.selector(), self.name)
    }
}

impl From<&DebugProbeInfo> for ProbeSummary {
    fn from(info: &DebugProbeInfo) -> Self {
        Self {
            name: info.identifier.clone(),
            vendor_id: info.vendor_id,
            product_id: info.product_id,
            serial: info.serial_number.clone(),
        }
    }
}

fn list_infos() -> Result<Vec<DebugProbeInfo>, ProbeError> {
    guarded("listing probes", || Ok(Lister::new().list_all()))
}

/// The probes attached to this host (empty, not an error, when there are
/// none).
pub fn list_probes() -> Result<Vec<ProbeSummary>, ProbeError> {
    Ok(list_infos()?.iter().map(ProbeSummary::from).collect())
}

/// Checks a chip name against probe-rs's built-in registry. Returns the
/// registry's name for it. Unknown names get close matches.
pub fn resolve_chip(name: &str) -> Result<String, ProbeError> {
    guarded("looking up the chip", || {
        let registry = Registry::from_builtin_families();
        resolve_in(&registry, name)
    })
}

fn resolve_in(registry: &Registry, name: &str) -> Result<String, ProbeError> {
    match registry.get_target_by_name(name) {
        Ok(target) => Ok(target.name),
        Err(RegistryError::ChipNotUnique(_, candidates)) => Err(ProbeError::AmbiguousChip {
            name: name.into(),
            candidates,
        }),
        Err(_) => Err(ProbeError::UnknownChip {
            name: name.into(),
            suggestions: close_matches(registry, name),
        }),
    }
}

/// Chip names like `name`: those starting with it, else those within a
/// small edit distance, else those sharing the longest prefix.
fn close_matches(registry: &Registry, name: &str) -> Vec<String> {
    let query = name.trim().to_ascii_lowercase();
    if query.is_empty() {
        return Vec::new();
    }
    let names: Vec<&String> = registry
        .families()
        .iter()
        .flat_map(|family| family.variants.iter())
        .flat_map(|chip| chip.package_variants())
        .collect();
    let mut prefixed: Vec<String> = names
        .iter()
        .filter(|n| n.to_ascii_lowercase().starts_with(&query))
        .map(|n| n.to_string())
        .collect();
    if !prefixed.is_empty() {
        prefixed.sort();
        prefixed.dedup();
        prefixed.truncate(SUGGESTIONS);
        return prefixed;
    }
    let limit = (query.len() / 4).max(2);
    let mut near: Vec<(usize, String)> = names
        .iter()
        .filter_map(|n| {
            let d = edit_distance(&query, &n.to_ascii_lowercase());
            (d <= limit).then(|| (d, n.to_string()))
        })
        .collect();
    if near.is_empty() {
        // Fall back to the longest shared prefix (at least 4 characters).
        let shared = |n: &str| {
            query
                .bytes()
                .zip(n.to_ascii_lowercase().bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = names.iter().map(|n| shared(n)).max().unwrap_or(0);
        if best < 4 {
            return Vec::new();
        }
        near = names
            .iter()
            .filter(|n| shared(n) == best)
            .map(|n| (0, n.to_string()))
            .collect();
    }
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter().take(SUGGESTIONS).map(|(_, n)| n).collect()
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// How to attach.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Hold reset while connecting (for chips whose firmware disables the
    /// debug pins or sleeps).
    pub under_reset: bool,
    /// SWD/JTAG clock in kHz (the probe's default if None).
    pub speed_khz: Option<u32>,
    /// Allow a mass erase (needed by [`ProbeSession::erase_all`] and to
    /// unlock protected chips).
    pub allow_erase_all: bool,
}

/// Opens the probe `selector` names and attaches to `chip`. The chip name
/// is checked first, so a typo is reported even with no probe attached.
pub fn attach(
    selector: &ProbeSelector,
    chip: &str,
    options: &AttachOptions,
) -> Result<ProbeSession, ProbeError> {
    let registry = guarded("loading the chip registry", || {
        Ok(Registry::from_builtin_families())
    })?;
    let chip = guarded("looking up the chip", || resolve_in(&registry, chip))?;
    let infos = list_infos()?;
    let matching: Vec<&DebugProbeInfo> = infos
        .iter()
        .filter(|info| selector.matches(&ProbeSummary::from(*info)))
        .collect();
    let info = match matching.as_slice() {
        [] => {
            return Err(ProbeError::NoProbe {
                selector: selector.to_string(),
                attached: infos
                    .iter()
                    .map(|i| ProbeSummary::from(i).to_string())
                    .collect(),
            })
        }
        [one] => *one,
        many => {
            return Err(ProbeError::AmbiguousProbe {
                selector: selector.to_string(),
                count: many.len(),
                candidates: many
                    .iter()
                    .map(|i| ProbeSummary::from(*i).selector())
                    .collect(),
            })
        }
    };
    let label = ProbeSummary::from(info).to_string();
    let mut probe = guarded("opening the probe", || {
        info.open().map_err(|e| ProbeError::Open {
            probe: label.clone(),
            reason: e.to_string(),
            state: port_state(&e),
        })
    })?;
    if let Some(khz) = options.speed_khz {
        guarded("setting the probe speed", || {
            probe
                .set_speed(khz)
                .map(|_| ())
                .map_err(|e| ProbeError::Open {
                    probe: label.clone(),
                    reason: format!("cannot set {khz} kHz: {e}"),
                    state: port_state(&e),
                })
        })?;
    }
    attach_with(probe, &label, &chip, &registry, options)
}

/// Opens a probe through probe-rs's own lister (no listing of ours
/// first), so a missing probe comes back as probe-rs's typed error
/// (`ProbeCreationError::NotFound`, [`PortState::NoProbe`]).
pub fn open(selector: &ProbeSelector) -> Result<Probe, ProbeError> {
    let wanted = DebugProbeSelector {
        vendor_id: selector.vendor_id,
        product_id: selector.product_id,
        interface: None,
        serial_number: selector.serial.clone(),
    };
    guarded("opening the probe", || {
        Lister::new().open(wanted).map_err(|e| ProbeError::Open {
            probe: selector.to_string(),
            reason: e.to_string(),
            state: port_state(&e),
        })
    })
}

/// Attaches an already open probe (probe-rs's `FakeProbe` in tests, or a
/// probe opened some other way) to `chip`.
pub fn attach_probe(
    probe: Probe,
    chip: &str,
    options: &AttachOptions,
) -> Result<ProbeSession, ProbeError> {
    let registry = guarded("loading the chip registry", || {
        Ok(Registry::from_builtin_families())
    })?;
    let chip = guarded("looking up the chip", || resolve_in(&registry, chip))?;
    let label = probe.get_name();
    attach_with(probe, &label, &chip, &registry, options)
}

fn attach_with(
    probe: Probe,
    label: &str,
    chip: &str,
    registry: &Registry,
    options: &AttachOptions,
) -> Result<ProbeSession, ProbeError> {
    let permissions = if options.allow_erase_all {
        Permissions::new().allow_erase_all()
    } else {
        Permissions::new()
    };
    let session = guarded("attaching", || {
        let result = if options.under_reset {
            probe.attach_under_reset_with_registry(chip, permissions, registry)
        } else {
            probe.attach_with_registry(chip, permissions, registry)
        };
        result.map_err(|e| ProbeError::Attach {
            probe: label.into(),
            chip: chip.into(),
            reason: e.to_string(),
            state: port_state(&e),
        })
    })?;
    Ok(ProbeSession {
        session,
        chip: chip.into(),
        probe: label.into(),
    })
}

/// Image formats probe-rs can flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFormat {
    Elf,
    /// Intel HEX.
    Hex,
    /// A raw binary placed at `base_address`, after skipping `skip` bytes
    /// of the file.
    Bin {
        base_address: u64,
        skip: u32,
    },
}

impl ImageFormat {
    /// The format by file extension (`.elf`/`.axf`/no extension → ELF,
    /// `.hex`/`.ihex` → HEX). Raw binaries need a base address, so `.bin`
    /// gives None: use [`ImageFormat::Bin`].
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("elf" | "axf" | "out") | None => Some(ImageFormat::Elf),
            Some("hex" | "ihex") => Some(ImageFormat::Hex),
            _ => None,
        }
    }
}

/// What a flash loader holds: contiguous blocks of image data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// (address, length) of each block, ascending.
    pub blocks: Vec<(u64, usize)>,
}

impl LoadedImage {
    /// Total bytes.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// An attached chip.
pub struct ProbeSession {
    session: Session,
    chip: String,
    probe: String,
}

impl fmt::Debug for ProbeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSession")
            .field("chip", &self.chip)
            .field("probe", &self.probe)
            .finish()
    }
}

impl ProbeSession {
    /// The chip as probe-rs names it.
    pub fn chip(&self) -> &str {
        &self.chip
    }

    /// The probe's name.
    pub fn probe(&self) -> &str {
        &self.probe
    }

    /// probe-rs's session, for what this wrapper does not cover.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Reads `len` bytes at `addr` through core 0.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, ProbeError> {
        let session = &mut self.session;
        guarded("reading memory", || {
            let mut core = session.core(0).map_err(|_| ProbeError::NoCore(0))?;
            let mut buf = vec![0u8; len];
            core.read(addr, &mut buf).map_err(|e| ProbeError::Read {
                addr,
                len,
                reason: e.to_string(),
                state: port_state(&e),
            })?;
            Ok(buf)
        })
    }

    /// Writes bytes at `addr` through core 0 (RAM and peripherals; flash
    /// needs [`flash`](Self::flash)).
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), ProbeError> {
        let session = &mut self.session;
        guarded("writing memory", || {
            let mut core = session.core(0).map_err(|_| ProbeError::NoCore(0))?;
            core.write(addr, data).map_err(|e| ProbeError::Write {
                addr,
                len: data.len(),
                reason: e.to_string(),
            })
        })
    }

    /// Resets core 0 and lets it run.
    pub fn reset(&mut self) -> Result<(), ProbeError> {
        let session = &mut self.session;
        guarded("reset", || {
            let mut core = session.core(0).map_err(|_| ProbeError::NoCore(0))?;
            core.reset().map_err(|e| ProbeError::Reset(e.to_string()))
        })
    }

    /// Resets core 0 and halts it at the reset vector.
    pub fn reset_and_halt(&mut self, timeout: Duration) -> Result<(), ProbeError> {
        let session = &mut self.session;
        guarded("reset and halt", || {
            let mut core = session.core(0).map_err(|_| ProbeError::NoCore(0))?;
            core.reset_and_halt(timeout)
                .map(|_| ())
                .map_err(|e| ProbeError::Reset(e.to_string()))
        })
    }

    /// Parses an image into a flash loader for this chip, without writing
    /// anything: shows what [`flash`](Self::flash) would write.
    pub fn load(&mut self, path: &Path, format: &ImageFormat) -> Result<LoadedImage, ProbeError> {
        let loader = self.build_loader(path, format)?;
        Ok(summarise(&loader))
    }

    fn build_loader(
        &mut self,
        path: &Path,
        format: &ImageFormat,
    ) -> Result<FlashLoader, ProbeError> {
        let session = &mut self.session;
        let load_err = |reason: String| ProbeError::Load {
            path: path.to_path_buf(),
            reason,
        };
        guarded("loading the image", || {
            let result = match format {
                ImageFormat::Elf => {
                    flashing::build_loader(session, path, ElfLoader(ElfOptions::default()), None)
                }
                ImageFormat::Hex => flashing::build_loader(session, path, HexLoader, None),
                ImageFormat::Bin { base_address, skip } => flashing::build_loader(
                    session,
                    path,
                    BinLoader(BinOptions {
                        base_address: Some(*base_address),
                        skip: *skip,
                    }),
                    None,
                ),
            };
            result.map_err(|e| load_err(e.to_string()))
        })
    }

    /// Writes an image to flash (erasing the sectors it covers) and, with
    /// `verify`, reads it back.
    pub fn flash(
        &mut self,
        path: &Path,
        format: &ImageFormat,
        verify: bool,
    ) -> Result<LoadedImage, ProbeError> {
        let loader = self.build_loader(path, format)?;
        let summary = summarise(&loader);
        let session = &mut self.session;
        guarded("flashing", || {
            let mut options = DownloadOptions::new();
            options.verify = verify;
            loader
                .commit(session, options)
                .map_err(|e| ProbeError::Flash {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
        })?;
        Ok(summary)
    }

    /// Erases the whole chip (needs [`AttachOptions::allow_erase_all`]).
    pub fn erase_all(&mut self) -> Result<(), ProbeError> {
        let session = &mut self.session;
        guarded("erasing", || {
            flashing::erase_all(session, &mut FlashProgress::empty(), false)
                .map_err(|e| ProbeError::Erase(e.to_string()))
        })
    }
}

fn summarise(loader: &FlashLoader) -> LoadedImage {
    let mut blocks: Vec<(u64, usize)> = loader.data().map(|(a, d)| (a, d.len())).collect();
    blocks.sort();
    LoadedImage { blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    use probe_rs::architecture::arm::DapError;

    #[test]
    fn port_state_reads_types_not_words() {
        let locked = probe_rs::Error::Arm(ArmError::MissingPermissions("erase_all".into()));
        assert_eq!(
            port_state(&locked),
            PortState::Locked {
                permission: "erase_all".into()
            }
        );
        let locked = probe_rs::Error::MissingPermissions("erase_all".into());
        assert!(matches!(port_state(&locked), PortState::Locked { .. }));
        let missing = probe_rs::Error::Probe(DebugProbeError::ProbeCouldNotBeCreated(
            ProbeCreationError::NotFound,
        ));
        assert_eq!(port_state(&missing), PortState::NoProbe);
        let busy = DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::CouldNotOpen);
        assert_eq!(port_state(&busy), PortState::ProbeUnavailable);
        let dead = probe_rs::Error::Arm(ArmError::NoTargetResponse {
            source: Box::new(ArmError::Dap(DapError::NoAcknowledge)),
        });
        assert_eq!(port_state(&dead), PortState::NoTargetResponse);
        let wiring = probe_rs::Error::Probe(DebugProbeError::TargetNotFound);
        assert_eq!(port_state(&wiring), PortState::NoTargetResponse);
        // A probe error inside an ARM error.
        let nested = probe_rs::Error::Arm(ArmError::Probe(
            DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound),
        ));
        assert_eq!(port_state(&nested), PortState::NoProbe);
        let fault = probe_rs::Error::Arm(ArmError::Dap(DapError::FaultResponse));
        assert_eq!(port_state(&fault), PortState::AccessFault);
        // Words that sound like a lock are not a lock.
        for text in [
            "device is locked",
            "APPROTECT enabled",
            "readout protection",
            "access port is disabled",
        ] {
            let e = probe_rs::Error::Other(text.into());
            assert_eq!(port_state(&e), PortState::Unknown, "{text}");
            let e = probe_rs::Error::Arm(ArmError::Other(text.into()));
            assert_eq!(port_state(&e), PortState::Unknown, "{text}");
            let e = DebugProbeError::Other(text.into());
            assert_eq!(port_state(&e), PortState::Unknown, "{text}");
        }
        assert_eq!(port_state(&probe_rs::Error::Timeout), PortState::Unknown);
        assert_eq!(
            port_state(&std::io::Error::other("erase_all")),
            PortState::Unknown
        );
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("stm32f103c8", "stm32f103c8"), 0);
        assert_eq!(edit_distance("stm32f130c8", "stm32f103c8"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
