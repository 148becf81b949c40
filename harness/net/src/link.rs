//! The board's link: the one place where sockets for a board are made.
//!
//! A board file names the board's address, the host-side interface of the
//! link that reaches it and this host's address on that link. Every
//! connect, scan probe, UDP probe and listener this crate makes for a board
//! is made by a [`Link`]: bound to the interface (SO_BINDTODEVICE) and to
//! the host address before it sends anything, so the routing table cannot
//! send a board's packet out by another interface or a default route. With
//! the link down an attempt fails here, locally, as [`NetError::LinkDown`]
//! (a board fault, never a device verdict).
//!
//! A link without an interface (a board file that names none) leaves the
//! choice to the routing table, as hilt did before; `hilt board check`
//! warns about such files.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::NetError;

/// Longest interface name Linux accepts (IFNAMSIZ less the NUL).
const MAX_IFNAME: usize = 15;
/// Pending connections a listener queues.
const BACKLOG: i32 = 128;

/// One board's address and the host side of the link that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    board: IpAddr,
    interface: Option<String>,
    host: Option<IpAddr>,
}

impl Link {
    /// The link to `board` through `interface`, from `host` (this host's
    /// address on that link). Checks the name and the address families.
    pub fn new(
        board: IpAddr,
        interface: Option<String>,
        host: Option<IpAddr>,
    ) -> Result<Self, NetError> {
        if let Some(name) = &interface {
            check_interface_name(name).map_err(NetError::Setup)?;
        }
        if let Some(h) = host {
            if h.is_ipv4() != board.is_ipv4() {
                return Err(NetError::Setup(format!(
                    "host address {h} and board address {board} are of different families"
                )));
            }
        }
        Ok(Self {
            board,
            interface,
            host,
        })
    }

    /// A link the routing table chooses (no interface, no host address):
    /// for board files that name no interface, and for tests on loopback.
    pub fn unbound(board: IpAddr) -> Self {
        Self {
            board,
            interface: None,
            host: None,
        }
    }

    /// Loopback (127.0.0.1) as both board and host, unbound: for tests.
    pub fn loopback() -> Self {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self {
            board: lo,
            interface: None,
            host: Some(lo),
        }
    }

    /// The board's address.
    pub fn board(&self) -> IpAddr {
        self.board
    }

    /// The host-side interface every socket is bound to, if named.
    pub fn interface(&self) -> Option<&str> {
        self.interface.as_deref()
    }

    /// This host's address on the link, if known.
    pub fn host(&self) -> Option<IpAddr> {
        self.host
    }

