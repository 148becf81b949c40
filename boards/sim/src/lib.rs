//! hilt-sim: the simulated reference board (see README.md and CONTRACT.md).
//!
//! One OS process per board. The board shares no code with the harness.

pub mod board;
pub mod bootloader;
pub mod claim;
pub mod console;
pub mod console_upload;
pub mod device;
pub mod device_api;
pub mod firmware;
pub mod flash;
pub mod gdb;
pub mod lifecycle;
pub mod mcuboot;
pub mod net;
pub mod netglue;
pub mod shapes;
pub mod smp;
