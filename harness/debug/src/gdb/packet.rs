//! GDB remote serial protocol framing, as the GDB manual's "Remote
//! Protocol" appendix describes it: `$payload#cs` packets, `%payload#cs`
//! notifications, `+`/`-` acknowledgements, run-length encoding (`X*c`,
//! repeat `X` `c - 29` more times) and binary escapes (`}` then the byte
//! XOR 0x20).
//!
//! Everything here is pure and bounded so it can be fed hostile bytes: the
//! decoder never stores more than its packet limit, expansion never writes
//! more than its output limit, and nothing panics on any input.

use std::fmt::Write as _;

/// The byte that starts a packet.
const START: u8 = b'$';
/// The byte that starts an asynchronous notification (non-stop mode).
const NOTIFY: u8 = b'%';
/// The byte that ends the payload; two hex digits of checksum follow.
const END: u8 = b'#';
/// Escape byte in binary data: the next byte is XOR 0x20.
const ESCAPE: u8 = b'}';
/// Run-length marker: repeat the previous byte.
const RUN: u8 = b'*';
/// Ctrl-C: an interrupt request (client to stub).
pub const INTERRUPT: u8 = 0x03;

/// The modulo-256 sum of the payload bytes.
pub fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Frames a payload: `$payload#cs`. The payload must already be escaped
/// where it carries binary data (see [`escape_binary`]).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(START);
    out.extend_from_slice(payload);
    out.push(END);
    let cs = checksum(payload);
    out.push(hex_digit(cs >> 4));
    out.push(hex_digit(cs & 0xf));
    out
}

