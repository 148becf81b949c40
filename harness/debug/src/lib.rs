//! Debug-port transports.
pub mod gdb;
pub mod probe;
