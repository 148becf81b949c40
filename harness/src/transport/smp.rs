//! MCUmgr SMP, carried two ways as Zephyr devices speak it: over the
//! serial console, where each packet is `[u16 BE length][SMP header + CBOR
//! body][CRC16-XMODEM BE]`, base64-encoded in lines that start with 0x06
//! 0x09 (first) or 0x04 0x14 (continuation); and over UDP, one raw SMP
//! message per datagram. Used for image upload, state, test, confirm and
//! reset.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ciborium::Value;

use super::serial::{Console, SerialError};

const OP_READ: u8 = 0;
const OP_WRITE: u8 = 2;
pub const GROUP_OS: u16 = 0;
pub const GROUP_IMAGE: u16 = 1;
/// Base64 characters per console line (Zephyr keeps lines under 128 bytes).
const LINE_B64: usize = 124;
/// Largest response accepted (device output is hostile input).
const MAX_RESPONSE: usize = 16 * 1024;
/// Image bytes per upload request.
pub const UPLOAD_CHUNK: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum SmpError {
    #[error(transparent)]
    Serial(#[from] SerialError),
    /// The UDP socket failed (not the device's answer).
    #[error("SMP over UDP: {0}")]
    Udp(std::io::Error),
    /// No answer over UDP within the timeout.
    #[error("no SMP answer from {peer} within {after:?}")]
    NoAnswer { peer: SocketAddr, after: Duration },
    #[error("malformed SMP response: {0}")]
    Malformed(String),
    /// The device answered with an error code (e.g. 11 = access denied).
    #[error("device refused the SMP request with rc {0}")]
    Refused(i64),
}

/// One slot as `image state` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub slot: u64,
    pub version: String,
    pub hash: Vec<u8>,
    pub active: bool,
    pub confirmed: bool,
    pub pending: bool,
}

/// What carries SMP messages to the device and back.
pub trait SmpCarrier {
    /// Sends one SMP message and returns the device's answer with sequence
    /// number `seq` (answers to earlier requests are skipped).
    fn exchange(&mut self, message: &[u8], seq: u8, timeout: Duration)
        -> Result<Vec<u8>, SmpError>;
}

/// SMP in console frames on the serial console.
pub struct SerialCarrier<'a> {
    console: &'a mut Console,
}

/// SMP over UDP: one raw message per datagram (MCUmgr's UDP transport).
pub struct UdpCarrier {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl UdpCarrier {
    /// `socket` should be bound on the board's link (see `hilt_net::Link`).
    pub fn new(socket: UdpSocket, peer: SocketAddr) -> Self {
        Self { socket, peer }
    }
}

impl SmpCarrier for UdpCarrier {
    fn exchange(
        &mut self,
        message: &[u8],
        seq: u8,
        timeout: Duration,
    ) -> Result<Vec<u8>, SmpError> {
        self.socket
            .send_to(message, self.peer)
            .map_err(SmpError::Udp)?;
        let until = Instant::now() + timeout;
        let mut buf = vec![0u8; MAX_RESPONSE];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SmpError::NoAnswer {
                    peer: self.peer,
                    after: timeout,
                });
            }
            self.socket
                .set_read_timeout(Some(left))
                .map_err(SmpError::Udp)?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.peer && n >= 8 && buf[6] == seq => {
                    return Ok(buf[..n].to_vec())
                }
                // Another sender, a runt or a late answer to an earlier request.
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                // An ICMP port unreachable from an earlier datagram.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(SmpError::Udp(e)),
            }
        }
    }
}

impl SmpCarrier for SerialCarrier<'_> {
    fn exchange(
        &mut self,
        message: &[u8],
        _seq: u8,
        timeout: Duration,
    ) -> Result<Vec<u8>, SmpError> {
        self.console.send(&frame(message))?;
        read_packet(self.console, timeout)
    }
}

pub struct Smp<C> {
    carrier: C,
    seq: u8,
    timeout: Duration,
}

impl<'a> Smp<SerialCarrier<'a>> {
    /// SMP on the serial console.
    pub fn new(console: &'a mut Console, timeout: Duration) -> Self {
        Self::over(SerialCarrier { console }, timeout)
    }
}