/// Escapes binary data for `X` packets: `$`, `#`, `}` and `*` become `}`
/// followed by the byte XOR 0x20.
pub fn escape_binary(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    for &b in data {
        if needs_escape(b) {
            out.push(ESCAPE);
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
    out
}

/// Whether a byte must be escaped inside binary data.
pub fn needs_escape(b: u8) -> bool {
    matches!(b, START | END | ESCAPE | RUN)
}

/// Undoes binary escapes. A trailing lone `}` is an error.
pub fn unescape_binary(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(data.len());
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        if b == ESCAPE {
            match bytes.next() {
                Some(&e) => out.push(e ^ 0x20),
                None => return Err(DecodeError::DanglingEscape),
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Expands run-length encoding in a received payload, writing at most
/// `limit` bytes. `X*c` stands for `X` followed by `c - 29` more copies of
/// `X`; the count byte must be printable (32..=126) and not `#` or `$`.
/// A `*` that follows a `}` escape is the escaped byte, not a run marker.
pub fn expand_rle(raw: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len().min(limit));
    let mut i = 0;
    // Whether the previous output byte was an escape introducer whose
    // escaped byte has not been seen yet.
    let mut after_escape = false;
    while i < raw.len() {
        let b = raw[i];
        if b == RUN && !after_escape {
            let Some(&prev) = out.last() else {
                return Err(DecodeError::RunWithoutByte);
            };
            let Some(&count) = raw.get(i + 1) else {
                return Err(DecodeError::RunWithoutCount);
            };
            if !(32..=126).contains(&count) || count == START || count == END {
                return Err(DecodeError::BadRunCount(count));
            }
            let repeat = usize::from(count - 29);
            if out.len().saturating_add(repeat) > limit {
                return Err(DecodeError::TooLong { limit });
            }
            out.resize(out.len() + repeat, prev);
            i += 2;
            continue;
        }
        if out.len() >= limit {
            return Err(DecodeError::TooLong { limit });
        }
        after_escape = b == ESCAPE && !after_escape;
        out.push(b);
        i += 1;
    }
    Ok(out)
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("run-length marker '*' with no byte before it")]
    RunWithoutByte,
    #[error("run-length marker '*' at the end of the packet (no count)")]
    RunWithoutCount,
    #[error("run-length count byte 0x{0:02x} is not allowed")]
    BadRunCount(u8),
    #[error("decoded reply longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("escape '}}' at the end of binary data")]
    DanglingEscape,
    #[error("odd number of hex digits ({0})")]
    OddHex(usize),
    #[error("non-hex byte 0x{0:02x} in hex data")]
    NotHex(u8),
}

/// One thing the decoder recognised on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `+`: the peer received our last packet.
    Ack,
    /// `-`: the peer asks for our last packet again.
    Nack,
    /// Ctrl-C (0x03) outside a packet.
    Interrupt,
    /// A packet whose checksum matched. The payload is still run-length
    /// encoded and escaped as sent (see [`expand_rle`], [`unescape_binary`]).
    Packet(Vec<u8>),
    /// A `%...#cs` notification whose checksum matched.
    Notification(Vec<u8>),
    /// A packet whose checksum did not match; `len` payload bytes.
    BadChecksum {
        received: u8,
        computed: u8,
        len: usize,
    },
    /// The checksum field held something other than two hex digits.
    BadChecksumDigits,
    /// A packet longer than the decoder's limit; its bytes were dropped.
    Oversize { limit: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between packets.
    Idle,
    /// Inside a payload.
    Payload,
    /// After `#`, waiting for the first checksum digit.
    Sum1,
    /// After the first checksum digit (its value, or None if not hex).
    Sum2(Option<u8>),
}

/// A byte-at-a-time decoder of the wire stream. It holds at most `limit`
/// payload bytes; longer packets are skipped and reported as
/// [`Event::Oversize`]. Bytes between packets other than `+`, `-` and
/// Ctrl-C are counted as noise and otherwise ignored.
#[derive(Debug)]
pub struct Decoder {
    limit: usize,
    state: State,
    buf: Vec<u8>,
    notification: bool,
    overflowed: bool,
    noise: u64,
    restarts: u64,
}

impl Decoder {
    /// A decoder that accepts payloads of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            state: State::Idle,
            buf: Vec::new(),
            notification: false,
            overflowed: false,
            noise: 0,
            restarts: 0,
        }
    }

    /// The payload limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes seen outside any packet that meant nothing.
    pub fn noise(&self) -> u64 {
        self.noise
    }

    /// Packets abandoned because a new `$` arrived inside them.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Whether the decoder is in the middle of a packet.
    pub fn in_packet(&self) -> bool {
        self.state != State::Idle
    }

    /// Forgets any partial packet.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.buf.clear();
        self.overflowed = false;
    }

    /// Feeds one byte; returns an event when one is complete.
    pub fn push(&mut self, byte: u8) -> Option<Event> {
        match self.state {
            State::Idle => match byte {
                b'+' => Some(Event::Ack),
                b'-' => Some(Event::Nack),
                INTERRUPT => Some(Event::Interrupt),
                START | NOTIFY => {
                    self.begin(byte == NOTIFY);
                    None
                }
                _ => {
                    self.noise = self.noise.saturating_add(1);
                    None
                }
            },
            State::Payload => {
                match byte {
                    END => self.state = State::Sum1,
                    // An unescaped `$` inside a payload: the peer started
                    // over (it cannot be data). Drop what we had.
                    START => {
                        self.restarts = self.restarts.saturating_add(1);
                        self.begin(false);
                    }
                    _ => {
                        if self.buf.len() < self.limit {
                            self.buf.push(byte);
                        } else {
                            self.overflowed = true;
                        }
                    }
                }
                None
            }
            State::Sum1 => {
                self.state = State::Sum2(hex_value(byte));
                None
            }
            State::Sum2(high) => {
                let event = self.finish(high, hex_value(byte));
                self.reset();
                Some(event)
            }
        }
    }

    fn begin(&mut self, notification: bool) {
        self.buf.clear();
        self.overflowed = false;
        self.notification = notification;
        self.state = State::Payload;
    }

    fn finish(&mut self, high: Option<u8>, low: Option<u8>) -> Event {
        if self.overflowed {
            return Event::Oversize { limit: self.limit };
        }
        let (Some(high), Some(low)) = (high, low) else {
            return Event::BadChecksumDigits;
        };
        let received = (high << 4) | low;
        let computed = checksum(&self.buf);
        if received != computed {
            return Event::BadChecksum {
                received,
                computed,
                len: self.buf.len(),
            };
        }
        let payload = std::mem::take(&mut self.buf);
        if self.notification {
            Event::Notification(payload)
        } else {
            Event::Packet(payload)
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n & 0xf)]
}

/// Lowercase hex of bytes.
pub fn to_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex digit pairs.
pub fn from_hex(hex: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if !hex.len().is_multiple_of(2) {
        return Err(DecodeError::OddHex(hex.len()));
    }
    hex.chunks_exact(2)
        .map(|pair| match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(h), Some(l)) => Ok((h << 4) | l),
            (None, _) => Err(DecodeError::NotHex(pair[0])),
            (_, None) => Err(DecodeError::NotHex(pair[1])),
        })
        .collect()
}

