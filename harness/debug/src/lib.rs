//! Debug-port transports for hilt: a GDB remote serial protocol client
//! ([`gdb`]) for OpenOCD, the J-Link GDB server, Black Magic Probe, QEMU's
//! gdbstub and the simulated board, and USB debug probes through probe-rs
//! ([`probe`], feature `probe`, on by default).

pub mod gdb;
#[cfg(feature = "probe")]
pub mod probe;
