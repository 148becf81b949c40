//! UDP probes for the usual IoT services, sent to the target address only
//! (never to a multicast group): SNMP v2c get of sysDescr.0 with community
//! `public` (RFC 3416), CoAP GET /.well-known/core (RFC 7252, RFC 6690),
//! an mDNS query for `_services._dns-sd._udp.local` PTR sent unicast to
//! port 5353 (RFC 6762 section 6.7 legacy unicast), and an SSDP M-SEARCH
//! (UPnP Device Architecture 1.1, section 1.3.2) sent unicast; for the
//! open-port scan also a DNS query for `version.bind` TXT in class CH
//! (RFC 1035; the query BIND, dnsmasq and unbound answer), an NTP client
//! request (RFC 5905 mode 3), a TFTP read request for a file that should
//! not exist (RFC 1350: a server answers ERROR "file not found", from a
//! new port), an RFC 5424 syslog message (no answer is expected), an
//! MQTT-SN CONNECT (MQTT-SN 1.2 section 5.4.4; a gateway answers CONNACK)
//! and an SNMPv3 engine discovery (RFC 3414 section 4: an agent answers a
//! Report whatever its communities or users are), and an MCUmgr SMP OS
//! echo (Zephyr's SMP over UDP, port 1337; an unauthenticated update
//! service when undeclared).
//!
//! Limit: a responder whose socket is bound to the multicast group (as
//! minidlna's is) never sees a unicast M-SEARCH, and an mDNS responder may
//! ignore unicast queries; no answer is therefore not proof that nothing
//! runs. Only `port_unreachable` says the port is closed.
//!
//! A probe records whether anything answered from the target, a short
//! summary of the answer (bounded parsers), and whether an ICMP port
//! unreachable came back instead (the port is closed).

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::snmp::{ber_uint, read_tlv};
pub use crate::snmp::{snmp_get_sysdescr, snmp_v3_discovery};
use crate::stop::Stop;

/// Answer bytes kept per probe.
const KEEP: usize = 2048;
const POLL: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UdpService {
    Snmp,
    Coap,
    Mdns,
    Ssdp,
    Dns,
    Ntp,
    Tftp,
    Syslog,
    MqttSn,
    /// MCUmgr SMP over UDP (Zephyr's default port 1337): an OS echo.
    Smp,
}

impl UdpService {
    /// The discovery services [`probe_udp`] asks for metadata (AU-08).
    pub const DISCOVERY: [UdpService; 4] = [
        UdpService::Snmp,
        UdpService::Coap,
        UdpService::Mdns,
        UdpService::Ssdp,
    ];

    /// Every service with a probe (the open-port scan's well-known set).
    pub const ALL: [UdpService; 10] = [
        UdpService::Snmp,
        UdpService::Coap,
        UdpService::Mdns,
        UdpService::Ssdp,
        UdpService::Dns,
        UdpService::Ntp,
        UdpService::Tftp,
        UdpService::Syslog,
        UdpService::MqttSn,
        UdpService::Smp,
    ];

    /// The service's well-known port.
    pub fn port(self) -> u16 {
        match self {
            UdpService::Snmp => 161,
            UdpService::Coap => 5683,
            UdpService::Mdns => 5353,
            UdpService::Ssdp => 1900,
            UdpService::Dns => 53,
            UdpService::Ntp => 123,
            UdpService::Tftp => 69,
            UdpService::Syslog => 514,
            UdpService::MqttSn => 1883,
            UdpService::Smp => 1337,
        }
    }

