//! A client for labgrid's coordinator: open a session, acquire a place (by
//! name, or through a reservation by tags), read the resources the place
//! holds, release it.
//!
//! The coordinator speaks gRPC only, so this crate owns a small tokio
//! runtime; its API is synchronous, and nothing else in hilt needs an
//! async runtime. The protocol subset is in proto/labgrid-coordinator.proto.

mod resources;
mod session;
pub mod watchdog;

pub use resources::{MapValue, NetworkPower, NetworkSerial, Resource};
pub use session::{Client, Held, Place};

/// The generated gRPC client and messages.
pub mod proto {
    tonic::include_proto!("labgrid");
}

/// Why the coordinator could not give hilt what it asked for. None of these
/// is the device's fault.
#[derive(Debug, thiserror::Error)]
pub enum LabgridError {
    #[error("coordinator {coordinator}: {why}")]
    Connect { coordinator: String, why: String },
    #[error("coordinator {coordinator}: no answer to {what} within {:.1} s", .waited.as_secs_f64())]
    Timeout {
        coordinator: String,
        what: String,
        waited: std::time::Duration,
    },
    #[error("coordinator {coordinator}: {what}: {status}")]
    Refused {
        coordinator: String,
        what: String,
        status: String,
    },
    #[error("coordinator {coordinator}: the session stream ended ({why})")]
    SessionLost { coordinator: String, why: String },
    #[error("coordinator {coordinator}: no place named {place:?} (places: {known})")]
    NoSuchPlace {
        coordinator: String,
        place: String,
        known: String,
    },
    #[error(
        "coordinator {coordinator}: reservation {token} for {tags} ended {state} without a place"
    )]
    ReservationEnded {
        coordinator: String,
        token: String,
        tags: String,
        state: &'static str,
    },
    #[error("stopped while waiting for {0}")]
    Stopped(String),
}

/// The name a reservation state has in labgrid (`labgrid-client reservations`).
pub fn reservation_state_name(state: i32) -> &'static str {
    match state {
        0 => "waiting",
        1 => "allocated",
        2 => "acquired",
        3 => "expired",
        4 => "invalid",
        _ => "in an unknown state",
    }
}
