//! `plaintext-beacon`: a pairing beacon sent in the clear.
//!
//! Every [`INTERVAL`] the device sends one CoAP (RFC 7252) non-confirmable
//! POST to `coap://<broadcast>:5683/pair`: in a namespace the broadcast
//! address of its link (198.18.<i>.255, so it shows up on the host side
//! `hsim<i>`), on loopback the host address 127.0.0.1. The payload is JSON
//! with the device id and a pairing token (hex of 16 bytes derived from the
//! device secret): anyone on the link can read it. The reference firmware
//! sends nothing of the kind.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{NetConfig, NetMode, Shutdown};
use crate::device_api::DeviceApi;

/// Time between beacons.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// CoAP's port.
pub const COAP_PORT: u16 = 5683;

/// Where the beacon goes: the link's broadcast address, or on loopback the
/// host address.
pub fn destination(cfg: &NetConfig) -> SocketAddr {
    let ip = match cfg.mode {
        NetMode::Netns => {
            let o = cfg.board_addr().octets();
            Ipv4Addr::new(o[0], o[1], o[2], 255)
        }
        NetMode::Loopback => cfg.host_addr(),
    };
    SocketAddr::new(ip.into(), COAP_PORT)
}

/// The beacon's JSON payload.
pub fn payload(api: &dyn DeviceApi) -> String {
    let token = api.device_secret_material("pairing-token");
    let hex: String = token[..16].iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "device_id": api.identity().device_id,
        "pairing_token": hex,
    })
    .to_string()
}

/// One CoAP message: version 1, NON, POST, no token, options Uri-Path
/// `pair` and Content-Format 50 (application/json), then the payload.
pub fn coap_message(message_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![0x50, 0x02];
    m.extend_from_slice(&message_id.to_be_bytes());
    // Uri-Path (11): delta 11, length 4.
    m.push(0xb4);
    m.extend_from_slice(b"pair");
    // Content-Format (12): delta 1, length 1, value 50.
    m.extend_from_slice(&[0x11, 50]);
    m.push(0xff);
    m.extend_from_slice(payload);
    m
}

/// Starts the beacon on `sock` (bound in the board's namespace).
pub fn spawn(
    api: Arc<dyn DeviceApi>,
    cfg: NetConfig,
    sock: UdpSocket,
    sd: Arc<Shutdown>,
) -> std::io::Result<JoinHandle<()>> {
    sock.set_broadcast(true)?;
    let to = destination(&cfg);
    std::thread::Builder::new()
        .name("net-beacon".into())
        .spawn(move || {
            let mut id: u16 = u16::from_be_bytes([
                api.device_secret_material("coap-mid")[0],
                api.device_secret_material("coap-mid")[1],
            ]);
            loop {
                let msg = coap_message(id, payload(api.as_ref()).as_bytes());
                // Nobody listening is not an error for a broadcast.
                let _ = sock.send_to(&msg, to);
                id = id.wrapping_add(1);
                if sd.sleep(INTERVAL) {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_a_coap_non_post() {
        let m = coap_message(0x1234, b"{}");
        assert_eq!(m[0] >> 6, 1, "version 1");
        assert_eq!((m[0] >> 4) & 3, 1, "NON");
        assert_eq!(m[1], 0x02, "POST");
        assert_eq!(&m[2..4], &[0x12, 0x34]);
        assert_eq!(&m[m.len() - 3..], b"\xff{}");
    }
}
