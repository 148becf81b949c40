//! MCUmgr SMP over UDP (shape `smp-udp-update`), as Zephyr's UDP transport
//! serves it: one raw SMP message per datagram on port 1337, the answer
//! sent back to the sender. The transport has no authentication; the
//! core serves every datagram as if from a session (see
//! `DeviceApi::smp_datagram`).

use std::net::UdpSocket;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Shutdown;
use crate::device_api::DeviceApi;

/// Largest datagram taken (Zephyr's default SMP UDP MTU is 1500).
const MAX_DATAGRAM: usize = 4096;

pub fn spawn(
    api: Arc<dyn DeviceApi>,
    sock: UdpSocket,
    sd: Arc<Shutdown>,
) -> std::io::Result<JoinHandle<()>> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    std::thread::Builder::new()
        .name("net-smp-udp".into())
        .spawn(move || {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !sd.is_stopped() {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue; // timeout (or an ICMP error): look at shutdown
                };
                if let Some(answer) = api.smp_datagram(&buf[..n]) {
                    let _ = sock.send_to(&answer, peer);
                }
            }
        })
}
