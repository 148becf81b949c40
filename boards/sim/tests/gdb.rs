//! The debug port with a real GDB client in batch mode.

mod common;

use std::process::Command;

use common::*;

fn gdb() -> Option<&'static str> {
    ["gdb-multiarch", "gdb"].into_iter().find(|g| have(g))
}

/// Runs gdb against the board's debug port; returns stdout + stderr.
fn run_gdb(index: u32, cmds: &[&str]) -> String {
    let Some(g) = gdb() else {
        return String::new();
    };
    let mut c = Command::new("timeout");
    c.args(["30", g, "-batch", "-nx", "-ex", "set pagination off"]);
    c.args(["-ex", &format!("target remote 127.0.0.1:{}", 3333 + index)]);
    for x in cmds {
        c.args(["-ex", x]);
    }
    let out = c.output().expect("run gdb");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn reads_fail_when_locked_and_mass_erase_unlocks_only_by_wiping() {
    if gdb().is_none() {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "no gdb: skipping: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("no gdb: skipping");
        return;
    }
    let sim = Sim::up(160, 1, &[]);
    let old_id = sim.label_id(160);
    let out = run_gdb(
        160,
        &["x/4xb 0x10000", "x/4xb 0x10000000", "x/4xb 0x20000000"],
    );
    assert_eq!(out.matches("Cannot access memory").count(), 3, "{out}");

    let out = run_gdb(
        160,
        &["monitor mass_erase", "x/4xb 0x10000", "x/4xb 0x10000010"],
    );
    assert!(out.contains("mass erase complete"), "{out}");
    assert!(!out.contains("Cannot access memory"), "{out}");
    // Flash and the device secret in OTP are gone.
    assert!(out.contains("0x10000:\t0xff\t0xff\t0xff\t0xff"), "{out}");
    assert!(out.contains("0x10000010:\t0xff\t0xff\t0xff\t0xff"), "{out}");

    // At the next power-on the blank chip is provisioned anew: a new
    // identity and a new secret, and production firmware locks it again.
    assert_eq!(sim.power(160, "cycle"), "ok on");
    assert_ne!(sim.label_id(160), old_id);
    let out = run_gdb(160, &["x/4xb 0x10000"]);
    assert!(out.contains("Cannot access memory"), "{out}");
}

#[test]
fn reads_succeed_when_the_firmware_leaves_the_port_unlocked() {
    if gdb().is_none() {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "no gdb: skipping: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("no gdb: skipping");
        return;
    }
    let _sim = Sim::up(161, 1, &["debug-unlocked"]);
    let out = run_gdb(
        161,
        &[
            "x/4xb 0x10000",
            "x/4c 0x10000000",
            "x/8c 0x20000000",
            "monitor status",
        ],
    );
    // MCUboot magic at slot 0, OTP magic, the firmware's RAM marker.
    assert!(out.contains("0x3d\t0xb8\t0xf3\t0x96"), "{out}");
    assert!(out.contains("72 'H'\t79 'O'\t84 'T'\t80 'P'"), "{out}");
    assert!(out.contains("'H'\t83 'S'\t73 'I'\t77 'M'"), "{out}");
    assert!(out.contains("readout protection: clear"), "{out}");
}

/// Sends one RSP packet and returns the reply payload.
fn rsp(s: &mut std::net::TcpStream, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let cs = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    s.write_all(format!("${body}#{cs:02x}").as_bytes())
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "debug port closed");
        got.extend_from_slice(&buf[..n]);
        if let Some(h) = got.iter().position(|&b| b == b'#') {
            if got.len() >= h + 3 {
                let start = got.iter().position(|&b| b == b'$').expect("packet");
                return String::from_utf8_lossy(&got[start + 1..h]).into_owned();
            }
        }
    }
}

#[test]
fn hostile_debug_traffic_gets_errors_not_a_crash() {
    use std::io::Write as _;
    let _sim = Sim::up(162, 1, &["debug-unlocked"]);
    let addr = format!("127.0.0.1:{}", 3333 + 162);
    {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.write_all(&[0u8, 0xff, b'$', b'#', b'#', 3, b'}'])
            .expect("noise");
        s.write_all(&vec![b'$'; 20_000]).expect("flood");
    }
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(rsp(&mut s, "pffffffffffffffff"), "E0E");
    assert_eq!(rsp(&mut s, "mffffffffffffffff,ffffffffffffffff"), "E0E");
    assert_eq!(rsp(&mut s, "m0,zz"), "E16");
    assert_eq!(rsp(&mut s, "M20000000,4:zz"), "E16");
    assert_eq!(rsp(&mut s, "X20000000,ffff:ab"), "E16");
    assert_eq!(
        rsp(&mut s, "M10000000,4:00000000"),
        "E0E",
        "OTP is not writable"
    );
    assert_eq!(rsp(&mut s, "M20000100,2:abcd"), "OK");
    assert_eq!(rsp(&mut s, "m20000100,2"), "abcd");
    assert_eq!(rsp(&mut s, "m10000,4"), "3db8f396");
}
