//! Board leases on this host.
//!
//! A board is what it is wired to: its serial port, its network address,
//! its debug endpoint or probe, its power switch, its offline flash. Each
//! of those is one lease file in the lease folder (`/run/hilt/leases`, or
//! `$XDG_RUNTIME_DIR/hilt/leases` for a user who cannot write there, or
//! `$HILT_LEASE_DIR`). A run holds an exclusive `flock` on the lease file
//! of every resource of every board for as long as it lives: the kernel
//! drops the lock when the process ends, however it ends (SIGKILL
//! included), so a lease never outlives its run and nothing has to be
//! cleaned up. The file's body (JSON: pid, host, start time, board,
//! command) only says who holds it; the lock is the lease.
//!
//! Loopback addresses are not leased: they name processes on this host
//! (test servers, QEMU's gdbstub on a free port), not a board on a rack.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::board::{Board, PowerWiring};

/// Overrides the lease folder (tests, or a lab that keeps it elsewhere).
pub const LEASE_DIR_ENV: &str = "HILT_LEASE_DIR";

/// How often a waiting run tries a held lease again.
const RETRY: Duration = Duration::from_millis(200);

/// Who holds a lease, as written in its file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// When the run took the lease (RFC 3339, UTC).
    pub since: String,
    pub board: String,
    pub board_file: String,
    /// The leased resource (`serial /dev/ttyUSB0`, `network 198.18.0.2`).
    pub resource: String,
    pub command: Vec<String>,
}

impl Holder {
    pub fn describe(&self) -> String {
        format!(
            "hilt pid {} on host {} since {} (board {}, {})",
            self.pid, self.host, self.since, self.board, self.board_file
        )
    }
}

/// The leases of one run; dropping them (or the process ending) releases
/// every one.
#[derive(Debug)]
pub struct Leases {
    held: Vec<(PathBuf, File)>,
}

impl Leases {
    /// The lease files held, for messages and tests.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.held.iter().map(|(p, _)| p.as_path())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "board {board}: its {resource} is leased by {holder} (lease file {file}); \
         the lease lapses when that process ends (`hilt run --lease-wait SECS` waits for it, \
         `hilt rack status` lists leases)"
    )]
    Held {
        board: String,
        resource: String,
        holder: String,
        file: PathBuf,
    },
    #[error("lease file {file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
}

/// The lease folder of this host.
pub fn lease_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(LEASE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let system = PathBuf::from("/run/hilt/leases");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) if !root => PathBuf::from(runtime).join("hilt").join("leases"),
        _ => system,
    }
}

/// What on this host makes `board` the board it is: every resource a
/// second run must not drive at the same time.
pub fn resources(board: &Board) -> Vec<String> {
    let hw = &board.spec.hardware;
    let mut out = Vec::new();
    let path = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    if let Some(serial) = &hw.serial {
        if let Some(port) = &serial.port {
            out.push(format!("serial {}", serial_identity(port)));
        }
        if let Some(unix) = &serial.unix {
            out.push(format!("serial {}", path(unix)));
        }
        if let Some(tcp) = serial.tcp.as_ref().filter(|t| !is_loopback(&t.host)) {
            out.push(format!("serial tcp {tcp}"));
        }
    }
    if let Some(network) = hw.network.as_ref().filter(|n| !n.address.is_loopback()) {
        out.push(format!("network {}", network.address));
    }
    if let Some(debug) = &hw.debug {
        if let Some(gdb) = debug.gdb.as_ref().filter(|g| !is_loopback(&g.host)) {
            out.push(format!("debug gdb {gdb}"));
        }
        if let Some(probe) = &debug.probe {
            out.push(format!(
                "debug probe {}",
                probe.selector.as_deref().unwrap_or(&probe.chip)
            ));
        }
    }
    if let Some(PowerWiring::Sim(socket)) = &hw.power {
        out.push(format!("power {}", path(socket)));
    }
    if let Some(flash) = &hw.flash {
        out.push(format!("flash {}", path(&flash.file)));
    }
    out.sort();
    out.dedup();
    out
}

/// The name a serial port is leased under: the device it resolves to, so
/// that `/dev/serial/by-id/...` and `/dev/ttyUSB0` collide, except for a
/// pseudo-terminal. The kernel hands a freed `/dev/pts/N` to the next
/// program that asks (a simulator or QEMU restarted by a check, ser2net),
/// so its number says nothing about which board it is: the path the board
/// file names (the link its owner keeps) is the board's identity there.
fn serial_identity(port: &Path) -> String {
    match std::fs::canonicalize(port) {
        Ok(device) if !is_pseudo_terminal(&device) => device.display().to_string(),
        _ => port.display().to_string(),
    }
}

fn is_pseudo_terminal(device: &Path) -> bool {
    device.starts_with("/dev/pts") || device == Path::new("/dev/ptmx")
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// The lease file of one resource: a readable name, without separators.
pub fn lease_file(dir: &Path, resource: &str) -> PathBuf {
    let name: String = resource
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{}.lease", name.trim_start_matches('_')))
}

/// Takes the lease of every resource of every board, waiting up to
/// `wait` for leases other runs hold. All or nothing: on an error the
/// leases taken so far are released.
pub fn acquire(boards: &[Board], wait: Duration) -> Result<Leases, LeaseError> {
    let dir = lease_dir();
    std::fs::create_dir_all(&dir).map_err(|source| LeaseError::Io {
        file: dir.clone(),
        source,
    })?;
    let deadline = Instant::now() + wait;
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into());
    let host = hostname();
    let command: Vec<String> = std::env::args().collect();
    let mut held = Vec::new();
    for board in boards {
        for resource in resources(board) {
            let file = lease_file(&dir, &resource);
            let holder = Holder {
                pid: std::process::id(),
                host: host.clone(),
                since: since.clone(),
                board: board.name().to_string(),
                board_file: std::fs::canonicalize(&board.file)
                    .unwrap_or_else(|_| board.file.clone())
                    .display()
                    .to_string(),
                resource: resource.clone(),
                command: command.clone(),
            };
            let lock = take(&file, &holder, deadline)?;
            held.push((file, lock));
        }
    }
    Ok(Leases { held })
}

