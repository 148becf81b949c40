//! The GDB client against QEMU's gdbstub: a peer nobody here wrote.
//! Needs `qemu-system-arm` (Debian: `apt-get install -y qemu-system-arm`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::Qemu;
use std::io::{Read, Write};
use std::net::TcpStream;

use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError, Released, StopReply};

/// Initial stack pointer and reset vector in the blob's vector table.
const SP: u32 = 0x2000_1000;
const RESET: u32 = 0x0000_0100;

/// A tiny Cortex-M image: vector table (SP, reset vector with the Thumb
/// bit), a known byte pattern, and `b .` (0xe7fe) at the reset address.
fn blob() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&SP.to_le_bytes());
    b.extend_from_slice(&(RESET | 1).to_le_bytes());
    for i in 0..(RESET as usize - 8) {
        b.push((i as u8).wrapping_mul(37).wrapping_add(0x5a));
    }
    for _ in 0..8 {
        b.extend_from_slice(&[0xfe, 0xe7]);
    }
    b
}

fn config() -> GdbConfig {
    GdbConfig {
        reply_timeout: Duration::from_secs(5),
        ..GdbConfig::default()
    }
}

#[test]
fn cortex_m3_registers_memory_monitor_step_and_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("blob.bin");
    let image = blob();
    std::fs::write(&kernel, &image).expect("write blob");
    let kernel_arg = kernel.to_str().expect("utf-8 path");
    let mut qemu = Qemu::start(&["-M", "mps2-an385", "-kernel", kernel_arg]);

    let mut gdb = connect(&qemu.addr);
    // QEMU 7.2 states PacketSize=1000 (hex).
    assert!(gdb.supports("PacketSize"), "features: {:?}", gdb.features());
    assert_eq!(gdb.packet_size(), 0x1000);

    // Halted by -S: a stop reply with SIGTRAP.
    let stop = gdb.halt_reason().expect("?");
    assert_eq!(stop.signal(), Some(5), "{stop:?}");

    // The core loaded SP and PC from the blob's vector table at reset.
    let regs = gdb.read_registers().expect("g");
    assert_eq!(regs.u32_le(13), Some(SP), "sp");
    assert_eq!(regs.u32_le(15), Some(RESET), "pc");
    // QEMU answers `p` only after the client read the target description.
    let xml = gdb.target_description().expect("qXfer:features:read");
    assert!(xml.contains("arm"), "{xml}");
    let pc = gdb.read_register(15).expect("p f");
    assert_eq!(pc, RESET.to_le_bytes());

    // Memory: the blob at 0 (SSRAM1), then zeros; 5000 bytes take three
    // packets at PacketSize 0x1000.
    let mem = gdb.read_memory(0, 5000).expect("m");
    assert_eq!(&mem[..image.len()], &image[..]);
    assert!(mem[image.len()..].iter().all(|&b| b == 0));

    // Writes read back, hex (M) and binary (X, every byte value so the
    // escapes of $ # } * are exercised).
    let pattern: Vec<u8> = (0u8..=255).rev().collect();
    gdb.write_memory(0x2000_0000, &pattern).expect("M");
    assert_eq!(gdb.read_memory(0x2000_0000, 256).expect("m"), pattern);
    let all: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    gdb.write_memory_binary(0x2000_0400, &all).expect("X");
    assert_eq!(gdb.read_memory(0x2000_0400, all.len()).expect("m"), all);

    // Unmapped memory: QEMU answers E14 (EFAULT).
    match gdb.read_memory(0xf000_0000, 4) {
        Err(GdbError::MemoryReadRefused { code, addr, .. }) => {
            assert_eq!(code, 0x14);
            assert_eq!(addr, 0xf000_0000);
        }
        other => panic!("expected a refused read, got {other:?}"),
    }

    // A monitor command, its output in O packets, compared with what the
    // same binary prints for --version.
    let out = gdb.monitor("info version").expect("qRcmd");
    let cli = Command::new(common::qemu_arm())
        .arg("--version")
        .output()
        .expect("qemu --version");
    let cli = String::from_utf8_lossy(&cli.stdout);
    let version = cli
        .split_whitespace()
        .nth(3)
        .expect("QEMU emulator version X.Y.Z");
    assert!(out.contains(version), "monitor said {out:?}, CLI {cli:?}");

    // One step over `b .` stays at the reset address.
    let stop = gdb.step().expect("s");
    assert!(stop.signal().is_some(), "{stop:?}");
    assert_eq!(gdb.read_registers().expect("g").u32_le(15), Some(RESET));

    // Running: no stop within 300 ms; Ctrl-C stops it.
    gdb.resume().expect("c");
    match gdb.wait_for_stop(Duration::from_millis(300)) {
        Err(GdbError::Timeout { .. }) => {}
        other => panic!("target should still run, got {other:?}"),
    }
    let stop = gdb.interrupt().expect("interrupt");
    assert!(
        matches!(
            stop,
            StopReply::Signal(_) | StopReply::SignalWithInfo { .. }
        ),
        "{stop:?}"
    );

    let transcript = gdb.transcript().render();
    assert!(transcript.contains("> $m0,"), "{transcript}");
    assert!(transcript.contains("< +$"), "{transcript}");

    // `k` ends QEMU.
    gdb.kill().expect("k");
    assert!(
        qemu.exited_within(Duration::from_secs(5)),
        "QEMU still runs after k"
    );
}

