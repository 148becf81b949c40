//! GDB remote serial protocol: framing ([`packet`]), the TCP client
//! ([`GdbClient`]), its errors and its evidence transcript.

mod client;
mod error;
pub mod packet;
mod transcript;

pub use client::{GdbClient, GdbConfig, Registers, Released};
pub use error::GdbError;
pub use packet::{ErrorReply, StopReply};
pub use transcript::{Direction, Entry, Transcript};
