//! MQTT 3.1.1 login (OASIS MQTT 3.1.1, 3.1 and 3.2): one CONNECT per
//! attempt on a fresh connection (over TLS for `mqtts`), the CONNACK's
//! return code judged: 0 accepted; 4 (bad user name or password) and 5
//! (not authorized) refused; anything else proves nothing. Anonymous is a
//! CONNECT without user name. The banner is `$SYS/broker/version`, read
//! only where an anonymous client may subscribe.
//!
//! Device bytes are read through a bounded parser: a packet longer than
//! [`MAX_PACKET`] or a malformed length ends the exchange as not
//! understood; nothing the broker sends can make it panic.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use hilt_net::tls::{self, TlsClientConfig, Trust};
use hilt_net::Link;

use super::{net_stop, Attempt, LoginError, LoginProbe, Outcome, Target, STEP};
use crate::board::Secret;
use crate::stop::StopSignal;

/// Longest MQTT packet read; CONNACK is 4 bytes, a `$SYS` message short.
pub const MAX_PACKET: usize = 4096;
const POLL: Duration = Duration::from_millis(50);
const VERSION_TOPIC: &str = "$SYS/broker/version";

/// A packet's first byte, its body and the bytes it took.
pub type Parsed<'a> = (u8, &'a [u8], usize);
/// A connection the broker accepted, with what it sent after the CONNACK.
type Session = (Box<dyn Stream>, Vec<u8>);

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

pub struct MqttProbe {
    label: String,
    link: Link,
    port: u16,
    tls: bool,
    stop: StopSignal,
    client_id: String,
}

/// The CONNECT packet: clean session, keep-alive 30 s, `client_id`, and
/// the user name and password when given.
pub fn connect_packet(client_id: &str, user: Option<&str>, password: Option<&[u8]>) -> Vec<u8> {
    let mut flags = 0x02u8;
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 4]);
    body.extend_from_slice(b"MQTT");
    body.push(4);
    if user.is_some() {
        flags |= 0x80;
        if password.is_some() {
            flags |= 0x40;
        }
    }
    body.push(flags);
    body.extend_from_slice(&30u16.to_be_bytes());
    push_str(&mut body, client_id.as_bytes());
    if let Some(u) = user {
        push_str(&mut body, u.as_bytes());
        if let Some(p) = password {
            push_str(&mut body, p);
        }
    }
    packet(0x10, &body)
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&s[..n]);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = body.len();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// One packet parsed from the front of `buf`: Ok(Some((first byte, body,
/// bytes used))), Ok(None) when more bytes are needed, Err when the bytes
/// are not an MQTT packet hilt will read.
pub fn parse_packet(buf: &[u8]) -> Result<Option<Parsed<'_>>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if i > 4 {
            return Err("malformed remaining length".into());
        }
    }
    if len > MAX_PACKET {
        return Err(format!("a packet of {len} bytes (over {MAX_PACKET})"));
    }
    match buf.get(i..i + len) {
        Some(body) => Ok(Some((first, body, i + len))),
        None => Ok(None),
    }
}

/// What a CONNACK's return code means.
pub fn judge_connack(body: &[u8]) -> Outcome {
    match body {
        [_, 0] => Outcome::Accepted,
        [_, 4] => Outcome::Refused("CONNACK 4: bad user name or password".into()),
        [_, 5] => Outcome::Refused("CONNACK 5: not authorized".into()),
        [_, rc] => Outcome::Unknown(format!("CONNACK return code {rc}")),
        _ => Outcome::Unknown(format!("a CONNACK of {} bytes", body.len())),
    }
}

impl MqttProbe {
    pub fn new(target: &Target<'_>) -> Self {
        Self {
            label: format!(
                "{} {}/tcp",
                target.interface.service.to_ascii_lowercase(),
                target.interface.port
            ),
            link: target.link.clone(),
            port: target.interface.port,
            tls: target.interface.speaks_tls(),
            stop: target.stop.clone(),
            client_id: format!("hilt-{}", std::process::id()),
        }
    }