    /// The protocol's name, as reports show it.
    pub fn label(self) -> &'static str {
        match self {
            UdpService::Snmp => "SNMP",
            UdpService::Coap => "CoAP",
            UdpService::Mdns => "mDNS",
            UdpService::Ssdp => "SSDP",
            UdpService::Dns => "DNS",
            UdpService::Ntp => "NTP",
            UdpService::Tftp => "TFTP",
            UdpService::Syslog => "syslog",
            UdpService::MqttSn => "MQTT-SN",
            UdpService::Smp => "MCUmgr SMP",
        }
    }

    /// The probe for a service name as a board file writes it
    /// (`snmp`, `coap`, `mdns`, `ssdp`/`upnp`, `dns`/`domain`, `ntp`,
    /// `tftp`, `syslog`, `mqtt-sn`, `mcumgr-smp`/`smp`), case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "snmp" => UdpService::Snmp,
            "coap" => UdpService::Coap,
            "mdns" => UdpService::Mdns,
            "ssdp" | "upnp" => UdpService::Ssdp,
            "dns" | "domain" => UdpService::Dns,
            "ntp" => UdpService::Ntp,
            "tftp" => UdpService::Tftp,
            "syslog" => UdpService::Syslog,
            "mqtt-sn" | "mqttsn" | "mqtt_sn" => UdpService::MqttSn,
            "smp" | "mcumgr" | "mcumgr-smp" | "mcumgr smp" | "smp-udp" => UdpService::Smp,
            _ => return None,
        })
    }

    /// The service on a well-known port, if any.
    pub fn by_port(port: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.port() == port)
    }

    /// Whether a running service of this kind answers the unicast probe.
    /// A syslog receiver never answers; an mDNS responder may ignore
    /// unicast queries, and an SSDP responder bound to its multicast group
    /// never sees a unicast M-SEARCH (see the module's note).
    pub fn always_answers(self) -> bool {
        !matches!(
            self,
            UdpService::Syslog | UdpService::Mdns | UdpService::Ssdp
        )
    }

    /// Whether the answer may come from another port than the one asked
    /// (a TFTP server answers from a new transfer port; an SSDP device
    /// from any port).
    pub fn answers_from_other_port(self) -> bool {
        matches!(self, UdpService::Ssdp | UdpService::Tftp)
    }

    /// The datagram sent.
    pub fn payload(self, target: IpAddr) -> Vec<u8> {
        match self {
            UdpService::Snmp => snmp_get_sysdescr(b"public", 0x4849_4c54),
            UdpService::Coap => coap_get_well_known_core(0x4854),
            UdpService::Mdns => mdns_query("_services._dns-sd._udp.local", 12, 0x484c),
            UdpService::Ssdp => ssdp_msearch(target),
            UdpService::Dns => dns_version_bind(0x4844),
            UdpService::Ntp => ntp_client_request(NTP_PROBE_XMT),
            UdpService::Tftp => tftp_read_request(TFTP_PROBE_FILE),
            UdpService::Syslog => syslog_message(),
            UdpService::MqttSn => mqttsn_connect(MQTTSN_CLIENT_ID, 10),
            UdpService::Smp => smp_echo(0x48),
        }
    }

    /// Every datagram of the scan's probe: [`Self::payload`], and for
    /// SNMP an SNMPv3 engine discovery too (answered whatever the agent's
    /// communities are).
    pub fn payloads(self, target: IpAddr) -> Vec<Vec<u8>> {
        let mut out = vec![self.payload(target)];
        if self == UdpService::Snmp {
            out.push(snmp_v3_discovery(0x4849_4c55));
        }
        out
    }

    /// What to send once the service answered, to end what the probe
    /// opened (an MQTT-SN session gets its DISCONNECT).
    pub fn after_answer(self, answer: &[u8]) -> Option<Vec<u8>> {
        match self {
            UdpService::MqttSn if mqttsn_msg_type(answer) == Some(0x05) => Some(vec![0x02, 0x18]),
            _ => None,
        }
    }

    /// A short account of an answer (bounded parsers; `None` when the
    /// answer does not parse as this protocol).
    pub fn summarize(self, data: &[u8]) -> Option<String> {
        summarize(self, data)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UdpProbeResult {
    pub service: UdpService,
    pub port: u16,
    pub answered: bool,
    /// An ICMP port unreachable came back: nothing listens there.
    pub port_unreachable: bool,
    pub from: Option<SocketAddr>,
    pub response_len: usize,
    #[serde(serialize_with = "crate::certinfo::hex")]
    pub response: Vec<u8>,
    /// What the answer says, e.g. `sysDescr: Linux ...`.
    pub summary: Option<String>,
    pub elapsed_ms: u128,
}

/// Probes each service on `target`, all at once, waiting up to `wait` for
/// answers (the datagram is sent twice, at 0 and wait/2).
pub fn probe_udp(
    link: &Link,
    services: &[UdpService],
    wait: Duration,
    stop: &Stop,
) -> Result<Vec<UdpProbeResult>, NetError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .map(|s| scope.spawn(move || probe_one(link, *s, wait, stop)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| NetError::Setup("UDP probe thread panicked".into()))?
            })
            .collect()
    })
}