#[test]
fn cortex_a15_virt_ram_round_trip_and_detach() {
    let mut qemu = Qemu::start(&["-M", "virt", "-cpu", "cortex-a15", "-m", "64"]);
    let mut gdb = connect(&qemu.addr);
    assert_eq!(gdb.halt_reason().expect("?").signal(), Some(5));
    let regs = gdb.read_registers().expect("g");
    // r0..r15 and cpsr at least; A-profile reset leaves the CPU in SVC mode
    // with IRQ/FIQ masked (cpsr mode bits 0x13).
    assert!(regs.len() >= 17 * 4, "{} register bytes", regs.len());
    // RAM of -M virt starts at 0x40000000.
    let data = b"hilt debug transport \x00\x01$#}*".repeat(40);
    gdb.write_memory_binary(0x4000_0000, &data).expect("X");
    assert_eq!(gdb.read_memory(0x4000_0000, data.len()).expect("m"), data);
    gdb.detach().expect("D");
    assert!(
        gdb.read_memory(0x4000_0000, 4).is_err(),
        "detached client still reads"
    );
    // Detaching leaves QEMU running; the harness's Drop kills it.
    assert!(!qemu.exited_within(Duration::from_millis(200)));
}

/// Where the counting guest keeps its counter (SSRAM2 on mps2-an385).
const COUNTER: u32 = 0x2000_0000;

/// A Cortex-M image whose reset handler counts for ever:
/// `ldr r0, =COUNTER; movs r1, #0; 1: adds r1, #1; str r1, [r0]; b 1b`.
/// Hand-assembled Thumb; the loop is at 0x104..=0x108.
fn counting_blob() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&SP.to_le_bytes());
    b.extend_from_slice(&(RESET | 1).to_le_bytes());
    for i in 0..(RESET as usize - 8) {
        b.push((i as u8).wrapping_mul(37).wrapping_add(0x5a));
    }
    // ldr r0,[pc,#8] (literal at 0x10c); movs r1,#0; adds r1,#1;
    // str r1,[r0]; b 0x104; nop
    for op in [0x4802u16, 0x2100, 0x3101, 0x6001, 0xe7fc, 0xbf00] {
        b.extend_from_slice(&op.to_le_bytes());
    }
    b.extend_from_slice(&COUNTER.to_le_bytes());
    b
}

