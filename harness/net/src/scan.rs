//! Full TCP connect scan of one address.
//!
//! A pool of non-blocking connects driven by epoll on one thread keeps up
//! to `concurrency` attempts in flight, each bounded by `connect_timeout`
//! (Linux only). An attempt costs socket, connect, epoll_ctl, getsockopt
//! and close: nothing more, which is what keeps it as fast as nmap.
//! A port is *open* when the three-way handshake completes, *closed* when
//! the peer answers with RST (ECONNREFUSED), *filtered* when nothing comes
//! back in time or an ICMP unreachable arrives (nmap's words for the same
//! outcomes of `-sT`). Attempts that fail for local reasons (out of file
//! descriptors or ephemeral ports) are retried; ports that still cannot be
//! decided are listed in `undetermined` so a caller can stay fail-closed.
//!
//! Every probe socket is bound to the board's [`Link`] before it connects,
//! and the link is checked before and after the scan: a scan through a link
//! that is down, or went down while it ran, is an error, not a list of
//! filtered ports.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;

/// Most attempts in flight, whatever the file descriptor limit allows.
pub const MAX_CONCURRENCY: usize = 4096;
/// Descriptors left to the rest of the process.
const FD_RESERVE: usize = 128;

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
    /// Threads sharing the range (each with its own epoll set); 0 uses
    /// up to 2 of the available cores.
    pub threads: usize,
}

impl Default for TcpScanOptions {
    fn default() -> Self {
        Self {
            ports: (1, 65535),
            concurrency: 0,
            connect_timeout: Duration::from_millis(1500),
            local_retries: 3,
            threads: 0,
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

/// Scans `opts.ports` of the link's board with full TCP connects.
pub fn scan_tcp(
    link: &Link,
    opts: &TcpScanOptions,
    stop: &Stop,
) -> Result<TcpScanResult, NetError> {
    let address = link.board();
    let (first, last) = opts.ports;
    if first == 0 || first > last {
        return Err(NetError::Setup(format!(
            "bad port range {first}-{last} (ports are 1-65535)"
        )));
    }
    link.ensure_up()?;
    let limit = nofile_soft_limit()
        .unwrap_or(1024)
        .saturating_sub(FD_RESERVE)
        .max(1);
    let concurrency = match opts.concurrency {
        0 => auto_concurrency(),
        n => n.min(MAX_CONCURRENCY).min(limit),
    };
    let threads = match opts.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(2),
        n => n.min(16),
    }
    .min(usize::from(last - first) + 1)
    .min(concurrency)
    .max(1);
    let started = Instant::now();
    // Contiguous shares of the range, one per thread.
    let span = u32::from(last) - u32::from(first) + 1;
    let shares: Vec<(u16, u16)> = (0..threads as u32)
        .map(|i| {
            let lo = u32::from(first) + span * i / threads as u32;
            let hi = u32::from(first) + span * (i + 1) / threads as u32 - 1;
            (lo as u16, hi as u16)
        })
        .collect();
    let per_thread = (concurrency / threads).max(1);
    let bulk = link.for_bulk_connects();
    let bulk = &bulk;
    let parts: Vec<Result<TcpScanResult, NetError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|&(lo, hi)| {
                let mut o = opts.clone();
                o.ports = (lo, hi);
                scope.spawn(move || run_scan(bulk, &o, per_thread, stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(NetError::Setup("scan thread panicked".into())))
            })
            .collect()
    });
    let mut result = TcpScanResult {
        address,
        first_port: first,
        last_port: last,
        open: Vec::new(),
        closed: 0,
        filtered: 0,
        undetermined: Vec::new(),
        concurrency: per_thread * threads,
        elapsed_ms: 0,
    };
    for part in parts {
        let part = part?;
        result.open.extend(part.open);
        result.closed += part.closed;
        result.filtered += part.filtered;
        result.undetermined.extend(part.undetermined);
    }
    result.open.sort_unstable();
    result.undetermined.sort_unstable();
    result.elapsed_ms = started.elapsed().as_millis();
    // A link that dropped during the scan made its late ports look filtered.
    link.ensure_up()?;
    Ok(result)
}

/// One connect in flight.
struct Slot {
    fd: OwnedFd,
    port: u16,
    tries: u8,
    started: Instant,
}

