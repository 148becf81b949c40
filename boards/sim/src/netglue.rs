//! Starts the network side (`net/`) for a booted device. Kept apart so the
//! core builds and runs without it (`--no-net`).

use std::sync::Arc;

use crate::device::Device;

/// Whatever keeps the network side running; dropping it stops it.
pub struct NetHandle(#[allow(dead_code)] Box<dyn Send>);

pub fn start(_dev: Arc<Device>, _loopback: bool) -> Result<Option<NetHandle>, String> {
    Ok(None)
}

/// Removes what the network side set up for board `index` (its namespace).
pub fn teardown(_index: u32) {}

/// The board's address and the host's address on its link.
pub fn addresses(index: u32, loopback: bool) -> (String, String, String) {
    if loopback {
        (
            format!("127.77.0.{}", index + 2),
            "127.0.0.1".to_string(),
            "lo".to_string(),
        )
    } else {
        (
            format!("198.18.{index}.2"),
            format!("198.18.{index}.1"),
            format!("hsim{index}"),
        )
    }
}

/// Port a well-known service uses on this wiring.
pub fn port(port: u16, loopback: bool) -> u16 {
    if loopback && port < 1024 {
        port + 10000
    } else {
        port
    }
}
