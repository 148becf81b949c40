//! Captures of the board's own traffic: starting and finishing one (DP-01
//! and AU-05 capture while they drive the board).

use std::net::IpAddr;
use std::path::PathBuf;

use hilt_capture::{
    classify_file, host_filter, Capture, ClassifyOptions, Limits, NamedSecret, Report,
};
use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;

use crate::api;

/// Kernel ring of a board capture. One board's link carries what the
/// check provokes (logins, requests, telemetry: hundreds of packets, not
/// the 100k/s the capture crate's 8 MiB default is sized for), and the
/// ring is resident for as long as the capture runs: 8 MiB per board made
/// most of hilt's memory with a rack of 16 capturing at once. A ring that
/// still overflows is caught: a capture that lost packets proves nothing
/// ([`BoardCapture::finish`]).
const BOARD_RING_BYTES: u32 = 2 * 1024 * 1024;

/// A capture of one board's traffic, written to a folder of this trial's
/// own (boards run in parallel).
pub(crate) struct BoardCapture {
    capture: Capture,
    dir: PathBuf,
    savefile: PathBuf,
    pub(crate) address: IpAddr,
    pub(crate) interface: String,
    /// The capture interface as a link, to tell a silent board from a
    /// link that is down.
    link: hilt_net::Link,
}

impl BoardCapture {
    pub(crate) fn start(ctx: &CheckContext, purpose: &str) -> Result<Self, CheckError> {
        let network = ctx
            .board()
            .spec
            .hardware
            .network
            .clone()
            .ok_or_else(|| CheckError::Harness("no network".into()))?;
        let interface = network
            .capture_interface()
            .map(str::to_string)
            .ok_or_else(|| CheckError::Harness("no capture interface".into()))?;
        let link = hilt_net::Link::new(network.address, Some(interface.clone()), None)
            .map_err(|e| CheckError::Harness(format!("hardware.network: {e}")))?;
        link.ensure_up().map_err(api::net_fault)?;
        let dir = std::env::temp_dir().join(format!(
            "hilt-capture-{}-{}-{purpose}",
            std::process::id(),
            ctx.board().name()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| CheckError::Harness(format!("capture folder: {e}")))?;
        let savefile = dir.join(format!("{}.pcap", ctx.board().name()));
        let capture = Capture::start(
            &interface,
            &host_filter(network.address),
            &savefile,
            Limits {
                kernel_buffer: BOARD_RING_BYTES,
                ..Limits::default()
            },
        )
        .map_err(|e| capture_fault(&interface, e))?;
        Ok(BoardCapture {
            capture,
            dir,
            savefile,
            address: network.address,
            interface,
            link,
        })
    }

    /// Stops the capture, classifies it (looking for `secrets`), keeps the
    /// pcap as evidence under `name`, and removes the working folder.
    pub(crate) fn finish(
        self,
        ctx: &mut CheckContext,
        name: &str,
        description: &str,
        secrets: Vec<NamedSecret>,
    ) -> Result<(u64, Report), CheckError> {
        let stats = self
            .capture
            .stop()
            .map_err(|e| CheckError::Harness(format!("capture: {e}")))?;
        // What a link that went down did not carry proves nothing.
        self.link.ensure_up().map_err(api::net_fault)?;
        // Nor does a window with packets this host failed to keep: the
        // lost one may be the plaintext looked for.
        let lost = u64::from(stats.dropped_kernel) + u64::from(stats.dropped_interface);
        if lost > 0 {
            let _ = std::fs::remove_dir_all(&self.dir);
            return Err(CheckError::Harness(format!(
                "the capture on {} lost {lost} packets on this host (kernel ring full or interface drops): what they carried is unknown",
                self.interface
            )));
        }
        let report = classify_file(
            &self.savefile,
            &ClassifyOptions {
                secrets,
                ..ClassifyOptions::default()
            },
        )
        .map_err(|e| CheckError::Harness(format!("classifying the capture: {e}")))?;
        let pcap = std::fs::read(&self.savefile)
            .map_err(|e| CheckError::Harness(format!("reading the capture: {e}")))?;
        let _ = std::fs::remove_dir_all(&self.dir);
        ctx.evidence()
            .bytes(name, "application/vnd.tcpdump.pcap", description, pcap)?;
        Ok((stats.packets, report))
    }
}

/// A capture that cannot start on the board's link because the link is
/// down or gone is a fault of the board's wiring (INCONCLUSIVE); anything
/// else (permissions, a bad filter) is this host's (ERROR).
fn capture_fault(interface: &str, e: hilt_capture::CaptureError) -> CheckError {
    let sys = std::path::Path::new("/sys/class/net").join(interface);
    let state = std::fs::read_to_string(sys.join("operstate"))
        .map(|s| s.trim().to_string())
        .ok();
    match (&e, state.as_deref()) {
        (hilt_capture::CaptureError::Open { .. }, None) => CheckError::Board(format!(
            "the board's link {interface} does not exist (board gone or unplugged): {e}"
        )),
        (hilt_capture::CaptureError::Open { .. }, Some(s)) if s != "up" && s != "unknown" => {
            CheckError::Board(format!("the board's link {interface} is {s}: {e}"))
        }
        _ => CheckError::Harness(format!("capture on {interface}: {e}")),
    }
}

/// Applicable when the board's traffic can be captured (the link's
/// interface or a named capture interface).
pub fn needs_capture(board: &hilt_harness::board::Board) -> hilt_harness::Applicability {
    let wired = board
        .spec
        .hardware
        .network
        .as_ref()
        .and_then(|n| n.capture_interface())
        .is_some();
    if wired {
        hilt_harness::Applicability::Applicable
    } else {
        hilt_harness::Applicability::not_applicable(
            "no capture interface wired (hardware.network.interface or capture)",
            &["hardware.network.interface", "hardware.network.capture"],
        )
    }
}