/// One lease: lock the file, then write who holds it.
fn take(file: &Path, holder: &Holder, deadline: Instant) -> Result<File, LeaseError> {
    let io = |source| LeaseError::Io {
        file: file.to_path_buf(),
        source,
    };
    let mut handle = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .map_err(io)?;
    // Always a few tries: `hilt rack status` probes a lease by locking it
    // for an instant.
    let first_deadline = Instant::now() + RETRY * 2;
    loop {
        match try_flock(&handle, libc::LOCK_EX) {
            Ok(true) => break,
            Ok(false) => {
                if Instant::now() >= deadline.max(first_deadline) {
                    return Err(LeaseError::Held {
                        board: holder.board.clone(),
                        resource: holder.resource.clone(),
                        holder: read_holder(&mut handle)
                            .map(|h| h.describe())
                            .unwrap_or_else(|| "another process (no holder recorded)".into()),
                        file: file.to_path_buf(),
                    });
                }
                std::thread::sleep(RETRY);
            }
            Err(e) => return Err(io(e)),
        }
    }
    let body = serde_json::to_vec_pretty(holder).map_err(|e| io(std::io::Error::other(e)))?;
    handle.set_len(0).map_err(io)?;
    handle.seek(SeekFrom::Start(0)).map_err(io)?;
    handle.write_all(&body).map_err(io)?;
    handle.flush().map_err(io)?;
    Ok(handle)
}

/// `flock(operation | LOCK_NB)`: false when another open file (another
/// process) holds a conflicting lock. (`File::try_lock` needs Rust 1.89.)
fn try_flock(file: &File, operation: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: the descriptor is open for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(err),
    }
}

/// The holder a lease file names, if its body is readable (bounded: the
/// file is ours, but any local user could have written it).
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64 * 1024).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// One lease file as `hilt rack status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseStatus {
    pub file: PathBuf,
    /// Whether a live process holds it now.
    pub held: bool,
    /// Who holds it, or who held it last (a lapsed lease keeps its body).
    pub holder: Option<Holder>,
}

/// Every lease file in `dir`, sorted by file name. A lease is held when
/// its lock cannot be taken; the probe's lock is released at once.
pub fn status(dir: &Path) -> std::io::Result<Vec<LeaseStatus>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "lease") {
            continue;
        }
        let Ok(mut file) = File::open(&path) else {
            continue;
        };
        let held = match try_flock(&file, libc::LOCK_SH) {
            Ok(true) => {
                // SAFETY: the descriptor is open for this call.
                unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
                false
            }
            Ok(false) | Err(_) => true,
        };
        out.push(LeaseStatus {
            holder: read_holder(&mut file),
            file: path,
            held,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// This host's name as the kernel has it (the UTS name).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match rc {
        0 => String::from_utf8_lossy(&buf[..end]).into_owned(),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudo_terminal_is_leased_by_the_name_the_board_file_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("tty");
        std::os::unix::fs::symlink("/dev/pts/7", &link).expect("symlink");
        assert_eq!(serial_identity(&link), link.display().to_string());
        // Any other device is leased as what it resolves to.
        let null = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &null).expect("symlink");
        assert_eq!(serial_identity(&null), "/dev/null");
    }

    #[test]
    fn lease_file_names_have_no_separators() {
        let f = lease_file(Path::new("/x"), "serial /run/hilt/sim-3/tty");
        assert_eq!(f, PathBuf::from("/x/serial__run_hilt_sim-3_tty.lease"));
    }

    #[test]
    fn a_held_lease_is_refused_and_then_taken_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("network_198.18.9.2.lease");
        let holder = |pid| Holder {
            pid,
            host: "h".into(),
            since: "t".into(),
            board: "b".into(),
            board_file: "b.yaml".into(),
            resource: "network 198.18.9.2".into(),
            command: vec![],
        };
        let now = Instant::now;
        let first = take(&file, &holder(1), now()).expect("first lease");
        let listed = status(dir.path()).expect("status");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].held);
        assert_eq!(listed[0].holder.as_ref().map(|h| h.pid), Some(1));
        // A second open file description conflicts, as another process would.
        let err = take(&file, &holder(2), now()).expect_err("held");
        let text = err.to_string();
        assert!(text.contains("hilt pid 1 on host h since t"), "{text}");
        assert!(text.contains("network_198.18.9.2.lease"), "{text}");
        drop(first);
        assert!(!status(dir.path()).expect("status")[0].held);
        let second = take(&file, &holder(2), now()).expect("lapsed lease taken");
        assert_eq!(
            status(dir.path()).expect("status")[0]
                .holder
                .as_ref()
                .map(|h| h.pid),
            Some(2)
        );
        drop(second);
    }
}
