//! The simulated board's network side.
//!
//! The board is its own host. As root it lives in a network namespace
//! `hilt-sim<i>` joined to the host by a veth pair (host side `hsim<i>`,
//! 198.18.<i>.1/24; board side 198.18.<i>.2/24); otherwise it binds on the
//! loopback address 127.77.0.<i+2>, with ports below 1024 moved up by 10000.
//! Only the board's sockets live in the namespace: they are created by
//! threads that joined it with `setns(2)`; the rest of the process stays in
//! the host namespace.
//!
//! Services (see each module's documentation and `README.md` beside this file):
//! - HTTPS API on tcp/443 ([`api`]), device certificate issued by the
//!   simulated manufacturer CA ([`pki`]);
//! - with `plaintext-api`, the same API over HTTP on tcp/80;
//! - a telnet-like login shell on tcp/23 ([`telnet`]) while configuration
//!   `telnet_enabled` is `true` (opened and closed as it changes), or
//!   always with `telnet-open`;
//! - a TLS telemetry client, MQTT 3.1.1 over TLS ([`telemetry`]);
//! - RFC 5424 syslog of security events over UDP ([`syslog`]), once a
//!   collector is configured;
//! - with `tls-legacy-versions`, TLS 1.0 hellos answered ([`tls_legacy`]);
//! - with `plaintext-beacon`, a cleartext CoAP broadcast ([`beacon`]);
//! - with shape `smp-udp-update`, MCUmgr SMP over UDP port 1337 ([`smp_udp`]).
//!
//! [`start`] is called after every boot; dropping the [`NetHandle`] stops
//! every listener and connection within about a second. The namespace
//! itself outlives a boot (a host's link does not vanish when the device
//! reboots); [`teardown`] removes it (`hilt-sim down`).

pub(crate) mod api;
pub(crate) mod beacon;
pub(crate) mod digest;
pub(crate) mod form_login;
pub(crate) mod http;
pub(crate) mod netns;
pub(crate) mod ota_check;
pub(crate) mod pki;
pub(crate) mod server;
pub(crate) mod smp_udp;
pub(crate) mod syslog;
pub(crate) mod telemetry;
pub(crate) mod telnet;
pub(crate) mod timefmt;
pub(crate) mod tls_legacy;
pub(crate) mod upload;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::device_api::{DeviceApi, Personality};

/// Event kinds recorded by the network side (through
/// [`DeviceApi::record_event`]).
pub mod event_kind {
    /// Telemetry report delivered (TLS handshake and MQTT CONNACK succeeded).
    pub const TELEMETRY_SENT: &str = "telemetry_sent";
    /// Telemetry server could not be reached or spoke no MQTT (not a
    /// security event: severity 6).
    pub const TELEMETRY_FAILED: &str = "telemetry_failed";
    /// The telemetry server's certificate (chain, name or validity) was
    /// rejected, or the TLS handshake failed: severity 4.
    pub const TLS_VERIFICATION_FAILED: &str = "tls_verification_failed";
    /// Any other TLS handshake failure with the telemetry server: severity 4.
    pub const TLS_HANDSHAKE_FAILED: &str = "tls_handshake_failed";
}

/// How the board is wired to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// Own network namespace behind a veth pair (needs root).
    Netns,
    /// Loopback address 127.77.0.<i+2>; ports below 1024 plus 10000.
    Loopback,
}

impl NetMode {
    /// `Netns` when running as root, else `Loopback`.
    pub fn auto() -> NetMode {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            NetMode::Netns
        } else {
            NetMode::Loopback
        }
    }
}

/// Where and how the network side runs.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Board index `i` (0..=253).
    pub index: u32,
    pub mode: NetMode,
    /// The board's runtime folder `DIR/sim-<i>` (certificates are published here).
    pub runtime_dir: PathBuf,
}

impl NetConfig {
    /// Index and runtime folder from the device, mode as given.
    pub fn for_device(api: &dyn DeviceApi, mode: NetMode) -> NetConfig {
        NetConfig {
            index: api.index(),
            mode,
            runtime_dir: api.runtime_dir(),
        }
    }

    /// The board's own address.
    pub fn board_addr(&self) -> Ipv4Addr {
        board_addr(self.index, self.mode)
    }

    /// The host side of the board's link (where a lab runs its servers).
    pub fn host_addr(&self) -> Ipv4Addr {
        host_addr(self.index, self.mode)
    }

