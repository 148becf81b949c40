//! The debug port: a GDB remote serial protocol server, as OpenOCD would
//! serve a probe wired to this board. It exposes flash, OTP and RAM as
//! memory of a Cortex-M-like core. With the readout-protection fuse set,
//! every memory access answers with an error; `monitor mass_erase` clears
//! the protection only by erasing flash and OTP (keys, id, fuses).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use crate::board::{Board, Control, RAM_BASE, RAM_SIZE};
use crate::flash;

const MAX_PACKET: usize = 0x4000;
const MAX_MEM: usize = 0x1000;

const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>arm</architecture>
<feature name="org.gnu.gdb.arm.m-profile">
<reg name="r0" bitsize="32"/><reg name="r1" bitsize="32"/><reg name="r2" bitsize="32"/>
<reg name="r3" bitsize="32"/><reg name="r4" bitsize="32"/><reg name="r5" bitsize="32"/>
<reg name="r6" bitsize="32"/><reg name="r7" bitsize="32"/><reg name="r8" bitsize="32"/>
<reg name="r9" bitsize="32"/><reg name="r10" bitsize="32"/><reg name="r11" bitsize="32"/>
<reg name="r12" bitsize="32"/><reg name="sp" bitsize="32" type="data_ptr"/>
<reg name="lr" bitsize="32"/><reg name="pc" bitsize="32" type="code_ptr"/>
<reg name="xpsr" bitsize="32"/>
</feature>
</target>
"#;

pub fn serve(board: Arc<Board>, listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        // One debugger at a time, as with a real probe.
        let _ = conn.set_read_timeout(Some(Duration::from_secs(600)));
        let _ = conn.set_nodelay(true);
        session(&board, conn);
    }
}

fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|p| Some(hexval(p[0])? << 4 | hexval(p[1])?))
        .collect()
}

fn tohex(b: &[u8]) -> String {
    crate::mcuboot::hex(b)
}

fn parse_hex_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        v = (v << 4) | u64::from(hexval(c)?);
    }
    Some(v)
}

struct Conn {
    stream: TcpStream,
    no_ack: bool,
    buf: Vec<u8>,
}

enum Input {
    Packet(Vec<u8>),
    Interrupt,
    Closed,
}

impl Conn {
    fn send(&mut self, data: &[u8]) -> bool {
        let mut out = Vec::with_capacity(data.len() + 4);
        out.push(b'$');
        out.extend_from_slice(data);
        out.extend_from_slice(format!("#{:02x}", checksum(data)).as_bytes());
        self.stream.write_all(&out).is_ok()
    }

    fn read_more(&mut self) -> bool {
        let mut tmp = [0u8; 4096];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    fn next(&mut self) -> Input {
        loop {
            // Skip acks and noise before a packet.
            while let Some(&c) = self.buf.first() {
                match c {
                    b'$' => break,
                    0x03 => {
                        self.buf.remove(0);
                        return Input::Interrupt;
                    }
                    _ => {
                        self.buf.remove(0);
                    }
                }
            }
            if let Some(hash) = self.buf.iter().position(|&c| c == b'#') {
                if self.buf.len() >= hash + 3 {
                    let data = self.buf[1..hash].to_vec();
                    let cs = unhex(&self.buf[hash + 1..hash + 3]).and_then(|v| v.first().copied());
                    self.buf.drain(..hash + 3);
                    if !self.no_ack {
                        let ok = cs == Some(checksum(&data));
                        let _ = self.stream.write_all(if ok { b"+" } else { b"-" });
                        if !ok {
                            continue;
                        }
                    }
                    return Input::Packet(data);
                }
            } else if self.buf.len() > MAX_PACKET {
                self.buf.clear();
            }
            if !self.read_more() {
                return Input::Closed;
            }
        }
    }
}

/// Where an address lies.
enum Region {
    Flash(usize),
    Otp(usize),
    Ram(usize),
}

fn region(addr: u64, len: usize) -> Option<Region> {
    let end = addr.checked_add(len as u64)?;
    let within =
        |base: u32, size: usize| addr >= u64::from(base) && end <= u64::from(base) + size as u64;
    if within(flash::FLASH_BASE, flash::FLASH_SIZE) {
        Some(Region::Flash(
            (addr - u64::from(flash::FLASH_BASE)) as usize,
        ))
    } else if within(flash::OTP_BASE, flash::OTP_SIZE) {
        Some(Region::Otp((addr - u64::from(flash::OTP_BASE)) as usize))
    } else if within(RAM_BASE, RAM_SIZE) {
        Some(Region::Ram((addr - u64::from(RAM_BASE)) as usize))
    } else {
        None
    }
}

/// Error replies: E01 readout protection, E02 target not powered, E0E bad
/// address, E16 malformed request.
fn access_denied(board: &Board) -> Option<&'static [u8]> {
    if !board.powered() {
        Some(b"E02")
    } else if board.readout_protected() {
        Some(b"E01")
    } else {
        None
    }
}

