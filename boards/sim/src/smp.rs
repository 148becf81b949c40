//! MCUmgr SMP over the serial console.
//!
//! Framing (Zephyr's SMP-over-console): a packet is `[len u16 BE][SMP
//! message][CRC16-XMODEM u16 BE]`, where `len` counts the message and CRC.
//! It is base64-encoded and sent as lines: the first starts with 0x06 0x09,
//! continuations with 0x04 0x14, each ends with '\n' and stays within 127
//! bytes. An SMP message is an 8-byte header (op, flags, length, group,
//! sequence, id; big-endian) and a CBOR map.

use base64::Engine as _;
use ciborium::value::Value;

use crate::device::Device;
use crate::device_api::UpdateError;
use crate::flash;
use crate::mcuboot;

const MAX_PACKET: usize = 8192;
const FRAME_B64: usize = 124;

pub const OP_READ: u8 = 0;
pub const OP_WRITE: u8 = 2;
pub const GROUP_OS: u16 = 0;
pub const GROUP_IMAGE: u16 = 1;

// MCUmgr error codes (version 1 `rc`).
pub const RC_EUNKNOWN: i64 = 1;
pub const RC_EINVAL: i64 = 3;
pub const RC_ENOENT: i64 = 5;
pub const RC_EBADSTATE: i64 = 6;
pub const RC_EMSGSIZE: i64 = 7;
pub const RC_ENOTSUP: i64 = 8;
pub const RC_EACCESSDENIED: i64 = 11;

pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
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

/// Collects frames into one packet.
#[derive(Default)]
pub struct Reassembly {
    buf: Vec<u8>,
    active: bool,
}

impl Reassembly {
    /// Adds one frame's base64 text; returns the SMP message once complete
    /// and its CRC checks.
    pub fn push(&mut self, first: bool, text: &[u8]) -> Option<Vec<u8>> {
        if first {
            self.buf.clear();
            self.active = true;
        } else if !self.active {
            return None;
        }
        let text: Vec<u8> = text
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(&text) else {
            self.active = false;
            return None;
        };
        if self.buf.len() + raw.len() > MAX_PACKET + 4 {
            self.active = false;
            return None;
        }
        self.buf.extend_from_slice(&raw);
        if self.buf.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        if !(2..=MAX_PACKET).contains(&len) {
            self.active = false;
            return None;
        }
        if self.buf.len() < 2 + len {
            return None;
        }
        self.active = false;
        let body = &self.buf[2..2 + len];
        let (msg, crc) = body.split_at(len - 2);
        let want = u16::from_be_bytes([crc[0], crc[1]]);
        (crc16_xmodem(msg) == want).then(|| msg.to_vec())
    }
}

/// Encodes an SMP message as console frames.
pub fn encode_frames(msg: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(msg.len() + 4);
    raw.extend_from_slice(&((msg.len() + 2) as u16).to_be_bytes());
    raw.extend_from_slice(msg);
    raw.extend_from_slice(&crc16_xmodem(msg).to_be_bytes());
    let text = base64::engine::general_purpose::STANDARD.encode(&raw);
    let mut out = Vec::new();
    for (i, chunk) in text.as_bytes().chunks(FRAME_B64).enumerate() {
        out.extend_from_slice(if i == 0 { &[0x06, 0x09] } else { &[0x04, 0x14] });
        out.extend_from_slice(chunk);
        out.push(b'\n');
    }
    out
}

pub struct Reply {
    pub frames: Vec<u8>,
    /// Reset the device after the reply is sent.
    pub reset: bool,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    op: u8,
    version: u8,
    flags: u8,
    group: u16,
    seq: u8,
    id: u8,
}

fn get<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn int(v: Option<&Value>) -> Option<i128> {
    v.and_then(|v| v.as_integer()).map(i128::from)
}

fn text(k: &str) -> Value {
    Value::Text(k.to_string())
}

fn rc_map(h: &Header, rc: i64) -> Vec<(Value, Value)> {
    if h.version >= 1 {
        vec![(
            text("err"),
            Value::Map(vec![
                (text("group"), Value::Integer(h.group.into())),
                (text("rc"), Value::Integer(rc.into())),
            ]),
        )]
    } else {
        vec![(text("rc"), Value::Integer(rc.into()))]
    }
}