/// Decodes register-style hex where `xx` marks an unavailable byte.
pub fn from_hex_optional(hex: &[u8]) -> Result<Vec<Option<u8>>, DecodeError> {
    if !hex.len().is_multiple_of(2) {
        return Err(DecodeError::OddHex(hex.len()));
    }
    hex.chunks_exact(2)
        .map(|pair| match (pair[0], pair[1]) {
            (b'x' | b'X', b'x' | b'X') => Ok(None),
            (h, l) => match (hex_value(h), hex_value(l)) {
                (Some(h), Some(l)) => Ok(Some((h << 4) | l)),
                (None, _) => Err(DecodeError::NotHex(h)),
                (_, None) => Err(DecodeError::NotHex(l)),
            },
        })
        .collect()
}

/// An error reply: `Exx` (two hex digits) or `E.text` (the
/// error-message extension). `None` for anything else.
pub fn parse_error_reply(payload: &[u8]) -> Option<ErrorReply> {
    match payload {
        [b'E', h, l] => {
            let code = (hex_value(*h)? << 4) | hex_value(*l)?;
            Some(ErrorReply { code, text: None })
        }
        [b'E', b'.', text @ ..] => Some(ErrorReply {
            code: 0,
            text: Some(String::from_utf8_lossy(text).into_owned()),
        }),
        _ => None,
    }
}

/// A stub's error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The `xx` of `Exx` (0 for `E.text`).
    pub code: u8,
    /// The text of `E.text`.
    pub text: Option<String>,
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.text {
            Some(text) => write!(f, "E.{text}"),
            None => write!(f, "E{:02X}", self.code),
        }
    }
}

/// Why the target stopped, from a `?`, `c` or `s` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReply {
    /// `Sxx`: stopped with a signal.
    Signal(u8),
    /// `Txx n1:r1;n2:r2;...`: stopped with a signal and extra fields
    /// (register values, `thread`, `watch`, `swbreak`, ...).
    SignalWithInfo {
        signal: u8,
        info: Vec<(String, String)>,
    },
    /// `Wxx`: the process exited with this status.
    Exited(u8),
    /// `Xxx`: the process was terminated by this signal.
    Terminated(u8),
    /// `N`: there are no resumed threads left.
    NoResumed,
}

