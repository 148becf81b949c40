//! Helpers shared by the integration tests: starting and stopping real
//! peers (QEMU, hilt-sim) and a free loopback port.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Path of `qemu-system-arm`, or a panic telling how to install it.
pub fn qemu_arm() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("qemu-system-arm");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "qemu-system-arm not found on PATH: install it with `apt-get install -y qemu-system-arm`"
    );
}

/// A QEMU process, killed when dropped.
pub struct Qemu {
    pub child: Child,
    pub addr: String,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qemu {
    /// Starts `qemu-system-arm` halted (`-S`) with its gdbstub on a free
    /// loopback port and waits (up to 10 s) until the port listens.
    pub fn start(args: &[&str]) -> Qemu {
        Self::launch(args, true)
    }

    /// Starts `qemu-system-arm` with the guest running (no `-S`), as a
    /// board is found in a lab. Readiness is read from the kernel's socket
    /// table, not by connecting: a connection to QEMU's gdbstub halts a
    /// running guest.
    pub fn start_running(args: &[&str]) -> Qemu {
        Self::launch(args, false)
    }

    fn launch(args: &[&str], halted: bool) -> Qemu {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let mut command = Command::new(qemu_arm());
            command.args(args).args([
                "-nographic",
                "-monitor",
                "none",
                "-serial",
                "none",
                // No NIC: its option ROM (efi-virtio.rom for -M virt) is
                // only a recommended package, absent on a fresh machine.
                "-nic",
                "none",
                "-gdb",
                &format!("tcp:{addr}"),
            ]);
            if halted {
                command.arg("-S");
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn qemu-system-arm");
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    last = format!("qemu exited with {status}: {err}");
                    break;
                }
                if listening(port) {
                    return Qemu { child, addr };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("QEMU did not open its gdbstub: {last}");
    }

    /// Waits up to `timeout` for QEMU to exit by itself.
    pub fn exited_within(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// Whether a TCP socket listens on 127.0.0.1:`port`, from
/// `/proc/net/tcp` (state 0A), without connecting to it.
pub fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let _slot = fields.next();
        fields.next() == Some(local.as_str()) && fields.nth(1) == Some("0A")
    })
}

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}