fn read_mem(board: &Board, addr: u64, len: usize) -> Result<Vec<u8>, &'static [u8]> {
    if let Some(e) = access_denied(board) {
        return Err(e);
    }
    let len = len.min(MAX_MEM);
    match region(addr, len).ok_or(&b"E0E"[..])? {
        Region::Flash(o) => Ok(board.flash().read(o, len).to_vec()),
        Region::Otp(o) => Ok(board.flash().read(flash::OTP_FILE_OFF + o, len).to_vec()),
        Region::Ram(o) => {
            let ram = board.ram.lock().unwrap_or_else(|e| e.into_inner());
            Ok(ram.get(o..o + len).map(<[u8]>::to_vec).unwrap_or_default())
        }
    }
}

fn write_mem(board: &Board, addr: u64, data: &[u8]) -> Result<(), &'static [u8]> {
    if let Some(e) = access_denied(board) {
        return Err(e);
    }
    match region(addr, data.len()).ok_or(&b"E0E"[..])? {
        Region::Flash(o) => board.flash().write(o, data),
        // OTP is programmed by the factory only.
        Region::Otp(_) => return Err(b"E0E"),
        Region::Ram(o) => {
            let mut ram = board.ram.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = ram.get_mut(o..o + data.len()) {
                s.copy_from_slice(data);
            }
        }
    }
    Ok(())
}

fn registers() -> Vec<u8> {
    let mut regs = [0u32; 17];
    regs[13] = RAM_BASE + RAM_SIZE as u32; // sp
    regs[15] = flash::SLOT0_OFF as u32 + 0x200; // pc at the image's code
    regs[16] = 0x0100_0000; // xpsr: Thumb
    regs.iter().flat_map(|r| r.to_le_bytes()).collect()
}

fn monitor(board: &Board, cmd: &str) -> String {
    let ask = |mk: fn(std::sync::mpsc::Sender<String>) -> Control| {
        let (tx, rx) = channel();
        board.send(mk(tx));
        rx.recv_timeout(Duration::from_secs(30)).is_ok()
    };
    match cmd.trim() {
        "mass_erase" | "mass-erase" => {
            if ask(Control::MassErase) {
                "mass erase complete: flash and OTP (keys, device id, fuses) erased; readout protection cleared\n".into()
            } else {
                "mass erase failed\n".into()
            }
        }
        "reset" | "reset run" => {
            if ask(Control::Reset) {
                "reset\n".into()
            } else {
                "reset failed\n".into()
            }
        }
        "status" | "rdp" => format!(
            "power: {}\nreadout protection: {}\n",
            if board.powered() { "on" } else { "off" },
            if board.readout_protected() {
                "set"
            } else {
                "clear"
            }
        ),
        "help" | "" => "monitor commands: mass_erase, reset, status, help\n".into(),
        other => format!(
            "unknown monitor command '{}'\n",
            crate::device::sanitize(other, 40)
        ),
    }
}