fn probe_one(
    link: &Link,
    service: UdpService,
    wait: Duration,
    stop: &Stop,
) -> Result<UdpProbeResult, NetError> {
    let started = Instant::now();
    let target = link.board();
    let dest = link.to(service.port());
    let sock = link.udp_socket()?;
    sock.set_read_timeout(Some(POLL))
        .map_err(|e| NetError::io("UDP socket", e))?;
    // SSDP devices often answer from another port: take anything from the
    // target address. The others answer from the port asked, so a
    // connected socket also reports ICMP port unreachable.
    let connected = !service.answers_from_other_port();
    if connected {
        sock.connect(dest)
            .map_err(|e| NetError::io(format!("UDP connect {dest}"), e))?;
    }
    let payload = service.payload(target);
    let send = |s: &UdpSocket| -> io::Result<usize> {
        if connected {
            s.send(&payload)
        } else {
            s.send_to(&payload, dest)
        }
    };
    let mut result = UdpProbeResult {
        service,
        port: service.port(),
        answered: false,
        port_unreachable: false,
        from: None,
        response_len: 0,
        response: Vec::new(),
        summary: None,
        elapsed_ms: 0,
    };
    let deadline = Instant::now() + stop.bound(wait);
    let resend_at = Instant::now() + wait / 2;
    let mut resent = false;
    let mut buf = vec![0u8; 65536];
    if let Err(e) = send(&sock) {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            result.port_unreachable = true;
            result.elapsed_ms = started.elapsed().as_millis();
            return Ok(result);
        }
        return Err(NetError::io(format!("UDP send to {dest}"), e));
    }
    while Instant::now() < deadline {
        if stop.is_interrupted() {
            return Err(NetError::Stopped("interrupted"));
        }
        if !resent && Instant::now() >= resend_at {
            resent = true;
            let _ = send(&sock);
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from.ip() == target => {
                result.answered = true;
                result.from = Some(from);
                result.response_len = n;
                result.response = buf[..n.min(KEEP)].to_vec();
                result.summary = summarize(service, &buf[..n]);
                break;
            }
            Ok(_) => {} // someone else: ignore
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                result.port_unreachable = true;
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(NetError::io(format!("UDP receive from {dest}"), e)),
        }
    }
    if !result.answered {
        // Silence means nothing if the link dropped while we listened.
        link.ensure_up()?;
    }
    result.elapsed_ms = started.elapsed().as_millis();
    Ok(result)
}

fn summarize(service: UdpService, data: &[u8]) -> Option<String> {
    match service {
        UdpService::Snmp => snmp_summary(data),
        UdpService::Coap => coap_summary(data),
        UdpService::Mdns => mdns_summary(data),
        UdpService::Ssdp => ssdp_summary(data),
        UdpService::Dns => dns_summary(data),
        UdpService::Ntp => ntp_summary(data),
        UdpService::Tftp => tftp_summary(data),
        UdpService::Syslog => Some(format!(
            "{} bytes: {}",
            data.len(),
            printable(&data[..data.len().min(128)])
        )),
        UdpService::MqttSn => mqttsn_summary(data),
        UdpService::Smp => smp_summary(data),
    }
}

