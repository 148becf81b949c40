//! Helpers for the capture tests: root check, network namespaces behind a
//! veth pair, processes started in them, and tshark.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Live captures and namespaces need root (CI runs as root).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns from the test, saying why, when not root.
#[macro_export]
macro_rules! need_root {
    () => {
        if !common::is_root() {
            assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "SKIPPED: live captures need root (or CAP_NET_RAW/CAP_NET_ADMIN): install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
            eprintln!("SKIPPED: live captures need root (or CAP_NET_RAW/CAP_NET_ADMIN)");
            return;
        }
    };
}

// `ip`, daemons and tools, run as every test crate here runs them.
#[path = "../../../../tests/support/command.rs"]
mod command;
#[allow(unused_imports)] // each test crate uses some of them
pub use command::{run, run_ok};

/// Whether `cmd` is on PATH (callers skip only under HILT_ALLOW_SKIP).
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace with one veth pair (`host_if` here, `addr` inside).
/// Dropping it kills the processes started in it and deletes it (and so
/// the veth pair).
pub struct Netns {
    pub name: String,
    pub host_if: String,
    pub host_addr: Ipv4Addr,
    pub addr: Ipv4Addr,
    children: Vec<Child>,
}

impl Netns {
    pub fn new() -> Self {
        let pid = std::process::id();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("hcap-{pid}-{n}");
        let host_if = format!("hc{}a{n}", pid % 1_000_000);
        let ns_if = format!("hc{}b{n}", pid % 1_000_000);
        // A /29 in 198.19.0.0/16 not already on this host (the simulated
        // boards use 198.18.x).
        let existing =
            String::from_utf8_lossy(&run(&["ip", "-4", "-o", "addr"]).stdout).to_string();
        let mut idx = (pid.wrapping_mul(131).wrapping_add(n * 13)) % 8191 + 1;
        let (host_addr, addr) = loop {
            let base = u32::from(Ipv4Addr::new(198, 19, 0, 0)) + idx * 8;
            let h = Ipv4Addr::from(base + 1);
            let d = Ipv4Addr::from(base + 2);
            if !existing.contains(&format!(" {h}/")) && !existing.contains(&format!(" {d}/")) {
                break (h, d);
            }
            idx = idx % 8191 + 1;
        };
        run_ok(&["ip", "netns", "add", &name]);
        let ns = Self {
            name,
            host_if,
            host_addr,
            addr,
            children: Vec::new(),
        };
        run_ok(&[
            "ip",
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        run_ok(&["ip", "link", "set", &ns_if, "netns", &ns.name]);
        run_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{}/29", ns.host_addr),
            "dev",
            &ns.host_if,
        ]);
        run_ok(&["ip", "link", "set", &ns.host_if, "up"]);
        ns.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{}/29", ns.addr),
            "dev",
            &ns_if,
        ]);
        ns.exec_ok(&["ip", "link", "set", &ns_if, "up"]);
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        // Let IPv6 duplicate address detection and router solicitations
        // settle on the host side so they do not interleave with a test.
        let _ = run(&[
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", ns.host_if),
        ]);
        ns
    }

    pub fn command(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(cmd);
        c
    }

    pub fn exec_ok(&self, cmd: &[&str]) -> Output {
        let out = self
            .command(cmd)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?} in {}: {e}", self.name));
        assert!(
            out.status.success(),
            "{cmd:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts a long-running process in the namespace; killed on drop.
    pub fn spawn(&mut self, cmd: &[&str]) {
        let child = self
            .command(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?} in {}: {e}", self.name));
        self.children.push(child);
    }

    /// Waits until something accepts TCP connections on `port` inside.
    pub fn wait_port(&self, port: u16, timeout: Duration) {
        let until = Instant::now() + timeout;
        let addr = SocketAddr::from((self.addr, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < until,
                "nothing listens on {addr} after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            // `ip netns exec` execs the program, so this pid is the server.
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever those servers forked (telnetd, login, a shell) lives in
        // this namespace only, which this test made.
        let pids = run(&["ip", "netns", "pids", &self.name]);
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) on a pid listed in our own namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = run(&["ip", "link", "del", &self.host_if]);
    }
}

/// tshark must open the file and read its first packet (`-c 1`).
pub fn tshark_reads(path: &Path) {
    let out = run(&[
        "tshark",
        "-n",
        "-r",
        path.to_str().unwrap_or_default(),
        "-c",
        "1",
    ]);
    assert!(
        out.status.success(),
        "tshark -r {} -c 1 failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Packets in a savefile as tshark counts them.
pub fn tshark_count(path: &Path) -> u64 {
    let out = run_ok(&[
        "tshark",
        "-n",
        "-r",
        path.to_str().unwrap_or_default(),
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
}

/// tshark's fields for the frames matching a display filter, one line per
/// frame, fields split on tabs.
pub fn tshark_fields(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "tshark",
        "-n",
        "-r",
        path.to_str().unwrap_or_default(),
        "-Y",
        filter,
        "-T",
        "fields",
    ];
    for f in fields {
        args.push("-e");
        args.push(f);
    }
    let out = run_ok(&args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}