/// Handles one SMP message from the console; `authenticated` is the
/// console session's state.
pub fn handle(dev: &Device, msg: &[u8], authenticated: bool) -> Option<Reply> {
    let (out, reset) = respond(dev, msg, authenticated)?;
    Some(Reply {
        frames: encode_frames(&out),
        reset,
    })
}

/// Handles one SMP message: the raw answer and whether to reset after
/// sending it (the transport frames the answer).
pub fn respond(dev: &Device, msg: &[u8], authenticated: bool) -> Option<(Vec<u8>, bool)> {
    if msg.len() < 8 {
        return None;
    }
    let h = Header {
        op: msg[0] & 0x07,
        version: (msg[0] >> 3) & 0x03,
        flags: msg[1],
        group: u16::from_be_bytes([msg[4], msg[5]]),
        seq: msg[6],
        id: msg[7],
    };
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    let body = msg.get(8..8 + len)?;
    if h.op != OP_READ && h.op != OP_WRITE {
        return None;
    }
    let req: Vec<(Value, Value)> = if body.is_empty() {
        Vec::new()
    } else {
        match ciborium::de::from_reader::<Value, _>(body) {
            Ok(Value::Map(m)) => m,
            _ => Vec::new(),
        }
    };
    let mut reset = false;
    let resp = match (h.group, h.id, h.op) {
        (GROUP_OS, 0, _) => {
            // Echo.
            let d = get(&req, "d").and_then(|v| v.as_text()).unwrap_or("");
            vec![(text("r"), text(d))]
        }
        (GROUP_OS, 6, OP_READ) => vec![
            // MCUmgr parameters: the reassembly buffer a client may fill.
            (text("buf_size"), Value::Integer(4096.into())),
            (text("buf_count"), Value::Integer(1.into())),
        ],
        (GROUP_OS, 5, OP_WRITE) => {
            if authenticated || dev.behaviour.update_unauthenticated {
                reset = true;
                Vec::new()
            } else {
                rc_map(&h, RC_EACCESSDENIED)
            }
        }
        (GROUP_IMAGE, 0, OP_READ) => image_state(dev, &h),
        (GROUP_IMAGE, 0, OP_WRITE) => image_state_write(dev, &h, &req, authenticated),
        (GROUP_IMAGE, 1, OP_WRITE) => upload(dev, &h, &req, authenticated),
        (GROUP_IMAGE, 5, OP_WRITE) => match dev.erase_slot1(authenticated, "smp") {
            Ok(()) => Vec::new(),
            Err(_) => rc_map(&h, RC_EACCESSDENIED),
        },
        _ => rc_map(&h, RC_ENOTSUP),
    };
    let mut body = Vec::new();
    if ciborium::ser::into_writer(&Value::Map(resp), &mut body).is_err() {
        return None;
    }
    let mut out = Vec::with_capacity(8 + body.len());
    out.push((h.version << 3) | (h.op + 1));
    out.push(h.flags);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&h.group.to_be_bytes());
    out.push(h.seq);
    out.push(h.id);
    out.extend_from_slice(&body);
    Some((out, reset))
}

fn image_state(dev: &Device, _h: &Header) -> Vec<(Value, Value)> {
    let mut images = Vec::new();
    for (slot, version, hash, t) in dev.slot_images() {
        let active = slot == 0;
        let pending = slot == 1 && t.magic;
        let confirmed = slot == 0 && !(t.magic && t.copy_done && !t.image_ok);
        let permanent = slot == 1 && t.magic && t.image_ok;
        images.push(Value::Map(vec![
            (text("image"), Value::Integer(0.into())),
            (text("slot"), Value::Integer((slot as u64).into())),
            (text("version"), text(&version.to_string())),
            (text("hash"), Value::Bytes(hash.to_vec())),
            (text("bootable"), Value::Bool(true)),
            (text("pending"), Value::Bool(pending)),
            (text("confirmed"), Value::Bool(confirmed)),
            (text("active"), Value::Bool(active)),
            (text("permanent"), Value::Bool(permanent)),
        ]));
    }
    vec![
        (text("images"), Value::Array(images)),
        (text("splitStatus"), Value::Integer(0.into())),
    ]
}