    /// The port a service with well-known port `port` listens on.
    pub fn port(&self, port: u16) -> u16 {
        service_port(port, self.mode)
    }
}

/// The board's address: 198.18.<i>.2 (namespace) or 127.77.0.<i+2> (loopback).
pub fn board_addr(index: u32, mode: NetMode) -> Ipv4Addr {
    match mode {
        NetMode::Netns => Ipv4Addr::new(198, 18, index as u8, 2),
        NetMode::Loopback => Ipv4Addr::new(127, 77, 0, (index + 2) as u8),
    }
}

/// The host side: 198.18.<i>.1 (namespace) or 127.0.0.1 (loopback, shared
/// by all boards; their datagrams and connections come from their own
/// 127.77.0.<i+2> or carry their device id).
pub fn host_addr(index: u32, mode: NetMode) -> Ipv4Addr {
    match mode {
        NetMode::Netns => Ipv4Addr::new(198, 18, index as u8, 1),
        NetMode::Loopback => Ipv4Addr::LOCALHOST,
    }
}

/// Ports below 1024 move up by 10000 on loopback (no root to bind them).
pub fn service_port(port: u16, mode: NetMode) -> u16 {
    match mode {
        NetMode::Loopback if port < 1024 => port + 10000,
        _ => port,
    }
}

/// Name of the board's namespace.
pub fn netns_name(index: u32) -> String {
    format!("hilt-sim{index}")
}

/// Name of the host side of the veth pair (the capture interface).
pub fn host_ifname(index: u32) -> String {
    format!("hsim{index}")
}