fn read_u32(gdb: &mut GdbClient, addr: u32) -> u32 {
    let bytes = gdb.read_memory(u64::from(addr), 4).expect("m");
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

/// The guest runs when we come (no `-S`), as a board in a lab does. QEMU
/// halts it on connect and says so with a stop reply nobody asked for;
/// the client must not take that for the answer to its first request,
/// must read the image's bytes right, and must leave the guest running.
#[test]
fn running_guest_cold_connect_reads_right_and_is_left_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = dir.path().join("count.bin");
    let image = counting_blob();
    std::fs::write(&kernel, &image).expect("write blob");
    let kernel_arg = kernel.to_str().expect("utf-8 path");
    let qemu = Qemu::start_running(&["-M", "mps2-an385", "-kernel", kernel_arg]);

    // Cold connect to the running guest.
    let mut gdb = connect(&qemu.addr);
    let (stops, count) = gdb.unsolicited_stops();
    assert!(count >= 1, "QEMU sends a stop reply on connect");
    assert_eq!(
        stops[0].signal(),
        Some(2),
        "{stops:?} (SIGINT: halted for us)"
    );
    assert!(gdb.target_was_running());
    // qSupported got its own answer, not the stop reply.
    assert_eq!(gdb.packet_size(), 0x1000, "{:?}", gdb.features());

    // The reads are right: the image's bytes, and the registers of a core
    // caught in the loop.
    assert_eq!(gdb.read_memory(0, image.len()).expect("m"), image);
    let regs = gdb.read_registers().expect("g");
    assert_eq!(regs.u32_le(13), Some(SP), "sp");
    assert_eq!(regs.u32_le(0), Some(COUNTER), "r0");
    let pc = regs.u32_le(15).expect("pc");
    assert!((0x104..=0x108).contains(&pc), "pc {pc:#x} outside the loop");
    let first = read_u32(&mut gdb, COUNTER);
    let r1 = regs.u32_le(1).expect("r1");
    assert!(
        r1 == first || r1 == first.wrapping_add(1),
        "r1 {r1:#x} against the stored counter {first:#x}"
    );
    // While we hold it the guest is halted: the counter stands still.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(read_u32(&mut gdb, COUNTER), first, "halted while connected");
    let stop = gdb.halt_reason().expect("?");
    assert!(stop.signal().is_some(), "{stop:?}");
    assert_eq!(gdb.release().expect("release"), Released::Detached);
    let transcript = gdb.transcript().render();
    assert!(
        transcript.contains("unsolicited stop reply"),
        "{transcript}"
    );
    drop(gdb);

    // The guest ran on: a second cold connect is again halted on connect
    // (a stop reply only comes for a running guest), and the counter moved.
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect(&qemu.addr);
    assert!(again.target_was_running(), "the guest was left halted");
    let second = read_u32(&mut again, COUNTER);
    assert_ne!(second, first, "the counter did not move after release");

    // The check can fail: a client that leaves without `D` (what the old
    // client did after an error) leaves the guest halted, and the next
    // connect sees it: no stop reply, and a counter that stands.
    drop(again); // `D` on drop: the guest runs again ...
    std::thread::sleep(Duration::from_millis(100));
    let mut raw = TcpStream::connect(&qemu.addr).expect("raw connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !seen.windows(4).any(|w| w == b"$T02") && seen.len() < 4096 {
        match raw.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        seen.windows(4).any(|w| w == b"$T02"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let _ = raw.write_all(b"+");
    drop(raw); // ... and a client that vanishes halts it for good.
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect(&qemu.addr);
    let halted = read_u32(&mut third, COUNTER);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !third.target_was_running(),
        "{:?}",
        third.unsolicited_stops()
    );
    assert_eq!(read_u32(&mut third, COUNTER), halted);
    // And `release` of a guest found halted still detaches (QEMU resumes
    // on `D`).
    assert_eq!(third.release().expect("release"), Released::Detached);
    std::thread::sleep(Duration::from_millis(100));
    let mut fourth = connect(&qemu.addr);
    assert!(fourth.target_was_running());
    assert_ne!(read_u32(&mut fourth, COUNTER), halted);
    // A target this client resumed itself: `release` stops it first (in
    // all-stop mode QEMU would take the `$` of a `D` sent to a running
    // guest as an interrupt and drop the packet), then detaches.
    fourth.resume().expect("c");
    assert_eq!(fourth.release().expect("release"), Released::Detached);
    let transcript = fourth.transcript().render();
    assert!(transcript.contains("$D#44"), "{transcript}");
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = connect(&qemu.addr);
    assert!(fifth.target_was_running(), "left halted after c + release");
    let before = read_u32(&mut fifth, COUNTER);
    fifth.release().expect("release");
    std::thread::sleep(Duration::from_millis(100));
    let mut sixth = connect(&qemu.addr);
    assert!(sixth.target_was_running());
    assert_ne!(read_u32(&mut sixth, COUNTER), before);
    sixth.release().expect("release");
}

/// Connects to QEMU's gdbstub. A reset while QEMU still tears down an
/// earlier session is retried a few times.
fn connect(addr: &str) -> GdbClient {
    let mut last = None;
    for _ in 0..10 {
        match GdbClient::connect(addr, config()) {
            Ok(client) => return client,
            Err(e) => {
                last = Some(e);
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    panic!("connect to QEMU at {addr}: {last:?}");
}