fn session(board: &Board, stream: TcpStream) {
    let mut c = Conn {
        stream,
        no_ack: false,
        buf: Vec::new(),
    };
    loop {
        let pkt = match c.next() {
            Input::Closed => return,
            Input::Interrupt => {
                c.send(b"S02");
                continue;
            }
            Input::Packet(p) => p,
        };
        if pkt == b"QStartNoAckMode" {
            c.send(b"OK");
            c.no_ack = true;
            continue;
        }
        let reply: Vec<u8> = match pkt.first().copied() {
            Some(b'?') => b"S05".to_vec(),
            Some(b'g') => tohex(&registers()).into_bytes(),
            Some(b'G') | Some(b'P') | Some(b'H') | Some(b'T') => b"OK".to_vec(),
            Some(b'p') => {
                let n = parse_hex_u64(&pkt[1..]).unwrap_or(u64::MAX);
                let regs = registers();
                let at = usize::try_from(n).ok().and_then(|n| n.checked_mul(4));
                match at.and_then(|a| regs.get(a..a + 4)) {
                    Some(r) => tohex(r).into_bytes(),
                    None => b"E0E".to_vec(),
                }
            }
            Some(b'm') => {
                let args = &pkt[1..];
                let parsed = args.iter().position(|&b| b == b',').and_then(|i| {
                    Some((parse_hex_u64(&args[..i])?, parse_hex_u64(&args[i + 1..])?))
                });
                match parsed {
                    Some((addr, len)) => match read_mem(board, addr, len as usize) {
                        Ok(data) => tohex(&data).into_bytes(),
                        Err(e) => e.to_vec(),
                    },
                    None => b"E16".to_vec(),
                }
            }
            Some(b'M') | Some(b'X') => {
                let binary = pkt[0] == b'X';
                let args = &pkt[1..];
                let parsed = (|| {
                    let comma = args.iter().position(|&b| b == b',')?;
                    let colon = args.iter().position(|&b| b == b':')?;
                    let addr = parse_hex_u64(&args[..comma])?;
                    let len = parse_hex_u64(args.get(comma + 1..colon)?)? as usize;
                    let raw = &args[colon + 1..];
                    let data = if binary { unescape(raw) } else { unhex(raw)? };
                    (data.len() == len && len <= MAX_PACKET).then_some((addr, data))
                })();
                match parsed {
                    Some((addr, data)) => match write_mem(board, addr, &data) {
                        Ok(()) => b"OK".to_vec(),
                        Err(e) => e.to_vec(),
                    },
                    None => b"E16".to_vec(),
                }
            }
            Some(b'c') | Some(b's') => b"S05".to_vec(),
            Some(b'k') => return,
            Some(b'D') => {
                c.send(b"OK");
                return;
            }
            Some(b'q') | Some(b'Q') | Some(b'v') => query(board, &mut c, &pkt),
            _ => Vec::new(),
        };
        if !c.send(&reply) {
            return;
        }
    }
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b == b'}' {
            if let Some(&n) = it.next() {
                out.push(n ^ 0x20);
            }
        } else {
            out.push(b);
        }
    }
    out
}

fn query(board: &Board, c: &mut Conn, pkt: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(pkt);
    if s.starts_with("qSupported") {
        return format!("PacketSize={MAX_PACKET:x};qXfer:features:read+;QStartNoAckMode+")
            .into_bytes();
    }
    if let Some(rest) = s.strip_prefix("qXfer:features:read:target.xml:") {
        let (off, len) = rest.split_once(',').unwrap_or(("0", "0"));
        let off = parse_hex_u64(off.as_bytes()).unwrap_or(0) as usize;
        let len = parse_hex_u64(len.as_bytes()).unwrap_or(0) as usize;
        let xml = TARGET_XML.as_bytes();
        if off >= xml.len() {
            return b"l".to_vec();
        }
        let end = off.saturating_add(len).min(xml.len());
        let mut out = vec![if end == xml.len() { b'l' } else { b'm' }];
        for &b in &xml[off..end] {
            if matches!(b, b'#' | b'$' | b'}' | b'*') {
                out.push(b'}');
                out.push(b ^ 0x20);
            } else {
                out.push(b);
            }
        }
        return out;
    }
    if let Some(hexcmd) = s.strip_prefix("qRcmd,") {
        let cmd = unhex(hexcmd.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let out = monitor(board, &cmd);
        let mut o = b"O".to_vec();
        o.extend_from_slice(tohex(out.as_bytes()).as_bytes());
        c.send(&o);
        return b"OK".to_vec();
    }
    match s.as_ref() {
        "qAttached" => b"1".to_vec(),
        "qC" => b"QC1".to_vec(),
        "qfThreadInfo" => b"m1".to_vec(),
        "qsThreadInfo" => b"l".to_vec(),
        "qSymbol::" => b"OK".to_vec(),
        _ => Vec::new(),
    }
}
