//! Racks on one host: leases that make each board of a run exclusive
//! against other hilt processes, and the health check a board passes
//! before its suite (quarantine when it does not).

pub mod health;
pub mod judge;
pub mod lease;
pub mod shard;