/// Printable ASCII of `data`, other bytes as `.`.
pub fn printable(data: &[u8]) -> String {
    data.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

// ---- SNMP (BER encoding in crate::snmp) ----

fn hex_bytes(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn snmp_v3_summary(msg: &[u8]) -> Option<String> {
    let (_, _version, rest) = read_tlv(msg)?;
    let (ht, _header, rest) = read_tlv(rest)?;
    if ht != 0x30 {
        return None;
    }
    let (st, security, _) = read_tlv(rest)?;
    if st != 0x04 {
        return None;
    }
    let (ut, usm, _) = read_tlv(security)?;
    if ut != 0x30 {
        return Some("SNMP v3".into());
    }
    let (_, engine, _) = read_tlv(usm)?;
    Some(format!(
        "SNMP v3 engine {}",
        hex_bytes(&engine[..engine.len().min(32)])
    ))
}

fn snmp_summary(data: &[u8]) -> Option<String> {
    let (t, msg, _) = read_tlv(data)?;
    if t != 0x30 {
        return None;
    }
    let (_, version, rest) = read_tlv(msg)?;
    if ber_uint(version) == Some(3) {
        return snmp_v3_summary(msg);
    }
    let (_, _community, rest) = read_tlv(rest)?;
    let (pdu_tag, pdu, _) = read_tlv(rest)?;
    let (_, _reqid, rest) = read_tlv(pdu)?;
    let (_, err_status, rest) = read_tlv(rest)?;
    let (_, _err_index, rest) = read_tlv(rest)?;
    let v = ber_uint(version).map(|v| match v {
        0 => "v1",
        1 => "v2c",
        3 => "v3",
        _ => "?",
    });
    let es = ber_uint(err_status).unwrap_or(0);
    if pdu_tag != 0xa2 {
        return Some(format!("SNMP {} PDU tag {pdu_tag:#04x}", v.unwrap_or("?")));
    }
    if es != 0 {
        return Some(format!("SNMP {} error-status {es}", v.unwrap_or("?")));
    }
    let (_, varbinds, _) = read_tlv(rest)?;
    let (_, varbind, _) = read_tlv(varbinds)?;
    let (_, _oid, rest) = read_tlv(varbind)?;
    let (vt, value, _) = read_tlv(rest)?;
    Some(match vt {
        0x04 => format!(
            "SNMP {} sysDescr: {}",
            v.unwrap_or("?"),
            String::from_utf8_lossy(&value[..value.len().min(256)])
        ),
        0x80 => "SNMP noSuchObject".into(),
        0x81 => "SNMP noSuchInstance".into(),
        other => format!("SNMP value tag {other:#04x}"),
    })
}

// ---- CoAP ----

/// Confirmable GET /.well-known/core without token.
pub fn coap_get_well_known_core(message_id: u16) -> Vec<u8> {
    let mut m = vec![0x40, 0x01];
    m.extend_from_slice(&message_id.to_be_bytes());
    // Uri-Path (11) ".well-known": delta 11, length 11.
    m.push(0xbb);
    m.extend_from_slice(b".well-known");
    // Uri-Path "core": delta 0, length 4.
    m.push(0x04);
    m.extend_from_slice(b"core");
    m
}

fn coap_summary(data: &[u8]) -> Option<String> {
    let b0 = *data.first()?;
    if b0 >> 6 != 1 {
        return None;
    }
    let tkl = usize::from(b0 & 0x0f);
    if tkl > 8 {
        return None;
    }
    let code = *data.get(1)?;
    let mut at = 4 + tkl;
    let mut payload: &[u8] = &[];
    while let Some(&h) = data.get(at) {
        if h == 0xff {
            payload = data.get(at + 1..).unwrap_or(&[]);
            break;
        }
        at += 1;
        let ext = |nib: u8, at: &mut usize| -> Option<usize> {
            match nib {
                13 => {
                    let v = usize::from(*data.get(*at)?) + 13;
                    *at += 1;
                    Some(v)
                }
                14 => {
                    let v = usize::from(u16::from_be_bytes([*data.get(*at)?, *data.get(*at + 1)?]))
                        + 269;
                    *at += 2;
                    Some(v)
                }
                15 => None,
                n => Some(usize::from(n)),
            }
        };
        let _delta = ext(h >> 4, &mut at)?;
        let len = ext(h & 0x0f, &mut at)?;
        at = at.checked_add(len)?;
        if at > data.len() {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&payload[..payload.len().min(512)]);
    Some(format!("CoAP {}.{:02} {}", code >> 5, code & 0x1f, text))
}

// ---- mDNS / DNS ----

/// A DNS query (RFC 1035 section 4.1) for `name` of type `qtype`, class IN.
pub fn mdns_query(name: &str, qtype: u16, id: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        m.push(l.len() as u8);
        m.extend_from_slice(l);
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// Reads a (possibly compressed) name at `at`; returns (name, offset after).
fn dns_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut after = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at)?;
        if len & 0xc0 == 0xc0 {
            let ptr = (usize::from(len & 0x3f) << 8) | usize::from(*msg.get(at + 1)?);
            after.get_or_insert(at + 2);
            jumps += 1;
            if jumps > 16 {
                return None;
            }
            at = ptr;
            continue;
        }
        if len == 0 {
            return Some((name, after.unwrap_or(at + 1)));
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(at + 1..at + 1 + usize::from(len))?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(label));
        if name.len() > 255 {
            return None;
        }
        at += 1 + usize::from(len);
    }
}

fn mdns_summary(data: &[u8]) -> Option<String> {
    if data.len() < 12 || data[2] & 0x80 == 0 {
        return None;
    }
    let qd = u16::from_be_bytes([data[4], data[5]]);
    let an = u16::from_be_bytes([data[6], data[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = dns_name(data, at)?.1 + 4;
    }
    let mut names = Vec::new();
    for _ in 0..an.min(32) {
        let (owner, next) = dns_name(data, at)?;
        let rtype = u16::from_be_bytes([*data.get(next)?, *data.get(next + 1)?]);
        let rdlen = usize::from(u16::from_be_bytes([
            *data.get(next + 8)?,
            *data.get(next + 9)?,
        ]));
        let rdata = next + 10;
        if rtype == 12 {
            if let Some((target, _)) = dns_name(data, rdata) {
                names.push(target);
            }
        } else {
            names.push(owner);
        }
        at = rdata.checked_add(rdlen)?;
    }
    Some(format!("DNS response, {an} answers: {}", names.join(", ")))
}

// ---- SSDP ----

/// A unicast M-SEARCH (UDA 1.1 section 1.3.2: HOST names the device).
pub fn ssdp_msearch(target: IpAddr) -> Vec<u8> {
    let host = match target {
        IpAddr::V4(a) => format!("{a}:1900"),
        IpAddr::V6(a) => format!("[{a}]:1900"),
    };
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: {host}\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\nUSER-AGENT: hilt/0.1 UPnP/1.1 hilt/0.1\r\n\r\n"
    )
    .into_bytes()
}

fn ssdp_summary(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let mut lines = text.split("\r\n");
    let first = lines.next()?;
    if !first.starts_with("HTTP/1.") {
        return None;
    }
    let mut out = first.to_string();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if ["server", "st", "location", "usn"]
                .iter()
                .any(|h| k.trim().eq_ignore_ascii_case(h))
            {
                out.push_str(&format!(
                    "; {}: {}",
                    k.trim().to_ascii_uppercase(),
                    v.trim()
                ));
            }
        }
    }
    Some(out)
}