    fn open(&self) -> Result<Box<dyn Stream>, LoginError> {
        if self.tls {
            let mut cfg = TlsClientConfig::new(self.link.board().to_string(), Trust::InspectOnly);
            cfg.timeout = STEP;
            let conn = tls::connect(&self.link, self.port, &cfg, &net_stop(&self.stop))?;
            match conn.stream {
                Some(s) => Ok(Box::new(s)),
                None => Err(LoginError::Device(format!(
                    "{}: the TLS handshake failed",
                    self.label
                ))),
            }
        } else {
            let s = self.link.tcp_connect(self.port, STEP)?;
            s.set_read_timeout(Some(POLL))
                .map_err(|e| LoginError::Harness(format!("MQTT socket: {e}")))?;
            Ok(Box::new(s))
        }
    }

    /// Sends CONNECT and reads the CONNACK; the open stream is returned
    /// when it was accepted.
    fn connect(
        &self,
        user: Option<&str>,
        password: Option<&Secret>,
        transcript: &mut String,
    ) -> Result<(Outcome, Option<Session>), LoginError> {
        let mut stream = self.open()?;
        let pkt = connect_packet(
            &self.client_id,
            user,
            password.map(|p| p.expose().as_bytes()),
        );
        transcript.push_str(&format!(
            "> CONNECT client {} user {} password {}\n",
            self.client_id,
            user.map_or("(none)".to_string(), |u| format!("{u:?}")),
            if password.is_some() {
                "<redacted>"
            } else {
                "(none)"
            }
        ));
        stream
            .write_all(&pkt)
            .map_err(|e| LoginError::Device(format!("{}: CONNECT not sent: {e}", self.label)))?;
        let mut buf = Vec::new();
        let (first, body) = match self.read_packet(&mut stream, &mut buf)? {
            Read1::Packet(first, body) => (first, body),
            Read1::Closed => {
                transcript.push_str("< connection closed without CONNACK\n");
                return Ok((
                    Outcome::Unknown("the broker closed the connection without a CONNACK".into()),
                    None,
                ));
            }
            Read1::Garbage(why) => {
                transcript.push_str(&format!("< {why}\n"));
                return Ok((Outcome::Unknown(why), None));
            }
        };
        transcript.push_str(&format!("< packet type {:#04x} {:02x?}\n", first, body));
        if first != 0x20 {
            return Ok((
                Outcome::Unknown(format!("packet type {first:#04x} instead of CONNACK")),
                None,
            ));
        }
        let outcome = judge_connack(&body);
        if outcome == Outcome::Accepted {
            Ok((outcome, Some((stream, buf))))
        } else {
            Ok((outcome, None))
        }
    }

    fn read_packet(
        &self,
        stream: &mut Box<dyn Stream>,
        buf: &mut Vec<u8>,
    ) -> Result<Read1, LoginError> {
        let until = Instant::now() + STEP;
        loop {
            match parse_packet(buf) {
                Ok(Some((first, body, used))) => {
                    let body = body.to_vec();
                    buf.drain(..used);
                    return Ok(Read1::Packet(first, body));
                }
                Ok(None) => {}
                Err(why) => return Ok(Read1::Garbage(why)),
            }
            if let Err(crate::stop::Stopped(why)) = self.stop.check() {
                return Err(LoginError::Stopped(why));
            }
            if Instant::now() > until {
                return Err(LoginError::Device(format!(
                    "{}: no MQTT answer within {} s",
                    self.label,
                    STEP.as_secs()
                )));
            }
            let mut chunk = [0u8; 1024];
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(Read1::Closed),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Ok(Read1::Closed)
                }
                Err(e) => {
                    return Err(LoginError::Device(format!(
                        "{}: read failed: {e}",
                        self.label
                    )))
                }
            }
        }
    }
}

enum Read1 {
    Packet(u8, Vec<u8>),
    Closed,
    Garbage(String),
}

