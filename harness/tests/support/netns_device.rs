//! A device made of real daemons in its own network namespace, joined to
//! this host by a veth pair (the host end in the root namespace, as a lab
//! cable would be), with a mount namespace of its own where the daemons
//! see made-up account files (never the host's accounts). Everything is
//! removed on drop: the namespace's processes, the namespace, the veth.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// `ip`, daemons and tools, run as every test crate here runs them.
#[path = "../../../tests/support/command.rs"]
mod command;
#[allow(unused_imports)] // each test crate uses some of them
pub use command::{require_tool, run, run_ok};

pub struct Device {
    /// Namespace name; the host end of the veth is `<name>h`... shortened
    /// to fit IFNAMSIZ: see [`Device::host_if`].
    pub name: String,
    pub host_if: String,
    pub address: String,
    pub host_address: String,
    /// Files of this device (account files, daemon configuration).
    pub dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Device {
    /// Namespace `name` (at most 12 characters), device at `subnet.2`,
    /// this host at `subnet.1` (`subnet` like `198.19.41`).
    pub fn new(name: &str, subnet: &str) -> Self {
        assert!(name.len() <= 12, "interface names are at most 15 bytes");
        let host_if = format!("{name}h");
        let dev_if = format!("{name}d");
        let _ = run(&["ip", "netns", "del", name]);
        let _ = run(&["ip", "link", "del", &host_if]);
        run_ok(&["ip", "netns", "add", name]);
        let device = Self {
            name: name.to_string(),
            host_if: host_if.clone(),
            address: format!("{subnet}.2"),
            host_address: format!("{subnet}.1"),
            dir: tempfile::tempdir().expect("temp dir"),
            children: Vec::new(),
        };
        run_ok(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &dev_if, "netns", name,
        ]);
        run_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{subnet}.1/24"),
            "dev",
            &host_if,
        ]);
        run_ok(&["ip", "link", "set", &host_if, "up"]);
        device.exec_ok(&["ip", "link", "set", "lo", "up"]);
        device.exec_ok(&[
            "ip",
            "addr",
            "add",
            &format!("{subnet}.2/24"),
            "dev",
            &dev_if,
        ]);
        device.exec_ok(&["ip", "link", "set", &dev_if, "up"]);
        device
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, text).expect("write device file");
        path
    }

    /// Made-up `/etc/passwd`, `/etc/shadow` and `/etc/group` with `users`
    /// (name, password; an empty password is an empty field, `*` locked);
    /// daemons started by [`Device::spawn_with_accounts`] see these.
    pub fn accounts(&self, users: &[(&str, &str)]) {
        let mut passwd = String::new();
        let mut shadow = String::new();
        let mut group = String::new();
        for (i, (user, password)) in users.iter().enumerate() {
            let uid = if *user == "root" { 0 } else { 1000 + i };
            let home = self.dir.path().display().to_string();
            passwd.push_str(&format!("{user}:x:{uid}:{uid}:{user}:{home}:/bin/sh\n"));
            group.push_str(&format!("{user}:x:{uid}:\n"));
            let hash = match *password {
                "" => String::new(),
                "*" => "*".to_string(),
                p => {
                    let out = run(&["openssl", "passwd", "-6", p]);
                    assert!(out.status.success(), "openssl passwd");
                    String::from_utf8_lossy(&out.stdout).trim().to_string()
                }
            };
            shadow.push_str(&format!("{user}:{hash}:19000:0:99999:7:::\n"));
        }
        if !users.iter().any(|(u, _)| *u == "root") {
            passwd.push_str("root:x:0:0:root:/root:/bin/sh\n");
            shadow.push_str("root:*:19000:0:99999:7:::\n");
            group.push_str("root:x:0:\n");
        }
        // Debian's PAM stack for login, without its failure delay
        // (pam_faildelay, pam_unix's own): a device that answers a wrong
        // password at once, so tests need not wait 3 s a guess.
        self.write(
            "pam-login",
            "auth required pam_unix.so nodelay\naccount required pam_unix.so\nsession required pam_unix.so\n",
        );
        self.write("passwd", &passwd);
        self.write("shadow", &shadow);
        self.write("group", &group);
    }

    /// Replaces the PAM stack `/bin/login` uses (after [`Device::accounts`]).
    pub fn pam_login(&self, stack: &str) {
        self.write("pam-login", stack);
    }

    fn cmd(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(cmd);
        c
    }

    pub fn exec_ok(&self, cmd: &[&str]) {
        let out = self.cmd(cmd).output().expect("ip netns exec");
        assert!(
            out.status.success(),
            "{cmd:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `cmd` (a shell command line) in the namespace, its output
    /// to `<dir>/<log>`.
    pub fn spawn(&mut self, log: &str, cmd: &str) {
        self.spawn_inner(log, cmd.to_string());
    }

    /// Starts `cmd` in the namespace and a private mount namespace where
    /// `/etc/passwd`, `/etc/shadow` and `/etc/group` are those of
    /// [`Device::accounts`].
    pub fn spawn_with_accounts(&mut self, log: &str, cmd: &str) {
        let d = self.dir.path().display().to_string();
        let line = format!(
            "mount --bind {d}/passwd /etc/passwd && mount --bind {d}/shadow /etc/shadow && \
             mount --bind {d}/group /etc/group && mount --bind {d}/pam-login /etc/pam.d/login && exec {cmd}"
        );
        self.spawn_inner(
            log,
            format!("exec unshare -m --propagation private sh -c '{line}'"),
        );
    }

    fn spawn_inner(&mut self, log: &str, line: String) {
        let out = std::fs::File::create(self.path(log)).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = self
            .cmd(&["sh", "-c", &line])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {line}: {e}"));
        self.children.push(child);
    }

    /// Waits until `port`/tcp accepts a connection from this host.
    pub fn wait_tcp(&self, port: u16, within: Duration) {
        let started = Instant::now();
        let addr: std::net::SocketAddr = format!("{}:{port}", self.address).parse().expect("addr");
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < within,
                "{port}/tcp on {} did not open; log: {}",
                self.address,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log this device's daemons wrote (for failure messages).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "log") {
                out.push_str(&format!(
                    "\n--- {}\n{}",
                    p.display(),
                    std::fs::read_to_string(&p).unwrap_or_default()
                ));
            }
        }
        out
    }

    pub fn dir_path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Every process in the namespace (sessions the daemons forked too).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill")
                    .args(["-9", pid])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = run(&["ip", "link", "del", &self.host_if]);
    }
}