impl<C: SmpCarrier> Smp<C> {
    pub fn over(carrier: C, timeout: Duration) -> Self {
        Self {
            carrier,
            seq: 0,
            timeout,
        }
    }

    /// Sends one request and returns the response body (a CBOR map).
    pub fn request(
        &mut self,
        op: u8,
        group: u16,
        id: u8,
        body: Value,
    ) -> Result<Vec<(Value, Value)>, SmpError> {
        let mut cbor = Vec::new();
        ciborium::into_writer(&body, &mut cbor).map_err(|e| SmpError::Malformed(e.to_string()))?;
        self.seq = self.seq.wrapping_add(1);
        let mut packet = vec![op, 0];
        packet.extend_from_slice(&(cbor.len() as u16).to_be_bytes());
        packet.extend_from_slice(&group.to_be_bytes());
        packet.push(self.seq);
        packet.push(id);
        packet.extend_from_slice(&cbor);
        let response = self.carrier.exchange(&packet, self.seq, self.timeout)?;
        if response.len() < 8 {
            return Err(SmpError::Malformed(
                "response shorter than an SMP header".into(),
            ));
        }
        let (header, body) = response.split_at(8);
        if header[6] != self.seq {
            return Err(SmpError::Malformed(format!(
                "response sequence {} does not match request {}",
                header[6], self.seq
            )));
        }
        let value: Value =
            ciborium::from_reader(body).map_err(|e| SmpError::Malformed(format!("CBOR: {e}")))?;
        let Value::Map(map) = value else {
            return Err(SmpError::Malformed(
                "response body is not a CBOR map".into(),
            ));
        };
        if let Some(rc) = int(get(&map, "rc")).filter(|rc| *rc != 0) {
            return Err(SmpError::Refused(rc));
        }
        if let Some(Value::Map(err)) = get(&map, "err") {
            if let Some(rc) = int(get(err, "rc")).filter(|rc| *rc != 0) {
                return Err(SmpError::Refused(rc));
            }
        }
        Ok(map)
    }