/// A non-blocking socket bound to `link` connecting to `target`, or the
/// state when the connect already finished; `Err` when the link cannot
/// carry the attempt (down, gone, host address missing), which ends the scan.
fn start_connect(link: &Link, target: &SocketAddr) -> Result<Result<OwnedFd, PortState>, NetError> {
    let family = match target {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let raw = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Ok(Err(PortState::Local));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = link.bind_connecting(fd)?;
    let (storage, len) = sockaddr(target);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), std::ptr::addr_of!(storage).cast(), len) };
    if rc == 0 {
        return Ok(Err(connected_state(&fd, target)));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINPROGRESS) => Ok(Ok(fd)),
        // Refused before sending: no route through the bound interface.
        Some(libc::ENETUNREACH | libc::ENETDOWN | libc::ENODEV) if link.interface().is_some() => {
            Err(link_lost(link, target))
        }
        _ => Ok(Err(classify(&err))),
    }
}

fn sockaddr(target: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match target {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A connect that completed: open, unless it met itself on loopback (a
/// simultaneous open from an ephemeral port to the same port: nothing
/// listens there).
fn connected_state(fd: &OwnedFd, target: &SocketAddr) -> PortState {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname into a sockaddr_storage of the stated length.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            std::ptr::addr_of_mut!(storage).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        let local = match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in.
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read(std::ptr::addr_of!(storage).cast()) };
                Some(SocketAddr::from((
                    sin.sin_addr.s_addr.to_ne_bytes(),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the kernel wrote a sockaddr_in6.
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read(std::ptr::addr_of!(storage).cast()) };
                Some(SocketAddr::from((
                    sin6.sin6_addr.s6_addr,
                    u16::from_be(sin6.sin6_port),
                )))
            }
            _ => None,
        };
        if local.is_some_and(|l| l.ip() == target.ip() && l.port() == target.port()) {
            return PortState::Closed;
        }
    }
    PortState::Open
}

fn so_error(fd: &OwnedFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(SO_ERROR) into an int of the stated length.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            std::ptr::addr_of_mut!(err).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
    }
    err
}

struct Tally<'a> {
    result: TcpScanResult,
    retry: Vec<(u16, u8)>,
    opts: &'a TcpScanOptions,
}

impl Tally<'_> {
    fn record(&mut self, port: u16, tries: u8, state: PortState) {
        match state {
            PortState::Open => self.result.open.push(port),
            PortState::Closed => self.result.closed += 1,
            PortState::Filtered => self.result.filtered += 1,
            PortState::Local if tries < self.opts.local_retries => {
                self.retry.push((port, tries + 1))
            }
            PortState::Local => self.result.undetermined.push(port),
        }
    }
}