    /// The board's `port`.
    pub fn to(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.board, port)
    }

    /// The same host side towards another address (a control address
    /// reached the same way as the board).
    pub fn with_board(&self, board: IpAddr) -> Self {
        Self {
            board,
            ..self.clone()
        }
    }

    /// Fails unless the interface exists, is up and has a carrier. A link
    /// without an interface is taken as up (the route decides).
    pub fn ensure_up(&self) -> Result<(), NetError> {
        let Some(name) = &self.interface else {
            return Ok(());
        };
        match interface_flags(name) {
            Ok(flags) if flags & libc::IFF_UP == 0 => Err(self.down("is down")),
            Ok(flags) if flags & libc::IFF_RUNNING == 0 => Err(self.down("is down (no carrier)")),
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                Err(self.down("does not exist on this host"))
            }
            Err(e) => Err(NetError::Setup(format!(
                "reading the state of interface {name}: {e}"
            ))),
        }
    }

    fn down(&self, what: &str) -> NetError {
        NetError::LinkDown(format!(
            "the board's link {} {what}",
            self.interface.as_deref().unwrap_or("-")
        ))
    }

    /// A TCP connection to the board's `port`, bounded by `timeout`.
    pub fn tcp_connect(&self, port: u16, timeout: Duration) -> Result<TcpStream, NetError> {
        let addr = self.to(port);
        self.ensure_up()?;
        let sock = self.socket(Type::STREAM, Protocol::TCP)?;
        self.bind_source(&sock)?;
        sock.connect_timeout(&SockAddr::from(addr), timeout.max(Duration::from_millis(1)))
            .map_err(|e| self.io_error(format!("TCP connect to {addr}"), e))?;
        Ok(TcpStream::from(sock))
    }

    /// A UDP socket for talking to the board (bound to the link, port
    /// chosen by the kernel).
    pub fn udp_socket(&self) -> Result<UdpSocket, NetError> {
        self.ensure_up()?;
        let sock = self.socket(Type::DGRAM, Protocol::UDP)?;
        let host = match self.interface {
            Some(_) => self.host,
            None => None,
        };
        let local = SocketAddr::new(host.unwrap_or(unspecified(self.board)), 0);
        sock.bind(&SockAddr::from(local))
            .map_err(|e| self.io_error(format!("UDP bind {local}"), e))?;
        Ok(UdpSocket::from(sock))
    }

    /// A TCP listener on the host address (every address when none is
    /// known) and `port` (0 picks one), taking connections only from the
    /// link's interface.
    pub fn tcp_listener(&self, port: u16) -> Result<TcpListener, NetError> {
        let sock = self.listening_socket(Type::STREAM, Protocol::TCP, port)?;
        sock.listen(BACKLOG)
            .map_err(|e| self.io_error("TCP listen", e))?;
        Ok(TcpListener::from(sock))
    }

    /// A UDP socket receiving on the host address and `port`, only from the
    /// link's interface.
    pub fn udp_listener(&self, port: u16) -> Result<UdpSocket, NetError> {
        Ok(UdpSocket::from(self.listening_socket(
            Type::DGRAM,
            Protocol::UDP,
            port,
        )?))
    }

    fn listening_socket(&self, ty: Type, proto: Protocol, port: u16) -> Result<Socket, NetError> {
        self.ensure_up()?;
        let sock = self.socket(ty, proto)?;
        // As std's listeners do: a port in TIME_WAIT can be bound again.
        sock.set_reuse_address(true)
            .map_err(|e| NetError::io("SO_REUSEADDR", e))?;
        let local = SocketAddr::new(self.host.unwrap_or(unspecified(self.board)), port);
        sock.bind(&SockAddr::from(local))
            .map_err(|e| self.io_error(format!("bind {local}"), e))?;
        Ok(sock)
    }

    /// A socket of the board's family bound to the interface (when named).
    fn socket(&self, ty: Type, proto: Protocol) -> Result<Socket, NetError> {
        let sock = Socket::new(Domain::for_address(self.to(0)), ty, Some(proto))
            .map_err(|e| NetError::io("socket", e))?;
        self.bind_device(&sock)?;
        Ok(sock)
    }

    fn bind_device(&self, sock: &Socket) -> Result<(), NetError> {
        if let Some(name) = &self.interface {
            sock.bind_device(Some(name.as_bytes()))
                .map_err(|e| self.io_error(format!("binding to interface {name}"), e))?;
        }
        Ok(())
    }

    /// Binds the host address as source of a connecting socket, leaving
    /// the port to connect (IP_BIND_ADDRESS_NO_PORT): binding the address
    /// must not cost an ephemeral port per socket, or a full scan would
    /// run out of them.
    fn bind_source(&self, sock: &Socket) -> Result<(), NetError> {
        let (Some(_), Some(host)) = (&self.interface, self.host) else {
            return Ok(());
        };
        let on: libc::c_int = 1;
        // SAFETY: setsockopt with an int of the stated size on a socket we own.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                std::ptr::addr_of!(on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(NetError::io(
                "IP_BIND_ADDRESS_NO_PORT",
                io::Error::last_os_error(),
            ));
        }
        let local = SocketAddr::new(host, 0);
        sock.bind(&SockAddr::from(local))
            .map_err(|e| self.io_error(format!("bind source {local}"), e))
    }

    /// The same link for many connects (the scan): without the explicit
    /// source bind when the kernel picks the host address through the
    /// interface anyway, which saves two system calls per connect and
    /// changes no packet. The interface binding always stays.
    pub(crate) fn for_bulk_connects(&self) -> Link {
        let (Some(_), Some(host)) = (&self.interface, self.host) else {
            return self.clone();
        };
        match self.implied_source() {
            Ok(source) if source == host => Link {
                host: None,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// The source address the kernel chooses towards the board through
    /// the interface (a UDP connect: a route lookup, nothing sent).
    fn implied_source(&self) -> Result<IpAddr, NetError> {
        let sock = self.socket(Type::DGRAM, Protocol::UDP)?;
        sock.connect(&SockAddr::from(self.to(9)))
            .map_err(|e| self.io_error("route lookup", e))?;
        sock.local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.ip())
            .ok_or_else(|| NetError::Setup("no local address after a route lookup".into()))
    }

    /// Binds a raw non-blocking socket the scanner made (same rules as
    /// every other connecting socket).
    pub(crate) fn bind_connecting(&self, fd: OwnedFd) -> Result<OwnedFd, NetError> {
        if self.interface.is_none() {
            return Ok(fd);
        }
        let sock = Socket::from(fd);
        self.bind_device(&sock)?;
        self.bind_source(&sock)?;
        Ok(OwnedFd::from(sock))
    }

    /// An error of a socket call, naming the link when it is the link's
    /// fault (gone, down, or the host address not on it).
    fn io_error(&self, what: impl Into<String>, e: io::Error) -> NetError {
        let what = what.into();
        match (&self.interface, e.raw_os_error()) {
            (Some(_), Some(libc::ENODEV)) => self.down("does not exist on this host"),
            (Some(name), Some(libc::ENETDOWN | libc::ENETUNREACH)) => {
                NetError::LinkDown(format!("{what}: {e} (through the board's link {name})"))
            }
            (Some(name), Some(libc::EADDRNOTAVAIL)) => NetError::Setup(format!(
                "{what}: {e} (is the host address {} on {name}?)",
                self.host.map(|h| h.to_string()).unwrap_or_default()
            )),
            (Some(name), Some(libc::EPERM)) => {
                NetError::Setup(format!("{what}: {e} (binding to {name} needs CAP_NET_RAW)"))
            }
            _ => NetError::io(what, e),
        }
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Why `name` cannot be passed to SO_BINDTODEVICE, if so (the board
/// file's own validation is stricter and names the field).
fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IFNAME || name.contains('\0') {
        Err(format!(
            "{name:?} is not an interface name (1 to {MAX_IFNAME} bytes)"
        ))
    } else {
        Ok(())
    }
}

/// SIOCGIFFLAGS of `name` (asked through a socket of this thread's
/// network namespace, not sysfs, which shows the namespace it was mounted in).
fn interface_flags(name: &str) -> io::Result<libc::c_int> {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(MAX_IFNAME)) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name and writes the flags into `req`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags.
    Ok(libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        assert!(check_interface_name("hsim3").is_ok());
        assert!(check_interface_name("enp0s31f6").is_ok());
        for bad in ["", "sixteen-chars-xx", "a\0b"] {
            assert!(check_interface_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn families_must_match() {
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(Link::new(v4, Some("lo".into()), Some(v6)).is_err());
    }

    #[test]
    fn loopback_is_up_and_a_missing_interface_is_a_link_fault() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let up = Link::new(lo, Some("lo".into()), Some(lo)).expect("link");
        up.ensure_up().expect("lo is up");
        let gone = Link::new(lo, Some("hilt-nosuch0".into()), Some(lo)).expect("link");
        let e = gone.ensure_up().expect_err("no such interface");
        assert!(matches!(e, NetError::LinkDown(_)), "{e}");
        assert!(e.to_string().contains("hilt-nosuch0"), "{e}");
        assert!(e.is_peer_fault());
        let e = gone
            .tcp_connect(9, Duration::from_millis(200))
            .expect_err("no such interface");
        assert!(matches!(e, NetError::LinkDown(_)), "{e}");
    }

    #[test]
    fn bulk_connects_skip_only_a_source_bind_the_kernel_implies() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let implied = Link::new(lo, Some("lo".into()), Some(lo)).expect("link");
        let bulk = implied.for_bulk_connects();
        assert_eq!((bulk.interface(), bulk.host()), (Some("lo"), None));
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
        let explicit = Link::new(lo, Some("lo".into()), Some(other)).expect("link");
        assert_eq!(explicit.for_bulk_connects(), explicit);
    }

    #[test]
    fn bound_to_loopback_a_connect_and_a_listener_work() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let link = Link::new(lo, Some("lo".into()), Some(lo)).expect("link");
        let listener = link.tcp_listener(0).expect("listen on lo");
        let port = listener.local_addr().expect("addr").port();
        let stream = link
            .tcp_connect(port, Duration::from_secs(2))
            .expect("connect through lo");
        assert_eq!(stream.local_addr().expect("local").ip(), lo);
        let udp = link.udp_socket().expect("udp on lo");
        assert_eq!(udp.local_addr().expect("local").ip(), lo);
    }
}