    /// `image state` read.
    pub fn image_state(&mut self) -> Result<Vec<SlotState>, SmpError> {
        let map = self.request(OP_READ, GROUP_IMAGE, 0, Value::Map(vec![]))?;
        let Some(Value::Array(images)) = get(&map, "images") else {
            return Err(SmpError::Malformed("no `images` in image state".into()));
        };
        images
            .iter()
            .map(|image| {
                let Value::Map(m) = image else {
                    return Err(SmpError::Malformed("image entry is not a map".into()));
                };
                Ok(SlotState {
                    slot: int(get(m, "slot")).unwrap_or(0) as u64,
                    version: get(m, "version")
                        .and_then(Value::as_text)
                        .unwrap_or("")
                        .to_string(),
                    hash: get(m, "hash")
                        .and_then(Value::as_bytes)
                        .cloned()
                        .unwrap_or_default(),
                    active: get(m, "active").and_then(Value::as_bool).unwrap_or(false),
                    confirmed: get(m, "confirmed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    pending: get(m, "pending").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect()
    }

    /// Uploads an image to the secondary slot.
    pub fn upload(&mut self, image: &[u8]) -> Result<(), SmpError> {
        let mut off = 0usize;
        while off < image.len() {
            let end = (off + UPLOAD_CHUNK).min(image.len());
            let mut body = vec![
                (text("image"), Value::Integer(0.into())),
                (text("off"), Value::Integer((off as u64).into())),
                (text("data"), Value::Bytes(image[off..end].to_vec())),
            ];
            if off == 0 {
                body.push((text("len"), Value::Integer((image.len() as u64).into())));
            }
            let map = self.request(OP_WRITE, GROUP_IMAGE, 1, Value::Map(body))?;
            let next = int(get(&map, "off"))
                .and_then(|o| usize::try_from(o).ok())
                .ok_or_else(|| SmpError::Malformed("upload response without `off`".into()))?;
            if next <= off || next > image.len() {
                return Err(SmpError::Malformed(format!(
                    "upload offset went from {off} to {next} (image is {} bytes)",
                    image.len()
                )));
            }
            off = next;
        }
        Ok(())
    }

    /// Marks the secondary-slot image with `hash` for a test boot (or a
    /// permanent one with `confirm`).
    pub fn mark(&mut self, hash: &[u8], confirm: bool) -> Result<(), SmpError> {
        let body = Value::Map(vec![
            (text("hash"), Value::Bytes(hash.to_vec())),
            (text("confirm"), Value::Bool(confirm)),
        ]);
        self.request(OP_WRITE, GROUP_IMAGE, 0, body).map(|_| ())
    }

    /// Confirms the running image.
    pub fn confirm_running(&mut self) -> Result<(), SmpError> {
        let body = Value::Map(vec![(text("confirm"), Value::Bool(true))]);
        self.request(OP_WRITE, GROUP_IMAGE, 0, body).map(|_| ())
    }

    /// OS reset (the device reboots after answering).
    pub fn reset(&mut self) -> Result<(), SmpError> {
        self.request(OP_WRITE, GROUP_OS, 5, Value::Map(vec![]))
            .map(|_| ())
    }

    /// Image erase: empties the update slot.
    pub fn erase(&mut self) -> Result<(), SmpError> {
        self.request(OP_WRITE, GROUP_IMAGE, 5, Value::Map(vec![]))
            .map(|_| ())
    }
}

fn read_packet(console: &mut Console, timeout: Duration) -> Result<Vec<u8>, SmpError> {
    let mut encoded = String::new();
    // First line, then continuation lines until the declared length is in.
    let first = console.expect("\x06\x09([A-Za-z0-9+/=]+)\r?\n", timeout)?;
    encoded.push_str(
        first
            .captures
            .get(1)
            .and_then(|c| c.as_deref())
            .unwrap_or(""),
    );
    loop {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .ok();
        if let Some(raw) = raw.filter(|r| r.len() >= 2) {
            let want = u16::from_be_bytes([raw[0], raw[1]]) as usize;
            if raw.len() >= want + 2 {
                let payload = &raw[2..2 + want];
                if payload.len() < 2 {
                    return Err(SmpError::Malformed("packet shorter than its CRC".into()));
                }
                let (message, crc) = payload.split_at(payload.len() - 2);
                if crc16_xmodem(message) != u16::from_be_bytes([crc[0], crc[1]]) {
                    return Err(SmpError::Malformed("CRC mismatch".into()));
                }
                return Ok(message.to_vec());
            }
        }
        if encoded.len() > MAX_RESPONSE * 4 / 3 + 8 {
            return Err(SmpError::Malformed(
                "response exceeds the size limit".into(),
            ));
        }
        let more = console.expect("\x04\x14([A-Za-z0-9+/=]+)\r?\n", timeout)?;
        encoded.push_str(
            more.captures
                .get(1)
                .and_then(|c| c.as_deref())
                .unwrap_or(""),
        );
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn get<'m>(map: &'m [(Value, Value)], key: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn int(value: Option<&Value>) -> Option<i64> {
    value
        .and_then(Value::as_integer)
        .and_then(|i| i64::try_from(i).ok())
}

/// Encodes one SMP message as console frame lines.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(message.len() + 4);
    raw.extend_from_slice(&((message.len() + 2) as u16).to_be_bytes());
    raw.extend_from_slice(message);
    raw.extend_from_slice(&crc16_xmodem(message).to_be_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
    let mut out = Vec::new();
    for (i, chunk) in encoded.as_bytes().chunks(LINE_B64).enumerate() {
        out.extend_from_slice(if i == 0 { &[0x06, 0x09] } else { &[0x04, 0x14] });
        out.extend_from_slice(chunk);
        out.push(b'\n');
    }
    out
}

/// CRC-16/XMODEM (poly 0x1021, init 0), as SMP's console transport uses.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_xmodem_check_value() {
        // The catalogue check value of CRC-16/XMODEM for "123456789".
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    #[test]
    fn frames_split_into_marked_lines() {
        let framed = frame(&[0u8; 200]);
        let lines: Vec<&[u8]> = framed
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert!(lines.len() > 1);
        assert_eq!(&lines[0][..2], &[0x06, 0x09]);
        assert!(lines[1..].iter().all(|l| l[..2] == [0x04, 0x14]));
        assert!(lines.iter().all(|l| l.len() <= 2 + LINE_B64));
    }
}
