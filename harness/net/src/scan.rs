//! Full TCP connect scan of one address.
//!
//! A pool of non-blocking connects (tokio, one thread) keeps up to
//! `concurrency` attempts in flight, each bounded by `connect_timeout`.
//! A port is *open* when the three-way handshake completes, *closed* when
//! the peer answers with RST (ECONNREFUSED), *filtered* when nothing comes
//! back in time or an ICMP unreachable arrives (nmap's words for the same
//! outcomes of `-sT`). Attempts that fail for local reasons (out of file
//! descriptors or ephemeral ports) are retried; ports that still cannot be
//! decided are listed in `undetermined` so a caller can stay fail-closed.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::error::NetError;
use crate::stop::Stop;

/// Most attempts in flight, whatever the file descriptor limit allows.
pub const MAX_CONCURRENCY: usize = 4096;
/// Descriptors left to the rest of the process.
const FD_RESERVE: usize = 128;
/// How often a stalled pool re-checks the stop signal.
const STOP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct TcpScanOptions {
    /// First and last port scanned (inclusive).
    pub ports: (u16, u16),
    /// Attempts in flight; 0 chooses from `ulimit -n` (capped at 1024).
    pub concurrency: usize,
    /// How long one connect may take before the port counts as filtered.
    pub connect_timeout: Duration,
    /// Extra attempts for a port whose connect failed for a local reason.
    pub local_retries: u8,
}

impl Default for TcpScanOptions {
    fn default() -> Self {
        Self {
            ports: (1, 65535),
            concurrency: 0,
            connect_timeout: Duration::from_millis(1500),
            local_retries: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TcpScanResult {
    pub address: IpAddr,
    pub first_port: u16,
    pub last_port: u16,
    /// Open ports, ascending.
    pub open: Vec<u16>,
    pub closed: u32,
    pub filtered: u32,
    /// Ports whose state could not be decided (local resource errors).
    pub undetermined: Vec<u16>,
    pub concurrency: usize,
    pub elapsed_ms: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortState {
    Open,
    Closed,
    Filtered,
    /// A local failure: try again.
    Local,
}

/// The concurrency the scanner uses when asked for 0.
pub fn auto_concurrency() -> usize {
    let soft = nofile_soft_limit().unwrap_or(1024);
    soft.saturating_sub(FD_RESERVE).clamp(16, 1024)
}

fn nofile_soft_limit() -> Option<usize> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return None;
    }
    usize::try_from(lim.rlim_cur).ok()
}

/// Scans `opts.ports` of `address` with full TCP connects.
pub fn scan_tcp(
    address: IpAddr,
    opts: &TcpScanOptions,
    stop: &Stop,
) -> Result<TcpScanResult, NetError> {
    let (first, last) = opts.ports;
    if first == 0 || first > last {
        return Err(NetError::Setup(format!(
            "bad port range {first}-{last} (ports are 1-65535)"
        )));
    }
    let limit = nofile_soft_limit()
        .unwrap_or(1024)
        .saturating_sub(FD_RESERVE)
        .max(1);
    let concurrency = match opts.concurrency {
        0 => auto_concurrency(),
        n => n.min(MAX_CONCURRENCY).min(limit),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| NetError::Setup(format!("cannot start the scan runtime: {e}")))?;
    let started = Instant::now();
    let mut result = runtime.block_on(run_scan(address, opts, concurrency, stop))?;
    result.elapsed_ms = started.elapsed().as_millis();
    Ok(result)
}

async fn run_scan(
    address: IpAddr,
    opts: &TcpScanOptions,
    concurrency: usize,
    stop: &Stop,
) -> Result<TcpScanResult, NetError> {
    let (first, last) = opts.ports;
    let timeout = opts.connect_timeout;
    let mut result = TcpScanResult {
        address,
        first_port: first,
        last_port: last,
        open: Vec::new(),
        closed: 0,
        filtered: 0,
        undetermined: Vec::new(),
        concurrency,
        elapsed_ms: 0,
    };
    // Ports waiting for a (re)try with the attempts made so far.
    let mut retry: Vec<(u16, u8)> = Vec::new();
    let mut next: u32 = u32::from(first);
    let mut pool: JoinSet<(u16, u8, PortState)> = JoinSet::new();
    loop {
        if let Some(why) = stop.reason() {
            pool.abort_all();
            return Err(NetError::Stopped(why));
        }
        while pool.len() < concurrency {
            let (port, tries) = if let Some(r) = retry.pop() {
                r
            } else if next <= u32::from(last) {
                let p = next as u16;
                next += 1;
                (p, 0)
            } else {
                break;
            };
            let remaining = stop.remaining();
            pool.spawn(async move {
                let state = probe(SocketAddr::new(address, port), timeout.min(remaining)).await;
                (port, tries, state)
            });
        }
        if pool.is_empty() {
            break;
        }
        let joined = match tokio::time::timeout(STOP_POLL, pool.join_next()).await {
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(j)) => j,
        };
        let (port, tries, state) = match joined {
            Ok(v) => v,
            Err(e) => return Err(NetError::Setup(format!("scan task failed: {e}"))),
        };
        match state {
            PortState::Open => result.open.push(port),
            PortState::Closed => result.closed += 1,
            PortState::Filtered => result.filtered += 1,
            PortState::Local if tries < opts.local_retries => {
                // Give the kernel a moment to release descriptors/ports.
                tokio::time::sleep(Duration::from_millis(5)).await;
                retry.push((port, tries + 1));
            }
            PortState::Local => result.undetermined.push(port),
        }
    }
    result.open.sort_unstable();
    result.undetermined.sort_unstable();
    Ok(result)
}

async fn probe(target: SocketAddr, timeout: Duration) -> PortState {
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Err(_) => PortState::Filtered,
        Ok(Ok(stream)) => {
            // On loopback a connect to a port in the ephemeral range can
            // meet itself (simultaneous open): nothing listens there.
            match stream.local_addr() {
                Ok(local) if local == target => PortState::Closed,
                _ => PortState::Open,
            }
        }
        Ok(Err(e)) => classify(&e),
    }
}

fn classify(e: &io::Error) -> PortState {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => PortState::Closed,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ETIMEDOUT | libc::EACCES) => {
            PortState::Filtered
        }
        Some(libc::ECONNRESET) => PortState::Closed,
        _ => match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => PortState::Closed,
            io::ErrorKind::TimedOut => PortState::Filtered,
            _ => PortState::Local,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    #[test]
    fn finds_a_listener_on_loopback_in_a_small_range() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let lo = port.saturating_sub(20).max(1);
        let hi = port.saturating_add(20);
        let opts = TcpScanOptions {
            ports: (lo, hi),
            ..Default::default()
        };
        let r = scan_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), &opts, &Stop::after(Duration::from_secs(20)))
            .expect("scan");
        assert!(r.open.contains(&port), "{r:?}");
        let total = r.open.len() as u32 + r.closed + r.filtered + r.undetermined.len() as u32;
        assert_eq!(total, u32::from(hi - lo) + 1);
    }

    #[test]
    fn rejects_port_zero() {
        let opts = TcpScanOptions {
            ports: (0, 10),
            ..Default::default()
        };
        assert!(scan_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), &opts, &Stop::after(Duration::from_secs(1))).is_err());
    }

    #[test]
    fn a_passed_deadline_stops_the_scan() {
        let stop = Stop::after(Duration::from_secs(0));
        let r = scan_tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), &TcpScanOptions::default(), &stop);
        assert!(matches!(r, Err(NetError::Stopped(_))));
    }
}