fn run_scan(
    link: &Link,
    opts: &TcpScanOptions,
    concurrency: usize,
    stop: &Stop,
) -> Result<TcpScanResult, NetError> {
    let address = link.board();
    let (first, last) = opts.ports;
    let timeout = opts.connect_timeout;
    let mut tally = Tally {
        result: TcpScanResult {
            address,
            first_port: first,
            last_port: last,
            open: Vec::new(),
            closed: 0,
            filtered: 0,
            undetermined: Vec::new(),
            concurrency,
            elapsed_ms: 0,
        },
        retry: Vec::new(),
        opts,
    };
    // SAFETY: epoll_create1; the descriptor is owned right away.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(NetError::Setup(format!(
            "epoll_create1: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: fresh descriptor nobody else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut slots: Vec<Option<Slot>> = (0..concurrency).map(|_| None).collect();
    let mut free: Vec<usize> = (0..concurrency).rev().collect();
    let mut next: u32 = u32::from(first);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut last_sweep = Instant::now();

    loop {
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        // Fill the pool.
        let mut local_failure = false;
        while let Some(&idx) = free.last() {
            let (port, tries) = if let Some(r) = tally.retry.pop() {
                r
            } else if next <= u32::from(last) {
                let p = next as u16;
                next += 1;
                (p, 0)
            } else {
                break;
            };
            let target = SocketAddr::new(address, port);
            match start_connect(link, &target)? {
                Ok(fd) => {
                    let mut ev = libc::epoll_event {
                        events: (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32,
                        u64: idx as u64,
                    };
                    // SAFETY: registering a descriptor we own with our epoll set.
                    let rc = unsafe {
                        libc::epoll_ctl(
                            ep.as_raw_fd(),
                            libc::EPOLL_CTL_ADD,
                            fd.as_raw_fd(),
                            &mut ev,
                        )
                    };
                    if rc != 0 {
                        tally.record(port, tries, PortState::Local);
                        local_failure = true;
                    } else {
                        free.pop();
                        slots[idx] = Some(Slot {
                            fd,
                            port,
                            tries,
                            started: Instant::now(),
                        });
                    }
                }
                Err(state) => {
                    local_failure |= state == PortState::Local;
                    tally.record(port, tries, state);
                }
            }
            if local_failure {
                // Out of descriptors or ports: let in-flight connects finish first.
                break;
            }
        }
        if free.len() == concurrency {
            if tally.retry.is_empty() && next > u32::from(last) {
                break;
            }
            // Only retries left and nothing in flight: pause briefly.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let wait_ms = if local_failure { 5 } else { 20 };
        // SAFETY: epoll_wait into our events buffer of the stated length.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                wait_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(NetError::Setup(format!("epoll_wait: {e}")));
        }
        for ev in &events[..n as usize] {
            let idx = ev.u64 as usize;
            let Some(slot) = slots.get_mut(idx).and_then(Option::take) else {
                continue;
            };
            let state = match so_error(&slot.fd) {
                0 => connected_state(&slot.fd, &SocketAddr::new(address, slot.port)),
                code => classify(&io::Error::from_raw_os_error(code)),
            };
            tally.record(slot.port, slot.tries, state);
            drop(slot.fd); // close(2) also takes it out of the epoll set
            free.push(idx);
        }
        // Expire slow connects.
        if last_sweep.elapsed() >= Duration::from_millis(20) {
            last_sweep = Instant::now();
            for (idx, entry) in slots.iter_mut().enumerate() {
                let expired = entry
                    .as_ref()
                    .is_some_and(|s| last_sweep.duration_since(s.started) >= timeout);
                if expired {
                    if let Some(slot) = entry.take() {
                        tally.record(slot.port, slot.tries, PortState::Filtered);
                        free.push(idx);
                    }
                }
            }
        }
    }
    let mut result = tally.result;
    result.open.sort_unstable();
    result.undetermined.sort_unstable();
    Ok(result)
}

/// The error for a connect the bound link refused to route.
fn link_lost(link: &Link, target: &SocketAddr) -> NetError {
    match link.ensure_up() {
        Err(e) => e,
        Ok(()) => NetError::LinkDown(format!(
            "no route to {target} through the board's link {}",
            link.interface().unwrap_or("-")
        )),
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
        let r = scan_tcp(
            &Link::unbound(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            &opts,
            &Stop::after(Duration::from_secs(20)),
        )
        .expect("scan");
        assert!(r.open.contains(&port), "{r:?}");
        let total = r.open.len() as u32 + r.closed + r.filtered + r.undetermined.len() as u32;
        assert_eq!(total, u32::from(hi - lo) + 1);
    }

    #[test]
    fn bound_to_the_loopback_interface_it_finds_a_listener() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let link = Link::new(lo, Some("lo".into()), Some(lo)).expect("link");
        let opts = TcpScanOptions {
            ports: (port.saturating_sub(5).max(1), port.saturating_add(5)),
            ..Default::default()
        };
        let r = scan_tcp(&link, &opts, &Stop::after(Duration::from_secs(20))).expect("scan");
        assert!(r.open.contains(&port), "{r:?}");
        assert!(r.undetermined.is_empty(), "{r:?}");
    }

    #[test]
    fn a_missing_interface_stops_the_scan_before_it_starts() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let link = Link::new(lo, Some("hilt-nosuch1".into()), Some(lo)).expect("link");
        let r = scan_tcp(
            &link,
            &TcpScanOptions::default(),
            &Stop::after(Duration::from_secs(5)),
        );
        assert!(matches!(r, Err(NetError::LinkDown(_))), "{r:?}");
    }

    #[test]
    fn ipv6_loopback() {
        let Ok(l) = TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)) else {
            return; // no IPv6 on this host
        };
        let port = l.local_addr().expect("addr").port();
        let opts = TcpScanOptions {
            ports: (port.saturating_sub(5).max(1), port.saturating_add(5)),
            ..Default::default()
        };
        let r = scan_tcp(
            &Link::unbound(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
            &opts,
            &Stop::after(Duration::from_secs(20)),
        )
        .expect("scan");
        assert!(r.open.contains(&port), "{r:?}");
    }

    #[test]
    fn rejects_port_zero() {
        let opts = TcpScanOptions {
            ports: (0, 10),
            ..Default::default()
        };
        assert!(scan_tcp(
            &Link::unbound(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            &opts,
            &Stop::after(Duration::from_secs(1))
        )
        .is_err());
    }

    #[test]
    fn a_passed_deadline_stops_the_scan() {
        let stop = Stop::after(Duration::from_secs(0));
        let r = scan_tcp(
            &Link::unbound(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            &TcpScanOptions::default(),
            &stop,
        );
        assert!(matches!(r, Err(NetError::Stopped(_))));
    }
}
