//! Ways to reach a board. Each transport is a module behind a small API
//! that takes a `StopSignal`, records what it did as evidence, and reports
//! failures in an error type of its own (`SerialError`, `SmpError`,
//! `FlashError`, `PowerError`). They know nothing of checks: the check
//! layer (`crate::outcome`) turns them into board or harness faults, never
//! into a device verdict.

pub mod flash;
pub mod labgrid;
pub mod power;
pub mod qemu;
pub mod rfc2217;
pub mod serial;
pub mod smp;