fn image_state_write(
    dev: &Device,
    h: &Header,
    req: &[(Value, Value)],
    authenticated: bool,
) -> Vec<(Value, Value)> {
    let confirm = get(req, "confirm")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let hash = get(req, "hash").and_then(|v| v.as_bytes()).cloned();
    let running = hash.as_deref() == Some(&dev.image_hash[..]);
    if !authenticated && !dev.behaviour.update_unauthenticated {
        dev.record(
            crate::device_api::event_kind::UPDATE_REJECTED,
            4,
            "smp",
            "image state change: not authenticated",
        );
        return rc_map(h, RC_EACCESSDENIED);
    }
    match hash {
        None if confirm => dev.confirm("smp"),
        Some(_) if running && confirm => dev.confirm("smp"),
        Some(hash) if !running => match dev.set_pending(&hash, confirm, true, "smp") {
            Ok(()) => {}
            Err(UpdateError::Disabled | UpdateError::Unauthorized) => {
                return rc_map(h, RC_EACCESSDENIED)
            }
            Err(_) => return rc_map(h, RC_ENOENT),
        },
        Some(_) => return rc_map(h, RC_EBADSTATE),
        None => return rc_map(h, RC_EINVAL),
    }
    image_state(dev, h)
}

fn upload(
    dev: &Device,
    h: &Header,
    req: &[(Value, Value)],
    authenticated: bool,
) -> Vec<(Value, Value)> {
    let Some(off) = int(get(req, "off")).and_then(|o| usize::try_from(o).ok()) else {
        return rc_map(h, RC_EINVAL);
    };
    let Some(data) = get(req, "data").and_then(|v| v.as_bytes()) else {
        return rc_map(h, RC_EINVAL);
    };
    let total = int(get(req, "len")).and_then(|l| usize::try_from(l).ok());
    if get(req, "image")
        .and_then(|v| v.as_integer())
        .is_some_and(|i| i128::from(i) != 0)
    {
        return rc_map(h, RC_EINVAL);
    }
    match dev.upload_chunk(off, data, total, authenticated, "smp") {
        Ok(next) => vec![
            (text("rc"), Value::Integer(0.into())),
            (text("off"), Value::Integer((next as u64).into())),
        ],
        // Updates switched off by the user answer like a refused session:
        // MCUmgr's EACCESSDENIED (11); nothing is written.
        Err(UpdateError::Unauthorized | UpdateError::Disabled) => rc_map(h, RC_EACCESSDENIED),
        Err(UpdateError::TooLarge { .. }) => rc_map(h, RC_EMSGSIZE),
        Err(UpdateError::Malformed(_)) => rc_map(h, RC_EINVAL),
    }
}

/// Hash of the image in a slot (for tests and diagnostics).
pub fn slot_hash(flash: &flash::Flash, slot: usize) -> Option<String> {
    mcuboot::parse(flash.slot(slot))
        .ok()
        .map(|i| mcuboot::hex(&i.computed_hash))
}

#[allow(dead_code)]
const _: i64 = RC_EUNKNOWN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    #[test]
    fn frames_round_trip_and_stay_within_127_bytes() {
        let msg: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let frames = encode_frames(&msg);
        let mut r = Reassembly::default();
        let mut got = None;
        for line in frames.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(line.len() < 127);
            got = r.push(line[0] == 6, &line[2..]);
        }
        assert_eq!(got.as_deref(), Some(&msg[..]));
    }

    #[test]
    fn hostile_frames_never_panic() {
        let mut r = Reassembly::default();
        let mut x: u32 = 1;
        for i in 0..5000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let len = (x >> 24) as usize % 200;
            let text: Vec<u8> = (0..len)
                .map(|j| {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
                        [(j * 7 + i) % 65]
                })
                .collect();
            let _ = r.push(i % 3 == 0, &text);
        }
    }
}
