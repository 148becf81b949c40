//! Drivers: the protocols a device speaks, above the transports that
//! carry its bytes. Checks use drivers; the board file says how they talk.

pub mod api;
pub mod console;
pub mod dialogues;
pub mod digest;
pub mod login;
