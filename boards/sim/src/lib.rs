//! hilt-sim: the simulated reference board (see README.md and CONTRACT.md).
//!
//! One OS process per board. The board shares no code with the harness.

pub mod device_api;
