//! The board's network namespace: creation with iproute2's `ip`, and
//! per-thread entry with `setns(2)`.
//!
//! Layout for board `i`: namespace `hilt-sim<i>` (bind-mounted by `ip` at
//! `/run/netns/hilt-sim<i>`), veth pair `hsim<i>` (host, 198.18.<i>.1/24) and
//! `eth0` inside the namespace (board, 198.18.<i>.2/24), both with the
//! broadcast address 198.18.<i>.255, `lo` up. No default
//! route: the board reaches only its link, so nothing it sends can leave
//! the host.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{host_ifname, netns_name};

/// Runs `ip` with `args`; `Err` carries its stderr.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Path of the namespace's bind mount.
pub fn ns_path(index: u32) -> PathBuf {
    PathBuf::from("/run/netns").join(netns_name(index))
}

/// Whether the namespace and link for `index` exist and are configured as
/// expected (then a new boot reuses them, and a capture on the host side
/// survives the reboot). Whether the host side is up is the lab's business,
/// not the board's: a cable pulled on the host stays pulled across the
/// board's reboots.
fn healthy(index: u32) -> bool {
    let ns = netns_name(index);
    let host = host_ifname(index);
    if !ns_path(index).exists() {
        return false;
    }
    // Each side needs its address and the link's broadcast address (the
    // board's broadcasts must leave it as such); the board's side must be
    // up (its carrier is down while the host side is).
    let brd = format!("brd 198.18.{index}.255");
    let host_ok = ip(&["-o", "-4", "addr", "show", "dev", &host])
        .is_ok_and(|o| o.contains(&format!("198.18.{index}.1/24")) && o.contains(&brd));
    let board_ok = ip(&["-n", &ns, "-o", "-4", "addr", "show", "dev", "eth0"])
        .map(|o| o.contains(&format!("198.18.{index}.2/24")) && o.contains(&brd))
        .unwrap_or(false)
        && ip(&["-n", &ns, "-o", "link", "show", "dev", "eth0"]).is_ok_and(|o| set_up(&o));
    host_ok && board_ok
}

/// Whether `ip -o link show` output has the interface administratively up
/// (the `UP` flag in `<...>`), whatever its carrier.
fn set_up(link: &str) -> bool {
    link.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .is_some_and(|(flags, _)| flags.split(',').any(|f| f == "UP"))
}

/// Makes sure namespace `hilt-sim<index>` and its veth pair exist; removes
/// and recreates a stale or half-made one. Returns the namespace path.
pub fn ensure(index: u32) -> Result<PathBuf, String> {
    if healthy(index) {
        return Ok(ns_path(index));
    }
    teardown(index)?;
    let ns = netns_name(index);
    let host = host_ifname(index);
    let peer = format!("hsim{index}b");
    let host_cidr = format!("198.18.{index}.1/24");
    let board_cidr = format!("198.18.{index}.2/24");
    let steps: Vec<Vec<&str>> = vec![
        vec!["netns", "add", &ns],
        vec!["link", "add", &host, "type", "veth", "peer", "name", &peer],
        vec!["link", "set", &peer, "netns", &ns],
        vec!["-n", &ns, "link", "set", &peer, "name", "eth0"],
        vec!["addr", "add", &host_cidr, "brd", "+", "dev", &host],
        vec!["link", "set", &host, "up"],
        vec![
            "-n",
            &ns,
            "addr",
            "add",
            &board_cidr,
            "brd",
            "+",
            "dev",
            "eth0",
        ],
        vec!["-n", &ns, "link", "set", "eth0", "up"],
        vec!["-n", &ns, "link", "set", "lo", "up"],
    ];
    for step in steps {
        if let Err(e) = ip(&step) {
            let _ = teardown(index);
            return Err(e);
        }
    }
    Ok(ns_path(index))
}

/// Removes the namespace and the host side of the veth pair. Deleting the
/// namespace destroys the pair asynchronously, so the host link is deleted
/// explicitly too.
pub fn teardown(index: u32) -> Result<(), String> {
    let ns = netns_name(index);
    let host = host_ifname(index);
    if ns_path(index).exists() {
        ip(&["netns", "del", &ns])?;
    }
    if ip(&["link", "show", "dev", &host]).is_ok() {
        // It may vanish between the check and the delete: ignore that.
        let _ = ip(&["link", "del", "dev", &host]);
    }
    let peer = format!("hsim{index}b");
    if ip(&["link", "show", "dev", &peer]).is_ok() {
        let _ = ip(&["link", "del", "dev", &peer]);
    }
    Ok(())
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &Path) -> std::io::Result<()> {
    let f = File::open(path)?;
    // SAFETY: setns on a valid, open namespace file descriptor; it changes
    // only the calling thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `f` on a fresh thread that first joins namespace `ns` (or stays in
/// the host namespace for `None`) and returns its result. Sockets made by
/// `f` stay in that namespace whichever thread later uses them.
pub fn run_in<T, F>(ns: Option<&Path>, f: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns = ns.map(Path::to_path_buf);
    std::thread::Builder::new()
        .name("net-setns".into())
        .spawn(move || -> std::io::Result<T> {
            if let Some(p) = ns {
                enter(&p)?;
            }
            Ok(f())
        })?
        .join()
        .map_err(|_| std::io::Error::other("namespace thread panicked"))?
}
