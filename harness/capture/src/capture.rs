//! Live capture into a pcap savefile on a background thread.
//!
//! libpcap 1.10 in blocking mode never returns from a read on an idle
//! link (even with a timeout and immediate mode), so the handle is put in
//! non-blocking mode and the thread waits in `poll(2)` on its selectable
//! descriptor for at most [`POLL`] at a time, re-checking the stop flag,
//! the deadline and the caps between waits.
//!
//! Immediate mode is off on purpose: with it, Linux libpcap uses a
//! TPACKET_V2 ring of fixed snaplen-sized slots (32 slots for an 8 MiB
//! buffer and a 256 KiB snaplen), which lost 1% at 10k packets/s and 60%
//! at 100k on loopback; TPACKET_V3's packed blocks lost nothing at 100k.
//! The price is latency: a partly filled block reaches us after [`POLL`],
//! so [`Capture::stop`] waits until nothing came for [`QUIET`].

use std::net::IpAddr;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Longest wait in `poll(2)` before the loop looks at its stop flag again;
/// this bounds how long [`Capture::stop`] takes on an idle link.
pub const POLL: Duration = Duration::from_millis(20);
/// After a stop is requested, packets already queued in the kernel are
/// still written, for at most this long...
const DRAIN: Duration = Duration::from_millis(500);
/// ...and until nothing came for this long (the kernel hands a partly
/// filled ring block over after [`POLL`]).
const QUIET: Duration = Duration::from_millis(60);
/// Size of a savefile's global header and of each record header.
const FILE_HEADER: u64 = 24;
const RECORD_HEADER: u64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot capture on interface {interface:?}: {reason}{hint}")]
    Open {
        interface: String,
        reason: String,
        /// What to do about it (starts with "; " when present).
        hint: String,
    },
    #[error("BPF filter {filter:?} does not compile: {reason}")]
    Filter { filter: String, reason: String },
    #[error("cannot write savefile {path}: {reason}")]
    Savefile { path: PathBuf, reason: String },
    #[error("capture limits are unusable: {0}")]
    Limits(String),
    #[error("capture thread failed: {0}")]
    Thread(String),
}

/// Bounds of one capture. Every capture ends by itself when one is reached.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Bytes kept of each packet (libpcap's snapshot length).
    pub snaplen: u32,
    /// Packets written to the savefile at most.
    pub max_packets: u64,
    /// Savefile size at most, headers included.
    pub max_bytes: u64,
    /// Capture time at most (`None`: until [`Capture::stop`] or a cap).
    pub max_duration: Option<Duration>,
    /// Kernel ring buffer size in bytes (a larger one drops less under bursts).
    pub kernel_buffer: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            snaplen: 262_144,
            max_packets: 1_000_000,
            max_bytes: 256 * 1024 * 1024,
            max_duration: None,
            kernel_buffer: 8 * 1024 * 1024,
        }
    }
}

/// Why a capture ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Ended {
    /// [`Capture::stop`] was called (or the handle dropped).
    Stopped,
    /// [`Limits::max_packets`] were written.
    PacketLimit,
    /// The next packet would have made the savefile exceed [`Limits::max_bytes`].
    ByteLimit,
    /// [`Limits::max_duration`] passed.
    Duration,
    /// libpcap or the savefile failed (interface gone, disk full); what was
    /// written before is still a valid savefile.
    Failed(String),
}

/// What one capture did.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureStats {
    pub interface: String,
    pub filter: String,
    pub savefile: PathBuf,
    /// Packets written to the savefile (what tshark counts in it).
    pub packets: u64,
    /// Captured bytes written (sum of captured lengths, headers excluded).
    pub bytes: u64,
    /// Sum of the packets' lengths on the wire.
    pub wire_bytes: u64,
    /// Packets cut to the snapshot length.
    pub truncated: u64,
    /// Packets libpcap handed over that were not written because a cap was reached.
    pub not_saved: u64,
    /// Packets that passed the filter, as `pcap_stats` reports them.
    pub received: u32,
    /// Packets the kernel dropped because the ring buffer was full (`ps_drop`).
    pub dropped_kernel: u32,
    /// Packets the interface or its driver dropped (`ps_ifdrop`).
    pub dropped_interface: u32,
    /// Why the capture ended.
    pub ended: Ended,
    /// From start to the end of capturing.
    pub duration_ms: u64,
}

