//! A UDP port scan of a chosen, small set of ports (AU-07): each port gets
//! a well-formed request of its protocol (see [`crate::udp`]) or the bytes
//! a board file gives, and ends in one of three states:
//! - `open`: something answered from the board;
//! - `closed`: an ICMP port unreachable came back (seen as ECONNREFUSED on
//!   a socket connected to the port);
//! - `open|filtered`: neither, after every retry. A service that answers
//!   nothing (a syslog receiver, a TFTP server that ignores a bad request)
//!   looks like this too; so does a firewall that drops.
//!
//! Linux sends ICMP errors at a limited rate (`net.ipv4.icmp_ratelimit`,
//! 1000 ms per message to one peer after a burst of about six): a scan of
//! more closed ports than the burst learns the rest one a second. The scan
//! therefore sends each unresolved port's probe once a round, rounds
//! [`UdpScanOptions::round`] apart, and stops when every port is resolved,
//! when [`UdpScanOptions::idle_rounds`] rounds in a row resolved nothing,
//! or at [`UdpScanOptions::budget`].

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;
use crate::udp::{printable, UdpService};

/// Answer bytes kept per port.
const KEEP: usize = 512;
/// Characters of an answer's summary kept.
const SUMMARY_CHARS: usize = 240;
/// Poll interval while waiting for answers.
const POLL: Duration = Duration::from_millis(10);
/// Gap between two probes sent in one round.
const SPACING: Duration = Duration::from_millis(15);

/// What to send to one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum UdpProbe {
    /// A protocol hilt speaks (its request, its parser).
    Service(UdpService),
    /// Bytes given by the board file (an empty datagram if none).
    Raw(#[serde(serialize_with = "crate::certinfo::hex")] Vec<u8>),
}

/// One port to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpTarget {
    pub port: u16,
    pub probe: UdpProbe,
}

impl UdpTarget {
    pub fn service(port: u16, service: UdpService) -> Self {
        Self {
            port,
            probe: UdpProbe::Service(service),
        }
    }

