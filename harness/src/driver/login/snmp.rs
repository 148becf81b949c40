//! SNMP v2c communities: one GetRequest for sysDescr.0 per attempt with
//! the community as the secret (SNMP has no user name). An answer with
//! the request's id is a login. Silence is not a refusal by itself: a
//! Net-SNMP agent drops a request with a wrong community without a word,
//! and so does a dead one. So silence counts as a refusal only when the
//! agent answered an SNMPv3 engine-ID discovery (RFC 3414 4: any v3 agent
//! answers it with a Report, whatever the communities) right after.

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use hilt_net::udp::snmp_get_sysdescr;
use hilt_net::Link;

use super::{Attempt, LoginError, LoginProbe, Outcome, Target};
use crate::board::Secret;
use crate::stop::StopSignal;

/// How long one request waits for its answer (sent twice).
const WAIT: Duration = Duration::from_millis(1000);
const POLL: Duration = Duration::from_millis(50);

pub struct SnmpProbe {
    label: String,
    link: Link,
    port: u16,
    stop: StopSignal,
    next_id: u32,
}

impl SnmpProbe {
    pub fn new(target: &Target<'_>) -> Self {
        Self {
            label: format!("snmp {}/udp", target.interface.port),
            link: target.link.clone(),
            port: target.interface.port,
            stop: target.stop.clone(),
            next_id: 0x4843_0000 | (std::process::id() & 0xffff),
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1) & 0x7fff_ffff;
        self.next_id
    }

    /// Sends `request` (twice, at 0 and WAIT/2) and returns the first
    /// datagram from the agent that `wanted` accepts.
    fn exchange(
        &self,
        request: &[u8],
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, LoginError> {
        let sock: UdpSocket = self.link.udp_socket()?;
        let dest = self.link.to(self.port);
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| LoginError::Harness(format!("UDP socket: {e}")))?;
        sock.connect(dest)
            .map_err(|e| LoginError::Harness(format!("UDP connect {dest}: {e}")))?;
        let started = Instant::now();
        let mut resent = false;
        let mut buf = vec![0u8; 65536];
        let send = |s: &UdpSocket| match s.send(request) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(LoginError::Device(
                format!("{dest}/udp: port unreachable (nothing listens)"),
            )),
            Err(e) => Err(LoginError::Device(format!("UDP send to {dest}: {e}"))),
        };
        send(&sock)?;
        while started.elapsed() < WAIT {
            if let Err(crate::stop::Stopped(why)) = self.stop.check() {
                return Err(LoginError::Stopped(why));
            }
            if !resent && started.elapsed() >= WAIT / 2 {
                resent = true;
                send(&sock)?;
            }
            match sock.recv(&mut buf) {
                Ok(n) if wanted(&buf[..n]) => return Ok(Some(buf[..n].to_vec())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(LoginError::Device(format!(
                        "{dest}/udp: port unreachable (nothing listens)"
                    )))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(LoginError::Device(format!("UDP receive from {dest}: {e}"))),
            }
        }
        // Silence means nothing if the link dropped while we listened.
        self.link.ensure_up()?;
        Ok(None)
    }

    /// Whether the agent answers an SNMPv3 discovery (its engine ID, hex).
    pub fn discover(&mut self) -> Result<Option<String>, LoginError> {
        let id = self.id();
        let reply = self.exchange(&v3_discovery(id), |d| v3_report_engine(d, id).is_some())?;
        Ok(reply.and_then(|d| v3_report_engine(&d, id)))
    }
}

impl LoginProbe for SnmpProbe {
    fn label(&self) -> &str {
        &self.label
    }

    fn secret_only(&self) -> bool {
        true
    }

    fn attempt(&mut self, _user: &str, community: &Secret) -> Result<Attempt, LoginError> {
        let id = self.id();
        let request = snmp_get_sysdescr(community.expose().as_bytes(), id);
        let mut transcript = format!("> v2c GetRequest sysDescr.0 community <redacted> id {id}\n");
        if let Some(reply) = self.exchange(&request, |d| v2c_response_id(d) == Some(id))? {
            transcript.push_str(&format!("< GetResponse id {id} ({} bytes)\n", reply.len()));
            return Ok(Attempt {
                outcome: Outcome::Accepted,
                transcript,
            });
        }
        transcript.push_str(&format!("< nothing within {} ms\n", WAIT.as_millis()));
        // Alive? Then the silence was the community's refusal.
        match self.discover()? {
            Some(engine) => {
                transcript.push_str(&format!("> v3 discovery\n< Report, engine {engine}\n"));
                Ok(Attempt {
                    outcome: Outcome::Refused(format!(
                        "no answer to the community; the agent answered an SNMPv3 discovery (engine {engine}) right after"
                    )),
                    transcript,
                })
            }
            None => Err(LoginError::Device(format!(
                "{}: the agent answered neither the community nor an SNMPv3 discovery",
                self.label
            ))),
        }
    }
}

