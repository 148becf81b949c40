//! SNMP messages in BER (X.690), bounded: every length is checked
//! against the data. Used by the UDP probes (AU-07, AU-08) and by the
//! SNMP community login driver (AU-01, AU-04).

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn ber_int(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 3 && bytes[start] == 0 && bytes[start + 1] & 0x80 == 0 {
        start += 1;
    }
    let mut c = bytes[start..].to_vec();
    if c[0] & 0x80 != 0 {
        c.insert(0, 0);
    }
    tlv(0x02, &c)
}

/// SNMPv2c GetRequest for sysDescr.0 (1.3.6.1.2.1.1.1.0).
pub fn snmp_get_sysdescr(community: &[u8], request_id: u32) -> Vec<u8> {
    let oid = tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 1, 0]);
    let varbind = tlv(0x30, &[oid, vec![0x05, 0x00]].concat());
    let varbinds = tlv(0x30, &varbind);
    let pdu = tlv(
        0xa0,
        &[ber_int(request_id), ber_int(0), ber_int(0), varbinds].concat(),
    );
    tlv(0x30, &[ber_int(1), tlv(0x04, community), pdu].concat())
}

/// Reads one TLV: (tag, content, rest).
pub(crate) fn read_tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
    let content = data.get(hdr..end)?;
    Some((tag, content, &data[end..]))
}

pub(crate) fn ber_uint(c: &[u8]) -> Option<u64> {
    if c.is_empty() || c.len() > 8 {
        return None;
    }
    Some(c.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

/// SNMPv3 engine discovery (RFC 3414 section 4): a reportable,
/// noAuthNoPriv GetRequest with an empty engine id and user name and no
/// variable; an agent answers with a Report carrying its engine id.
pub fn snmp_v3_discovery(msg_id: u32) -> Vec<u8> {
    let header = tlv(
        0x30,
        &[
            ber_int(msg_id),
            ber_int(65507),
            tlv(0x04, &[0x04]), // reportable, noAuthNoPriv
            ber_int(3),         // USM
        ]
        .concat(),
    );
    let usm = tlv(
        0x30,
        &[
            tlv(0x04, &[]),
            ber_int(0),
            ber_int(0),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
        ]
        .concat(),
    );
    let pdu = tlv(
        0xa0,
        &[ber_int(msg_id), ber_int(0), ber_int(0), tlv(0x30, &[])].concat(),
    );
    let scoped = tlv(0x30, &[tlv(0x04, &[]), tlv(0x04, &[]), pdu].concat());
    tlv(
        0x30,
        &[ber_int(3), header, tlv(0x04, &usm), scoped].concat(),
    )
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
    u32::try_from(ber_uint(id)?).ok()
}

/// The engine ID (hex) of an SNMPv3 Report answering `msg_id`.
pub fn v3_report_engine(data: &[u8], msg_id: u32) -> Option<String> {
    let (0x30, msg, _) = read_tlv(data)? else {
        return None;
    };
    let (0x02, version, rest) = read_tlv(msg)? else {
        return None;
    };
    if ber_uint(version)? != 3 {
        return None;
    }
    let (0x30, global, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x02, id, _) = read_tlv(global)? else {
        return None;
    };
    if ber_uint(id)? != u64::from(msg_id) {
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
        assert_eq!(v3_report_engine(&snmp_v3_discovery(7), 7), None);
    }
}
