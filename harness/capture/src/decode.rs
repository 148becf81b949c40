//! From one captured frame to addresses, ports and transport payload.
//! Link layers handled: Ethernet (with VLAN tags), Linux cooked v1 and v2,
//! BSD loopback, raw IPv4/IPv6. Header slicing is etherparse's lax mode,
//! so a frame cut at the snapshot length still yields what it holds.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Transport of a decoded segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp {
        seq: u32,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
    },
    Udp,
}

#[derive(Debug)]
pub(crate) struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    pub payload: &'a [u8],
}

/// libpcap link-layer header types (LINKTYPE_*).
const NULL: i32 = 0;
const ETHERNET: i32 = 1;
const RAW_OLD: i32 = 12;
const RAW_OLD2: i32 = 14;
const RAW: i32 = 101;
const LOOP: i32 = 108;
const LINUX_SLL: i32 = 113;
const IPV4: i32 = 228;
const IPV6: i32 = 229;
const LINUX_SLL2: i32 = 276;

/// True if frames of this link type can be decoded.
pub(crate) fn supported(linktype: i32) -> bool {
    matches!(
        linktype,
        NULL | ETHERNET | RAW_OLD | RAW_OLD2 | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}

/// Decodes a frame; `None` for anything that is not TCP or UDP over IP
/// (ARP, ICMP, non-first fragments, garbage).
pub(crate) fn decode(linktype: i32, data: &[u8]) -> Option<Segment<'_>> {
    let sliced = match linktype {
        ETHERNET => LaxSlicedPacket::from_ethernet(data).ok()?,
        RAW | RAW_OLD | RAW_OLD2 | IPV4 | IPV6 => LaxSlicedPacket::from_ip(data).ok()?,
        NULL | LOOP => {
            let family = data.get(..4)?;
            let family = if linktype == NULL {
                u32::from_ne_bytes(family.try_into().ok()?)
            } else {
                u32::from_be_bytes(family.try_into().ok()?)
            };
            // AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 by OS.
            if !matches!(family, 2 | 10 | 24 | 28 | 30) {
                return None;
            }
            LaxSlicedPacket::from_ip(data.get(4..)?).ok()?
        }
        LINUX_SLL => {
            let proto = u16::from_be_bytes(data.get(14..16)?.try_into().ok()?);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(16..)?)
        }
        LINUX_SLL2 => {
            let proto = u16::from_be_bytes(data.get(0..2)?.try_into().ok()?);
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(20..)?)
        }
        _ => return None,
    };
    let (src_ip, dst_ip, fragmented) = match sliced.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                ip.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.is_payload_fragmented(),
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    if fragmented {
        // Reassembling IP fragments is out of scope; a fragment's payload
        // is not a transport segment.
        return None;
    }
    match sliced.transport.as_ref()? {
        TransportSlice::Tcp(tcp) => Some(Segment {
            src: SocketAddr::new(src_ip, tcp.source_port()),
            dst: SocketAddr::new(dst_ip, tcp.destination_port()),
            transport: Transport::Tcp {
                seq: tcp.sequence_number(),
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
            },
            payload: tcp.payload(),
        }),
        TransportSlice::Udp(udp) => Some(Segment {
            src: SocketAddr::new(src_ip, udp.source_port()),
            dst: SocketAddr::new(dst_ip, udp.destination_port()),
            transport: Transport::Udp,
            payload: udp.payload(),
        }),
        _ => None,
    }
}