    /// The protocol's name for reports (`raw` for board-given bytes).
    pub fn label(&self) -> &'static str {
        match &self.probe {
            UdpProbe::Service(s) => s.label(),
            UdpProbe::Raw(_) => "raw",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UdpPortState {
    /// Something answered from the board.
    Open,
    /// ICMP port unreachable: nothing listens.
    Closed,
    /// No answer and no ICMP error.
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

#[derive(Debug, Clone, Serialize)]
pub struct UdpPortResult {
    pub port: u16,
    /// The protocol probed (`SNMP`, `raw`, ...).
    pub protocol: &'static str,
    pub state: UdpPortState,
    /// Where the answer came from (another port for TFTP or SSDP).
    pub from: Option<SocketAddr>,
    pub response_len: usize,
    #[serde(serialize_with = "crate::certinfo::hex")]
    pub response: Vec<u8>,
    /// What the answer says (the protocol's parser, else printable bytes).
    pub summary: Option<String>,
    /// How many times the probe was sent.
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UdpScan {
    pub ports: Vec<UdpPortResult>,
    pub rounds: u32,
    pub elapsed_ms: u128,
}

impl UdpScan {
    pub fn in_state(&self, state: UdpPortState) -> Vec<u16> {
        self.ports
            .iter()
            .filter(|p| p.state == state)
            .map(|p| p.port)
            .collect()
    }

    pub fn port(&self, port: u16) -> Option<&UdpPortResult> {
        self.ports.iter().find(|p| p.port == port)
    }
}

#[derive(Debug, Clone)]
pub struct UdpScanOptions {
    /// Time between rounds (one ICMP token refills per second on Linux).
    pub round: Duration,
    /// Rounds at least.
    pub min_rounds: u32,
    /// Stop after this many rounds in a row that resolved nothing.
    pub idle_rounds: u32,
    /// Upper bound on the whole scan.
    pub budget: Duration,
}

impl Default for UdpScanOptions {
    fn default() -> Self {
        Self {
            round: Duration::from_millis(1100),
            min_rounds: 3,
            idle_rounds: 2,
            budget: Duration::from_secs(20),
        }
    }
}

/// Every service hilt has a probe for, on its well-known port.
pub fn well_known_targets() -> Vec<UdpTarget> {
    UdpService::ALL
        .iter()
        .map(|s| UdpTarget::service(s.port(), *s))
        .collect()
}

struct Slot<'a> {
    target: &'a UdpTarget,
    /// Connected to the port (answers from it, and its ICMP errors); for a
    /// service that answers from another port, unconnected with
    /// IP_RECVERR (anything from the board's address, and ICMP errors).
    sock: UdpSocket,
    connected: bool,
    result: UdpPortResult,
    resolved: bool,
}

/// Asks the kernel to report ICMP errors on an unconnected socket too
/// (`ip(7)` IP_RECVERR): a receive then fails with ECONNREFUSED after a
/// port unreachable, as on a connected socket. The socket sends to one
/// port only, so the error is that port's.
fn report_icmp_errors(sock: &UdpSocket, v6: bool) -> Result<(), NetError> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    // SAFETY: a valid socket descriptor and a c_int option of its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(NetError::io("IP_RECVERR", io::Error::last_os_error()));
    }
    Ok(())
}

fn nonblocking(sock: &UdpSocket) -> Result<(), NetError> {
    sock.set_nonblocking(true)
        .map_err(|e| NetError::io("UDP socket non-blocking", e))
}

/// Scans `targets` on the link's board (duplicate ports: the first wins).
pub fn scan_udp(
    link: &Link,
    targets: &[UdpTarget],
    opts: &UdpScanOptions,
    stop: &Stop,
) -> Result<UdpScan, NetError> {
    let started = Instant::now();
    let board = link.board();
    let mut slots: Vec<Slot> = Vec::new();
    for target in targets {
        if slots.iter().any(|s| s.target.port == target.port) {
            continue;
        }
        let dest = link.to(target.port);
        let sock = link.udp_socket()?;
        let connected =
            !matches!(&target.probe, UdpProbe::Service(s) if s.answers_from_other_port());
        if connected {
            sock.connect(dest)
                .map_err(|e| NetError::io(format!("UDP connect {dest}"), e))?;
        } else {
            report_icmp_errors(&sock, board.is_ipv6())?;
        }
        nonblocking(&sock)?;
        slots.push(Slot {
            target,
            sock,
            connected,
            result: UdpPortResult {
                port: target.port,
                protocol: target.label(),
                state: UdpPortState::OpenFiltered,
                from: None,
                response_len: 0,
                response: Vec::new(),
                summary: None,
                attempts: 0,
            },
            resolved: false,
        });
    }
    let deadline = started + stop.bound(opts.budget);
    let mut rounds = 0u32;
    let mut idle = 0u32;
    let mut buf = vec![0u8; 65536];
    while slots.iter().any(|s| !s.resolved) && Instant::now() < deadline {
        rounds += 1;
        let before = slots.iter().filter(|s| s.resolved).count();
        for slot in slots.iter_mut().filter(|s| !s.resolved) {
            send_probe(slot, board)?;
            std::thread::sleep(SPACING);
        }
        let round_end = (Instant::now() + opts.round).min(deadline);
        while Instant::now() < round_end {
            if stop.is_interrupted() {
                return Err(NetError::Stopped("interrupted"));
            }
            for slot in slots.iter_mut().filter(|s| !s.resolved) {
                receive(slot, board, &mut buf)?;
            }
            if slots.iter().all(|s| s.resolved) {
                break;
            }
            std::thread::sleep(POLL);
        }
        let progress = slots.iter().filter(|s| s.resolved).count() > before;
        idle = if progress { 0 } else { idle + 1 };
        if rounds >= opts.min_rounds && idle >= opts.idle_rounds {
            break;
        }
    }
    if slots.iter().any(|s| !s.resolved) {
        // Silence means nothing if the link dropped while we listened.
        link.ensure_up()?;
    }
    Ok(UdpScan {
        ports: slots.into_iter().map(|s| s.result).collect(),
        rounds,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

fn send_probe(slot: &mut Slot, board: IpAddr) -> Result<(), NetError> {
    let mut payloads = match &slot.target.probe {
        UdpProbe::Service(s) => s.payloads(board),
        UdpProbe::Raw(bytes) => vec![bytes.clone()],
    };
    // Every datagram to a closed port costs an ICMP token of the board's
    // rate limit: the first round sends each request, later rounds one,
    // in turn.
    if slot.result.attempts > 0 && payloads.len() > 1 {
        let i = slot.result.attempts as usize % payloads.len();
        payloads = vec![payloads.swap_remove(i)];
    }
    slot.result.attempts += 1;
    let dest = SocketAddr::new(board, slot.target.port);
    for payload in payloads {
        let sent = if slot.connected {
            slot.sock.send(&payload)
        } else {
            slot.sock.send_to(&payload, dest)
        };
        match sent {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // The ICMP error of an earlier send.
                close(slot);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(NetError::io(format!("UDP send to {dest}"), e)),
        }
    }
    Ok(())
}

fn close(slot: &mut Slot) {
    slot.result.state = UdpPortState::Closed;
    slot.resolved = true;
}

fn receive(slot: &mut Slot, board: IpAddr, buf: &mut [u8]) -> Result<(), NetError> {
    let port = slot.target.port;
    loop {
        match slot.sock.recv_from(buf) {
            // A connected socket only takes datagrams from its port; an
            // unconnected one takes anything, and keeps the board's.
            Ok((n, from)) if from.ip() == board => {
                let data = buf[..n].to_vec();
                answered(slot, from, &data);
                return Ok(());
            }
            Ok(_) => {} // someone else: ignore
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                close(slot);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(NetError::io(format!("UDP receive from port {port}"), e)),
        }
    }
}

fn answered(slot: &mut Slot, from: SocketAddr, data: &[u8]) {
    let r = &mut slot.result;
    r.state = UdpPortState::Open;
    r.from = Some(from);
    r.response_len = data.len();
    r.response = data[..data.len().min(KEEP)].to_vec();
    r.summary = match &slot.target.probe {
        UdpProbe::Service(s) => s.summarize(data),
        UdpProbe::Raw(_) => None,
    }
    .or_else(|| {
        Some(format!(
            "{} bytes: {}",
            data.len(),
            printable(&data[..data.len().min(64)])
        ))
    });
    // The summary goes into the finding's text: bounded, whatever the
    // device sent.
    if let Some(text) = &mut r.summary {
        if let Some((cut, _)) = text.char_indices().nth(SUMMARY_CHARS) {
            text.truncate(cut);
            text.push_str("...");
        }
    }
    if let UdpProbe::Service(s) = &slot.target.probe {
        if let Some(bye) = s.after_answer(data) {
            let _ = slot.sock.send_to(&bye, from);
        }
    }
    slot.resolved = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_closed_and_open() {
        // On loopback ICMP errors are not rate limited: a closed port is
        // told at once; a socket that echoes is open.
        let lo = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let echo = UdpSocket::bind((lo, 0)).expect("bind");
        let echo_port = echo.local_addr().expect("addr").port();
        let closed = UdpSocket::bind((lo, 0)).expect("bind");
        let closed_port = closed.local_addr().expect("addr").port();
        drop(closed);
        // Probed as TFTP, from an unconnected socket: IP_RECVERR reports it.
        let closed_tftp = UdpSocket::bind((lo, 0)).expect("bind");
        let closed_tftp_port = closed_tftp.local_addr().expect("addr").port();
        drop(closed_tftp);
        let silent = UdpSocket::bind((lo, 0)).expect("bind");
        let silent_port = silent.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 64];
            if let Ok((n, from)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..n], from);
            }
        });
        let link = Link::new(lo, None, None).expect("link");
        let targets = vec![
            UdpTarget {
                port: echo_port,
                probe: UdpProbe::Raw(b"ping".to_vec()),
            },
            UdpTarget {
                port: closed_port,
                probe: UdpProbe::Raw(Vec::new()),
            },
            UdpTarget::service(silent_port, UdpService::Syslog),
            UdpTarget::service(closed_tftp_port, UdpService::Tftp),
        ];
        let opts = UdpScanOptions {
            round: Duration::from_millis(200),
            min_rounds: 2,
            idle_rounds: 2,
            budget: Duration::from_secs(5),
        };
        let scan = scan_udp(
            &link,
            &targets,
            &opts,
            &Stop::after(Duration::from_secs(10)),
        )
        .expect("scan");
        let _ = t.join();
        drop(silent);
        assert_eq!(scan.in_state(UdpPortState::Open), vec![echo_port]);
        assert_eq!(
            scan.in_state(UdpPortState::Closed),
            vec![closed_port, closed_tftp_port]
        );
        assert_eq!(scan.in_state(UdpPortState::OpenFiltered), vec![silent_port]);
        assert_eq!(
            scan.port(echo_port).and_then(|p| p.summary.clone()),
            Some("4 bytes: ping".into())
        );
    }
}