/// A DNS query for `version.bind` TXT in class CHAOS, recursion not
/// desired: any DNS server answers it (with its version, or REFUSED).
pub fn dns_version_bind(id: u16) -> Vec<u8> {
    let mut m = mdns_query("version.bind", 16, id);
    let n = m.len();
    m[n - 2..].copy_from_slice(&3u16.to_be_bytes()); // class CH
    m
}

fn dns_summary(data: &[u8]) -> Option<String> {
    if data.len() < 12 || data[2] & 0x80 == 0 {
        return None;
    }
    let rcode = data[3] & 0x0f;
    let rname = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "other",
    };
    let qd = u16::from_be_bytes([data[4], data[5]]);
    let an = u16::from_be_bytes([data[6], data[7]]);
    let mut at = 12;
    for _ in 0..qd.min(8) {
        at = dns_name(data, at)?.1.checked_add(4)?;
    }
    let mut texts = Vec::new();
    for _ in 0..an.min(8) {
        let Some((_, next)) = dns_name(data, at) else {
            break;
        };
        let (Some(t0), Some(t1), Some(l0), Some(l1)) = (
            data.get(next),
            data.get(next + 1),
            data.get(next + 8),
            data.get(next + 9),
        ) else {
            break;
        };
        let rtype = u16::from_be_bytes([*t0, *t1]);
        let rdlen = usize::from(u16::from_be_bytes([*l0, *l1]));
        let rdata = next + 10;
        let Some(rd) = data.get(rdata..rdata + rdlen) else {
            break;
        };
        if rtype == 16 {
            // TXT: length-prefixed strings.
            let mut i = 0;
            while let Some(&l) = rd.get(i) {
                let s = rd.get(i + 1..i + 1 + usize::from(l)).unwrap_or(&[]);
                texts.push(format!("\"{}\"", printable(&s[..s.len().min(64)])));
                i += 1 + usize::from(l);
            }
        }
        at = rdata + rdlen;
    }
    Some(format!(
        "DNS response {rname}, {an} answers{}",
        if texts.is_empty() {
            String::new()
        } else {
            format!(": {}", texts.join(" "))
        }
    ))
}

