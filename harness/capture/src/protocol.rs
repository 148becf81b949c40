//! Protocol guess for a flow, from the first bytes of each direction and
//! the server port.

use serde::Serialize;

/// What a flow carries, as far as its bytes and ports tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Telnet,
    Mqtt,
    Coap,
    Ftp,
    Dns,
    Syslog,
    Snmp,
    Tls,
    Dtls,
    Ssh,
    Unknown,
}

impl Protocol {
    /// `Some(false)` for protocols that encrypt, `Some(true)` for those
    /// that carry their content in the clear, `None` when unknown.
    pub fn plaintext(self) -> Option<bool> {
        match self {
            Protocol::Tls | Protocol::Dtls | Protocol::Ssh => Some(false),
            Protocol::Unknown => None,
            _ => Some(true),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Telnet => "telnet",
            Protocol::Mqtt => "MQTT",
            Protocol::Coap => "CoAP",
            Protocol::Ftp => "FTP",
            Protocol::Dns => "DNS",
            Protocol::Syslog => "syslog",
            Protocol::Snmp => "SNMP",
            Protocol::Tls => "TLS",
            Protocol::Dtls => "DTLS",
            Protocol::Ssh => "SSH",
            Protocol::Unknown => "unknown",
        }
    }
}

/// How the guess was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectedBy {
    /// The bytes look like the protocol.
    Payload,
    /// Only the server port suggests it.
    Port,
    /// Neither.
    Nothing,
}

const HTTP_METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// A TLS record header: content type 20..=24, version 3.x, sane length.
pub(crate) fn is_tls_record(b: &[u8]) -> bool {
    b.len() >= 5
        && (20..=24).contains(&b[0])
        && b[1] == 3
        && b[2] <= 4
        && u16::from_be_bytes([b[3], b[4]]) <= 18_432
}

fn is_dtls_record(b: &[u8]) -> bool {
    b.len() >= 13 && (20..=25).contains(&b[0]) && b[1] == 0xfe && matches!(b[2], 0xfd | 0xff)
}

fn is_telnet_command(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0xff && (0xfb..=0xfe).contains(&b[1])
}

pub(crate) fn is_mqtt_connect(b: &[u8]) -> bool {
    if b.first() != Some(&0x10) {
        return false;
    }
    // Remaining length: 1..=4 bytes, 7 bits each.
    let mut i = 1;
    while i < 5 && b.get(i).is_some_and(|x| x & 0x80 != 0) {
        i += 1;
    }
    let name_at = i + 1;
    match b.get(name_at..name_at + 8) {
        Some(n) => n.starts_with(b"\x00\x04MQTT") || n.starts_with(b"\x00\x06MQIsdp"),
        None => false,
    }
}

fn is_syslog(b: &[u8]) -> bool {
    if b.first() != Some(&b'<') {
        return false;
    }
    let digits = b[1..]
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    (1..=3).contains(&digits) && b.get(1 + digits) == Some(&b'>')
}

/// SNMPv1/v2c message: SEQUENCE { INTEGER version (0 or 1), OCTET STRING
/// community, ... }. Returns the community's offset and length.
pub(crate) fn snmp_community(b: &[u8]) -> Option<(usize, usize)> {
    if *b.first()? != 0x30 {
        return None;
    }
    let mut i = match *b.get(1)? {
        n if n < 0x80 => 2,
        0x81 => 3,
        0x82 => 4,
        _ => return None,
    };
    if b.get(i..i + 2)? != [0x02, 0x01] || !matches!(*b.get(i + 2)?, 0 | 1) {
        return None;
    }
    i += 3;
    if *b.get(i)? != 0x04 {
        return None;
    }
    let len = *b.get(i + 1)? as usize;
    if len >= 0x80 || b.len() < i + 2 + len {
        return None;
    }
    Some((i + 2, len))
}

fn is_dns(b: &[u8]) -> bool {
    // Header: 12 bytes, opcode 0..=5, at most a handful of questions.
    b.len() >= 12 && (b[2] >> 3) & 0x0f <= 5 && u16::from_be_bytes([b[4], b[5]]) <= 16
}

