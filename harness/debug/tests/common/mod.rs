//! Helpers shared by the integration tests: starting and stopping real
//! peers (QEMU, hilt-sim) and a free loopback port.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
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
    /// loopback port and waits (up to 10 s) until the port accepts.
    pub fn start(args: &[&str]) -> Qemu {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let mut child = Command::new(qemu_arm())
                .args(args)
                .args([
                    "-nographic",
                    "-monitor",
                    "none",
                    "-serial",
                    "none",
                    "-S",
                    "-gdb",
                    &format!("tcp:{addr}"),
                ])
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
                // Probe readiness without holding the connection: QEMU's
                // gdbstub takes one client; a probe that connects and
                // closes is harmless (it waits for the next).
                if TcpStream::connect_timeout(
                    &addr.parse().expect("socket address"),
                    Duration::from_millis(200),
                )
                .is_ok()
                {
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

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}
