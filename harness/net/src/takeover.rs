//! Taking over a server address on the board's link, so a device whose TLS
//! client calls a fixed address reaches hilt's servers instead.
//!
//! Two ways, both confined to the board's link:
//! - [`AddressClaim`]: the server's address is added to the host side of
//!   the link (`ip addr add ADDR/32 dev IF`), with a lifetime so that the
//!   kernel drops it by itself even if hilt is killed; it is removed again
//!   on release (and on drop). Only an address inside a prefix the
//!   interface already holds is taken: the board reaches it on the link,
//!   and no other route of this host changes meaning.
//! - [`NatRedirect`]: a DNAT rule in the board's own network namespace
//!   (`nft`, table `hilt_takeover`) sends connections to the server to
//!   this host's address on the link, where hilt listens.
//!
//! Both shell out to the tools a lab already has (iproute2, nftables):
//! what they change is then visible with the same tools.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::NetError;

/// nftables table hilt owns in a board's namespace.
pub const NAT_TABLE: &str = "hilt_takeover";

/// One prefix held by an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub address: IpAddr,
    pub len: u8,
}

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

/// The IPv4 and IPv6 prefixes `interface` holds (getifaddrs, in this
/// thread's network namespace).
pub fn interface_prefixes(interface: &str) -> Result<Vec<Prefix>, NetError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(NetError::io("getifaddrs", std::io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name from getifaddrs.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() != interface.as_bytes() {
            continue;
        }
        // SAFETY: address and netmask point at sockaddrs of the family
        // the address names.
        if let (Some(address), Some(mask)) =
            unsafe { (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask)) }
        {
            let len = match mask {
                IpAddr::V4(m) => u32::from(m).count_ones(),
                IpAddr::V6(m) => u128::from(m).count_ones(),
            } as u8;
            out.push(Prefix { address, len });
        }
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The IP in a sockaddr of family AF_INET or AF_INET6.
///
/// # Safety
/// `sa` must point at a valid sockaddr of the family it names.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    match i32::from((*sa).sa_family) {
        libc::AF_INET => {
            let v4 = &*(sa.cast::<libc::sockaddr_in>());
            Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            let v6 = &*(sa.cast::<libc::sockaddr_in6>());
            Some(IpAddr::from(v6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// The prefix of `interface` that holds `ip`, or why `ip` is not on that
/// link (then taking it over would claim an address somewhere else).
pub fn on_link(interface: &str, ip: IpAddr) -> Result<Prefix, NetError> {
    let prefixes = interface_prefixes(interface)?;
    if let Some(p) = prefixes
        .iter()
        .filter(|p| p.len > 0 && p.address.is_ipv4() == ip.is_ipv4())
        .find(|p| p.contains(ip))
    {
        return Ok(*p);
    }
    let held = if prefixes.is_empty() {
        "no address".to_string()
    } else {
        prefixes
            .iter()
            .map(Prefix::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(NetError::Setup(format!(
        "{ip} is not on the board's link {interface} (which holds {held}): hilt takes over only addresses on the board's link"
    )))
}

/// Whether this host can bind `ip` (it is one of its addresses, or in
/// 127.0.0.0/8).
pub fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), NetError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let line = format!("{program} {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| {
        NetError::Setup(format!(
            "running {line}: {e} (is {program} installed? scripts/install-deps.sh)"
        ))
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| NetError::Setup(format!("writing to {line}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Setup(format!("running {line}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Setup(format!(
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn host_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// Whether `interface` holds exactly `ip`.
pub fn holds(interface: &str, ip: IpAddr) -> Result<bool, NetError> {
    Ok(interface_prefixes(interface)?
        .iter()
        .any(|p| p.address == ip))
}

/// A server address taken over on the host side of the board's link.
#[derive(Debug)]
pub struct AddressClaim {
    interface: String,
    ip: IpAddr,
    /// Whether hilt added the address (false: the host held it already,
    /// e.g. anything in 127.0.0.0/8, and nothing is removed).
    added: bool,
}

impl AddressClaim {
    /// Adds `ip` to `interface` for at most `lifetime` (rounded up to
    /// whole seconds, at least 10), unless this host holds it already.
    /// Refuses an address outside the interface's prefixes.
    pub fn take(interface: &str, ip: IpAddr, lifetime: Duration) -> Result<Self, NetError> {
        on_link(interface, ip)?;
        if is_local(ip) {
            return Ok(Self {
                interface: interface.to_string(),
                ip,
                added: false,
            });
        }
        let secs = lifetime.as_secs().max(10).to_string();
        let prefix = host_prefix(ip);
        let mut args = vec!["addr", "add", &prefix, "dev", interface];
        if ip.is_ipv6() {
            // No duplicate address detection: the address must serve at once.
            args.push("nodad");
        }
        args.extend(["noprefixroute", "valid_lft", &secs, "preferred_lft", &secs]);
        run("ip", &args, None)?;
        let claim = Self {
            interface: interface.to_string(),
            ip,
            added: true,
        };
        // The address serves once it can be bound.
        let end = Instant::now() + Duration::from_secs(2);
        while !is_local(ip) {
            if Instant::now() > end {
                return Err(NetError::Setup(format!(
                    "{ip} was added to {interface} but cannot be bound"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(claim)
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Whether hilt added the address (and so will remove it).
    pub fn added(&self) -> bool {
        self.added
    }

    /// Removes the address if hilt added it, and verifies it is gone.
    pub fn release(mut self) -> Result<(), NetError> {
        let added = std::mem::replace(&mut self.added, false);
        if added {
            release_address(&self.interface, self.ip)
        } else {
            Ok(())
        }
    }
}

impl Drop for AddressClaim {
    fn drop(&mut self) {
        if self.added {
            let _ = release_address(&self.interface, self.ip);
        }
    }
}

/// Removes `ip` (as a host prefix) from `interface` and verifies it is
/// gone; an address already gone (or an interface gone with it) is fine.
/// For undo steps, which must be safe to run twice.
pub fn release_address(interface: &str, ip: IpAddr) -> Result<(), NetError> {
    match holds(interface, ip) {
        Ok(false) => return Ok(()),
        Ok(true) => {}
        Err(e) => return Err(e),
    }
    let prefix = host_prefix(ip);
    let removed = run("ip", &["addr", "del", &prefix, "dev", interface], None);
    if holds(interface, ip)? {
        return Err(removed.err().unwrap_or_else(|| {
            NetError::Setup(format!("{ip} is still on {interface} after removing it"))
        }));
    }
    Ok(())
}

/// A DNAT rule in a board's network namespace that sends its connections
/// to `server` on to `to` (this host's address on the link).
#[derive(Debug)]
pub struct NatRedirect {
    netns: String,
    family: &'static str,
    installed: bool,
}

impl NatRedirect {
    /// Installs (or replaces) the rule: connections the namespace makes or
    /// forwards to `server` (TCP) go to `to`.
    pub fn install(netns: &str, server: SocketAddr, to: SocketAddr) -> Result<Self, NetError> {
        if server.is_ipv4() != to.is_ipv4() {
            return Err(NetError::Setup(format!(
                "cannot redirect {server} to {to}: different IP versions"
            )));
        }
        let family = if server.is_ipv4() { "ip" } else { "ip6" };
        let target = match to {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let rule = format!(
            "{family} daddr {} tcp dport {} dnat to {target}",
            server.ip(),
            server.port()
        );
        let _ = remove_redirect(netns, family);
        let script = format!(
            "table {family} {NAT_TABLE} {{\n  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; {rule}; }}\n  chain output {{ type nat hook output priority -100; policy accept; {rule}; }}\n}}\n"
        );
        run(
            "ip",
            &["netns", "exec", netns, "nft", "-f", "-"],
            Some(&script),
        )?;
        Ok(Self {
            netns: netns.to_string(),
            family,
            installed: true,
        })
    }

    /// Removes the rule and verifies it is gone.
    pub fn release(mut self) -> Result<(), NetError> {
        self.installed = false;
        remove_redirect(&self.netns, self.family)
    }
}

impl Drop for NatRedirect {
    fn drop(&mut self) {
        if self.installed {
            let _ = remove_redirect(&self.netns, self.family);
        }
    }
}

/// Whether hilt's table exists in `netns` for `family` (`ip` or `ip6`).
pub fn redirect_present(netns: &str, family: &str) -> Result<bool, NetError> {
    match run(
        "ip",
        &[
            "netns", "exec", netns, "nft", "list", "table", family, NAT_TABLE,
        ],
        None,
    ) {
        Ok(()) => Ok(true),
        Err(NetError::Setup(why)) if why.contains("No such file or directory") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes hilt's table from `netns` (safe to run twice) and verifies it
/// is gone.
pub fn remove_redirect(netns: &str, family: &str) -> Result<(), NetError> {
    if !redirect_present(netns, family)? {
        return Ok(());
    }
    run(
        "ip",
        &[
            "netns", "exec", netns, "nft", "delete", "table", family, NAT_TABLE,
        ],
        None,
    )?;
    if redirect_present(netns, family)? {
        return Err(NetError::Setup(format!(
            "table {family} {NAT_TABLE} is still in namespace {netns} after removing it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_contain_their_addresses_only() {
        let p = Prefix {
            address: "198.18.5.1".parse().expect("ip"),
            len: 24,
        };
        assert!(p.contains("198.18.5.10".parse().expect("ip")));
        assert!(!p.contains("198.18.6.10".parse().expect("ip")));
        assert!(!p.contains("::1".parse().expect("ip")));
        let all = Prefix {
            address: "0.0.0.0".parse().expect("ip"),
            len: 0,
        };
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn loopback_holds_127_8_and_nothing_else() {
        let lo = on_link("lo", "127.77.1.5".parse().expect("ip")).expect("on lo");
        assert_eq!(lo.len, 8);
        let e = on_link("lo", "198.18.0.10".parse().expect("ip")).expect_err("not on lo");
        assert!(e.to_string().contains("not on the board's link lo"), "{e}");
        // Held already: nothing is added, nothing removed.
        let claim = AddressClaim::take(
            "lo",
            "127.77.1.5".parse().expect("ip"),
            Duration::from_secs(30),
        )
        .expect("claim");
        assert!(!claim.added());
        claim.release().expect("release");
    }
}