fn by_port(tcp: bool, port: u16) -> Option<Protocol> {
    Some(match (tcp, port) {
        (true, 80 | 8080 | 8000 | 8008 | 8888) => Protocol::Http,
        (true, 443 | 8443 | 8883 | 993 | 995 | 465 | 636) => Protocol::Tls,
        (true, 22) => Protocol::Ssh,
        (true, 23 | 2323) => Protocol::Telnet,
        (true, 21) => Protocol::Ftp,
        (true, 1883) => Protocol::Mqtt,
        (_, 53 | 5353) => Protocol::Dns,
        (false, 5683) => Protocol::Coap,
        (false, 5684) => Protocol::Dtls,
        (false, 514) => Protocol::Syslog,
        (false, 161 | 162) => Protocol::Snmp,
        _ => return None,
    })
}

/// Guesses the protocol from the first bytes the client and the server
/// sent and the server's port.
pub(crate) fn guess(
    tcp: bool,
    server_port: u16,
    client: &[u8],
    server: &[u8],
) -> (Protocol, DetectedBy) {
    let either = |f: fn(&[u8]) -> bool| f(client) || f(server);
    let found = if tcp {
        if either(is_tls_record) {
            Some(Protocol::Tls)
        } else if client.starts_with(b"SSH-") || server.starts_with(b"SSH-") {
            Some(Protocol::Ssh)
        } else if HTTP_METHODS.iter().any(|m| client.starts_with(m))
            || server.starts_with(b"HTTP/1.")
        {
            Some(Protocol::Http)
        } else if is_mqtt_connect(client) {
            Some(Protocol::Mqtt)
        } else if either(is_telnet_command) {
            Some(Protocol::Telnet)
        } else if server.starts_with(b"220")
            && (client.len() >= 5 && client[..5].eq_ignore_ascii_case(b"USER ")
                || client.len() >= 4 && client[..4].eq_ignore_ascii_case(b"AUTH"))
        {
            Some(Protocol::Ftp)
        } else if matches!(server_port, 53 | 5353) && client.len() > 2 && is_dns(&client[2..]) {
            Some(Protocol::Dns)
        } else {
            None
        }
    } else if is_dtls_record(client) || is_dtls_record(server) {
        Some(Protocol::Dtls)
    } else if matches!(server_port, 53 | 5353) && either(is_dns) {
        Some(Protocol::Dns)
    } else if matches!(server_port, 5683 | 5684)
        && client.first().is_some_and(|b| b >> 6 == 1)
        && client.len() >= 4
    {
        Some(Protocol::Coap)
    } else if snmp_community(client).is_some() {
        Some(Protocol::Snmp)
    } else if is_syslog(client) {
        Some(Protocol::Syslog)
    } else {
        None
    };
    match found {
        Some(p) => (p, DetectedBy::Payload),
        None => match by_port(tcp, server_port) {
            Some(p) => (p, DetectedBy::Port),
            None => (Protocol::Unknown, DetectedBy::Nothing),
        },
    }
}

/// Ports a server usually listens on; used to tell client from server
/// when the capture missed the handshake.
pub(crate) fn well_known(tcp: bool, port: u16) -> bool {
    by_port(tcp, port).is_some() || port < 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses() {
        let tls = [0x16, 3, 1, 0, 200, 1];
        assert_eq!(guess(true, 4433, &tls, b"").0, Protocol::Tls);
        assert_eq!(guess(true, 80, b"SSH-2.0-x\r\n", b"").0, Protocol::Ssh);
        assert_eq!(
            guess(true, 9, b"GET / HTTP/1.1\r\n", b""),
            (Protocol::Http, DetectedBy::Payload)
        );
        assert_eq!(
            guess(true, 23, b"", b""),
            (Protocol::Telnet, DetectedBy::Port)
        );
        assert_eq!(guess(true, 2, b"\xff\xfd\x18", b"").0, Protocol::Telnet);
        assert_eq!(
            guess(true, 9, b"\x10\x10\x00\x04MQTT\x04\x02", b"").0,
            Protocol::Mqtt
        );
        assert_eq!(
            guess(false, 5683, b"\x40\x01\x12\x34", b"").0,
            Protocol::Coap
        );
        assert_eq!(guess(false, 9999, b"<34>1 2026", b"").0, Protocol::Syslog);
        let snmp = b"\x30\x26\x02\x01\x01\x04\x06public\xa0\x19";
        assert_eq!(
            guess(false, 161, snmp, b""),
            (Protocol::Snmp, DetectedBy::Payload)
        );
        assert_eq!(snmp_community(snmp), Some((7, 6)));
        assert_eq!(snmp_community(&snmp[..10]), None);
        assert_eq!(
            guess(true, 21, b"USER a\r\n", b"220 hi\r\n").0,
            Protocol::Ftp
        );
        assert_eq!(guess(true, 7, b"xx", b"yy").0, Protocol::Unknown);
    }
}
