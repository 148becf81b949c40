//! Serial expect throughput on a real PTY: a writer floods the far end
//! with log lines and a final marker; the console's expect engine (ANSI
//! stripping, bounded rolling buffer, regex search) waits for the marker.
//! Prints bytes per second. Run with `cargo bench -p hilt-harness --bench serial_expect`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use hilt_harness::board::{LineEnding, SerialWiring};
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::Console;

fn main() {
    let (master, slave) = open_pty();
    let name = tty_name(&slave);
    let wiring = SerialWiring {
        port: Some(name.into()),
        tcp: None,
        unix: None,
        rfc2217: false,
        baud: 115_200,
        line_ending: LineEnding::Cr,
    };
    for total_mib in [4usize, 16] {
        let mut console = match Console::open(
            &wiring,
            std::path::Path::new("/"),
            StopSignal::after(Duration::from_secs(120)),
        ) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot open PTY: {e}");
                std::process::exit(1);
            }
        };
        let line =
            b"[    1.234567] \x1b[32mINFO\x1b[0m sensor: temperature 21.5 C, humidity 40 %\r\n";
        let lines = total_mib * 1024 * 1024 / line.len();
        let fd = master.as_raw_fd();
        let writer = std::thread::spawn(move || {
            let mut chunk = Vec::with_capacity(line.len() * 256);
            for _ in 0..256 {
                chunk.extend_from_slice(line);
            }
            let mut sent = 0usize;
            for _ in 0..lines / 256 {
                write_all(fd, &chunk);
                sent += chunk.len();
            }
            write_all(fd, b"BENCH-DONE-MARKER\r\n");
            sent + 19
        });
        let start = Instant::now();
        let found = console.expect("BENCH-DONE-MARKER", Duration::from_secs(120));
        let elapsed = start.elapsed();
        let sent = writer.join().unwrap_or(0);
        match found {
            Ok(_) => println!(
                "serial expect on a PTY: {:.1} MiB in {:.3} s = {:.1} MiB/s ({:.0} bytes/s)",
                sent as f64 / 1048576.0,
                elapsed.as_secs_f64(),
                sent as f64 / 1048576.0 / elapsed.as_secs_f64(),
                sent as f64 / elapsed.as_secs_f64()
            ),
            Err(e) => {
                eprintln!("marker not seen: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn write_all(fd: i32, bytes: &[u8]) {
    let mut off = 0;
    while off < bytes.len() {
        // SAFETY: writing from a valid slice to an open fd.
        let n = unsafe { libc::write(fd, bytes[off..].as_ptr().cast(), bytes.len() - off) };
        if n <= 0 {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        off += n as usize;
    }
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty fills two fds; null optional arguments are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        eprintln!("openpty failed");
        std::process::exit(1);
    }
    // SAFETY: fresh fds from openpty, owned here.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(slave, libc::TCSANOW, &t);
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

fn tty_name(fd: &OwnedFd) -> String {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is large enough and ttyname_r NUL-terminates it.
    let rc = unsafe { libc::ttyname_r(fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        eprintln!("ttyname_r failed");
        std::process::exit(1);
    }
    // SAFETY: NUL-terminated by ttyname_r.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
