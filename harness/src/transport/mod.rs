//! Ways to reach a board. Each transport is a module behind a small API
//! that takes a `StopSignal`, records what it did as evidence, and reports
//! failures as board faults (never as a device verdict).

pub mod flash;
pub mod power;
pub mod rfc2217;
pub mod serial;
pub mod smp;