impl LoginProbe for MqttProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn attempt(&mut self, user: &str, password: &Secret) -> Result<Attempt, LoginError> {
        let mut transcript = String::new();
        let (outcome, open) = self.connect(Some(user), Some(password), &mut transcript)?;
        if let Some((mut s, _)) = open {
            let _ = s.write_all(&[0xe0, 0]);
        }
        Ok(Attempt {
            outcome,
            transcript,
        })
    }

    fn attempt_anonymous(&mut self) -> Result<Option<Attempt>, LoginError> {
        let mut transcript = String::new();
        let (outcome, open) = self.connect(None, None, &mut transcript)?;
        if let Some((mut s, _)) = open {
            let _ = s.write_all(&[0xe0, 0]);
        }
        Ok(Some(Attempt {
            outcome,
            transcript,
        }))
    }

    /// `$SYS/broker/version` as an anonymous client reads it (None when
    /// anonymous clients are refused or the broker publishes none).
    fn banner(&mut self) -> Result<Option<String>, LoginError> {
        let mut transcript = String::new();
        let (_, open) = self.connect(None, None, &mut transcript)?;
        let Some((mut stream, mut buf)) = open else {
            return Ok(None);
        };
        let mut sub = vec![0, 1];
        push_str(&mut sub, VERSION_TOPIC.as_bytes());
        sub.push(0);
        stream
            .write_all(&packet(0x82, &sub))
            .map_err(|e| LoginError::Device(format!("{}: SUBSCRIBE not sent: {e}", self.label)))?;
        // SUBACK, then the retained message (a broker may send either first).
        for _ in 0..4 {
            match self.read_packet(&mut stream, &mut buf) {
                Ok(Read1::Packet(first, body)) if first & 0xf0 == 0x30 => {
                    let _ = stream.write_all(&[0xe0, 0]);
                    return Ok(publish_payload(first, &body)
                        .filter(|(topic, _)| topic == VERSION_TOPIC)
                        .map(|(_, payload)| payload));
                }
                Ok(Read1::Packet(0x90, body)) if body.get(2) == Some(&0x80) => return Ok(None),
                Ok(Read1::Packet(..)) => {}
                Ok(_) => return Ok(None),
                // No retained version within the step: none published.
                Err(LoginError::Device(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// A PUBLISH's topic and payload (text, bounded).
pub fn publish_payload(first: u8, body: &[u8]) -> Option<(String, String)> {
    let n = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let topic = String::from_utf8_lossy(body.get(2..2 + n)?).into_owned();
    let mut rest = 2 + n;
    if first & 0x06 != 0 {
        rest += 2; // packet identifier (QoS 1 or 2)
    }
    let payload = body.get(rest..)?;
    Some((
        topic,
        String::from_utf8_lossy(&payload[..payload.len().min(256)]).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_carries_user_and_password_flags() {
        let p = connect_packet("c", Some("u"), Some(b"pw"));
        assert_eq!(p[0], 0x10);
        assert_eq!(&p[2..8], b"\0\x04MQTT");
        assert_eq!(p[8], 4);
        assert_eq!(p[9], 0xc2);
        let anon = connect_packet("c", None, None);
        assert_eq!(anon[9], 0x02);
    }

    #[test]
    fn connack_codes() {
        assert_eq!(judge_connack(&[0, 0]), Outcome::Accepted);
        assert!(matches!(judge_connack(&[0, 5]), Outcome::Refused(_)));
        assert!(matches!(judge_connack(&[0, 4]), Outcome::Refused(_)));
        assert!(matches!(judge_connack(&[0, 2]), Outcome::Unknown(_)));
        assert!(matches!(judge_connack(&[0]), Outcome::Unknown(_)));
    }

    #[test]
    fn the_parser_is_bounded_and_never_panics() {
        assert_eq!(
            parse_packet(&[0x20, 2, 0, 0]).expect("parses"),
            Some((0x20, &[0u8, 0][..], 4))
        );
        assert_eq!(parse_packet(&[0x20, 2, 0]).expect("parses"), None);
        assert!(parse_packet(&[0x30, 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(parse_packet(&[0x30, 0xff, 0xff, 0xff, 0xff, 1]).is_err());
        let mut seed = 0x1234_5678_u32;
        for _ in 0..20_000 {
            let mut buf = Vec::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                buf.push(seed as u8);
            }
            if let Ok(Some((first, body, _))) = parse_packet(&buf) {
                let _ = publish_payload(first, body);
                let _ = judge_connack(body);
            }
            seed = seed.wrapping_add(1);
        }
    }
}
