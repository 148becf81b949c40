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

use hilt_net::snmp::{
    snmp_get_sysdescr, snmp_v3_discovery as v3_discovery, v2c_response_id, v3_report_engine,
};
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
