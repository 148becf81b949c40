//! Real SSH servers (Debian's dropbear and OpenSSH) as devices in a
//! network namespace of their own, with made-up accounts: each server runs
//! in a private mount namespace where its own passwd and shadow files are
//! bound over /etc/passwd and /etc/shadow, so no account of this host is
//! ever offered or changed. Everything (processes, namespace, veth, files)
//! goes on drop, a failed test included.
//!
//! Shared by hilt-net's SSH tests and the CLI tests (`#[path]`).
#![allow(dead_code)]

use super::command::{run, run_ok};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails the test with the install hint when `tool` is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}`, which is not on PATH \
         (scripts/install-deps.sh installs it: dropbear-bin, openssh-server, openssh-client)"
    );
}

/// A namespace `hilt-ssh-<tag>` behind a veth pair on a /30: this host is
/// `.1` of `base`, the device `.2`.
pub struct SshDevice {
    pub ns: String,
    pub host_if: String,
    pub host_addr: Ipv4Addr,
    pub addr: Ipv4Addr,
    pub dir: PathBuf,
    /// Accounts written from now on have their password expired (last
    /// changed on day 0: a login must change it first).
    pub expired: bool,
    children: Vec<Child>,
}

impl SshDevice {
    /// `tag`: at most 4 characters (interface names are short); `base`:
    /// the /30's first address, in the caller's own subnet.
    pub fn new(tag: &str, base: Ipv4Addr) -> Self {
        assert!(tag.len() <= 4, "tag too long for an interface name");
        for tool in ["ip", "unshare", "openssl"] {
            require(tool);
        }
        let ns = format!("hilt-ssh-{tag}");
        let host_if = format!("hilt-ssh-{tag}h");
        let dev_if = format!("hilt-ssh-{tag}d");
        let b = u32::from(base);
        let (host_addr, addr) = (Ipv4Addr::from(b + 1), Ipv4Addr::from(b + 2));
        // What a crashed earlier run may have left.
        let _ = run(&["ip", "link", "del", &host_if]);
        let _ = run(&["ip", "netns", "del", &ns]);
        let dir = std::env::temp_dir().join(format!("{ns}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test directory");
        let dev = Self {
            ns,
            host_if,
            host_addr,
            addr,
            dir,
            expired: false,
            children: Vec::new(),
        };
        run_ok(&["ip", "netns", "add", &dev.ns]);
        run_ok(&[
            "ip",
            "link",
            "add",
            &dev.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &dev_if,
        ]);
        run_ok(&["ip", "link", "set", &dev_if, "netns", &dev.ns]);
        run_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{host_addr}/30"),
            "dev",
            &dev.host_if,
        ]);
        run_ok(&["ip", "link", "set", &dev.host_if, "up"]);
        let inside = format!(
            "ip addr add {addr}/30 dev {dev_if} && ip link set {dev_if} up && ip link set lo up"
        );
        run_ok(&["ip", "netns", "exec", &dev.ns, "sh", "-c", &inside]);
        dev
    }

    /// Writes the server's own passwd and shadow: `accounts` as
    /// (user, password) with SHA-512 crypt hashes; `sshd` for OpenSSH's
    /// privilege separation.
    fn accounts(&self, name: &str, accounts: &[(&str, &str)]) -> (PathBuf, PathBuf) {
        let mut passwd = String::new();
        let mut shadow = String::new();
        for (i, (user, password)) in accounts.iter().enumerate() {
            let uid = if *user == "root" { 0 } else { 1000 + i };
            passwd.push_str(&format!("{user}:x:{uid}:{uid}:{user}:/:/bin/sh\n"));
            let hash = run_ok(&["openssl", "passwd", "-6", password]);
            let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
            let changed = if self.expired { 0 } else { 19000 };
            shadow.push_str(&format!("{user}:{hash}:{changed}:0:99999:7:::\n"));
        }
        passwd.push_str("sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n");
        shadow.push_str("sshd:*:19000:0:99999:7:::\n");
        let p = self.dir.join(format!("{name}.passwd"));
        let s = self.dir.join(format!("{name}.shadow"));
        std::fs::write(&p, passwd).expect("passwd");
        std::fs::write(&s, shadow).expect("shadow");
        (p, s)
    }

    /// Starts `command` in the namespace, in a private mount namespace
    /// where the given passwd and shadow stand for the system's (and /run
    /// is a fresh tmpfs, for sshd's privilege separation directory).
    fn spawn_with_accounts(&mut self, files: &(PathBuf, PathBuf), command: &str, log: &Path) {
        let script = format!(
            "mount --bind {p} /etc/passwd && mount --bind {s} /etc/shadow && \
             mount -t tmpfs -o mode=755 hilt-ssh-run /run && mkdir -m 755 /run/sshd && exec {command}",
            p = files.0.display(),
            s = files.1.display(),
        );
        let log = std::fs::File::create(log).expect("server log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the SSH server");
        self.children.push(child);
    }

    /// dropbear on `port` with `accounts`; `passwords: false` runs it with
    /// `-s` (public keys only). Returns the host key's public half path
    /// (OpenSSH format) for fingerprint cross-checks.
    pub fn dropbear(&mut self, port: u16, accounts: &[(&str, &str)], passwords: bool) -> PathBuf {
        require("dropbear");
        require("dropbearkey");
        let name = format!("dropbear-{port}");
        let key = self.dir.join(format!("{name}.key"));
        run_ok(&["dropbearkey", "-t", "ed25519", "-f", &key.to_string_lossy()]);
        let public = run_ok(&["dropbearkey", "-y", "-f", &key.to_string_lossy()]);
        let line = String::from_utf8_lossy(&public.stdout)
            .lines()
            .find(|l| l.starts_with("ssh-"))
            .expect("dropbearkey -y prints the public key")
            .to_string();
        let pubkey = self.dir.join(format!("{name}.pub"));
        std::fs::write(&pubkey, format!("{line}\n")).expect("public key");
        let files = self.accounts(&name, accounts);
        let command = format!(
            "dropbear -F -E {} -r {} -p {}:{port}",
            if passwords { "" } else { "-s" },
            key.display(),
            self.addr
        );
        let log = self.dir.join(format!("{name}.log"));
        self.spawn_with_accounts(&files, &command, &log);
        self.wait_tcp(port);
        pubkey
    }

    /// OpenSSH's sshd on `port` with `accounts`, passwords through PAM by
    /// keyboard-interactive only (`PasswordAuthentication no`), as many
    /// devices do; `kbdint: false` leaves public keys only.
    pub fn sshd(&mut self, port: u16, accounts: &[(&str, &str)], kbdint: bool) -> PathBuf {
        require("/usr/sbin/sshd");
        require("ssh-keygen");
        let name = format!("sshd-{port}");
        let key = self.dir.join(format!("{name}.key"));
        let _ = std::fs::remove_file(&key);
        run_ok(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &key.to_string_lossy(),
        ]);
        let config = self.dir.join(format!("{name}.conf"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {}:{port}\nHostKey {}\nPidFile none\nUsePAM yes\n\
                 PermitRootLogin yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication {}\nPubkeyAuthentication yes\n\
                 AuthorizedKeysFile none\n",
                self.addr,
                key.display(),
                if kbdint { "yes" } else { "no" }
            ),
        )
        .expect("sshd config");
        let files = self.accounts(&name, accounts);
        let command = format!("/usr/sbin/sshd -D -e -f {}", config.display());
        let log = self.dir.join(format!("{name}.log"));
        self.spawn_with_accounts(&files, &command, &log);
        self.wait_tcp(port);
        self.dir.join(format!("{name}.key.pub"))
    }

    /// Waits until `port` accepts connections (over the veth).
    pub fn wait_tcp(&self, port: u16) {
        let target = SocketAddr::from((self.addr, port));
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let logs: String = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!("nothing listens on {target} after 10 s; server logs:\n{logs}");
    }

    /// `ssh-keygen -l`'s SHA256 fingerprint of a public key file.
    pub fn fingerprint(pubkey: &Path) -> String {
        let out = run_ok(&[
            "ssh-keygen",
            "-l",
            "-E",
            "sha256",
            "-f",
            &pubkey.to_string_lossy(),
        ]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -l prints a fingerprint")
            .to_string()
    }
}

impl Drop for SshDevice {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