impl StopReply {
    /// Parses a stop reply; `None` if the payload is not one.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let (&kind, rest) = payload.split_first()?;
        if kind == b'N' && rest.is_empty() {
            return Some(StopReply::NoResumed);
        }
        let code = match rest {
            [h, l, ..] => (hex_value(*h)? << 4) | hex_value(*l)?,
            _ => return None,
        };
        let tail = rest.get(2..).unwrap_or(&[]);
        match kind {
            b'S' => Some(StopReply::Signal(code)),
            b'W' => Some(StopReply::Exited(code)),
            b'X' => Some(StopReply::Terminated(code)),
            b'T' => {
                let text = String::from_utf8_lossy(tail);
                let info = text
                    .split(';')
                    .filter(|f| !f.is_empty())
                    .map(|f| match f.split_once(':') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (f.to_string(), String::new()),
                    })
                    .collect();
                Some(StopReply::SignalWithInfo { signal: code, info })
            }
            _ => None,
        }
    }

    /// The signal number, if the target stopped (rather than exited).
    pub fn signal(&self) -> Option<u8> {
        match self {
            StopReply::Signal(s) | StopReply::SignalWithInfo { signal: s, .. } => Some(*s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(decoder: &mut Decoder, bytes: &[u8]) -> Vec<Event> {
        bytes.iter().filter_map(|b| decoder.push(*b)).collect()
    }

    #[test]
    fn frames_with_the_manual_checksum() {
        // The manual's own example: `$g#67`... is not given; compute known
        // packets by hand: 'O' 'K' = 0x4f + 0x4b = 0x9a.
        assert_eq!(frame(b"OK"), b"$OK#9a");
        assert_eq!(frame(b""), b"$#00");
        assert_eq!(frame(b"?"), b"$?#3f");
        assert_eq!(frame(b"g"), b"$g#67");
    }

    #[test]
    fn decodes_acks_packets_and_notifications() {
        let mut d = Decoder::new(64);
        let events = decode_all(&mut d, b"+-junk$OK#9a%Stop:T05#ff\x03");
        assert_eq!(events[0], Event::Ack);
        assert_eq!(events[1], Event::Nack);
        assert_eq!(events[2], Event::Packet(b"OK".to_vec()));
        assert!(matches!(events[3], Event::BadChecksum { .. }));
        assert_eq!(events[4], Event::Interrupt);
        assert_eq!(d.noise(), 4);
        let cs = checksum(b"Stop:T05");
        let mut n = b"%Stop:T05#".to_vec();
        n.extend_from_slice(format!("{cs:02X}").as_bytes());
        assert_eq!(
            decode_all(&mut d, &n),
            vec![Event::Notification(b"Stop:T05".to_vec())]
        );
    }

    #[test]
    fn oversize_packets_are_dropped_not_stored() {
        let mut d = Decoder::new(4);
        let events = decode_all(&mut d, &frame(b"0123456789"));
        assert_eq!(events, vec![Event::Oversize { limit: 4 }]);
        assert!(d.buf.capacity() <= 64);
        // And the decoder carries on.
        assert_eq!(
            decode_all(&mut d, &frame(b"OK")),
            vec![Event::Packet(b"OK".to_vec())]
        );
    }

    #[test]
    fn a_dollar_inside_a_packet_restarts() {
        let mut d = Decoder::new(64);
        let mut bytes = b"$abc".to_vec();
        bytes.extend_from_slice(&frame(b"OK"));
        assert_eq!(
            decode_all(&mut d, &bytes),
            vec![Event::Packet(b"OK".to_vec())]
        );
        assert_eq!(d.restarts(), 1);
    }

    #[test]
    fn run_length_as_in_the_manual() {
        // "0* " means the same as "0000".
        assert_eq!(expand_rle(b"0* ", 100).expect("valid input"), b"0000");
        assert_eq!(
            expand_rle(b"ab*\"c", 100).expect("valid input"),
            b"abbbbbbc"
        );
        assert_eq!(expand_rle(b"*a", 100), Err(DecodeError::RunWithoutByte));
        assert_eq!(expand_rle(b"a*", 100), Err(DecodeError::RunWithoutCount));
        assert_eq!(expand_rle(b"a*#", 100), Err(DecodeError::BadRunCount(b'#')));
        assert_eq!(
            expand_rle(b"a*\x10", 100),
            Err(DecodeError::BadRunCount(0x10))
        );
        assert_eq!(
            expand_rle(b"0*~", 50),
            Err(DecodeError::TooLong { limit: 50 })
        );
        assert_eq!(expand_rle(b"0*~", 98).expect("valid input").len(), 98);
        // An escaped '*' (`}` 0x0a) is data, and `}*` keeps '*' as the
        // escaped byte.
        assert_eq!(expand_rle(b"}\x0a", 10).expect("valid input"), b"}\x0a");
        assert_eq!(expand_rle(b"}*", 10).expect("valid input"), b"}*");
    }

    #[test]
    fn binary_escapes_round_trip() {
        let data: Vec<u8> = (0..=255).collect();
        let escaped = escape_binary(&data);
        assert!(!escaped.contains(&b'$') && !escaped.contains(&b'#') && !escaped.contains(&b'*'));
        assert_eq!(unescape_binary(&escaped).expect("valid input"), data);
        assert_eq!(escape_binary(b"}"), b"}]");
        assert_eq!(unescape_binary(b"a}"), Err(DecodeError::DanglingEscape));
    }

    #[test]
    fn error_and_stop_replies() {
        assert_eq!(
            parse_error_reply(b"E01"),
            Some(ErrorReply {
                code: 1,
                text: None
            })
        );
        assert_eq!(parse_error_reply(b"E0e").map(|e| e.code), Some(0x0e));
        assert_eq!(parse_error_reply(b"e0"), None);
        assert_eq!(parse_error_reply(b"E0"), None);
        assert_eq!(parse_error_reply(b"E0G"), None);
        assert_eq!(
            parse_error_reply(b"E.no access").and_then(|e| e.text),
            Some("no access".into())
        );
        assert_eq!(StopReply::parse(b"S05"), Some(StopReply::Signal(5)));
        assert_eq!(StopReply::parse(b"W00"), Some(StopReply::Exited(0)));
        assert_eq!(
            StopReply::parse(b"T05thread:p01.01;swbreak:;"),
            Some(StopReply::SignalWithInfo {
                signal: 5,
                info: vec![
                    ("thread".into(), "p01.01".into()),
                    ("swbreak".into(), String::new())
                ]
            })
        );
        assert_eq!(StopReply::parse(b"T"), None);
        assert_eq!(StopReply::parse(b"OK"), None);
        assert_eq!(StopReply::parse(b""), None);
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(
            from_hex(b"00ffA5").expect("valid input"),
            vec![0, 0xff, 0xa5]
        );
        assert_eq!(from_hex(b"0"), Err(DecodeError::OddHex(1)));
        assert_eq!(from_hex(b"0g"), Err(DecodeError::NotHex(b'g')));
        assert_eq!(
            from_hex_optional(b"01xx").expect("valid input"),
            vec![Some(1), None]
        );
        assert_eq!(to_hex(&[0xde, 0xad]), "dead");
    }
}