// ---- NTP ----

/// The transmit timestamp hilt's NTP request carries (a server copies it
/// into its answer's origin timestamp). Not the time: the device learns
/// nothing of this host's clock.
pub const NTP_PROBE_XMT: [u8; 8] = *b"hilt-au7";

/// An NTPv4 client request (RFC 5905 section 7.3): LI 0, VN 4, mode 3,
/// everything else zero but the transmit timestamp.
pub fn ntp_client_request(xmt: [u8; 8]) -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = 0x23;
    m[40..48].copy_from_slice(&xmt);
    m
}

fn ntp_summary(data: &[u8]) -> Option<String> {
    if data.len() < 48 {
        return None;
    }
    let version = (data[0] >> 3) & 7;
    let mode = data[0] & 7;
    if !(1..=4).contains(&version) || mode != 4 {
        return None;
    }
    let stratum = data[1];
    let refid = &data[12..16];
    let refid = if stratum <= 1 {
        printable(refid).trim_end_matches('.').to_string()
    } else {
        format!("{}.{}.{}.{}", refid[0], refid[1], refid[2], refid[3])
    };
    let echoed = data[24..32] == NTP_PROBE_XMT;
    Some(format!(
        "NTP v{version} server, stratum {stratum}, refid {refid}{}",
        if echoed { "" } else { " (origin not echoed)" }
    ))
}

// ---- TFTP ----

/// The file hilt's TFTP probe asks for: nothing a device should hold.
pub const TFTP_PROBE_FILE: &str = "hilt-au07-probe-nonexistent";

/// A TFTP read request (RFC 1350 section 5) in octet mode.
pub fn tftp_read_request(file: &str) -> Vec<u8> {
    let mut m = vec![0, 1];
    m.extend_from_slice(file.as_bytes());
    m.push(0);
    m.extend_from_slice(b"octet");
    m.push(0);
    m
}

fn tftp_summary(data: &[u8]) -> Option<String> {
    let op = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    match op {
        3 => Some(format!(
            "TFTP DATA block {} ({} bytes): the probe's file was served",
            u16::from_be_bytes([*data.get(2)?, *data.get(3)?]),
            data.len().saturating_sub(4)
        )),
        5 => {
            let code = u16::from_be_bytes([*data.get(2)?, *data.get(3)?]);
            let msg = data.get(4..).unwrap_or(&[]);
            let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
            Some(format!(
                "TFTP ERROR {code}: {}",
                printable(&msg[..end.min(128)])
            ))
        }
        6 => Some("TFTP OACK".into()),
        _ => None,
    }
}

// ---- syslog ----

/// One RFC 5424 message (facility user, severity informational) saying
/// what it is; a syslog receiver answers nothing.
pub fn syslog_message() -> Vec<u8> {
    b"<14>1 - hilt hilt - au07 - hilt AU-07 open-port probe".to_vec()
}

// ---- MQTT-SN ----

/// Client id of hilt's MQTT-SN probe.
pub const MQTTSN_CLIENT_ID: &str = "hilt-au07";

/// An MQTT-SN 1.2 CONNECT (section 5.4.4): clean session, no will,
/// protocol id 1, keep-alive `duration` seconds.
pub fn mqttsn_connect(client_id: &str, duration: u16) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(23)];
    let mut m = vec![(6 + id.len()) as u8, 0x04, 0x04, 0x01];
    m.extend_from_slice(&duration.to_be_bytes());
    m.extend_from_slice(id);
    m
}

/// The message type of an MQTT-SN message (1- or 3-byte length field).
fn mqttsn_msg_type(data: &[u8]) -> Option<u8> {
    let first = *data.first()?;
    let (len, at) = if first == 0x01 {
        (
            usize::from(u16::from_be_bytes([*data.get(1)?, *data.get(2)?])),
            3,
        )
    } else {
        (usize::from(first), 1)
    };
    if len < at + 1 || len > data.len() {
        return None;
    }
    data.get(at).copied()
}