#[derive(Debug)]
pub enum NetError {
    /// Index out of range for the address plan.
    BadIndex(u32),
    /// Creating or entering the namespace failed.
    Namespace(String),
    /// Binding a service port failed.
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Certificates or keys could not be made or published.
    Pki(String),
    Io(std::io::Error),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::BadIndex(i) => write!(f, "board index {i} is out of range (0..=253)"),
            NetError::Namespace(m) => write!(f, "network namespace: {m}"),
            NetError::Bind { what, addr, source } => {
                write!(f, "binding {what} on {addr}: {source}")
            }
            NetError::Pki(m) => write!(f, "certificates: {m}"),
            NetError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NetError {}

impl From<std::io::Error> for NetError {
    fn from(e: std::io::Error) -> Self {
        NetError::Io(e)
    }
}

/// Shared stop signal plus the registry of live connections, so that a stop
/// closes them at once instead of waiting for their timeouts.
pub(crate) struct Shutdown {
    stopped: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, TcpStream>>,
}

impl Shutdown {
    fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown {
            stopped: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`; returns true when stopped.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let guard = match self.lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if self.is_stopped() {
            return true;
        }
        let _ = self.cv.wait_timeout(guard, d);
        self.is_stopped()
    }

    fn stop(&self) {
        {
            let _g = match self.lock.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            self.stopped.store(true, Ordering::SeqCst);
            self.cv.notify_all();
        }
        let conns = match self.conns.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for (_, s) in conns {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Registers a connection; the guard unregisters it.
    pub(crate) fn register(self: &Arc<Self>, s: &TcpStream) -> ConnGuard {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = s.try_clone() {
            if let Ok(mut c) = self.conns.lock() {
                c.insert(id, clone);
            }
        }
        if self.is_stopped() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        ConnGuard {
            sd: Arc::clone(self),
            id,
        }
    }
}

pub(crate) struct ConnGuard {
    sd: Arc<Shutdown>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Ok(mut c) = self.sd.conns.lock() {
            c.remove(&self.id);
        }
    }
}

/// Everything the network side runs; dropping it stops everything.
pub struct NetHandle {
    cfg: NetConfig,
    ports: Vec<(&'static str, SocketAddr)>,
    shutdown: Arc<Shutdown>,
    threads: Vec<JoinHandle<()>>,
    /// Threads not waited for on stop: the telemetry client may sit in a
    /// connect for up to its timeout; it exits at its next check and holds
    /// no port.
    detached: Vec<JoinHandle<()>>,
}

impl NetHandle {
    /// The board's address.
    pub fn board_addr(&self) -> Ipv4Addr {
        self.cfg.board_addr()
    }

    /// Listening services as (name, address): `https`, `http`, `telnet`.
    pub fn listeners(&self) -> &[(&'static str, SocketAddr)] {
        &self.ports
    }

    /// The address of one listening service, if it runs.
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.ports.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    /// Stops everything now (also done on drop).
    pub fn stop(&mut self) {
        self.shutdown.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.detached.clear();
    }
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Listeners and sockets made inside the board's namespace.
struct Sockets {
    https: Option<std::net::TcpListener>,
    http: Option<std::net::TcpListener>,
    telnet: Option<std::net::TcpListener>,
    syslog: Option<UdpSocket>,
    beacon: Option<UdpSocket>,
    smp_udp: Option<UdpSocket>,
}

/// How often the telnet manager looks at whether tcp/23 should listen.
const TELNET_POLL: Duration = Duration::from_millis(50);

/// Opens and closes tcp/23 as [`DeviceApi::telnet_wanted`] says, for as
/// long as the network side runs. `initial` is the listener bound at start
/// (when the service was wanted then).
fn spawn_telnet_manager(
    api: Arc<dyn DeviceApi>,
    ns: Option<PathBuf>,
    addr: SocketAddr,
    initial: Option<std::net::TcpListener>,
    sd: Arc<Shutdown>,
    limits: Arc<server::ConnLimit>,
) -> std::io::Result<JoinHandle<()>> {
    /// A running accept loop with its own stop signal.
    struct Running {
        stop: Arc<Shutdown>,
        thread: JoinHandle<()>,
    }
    let serve = |l: std::net::TcpListener,
                 api: &Arc<dyn DeviceApi>,
                 limits: &Arc<server::ConnLimit>|
     -> std::io::Result<Running> {
        let stop = Shutdown::new();
        let api2 = Arc::clone(api);
        let thread = server::spawn_listener(
            "telnet",
            l,
            Arc::clone(&stop),
            Arc::clone(limits),
            move |stream, peer, sd| telnet::serve(api2.as_ref(), stream, peer, sd),
        )?;
        Ok(Running { stop, thread })
    };
    let bind = move |ns: Option<&Path>| {
        netns::run_in(ns, move || std::net::TcpListener::bind(addr)).and_then(|r| r)
    };
    std::thread::Builder::new()
        .name("net-telnet-manager".into())
        .spawn(move || {
            let mut current = initial.and_then(|l| serve(l, &api, &limits).ok());
            api.telnet_listening(current.is_some());
            let mut complained = false;
            loop {
                let want = api.telnet_wanted() && !sd.is_stopped();
                match (want, current.is_some()) {
                    (true, false) => {
                        match bind(ns.as_deref()).and_then(|l| serve(l, &api, &limits)) {
                            Ok(r) => {
                                current = Some(r);
                                complained = false;
                                api.telnet_listening(true);
                            }
                            Err(e) => {
                                if !complained {
                                    eprintln!("hilt-sim: telnet on {addr}: {e}");
                                    complained = true;
                                }
                            }
                        }
                    }
                    (false, true) => {
                        if let Some(r) = current.take() {
                            r.stop.stop();
                            let _ = r.thread.join();
                        }
                        api.telnet_listening(false);
                    }
                    _ => {}
                }
                if sd.is_stopped() && current.is_none() {
                    return;
                }
                sd.sleep(TELNET_POLL);
            }
        })
}

/// Starts the board's network side for the firmware that just booted.
pub fn start(api: Arc<dyn DeviceApi>, cfg: NetConfig) -> Result<NetHandle, NetError> {
    if cfg.index > 253 {
        return Err(NetError::BadIndex(cfg.index));
    }
    let personality = api.personality();
    let ns = match cfg.mode {
        NetMode::Netns => Some(netns::ensure(cfg.index).map_err(NetError::Namespace)?),
        NetMode::Loopback => None,
    };
    let pki = Arc::new(pki::Pki::load(api.as_ref(), &cfg)?);

    let board = IpAddr::V4(cfg.board_addr());
    let https_addr = SocketAddr::new(board, cfg.port(443));
    let http_addr = SocketAddr::new(board, cfg.port(80));
    let telnet_addr = SocketAddr::new(board, cfg.port(23));
    let want_https = personality.https_api;
    let want_http = personality.plaintext_api;
    let want_telnet = api.telnet_wanted();
    let want_syslog = personality.syslog;
    let want_beacon = personality.plaintext_beacon;
    let smp_udp_addr = SocketAddr::new(board, cfg.port(crate::shapes::update::SMP_UDP_PORT));
    let want_smp_udp = personality
        .shapes
        .iter()
        .any(|s| s == crate::shapes::update::SMP_UDP_UPDATE);

    let sockets = netns::run_in(ns.as_deref(), move || -> Result<Sockets, NetError> {
        let bind = |what: &'static str, addr: SocketAddr| {
            std::net::TcpListener::bind(addr).map_err(|source| NetError::Bind {
                what,
                addr,
                source,
            })
        };
        Ok(Sockets {
            https: if want_https {
                Some(bind("https", https_addr)?)
            } else {
                None
            },
            http: if want_http {
                Some(bind("http", http_addr)?)
            } else {
                None
            },
            telnet: if want_telnet {
                Some(bind("telnet", telnet_addr)?)
            } else {
                None
            },
            syslog: if want_syslog {
                let a = SocketAddr::new(board, 0);
                Some(UdpSocket::bind(a).map_err(|source| NetError::Bind {
                    what: "syslog",
                    addr: a,
                    source,
                })?)
            } else {
                None
            },
            beacon: if want_beacon {
                let a = SocketAddr::new(board, 0);
                Some(UdpSocket::bind(a).map_err(|source| NetError::Bind {
                    what: "beacon",
                    addr: a,
                    source,
                })?)
            } else {
                None
            },
            smp_udp: if want_smp_udp {
                Some(
                    UdpSocket::bind(smp_udp_addr).map_err(|source| NetError::Bind {
                        what: "smp-udp",
                        addr: smp_udp_addr,
                        source,
                    })?,
                )
            } else {
                None
            },
        })
    })
    .map_err(|e| NetError::Namespace(e.to_string()))??;

    let shutdown = Shutdown::new();
    let mut handle = NetHandle {
        cfg: cfg.clone(),
        ports: Vec::new(),
        shutdown: Arc::clone(&shutdown),
        threads: Vec::new(),
        detached: Vec::new(),
    };
    let limits = Arc::new(server::ConnLimit::new(server::MAX_CONNECTIONS));

    let banner = personality
        .banner_leak
        .then(|| api.identity().firmware_version);
    if let Some(l) = sockets.https {
        handle.ports.push(("https", l.local_addr()?));
        let ctx = api::ApiContext {
            api: Arc::clone(&api),
            scheme: "https",
            banner: banner.clone(),
            camera: None,
            form: personality
                .form_login_api
                .then(|| form_login::FormLogin::new(personality.form_login_accepts_any_password)),
            legacy_tls: personality
                .tls_legacy_versions
                .then(|| Arc::new(pki.device_chain().to_vec())),
        };
        let tls = pki.server_config()?;
        handle.threads.push(server::spawn_listener(
            "https",
            l,
            Arc::clone(&shutdown),
            Arc::clone(&limits),
            move |stream, peer, sd| api::serve_tls(&ctx, &tls, stream, peer, sd),
        )?);
    }
    if let Some(l) = sockets.http {
        handle.ports.push(("http", l.local_addr()?));
        let ctx = api::ApiContext {
            api: Arc::clone(&api),
            scheme: "http",
            banner: banner.clone(),
            legacy_tls: None,
            camera: personality.camera_api.then(|| api::Camera {
                nonce_key: api.device_secret_material("http-digest-nonce"),
                any_password: personality.digest_accepts_any_password,
            }),
            form: None,
        };
        handle.threads.push(server::spawn_listener(
            "http",
            l,
            Arc::clone(&shutdown),
            Arc::clone(&limits),
            move |stream, peer, sd| api::serve_plain(&ctx, stream, peer, sd),
        )?);
    }
    if let Some(l) = &sockets.telnet {
        handle.ports.push(("telnet", l.local_addr()?));
    }
    handle.threads.push(spawn_telnet_manager(
        Arc::clone(&api),
        ns.clone(),
        telnet_addr,
        sockets.telnet,
        Arc::clone(&shutdown),
        Arc::clone(&limits),
    )?);
    if let Some(sock) = sockets.beacon {
        handle.threads.push(beacon::spawn(
            Arc::clone(&api),
            cfg.clone(),
            sock,
            Arc::clone(&shutdown),
        )?);
    }
    if let Some(sock) = sockets.smp_udp {
        handle.ports.push(("smp-udp", sock.local_addr()?));
        handle.threads.push(smp_udp::spawn(
            Arc::clone(&api),
            sock,
            Arc::clone(&shutdown),
        )?);
    }
    if let Some(sock) = sockets.syslog {
        handle.threads.push(syslog::spawn(
            Arc::clone(&api),
            cfg.clone(),
            sock,
            Arc::clone(&shutdown),
        )?);
    }
    if personality.telemetry {
        handle.detached.push(telemetry::spawn(
            Arc::clone(&api),
            cfg.clone(),
            ns.clone(),
            Arc::clone(&pki),
            telemetry::ClientFlaws::of(&personality),
            fixed_telemetry(&personality, &cfg),
            Arc::clone(&shutdown),
        )?);
    }
    if personality
        .shapes
        .iter()
        .any(|s| s == crate::shapes::second_tls_client::NAME)
    {
        handle.detached.push(ota_check::spawn(
            Arc::clone(&api),
            cfg.clone(),
            ns.clone(),
            Arc::clone(&pki),
            ota_check::flaws(&personality),
            Arc::clone(&shutdown),
        )?);
    }
    Ok(handle)
}

/// The built-in telemetry server of a `fixed-telemetry` device.
fn fixed_telemetry(personality: &Personality, cfg: &NetConfig) -> Option<telemetry::FixedServer> {
    use crate::shapes::fixed_telemetry as shape;
    personality
        .shapes
        .iter()
        .any(|s| s == shape::NAME)
        .then(|| telemetry::FixedServer {
            server: shape::server(cfg.index, cfg.mode == NetMode::Loopback),
            interval: shape::interval(),
        })
}

/// Removes board `index`'s namespace and veth pair (for `hilt-sim down`).
/// Succeeds when there was nothing to remove.
pub fn teardown(index: u32) -> Result<(), NetError> {
    netns::teardown(index).map_err(NetError::Namespace)
}

/// Parses `host:port` where host is an IPv4/IPv6 literal or `localhost`
/// (the simulated device has no DNS resolver, so it never sends a query).
pub fn parse_host_port(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host.eq_ignore_ascii_case("localhost") {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Whether the board may send to `addr` in this mode: on loopback only
/// loopback destinations (the board has no other link); in a namespace the
/// only route is its /24, enforced by the kernel.
pub(crate) fn destination_allowed(addr: &SocketAddr, mode: NetMode) -> bool {
    match mode {
        NetMode::Loopback => addr.ip().is_loopback(),
        NetMode::Netns => true,
    }
}

/// A destination from configuration key `key`: unset or empty means
/// `default` (`None`: nothing is sent until one is configured); `off`
/// disables. `Err` carries a reason for the event log.
pub(crate) fn configured_destination(
    api: &dyn DeviceApi,
    key: &str,
    default: Option<SocketAddr>,
    mode: NetMode,
) -> Result<Option<SocketAddr>, String> {
    let raw = api.config_get(key).unwrap_or_default();
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr = if raw.is_empty() {
        match default {
            Some(a) => a,
            None => return Ok(None),
        }
    } else {
        parse_host_port(raw)
            .ok_or_else(|| format!("{key}: not an IP-literal host:port: {raw:?}"))?
    };
    if !destination_allowed(&addr, mode) {
        return Err(format!("{key}: {addr} is not reachable from this board"));
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_contract() {
        assert_eq!(board_addr(3, NetMode::Netns), Ipv4Addr::new(198, 18, 3, 2));
        assert_eq!(host_addr(3, NetMode::Netns), Ipv4Addr::new(198, 18, 3, 1));
        assert_eq!(
            board_addr(0, NetMode::Loopback),
            Ipv4Addr::new(127, 77, 0, 2)
        );
        assert_eq!(service_port(443, NetMode::Loopback), 10443);
        assert_eq!(service_port(8883, NetMode::Loopback), 8883);
        assert_eq!(service_port(443, NetMode::Netns), 443);
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            parse_host_port("198.18.0.1:8883"),
            Some("198.18.0.1:8883".parse().expect("literal"))
        );
        assert_eq!(
            parse_host_port("localhost:5514"),
            Some("127.0.0.1:5514".parse().expect("literal"))
        );
        assert_eq!(parse_host_port("example.com:80"), None);
        assert_eq!(parse_host_port("198.18.0.1"), None);
        assert_eq!(parse_host_port("198.18.0.1:99999"), None);
    }
}