/// A running capture. Dropping it stops it and closes the savefile.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<CaptureStats>>,
    savefile: PathBuf,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("savefile", &self.savefile)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A BPF filter selecting the traffic of one host (`host 198.18.0.2`).
pub fn host_filter(addr: IpAddr) -> String {
    format!("host {addr}")
}

/// A BPF filter selecting the traffic of any of several hosts.
pub fn hosts_filter(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| host_filter(*a))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Checks that a filter compiles (for Ethernet links), without capturing.
pub fn check_filter(filter: &str) -> Result<(), CaptureError> {
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| CaptureError::Filter {
        filter: filter.into(),
        reason: e.to_string(),
    })?;
    dead.compile(filter, true)
        .map(|_| ())
        .map_err(|e| CaptureError::Filter {
            filter: filter.into(),
            reason: e.to_string(),
        })
}

fn open_error(interface: &str, err: pcap::Error) -> CaptureError {
    let reason = err.to_string();
    let lower = reason.to_ascii_lowercase();
    let hint = if lower.contains("permit") || lower.contains("permission") {
        "; capturing needs root, or CAP_NET_RAW and CAP_NET_ADMIN on the binary \
         (setcap cap_net_raw,cap_net_admin=eip <hilt>)"
            .to_string()
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        let names: Vec<String> = pcap::Device::list()
            .map(|l| l.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        format!(
            "; check the board file's capture interface (devices here: {})",
            names.join(", ")
        )
    } else if lower.contains("not up") || lower.contains("went down") {
        "; bring the interface up (ip link set <if> up)".to_string()
    } else {
        String::new()
    };
    CaptureError::Open {
        interface: interface.into(),
        reason,
        hint,
    }
}

impl Capture {
    /// Starts capturing on `interface`, keeping only packets matching
    /// `bpf_filter` (empty: everything), into a new pcap savefile at
    /// `savefile` (overwritten if it exists). Returns once the capture is
    /// active, so traffic sent afterwards is seen.
    pub fn start(
        interface: &str,
        bpf_filter: &str,
        savefile: &Path,
        limits: Limits,
    ) -> Result<Self, CaptureError> {
        if limits.snaplen == 0 || limits.snaplen > 262_144 {
            return Err(CaptureError::Limits(format!(
                "snaplen {} is outside 1..=262144",
                limits.snaplen
            )));
        }
        if limits.max_packets == 0 || limits.max_bytes <= FILE_HEADER {
            return Err(CaptureError::Limits(
                "max_packets must be at least 1 and max_bytes more than 24".into(),
            ));
        }
        let Some(path_str) = savefile.to_str() else {
            return Err(CaptureError::Savefile {
                path: savefile.into(),
                reason: "the path is not valid UTF-8 (libpcap needs a C string)".into(),
            });
        };
        // libpcap takes "-" to mean standard output.
        let path_str = if path_str == "-" { "./-" } else { path_str };
        let buffer = i32::try_from(limits.kernel_buffer.max(65_536)).unwrap_or(i32::MAX);
        let cap = pcap::Capture::from_device(interface)
            .map_err(|e| open_error(interface, e))?
            .snaplen(limits.snaplen as i32)
            .promisc(false)
            .immediate_mode(false)
            .timeout(POLL.as_millis() as i32)
            .buffer_size(buffer)
            .open()
            .map_err(|e| open_error(interface, e))?;
        let mut cap = cap.setnonblock().map_err(|e| open_error(interface, e))?;
        if !bpf_filter.trim().is_empty() {
            cap.filter(bpf_filter, true)
                .map_err(|e| CaptureError::Filter {
                    filter: bpf_filter.into(),
                    reason: e.to_string(),
                })?;
        }
        let save = cap.savefile(path_str).map_err(|e| CaptureError::Savefile {
            path: savefile.into(),
            reason: e.to_string(),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            cap,
            save,
            limits,
            stop: stop.clone(),
            stats: CaptureStats {
                interface: interface.into(),
                filter: bpf_filter.into(),
                savefile: savefile.into(),
                packets: 0,
                bytes: 0,
                wire_bytes: 0,
                truncated: 0,
                not_saved: 0,
                received: 0,
                dropped_kernel: 0,
                dropped_interface: 0,
                ended: Ended::Stopped,
                duration_ms: 0,
            },
        };
        let thread = std::thread::Builder::new()
            .name(format!("hilt-capture-{interface}"))
            .spawn(move || worker.run())
            .map_err(|e| CaptureError::Thread(e.to_string()))?;
        Ok(Self {
            stop,
            thread: Some(thread),
            savefile: savefile.into(),
        })
    }

    /// The savefile being written.
    pub fn savefile(&self) -> &Path {
        &self.savefile
    }

    /// True once the capture ended by itself (a cap was reached or it failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops capturing (packets already queued in the kernel are still
    /// written), closes the savefile and returns the statistics.
    pub fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<CaptureStats, CaptureError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| CaptureError::Thread("the capture thread panicked".into())),
            None => Err(CaptureError::Thread(
                "the capture was already stopped".into(),
            )),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

struct Worker {
    cap: pcap::Capture<pcap::Active>,
    save: pcap::Savefile,
    limits: Limits,
    stop: Arc<AtomicBool>,
    stats: CaptureStats,
}

enum Step {
    Wrote,
    Idle,
    End(Ended),
}

impl Worker {
    fn run(mut self) -> CaptureStats {
        let started = Instant::now();
        let deadline = self.limits.max_duration.map(|d| started + d);
        let mut dirty = false;
        let mut ended = loop {
            if self.stop.load(Ordering::SeqCst) {
                break self.drain();
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Ended::Duration;
            }
            match self.step() {
                Step::Wrote => dirty = true,
                Step::Idle => {
                    if dirty {
                        if let Err(e) = self.save.flush() {
                            break Ended::Failed(format!("savefile flush failed: {e}"));
                        }
                        dirty = false;
                    }
                    self.wait();
                }
                Step::End(why) => break why,
            }
        };
        self.stats.duration_ms = started.elapsed().as_millis() as u64;
        if let Ok(s) = self.cap.stats() {
            self.stats.received = s.received;
            self.stats.dropped_kernel = s.dropped;
            self.stats.dropped_interface = s.if_dropped;
        }
        if let Err(e) = self.save.flush() {
            if !matches!(ended, Ended::Failed(_)) {
                ended = Ended::Failed(format!("savefile flush failed: {e}"));
            }
        }
        self.stats.ended = ended;
        // Dropping `save` closes the savefile (pcap_dump_close).
        self.stats
    }

    /// Reads and writes one packet, if one is ready.
    fn step(&mut self) -> Step {
        let (caplen, len, ready) = match self.cap.next_packet() {
            Ok(p) => {
                let caplen = p.header.caplen as u64;
                let record = RECORD_HEADER + caplen;
                let written = FILE_HEADER + self.stats.bytes + RECORD_HEADER * self.stats.packets;
                if written + record > self.limits.max_bytes {
                    self.stats.not_saved += 1;
                    return Step::End(Ended::ByteLimit);
                }
                self.save.write(&p);
                (caplen, p.header.len as u64, true)
            }
            Err(pcap::Error::TimeoutExpired) => (0, 0, false),
            Err(e) => return Step::End(Ended::Failed(format!("capture read failed: {e}"))),
        };
        if !ready {
            return Step::Idle;
        }
        self.stats.packets += 1;
        self.stats.bytes += caplen;
        self.stats.wire_bytes += len;
        if caplen < len {
            self.stats.truncated += 1;
        }
        if self.stats.packets >= self.limits.max_packets {
            return Step::End(Ended::PacketLimit);
        }
        Step::Wrote
    }

    /// After a stop request: writes what the kernel already queued.
    fn drain(&mut self) -> Ended {
        let until = Instant::now() + DRAIN;
        let mut last = Instant::now();
        while Instant::now() < until {
            match self.step() {
                Step::Wrote => last = Instant::now(),
                Step::Idle if last.elapsed() >= QUIET => return Ended::Stopped,
                Step::Idle => self.wait(),
                Step::End(why) => return why,
            }
        }
        Ended::Stopped
    }

    /// Waits until the capture descriptor is readable, for at most [`POLL`].
    fn wait(&self) {
        let mut fds = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, owned by this frame, for the call's duration.
        let rc = unsafe { libc::poll(&mut fds, 1, POLL.as_millis() as libc::c_int) };
        if rc < 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