fn mqttsn_summary(data: &[u8]) -> Option<String> {
    let t = mqttsn_msg_type(data)?;
    let at = if data.first() == Some(&0x01) { 4 } else { 2 };
    Some(match t {
        0x05 => {
            let rc = *data.get(at)?;
            let what = match rc {
                0 => "accepted",
                1 => "rejected: congestion",
                2 => "rejected: invalid topic id",
                3 => "rejected: not supported",
                _ => "rejected",
            };
            format!("MQTT-SN CONNACK return code {rc} ({what})")
        }
        0x00 => "MQTT-SN ADVERTISE".into(),
        0x02 => "MQTT-SN GWINFO".into(),
        0x06 => "MQTT-SN WILLTOPICREQ".into(),
        0x18 => "MQTT-SN DISCONNECT".into(),
        other => format!("MQTT-SN message type {other:#04x}"),
    })
}

// ---- MCUmgr SMP ----

/// An SMP (version 1) OS-group echo request, `{"d": "hilt"}` in CBOR:
/// header op 2 (write), flags 0, length, group 0, sequence, id 0.
pub fn smp_echo(seq: u8) -> Vec<u8> {
    let body = [0xa1, 0x61, b'd', 0x64, b'h', b'i', b'l', b't'];
    let mut m = vec![0x02, 0x00, 0x00, body.len() as u8, 0x00, 0x00, seq, 0x00];
    m.extend_from_slice(&body);
    m
}