// ---- BER (X.690), bounded: every length is checked against the data ----

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn int(v: u32) -> Vec<u8> {
    let mut c = v.to_be_bytes().to_vec();
    while c.len() > 1 && c[0] == 0 && c[1] & 0x80 == 0 {
        c.remove(0);
    }
    if c[0] & 0x80 != 0 {
        c.insert(0, 0);
    }
    tlv(0x02, &c)
}

/// One TLV from the front of `data`: (tag, content, rest).
fn read_tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let k = usize::from(first & 0x7f);
        if k == 0 || k > 3 {
            return None;
        }
        let mut l = 0usize;
        for i in 0..k {
            l = (l << 8) | usize::from(*data.get(2 + i)?);
        }
        (l, 2 + k)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, data.get(hdr..end)?, data.get(end..)?))
}

fn uint(c: &[u8]) -> Option<u64> {
    (!c.is_empty() && c.len() <= 8).then(|| c.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

/// The request id of a v1/v2c GetResponse, if `data` is one.
pub fn v2c_response_id(data: &[u8]) -> Option<u32> {
    let (0x30, msg, _) = read_tlv(data)? else {
        return None;
    };
    let (0x02, _version, rest) = read_tlv(msg)? else {
        return None;
    };
    let (0x04, _community, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0xa2, pdu, _) = read_tlv(rest)? else {
        return None;
    };
    let (0x02, id, _) = read_tlv(pdu)? else {
        return None;
    };
    u32::try_from(uint(id)?).ok()
}

/// An SNMPv3 GetRequest with no engine ID and no user: the discovery of
/// RFC 3414 4, which an agent answers with a Report.
pub fn v3_discovery(msg_id: u32) -> Vec<u8> {
    let global = tlv(
        0x30,
        &[int(msg_id), int(65507), tlv(0x04, &[0x04]), int(3)].concat(),
    );
    let usm = tlv(
        0x30,
        &[
            tlv(0x04, &[]),
            int(0),
            int(0),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
        ]
        .concat(),
    );
    let pdu = tlv(
        0xa0,
        &[int(msg_id), int(0), int(0), tlv(0x30, &[])].concat(),
    );
    let scoped = tlv(0x30, &[tlv(0x04, &[]), tlv(0x04, &[]), pdu].concat());
    tlv(0x30, &[int(3), global, tlv(0x04, &usm), scoped].concat())
}

/// The engine ID (hex) of an SNMPv3 Report answering `msg_id`.
pub fn v3_report_engine(data: &[u8], msg_id: u32) -> Option<String> {
    let (0x30, msg, _) = read_tlv(data)? else {
        return None;
    };
    let (0x02, version, rest) = read_tlv(msg)? else {
        return None;
    };
    if uint(version)? != 3 {
        return None;
    }
    let (0x30, global, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x02, id, _) = read_tlv(global)? else {
        return None;
    };
    if uint(id)? != u64::from(msg_id) {
        return None;
    }
    let (0x04, usm, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x30, scoped, _) = read_tlv(rest)? else {
        return None;
    };
    let (_, _context_engine, rest) = read_tlv(scoped)?;
    let (_, _context_name, rest) = read_tlv(rest)?;
    let (0xa8, _, _) = read_tlv(rest)? else {
        return None;
    };
    let (0x30, usm, _) = read_tlv(usm)? else {
        return None;
    };
    let (0x04, engine, _) = read_tlv(usm)? else {
        return None;
    };
    Some(engine.iter().take(32).map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_never_panic_on_garbage() {
        let mut seed = 0x2545_f491_u32;
        for len in 0..4000usize {
            let mut buf = Vec::new();
            for _ in 0..(len % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                buf.push(seed as u8);
            }
            if len % 3 == 0 && !buf.is_empty() {
                buf[0] = 0x30;
            }
            let _ = v2c_response_id(&buf);
            let _ = v3_report_engine(&buf, 1);
        }
        // A discovery is not a report of itself.
        assert_eq!(v3_report_engine(&v3_discovery(7), 7), None);
    }
}
