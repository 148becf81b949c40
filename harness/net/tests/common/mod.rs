//! Test support: network namespaces joined to this host by a veth pair,
//! services started inside them, and external tools that must be present.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

// `ip`, daemons and tools, run as every test crate here runs them.
#[path = "../../../../tests/support/command.rs"]
mod command;
#[allow(unused_imports)] // each test crate uses some of them
pub use command::{require_tool, run, run_ok};

/// A network namespace with one veth pair: `host_addr` on this side,
/// `addr` inside, and `vacant` (same /29, nobody answers ARP for it). Deleted (with every process started in it) on drop.
pub struct Netns {
    pub name: String,
    pub host_if: String,
    pub host_addr: Ipv4Addr,
    pub addr: Ipv4Addr,
    pub vacant: Ipv4Addr,
    children: Vec<Child>,
}

impl Netns {
    pub fn new() -> Self {
        let pid = std::process::id();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("hnet-{pid}-{n}");
        let host_if = format!("hn{}x{n}", pid % 1_000_000);
        let ns_if = format!("hn{}y{n}", pid % 1_000_000);
        // A /29 in 198.19.0.0/16 (the upper half of the benchmarking range,
        // away from the simulated boards' 198.18.x addresses).
        let existing =
            String::from_utf8_lossy(&run(&["ip", "-4", "-o", "addr"]).stdout).to_string();
        let mut idx = (pid.wrapping_mul(31).wrapping_add(n * 7)) % 8191 + 1;
        let (host_addr, addr, vacant) = loop {
            let base = u32::from(Ipv4Addr::new(198, 19, 0, 0)) + idx * 8;
            let h = Ipv4Addr::from(base + 1);
            let d = Ipv4Addr::from(base + 2);
            if !existing.contains(&format!(" {h}/")) && !existing.contains(&format!(" {d}/")) {
                break (h, d, Ipv4Addr::from(base + 5));
            }
            idx = idx % 8191 + 1;
        };
        Self::create(name, host_if, ns_if, host_addr, addr, vacant)
    }

    /// A namespace with a fixed name and /29 (tests that must stay in
    /// their own range): `hilt-udp-<tag>`, links `hu<tag>x`/`hu<tag>y`,
    /// 198.19.<third>.<base+1> here, <base+2> inside, <base+5> vacant.
    pub fn fixed(tag: &str, third: u8, base: u8) -> Self {
        let name = format!("hilt-udp-{tag}");
        let host_if = format!("hu{tag}x");
        let ns_if = format!("hu{tag}y");
        // Left over from a run that was killed.
        let _ = run(&["ip", "link", "del", &host_if]);
        let _ = run(&["ip", "netns", "del", &name]);
        let at = |n: u8| Ipv4Addr::new(198, 19, third, base + n);
        Self::create(name, host_if, ns_if, at(1), at(2), at(5))
    }

    fn create(
        name: String,
        host_if: String,
        ns_if: String,
        host_addr: Ipv4Addr,
        addr: Ipv4Addr,
        vacant: Ipv4Addr,
    ) -> Self {
        run_ok(&["ip", "netns", "add", &name]);
        let ns = Self {
            name,
            host_if,
            host_addr,
            addr,
            vacant,
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
        // A new veth pair takes a moment to get its carrier; hilt's link
        // check refuses a link without one.
        let carrier = format!("/sys/class/net/{}/carrier", ns.host_if);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until
            && std::fs::read_to_string(&carrier)
                .map(|c| c.trim() != "1")
                .unwrap_or(true)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        ns
    }

    fn ns_cmd(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(cmd);
        c
    }

    pub fn exec(&self, cmd: &[&str]) -> Output {
        self.ns_cmd(cmd)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?} in {}: {e}", self.name))
    }

    pub fn exec_ok(&self, cmd: &[&str]) {
        let out = self.exec(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The link to the namespace's address, bound to this side of the veth
    /// and its host address (as hilt reaches a board).
    pub fn link(&self) -> hilt_net::Link {
        hilt_net::Link::new(
            IpAddr::V4(self.addr),
            Some(self.host_if.clone()),
            Some(IpAddr::V4(self.host_addr)),
        )
        .expect("link")
    }

    /// Starts a long-running process inside the namespace; killed on drop.
    pub fn spawn(&mut self, cmd: &[&str]) {
        let child = self
            .ns_cmd(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?} in {}: {e}", self.name));
        self.children.push(child);
    }

    /// Waits until `port` on the namespace address accepts connections.
    pub fn wait_tcp(&self, port: u16) {
        let target = SocketAddr::from((self.addr, port));
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing listens on {target} after 15 s");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything else still running in the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Open TCP ports nmap's connect scan finds (`-sT -p- -n -Pn -oG -`).
pub fn nmap_open_ports(addr: &str) -> (Vec<u16>, Duration) {
    require_tool("nmap");
    let started = Instant::now();
    let out = run(&["nmap", "-sT", "-p-", "-n", "-Pn", "-oG", "-", addr]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "nmap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        parse_nmap_grepable(&String::from_utf8_lossy(&out.stdout)),
        took,
    )
}

pub fn parse_nmap_grepable(text: &str) -> Vec<u16> {
    let mut open = Vec::new();
    for line in text.lines() {
        let Some(idx) = line.find("Ports: ") else {
            continue;
        };
        let rest = &line[idx + 7..];
        let rest = rest.split('\t').next().unwrap_or("");
        for entry in rest.split(", ") {
            let mut f = entry.split('/');
            let port = f.next().and_then(|p| p.trim().parse::<u16>().ok());
            let state = f.next();
            if let (Some(p), Some("open")) = (port, state) {
                open.push(p);
            }
        }
    }
    open.sort_unstable();
    open
}