fn smp_summary(data: &[u8]) -> Option<String> {
    let header = data.get(..8)?;
    let op = header[0] & 0x07;
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let group = u16::from_be_bytes([header[4], header[5]]);
    let id = header[7];
    // A response (read or write response) whose body is all there.
    if !(op == 1 || op == 3) || data.len() < 8 + len {
        return None;
    }
    let body = &data[8..8 + len];
    if op == 3 && group == 0 && id == 0 && body.ends_with(b"hilt") {
        return Some("MCUmgr SMP OS echo answered (no authentication asked)".into());
    }
    Some(format!(
        "MCUmgr SMP response group {group} id {id}: {}",
        printable(&body[..body.len().min(64)])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_request_bytes() {
        // Hand-checked against X.690: 30 29 02 01 01 04 06 "public" a0 1c ...
        let p = snmp_get_sysdescr(b"public", 1);
        assert_eq!(
            &p[..13],
            &[0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c']
        );
        assert_eq!(p.len(), 0x28);
    }

    #[test]
    fn parsers_survive_truncation_and_garbage() {
        let samples: Vec<Vec<u8>> = vec![
            snmp_get_sysdescr(b"public", 7),
            coap_get_well_known_core(1),
            mdns_query("_services._dns-sd._udp.local", 12, 1),
            dns_version_bind(1),
            ntp_client_request(NTP_PROBE_XMT),
            tftp_read_request(TFTP_PROBE_FILE),
            mqttsn_connect(MQTTSN_CLIENT_ID, 10),
            snmp_v3_discovery(1),
            smp_echo(1),
            vec![0x01, 0xff, 0xff, 0x05],
            vec![0xc0, 0x0c, 0xc0, 0x0c],
            vec![0xff; 40],
        ];
        for s in &samples {
            for cut in 0..s.len() {
                for svc in UdpService::ALL {
                    let _ = summarize(svc, &s[..cut]);
                }
            }
        }
        // A DNS pointer loop terminates.
        let mut loopy = vec![0u8, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        loopy.extend_from_slice(&[0xc0, 12]);
        assert!(mdns_summary(&loopy).is_none());
    }

    #[test]
    fn parsers_survive_random_answers() {
        // Hostile answers: random bytes, and valid requests with random
        // bytes flipped (xorshift, fixed seed). No parser may panic.
        let mut x: u64 = 0x4849_4c54_5544_5021;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: Vec<Vec<u8>> = UdpService::ALL
            .iter()
            .flat_map(|s| s.payloads(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)))
            .collect();
        for round in 0..20_000 {
            let mut data = if round % 2 == 0 {
                let n = (next() % 300) as usize;
                (0..n).map(|_| next() as u8).collect::<Vec<u8>>()
            } else {
                seeds[(next() % seeds.len() as u64) as usize].clone()
            };
            if !data.is_empty() {
                for _ in 0..(next() % 4) {
                    let i = (next() % data.len() as u64) as usize;
                    data[i] = next() as u8;
                }
            }
            for svc in UdpService::ALL {
                if let Some(text) = svc.summarize(&data) {
                    assert!(text.len() < 4096, "{svc:?}: {} bytes", text.len());
                }
            }
        }
    }

    #[test]
    fn coap_response_summary() {
        let mut r = vec![0x60, 0x45, 0, 1, 0xc1, 0x28, 0xff];
        r.extend_from_slice(b"</sensors/temp>;rt=\"temperature\"");
        assert_eq!(
            coap_summary(&r).as_deref(),
            Some("CoAP 2.05 </sensors/temp>;rt=\"temperature\"")
        );
    }

    #[test]
    fn new_probe_bytes_and_answers() {
        // RFC 5905: 48 bytes, first byte LI 0 / VN 4 / mode 3.
        let ntp = ntp_client_request(NTP_PROBE_XMT);
        assert_eq!((ntp.len(), ntp[0]), (48, 0x23));
        let mut answer = vec![0u8; 48];
        answer[0] = 0x24; // VN 4, mode 4
        answer[1] = 1;
        answer[12..16].copy_from_slice(b"GPS\0");
        answer[24..32].copy_from_slice(&NTP_PROBE_XMT);
        assert_eq!(
            ntp_summary(&answer).as_deref(),
            Some("NTP v4 server, stratum 1, refid GPS")
        );
        assert!(ntp_summary(&ntp).is_none(), "a client request is no answer");
        // RFC 1350: opcode 1, name, 0, mode, 0.
        let rrq = tftp_read_request("x");
        assert_eq!(rrq, b"\x00\x01x\x00octet\x00");
        assert_eq!(
            tftp_summary(b"\x00\x05\x00\x01File not found\x00").as_deref(),
            Some("TFTP ERROR 1: File not found")
        );
        // MQTT-SN 1.2: length, CONNECT 0x04, flags, protocol id, duration, id.
        let c = mqttsn_connect("ab", 10);
        assert_eq!(c, vec![8, 0x04, 0x04, 0x01, 0, 10, b'a', b'b']);
        assert_eq!(
            mqttsn_summary(&[3, 0x05, 0]).as_deref(),
            Some("MQTT-SN CONNACK return code 0 (accepted)")
        );
        assert_eq!(
            UdpService::MqttSn.after_answer(&[3, 0x05, 0]),
            Some(vec![2, 0x18])
        );
        assert_eq!(UdpService::MqttSn.after_answer(&[3, 0x05]), None);
        // DNS: the query's class is CH (3), type TXT (16).
        let q = dns_version_bind(7);
        assert_eq!(&q[q.len() - 4..], &[0, 16, 0, 3]);
        let mut r = q.clone();
        r[2] = 0x84;
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 0, 0, 6, 5]);
        r.extend_from_slice(b"dnsm1");
        assert_eq!(
            dns_summary(&r).as_deref(),
            Some("DNS response NOERROR, 1 answers: \"dnsm1\"")
        );
        // SNMPv3 discovery: version 3, msgFlags reportable.
        let v3 = snmp_v3_discovery(1);
        assert_eq!(&v3[2..5], &[0x02, 0x01, 0x03]);
        assert!(v3.windows(3).any(|w| w == [0x04, 0x01, 0x04]));
        // SMP: the echo request and a response's summary.
        assert_eq!(&smp_echo(5)[..8], &[2, 0, 0, 8, 0, 0, 5, 0]);
        let mut rsp = vec![3, 0, 0, 8, 0, 0, 5, 0];
        rsp.extend_from_slice(&[0xa1, 0x61, b'r', 0x64, b'h', b'i', b'l', b't']);
        assert_eq!(
            smp_summary(&rsp).as_deref(),
            Some("MCUmgr SMP OS echo answered (no authentication asked)")
        );
        rsp[7] = 1;
        assert_eq!(
            smp_summary(&rsp).as_deref(),
            Some("MCUmgr SMP response group 0 id 1: .ardhilt")
        );
        assert!(
            smp_summary(&smp_echo(5)).is_none(),
            "a request is no answer"
        );
        for s in UdpService::ALL {
            assert_eq!(UdpService::by_port(s.port()), Some(s));
            assert_eq!(UdpService::from_name(&s.label().to_lowercase()), Some(s));
        }
    }
}
