//! Starts the network side (`net/`) for a booted device. Kept apart so the
//! core builds and runs without it (`--no-net`).

use std::sync::Arc;

use crate::device::Device;
use crate::device_api::DeviceApi;
use crate::net::{self, NetConfig, NetMode};

/// Whatever keeps the network side running; dropping it stops it.
pub type NetHandle = net::NetHandle;

fn mode(loopback: bool) -> NetMode {
    if loopback {
        NetMode::Loopback
    } else {
        NetMode::auto()
    }
}

pub fn start(dev: Arc<Device>, loopback: bool) -> Result<Option<NetHandle>, String> {
    let api: Arc<dyn DeviceApi> = dev;
    let cfg = NetConfig::for_device(api.as_ref(), mode(loopback));
    net::start(api, cfg).map(Some).map_err(|e| e.to_string())
}

/// Publishes the test PKI a lab gets with the board (the telemetry CA
/// certificate and its TEST-ONLY key) in the board's runtime folder.
pub fn publish_test_pki(dir: &std::path::Path) -> Result<(), String> {
    net::pki::publish_test_pki(dir).map_err(|e| e.to_string())
}

/// Removes what the network side set up for board `index` (its namespace).
pub fn teardown(index: u32) {
    if let Err(e) = net::teardown(index) {
        eprintln!("hilt-sim: sim-{index}: {e}");
    }
}

/// The board's address, the host's address on its link, and the host-side
/// interface of that link (where the harness binds its sockets and captures).
pub fn addresses(index: u32, loopback: bool) -> (String, String, String) {
    let m = mode(loopback);
    let interface = match m {
        NetMode::Loopback => "lo".to_string(),
        NetMode::Netns => net::host_ifname(index),
    };
    (
        net::board_addr(index, m).to_string(),
        net::host_addr(index, m).to_string(),
        interface,
    )
}

/// Port a well-known service uses on this wiring.
pub fn port(port: u16, loopback: bool) -> u16 {
    net::service_port(port, mode(loopback))
}
