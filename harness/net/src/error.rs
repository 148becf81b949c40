//! Every error of this crate in one place.
//!
//! The harness maps them to its verdict model: [`NetError::is_peer_fault`]
//! tells a fault of the device or its network (a board fault) from a fault
//! of this host (a harness fault); `Stopped` is neither.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The deadline passed or the run was interrupted.
    #[error("stopped: {0}")]
    Stopped(&'static str),
    /// The peer could not be reached or dropped the connection.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The peer sent something this crate will not accept (too large,
    /// malformed, wrong protocol).
    #[error("peer protocol error: {0}")]
    Protocol(String),
    /// The board's link (its host-side interface) is down or gone: nothing
    /// was sent.
    #[error("{0}")]
    LinkDown(String),
    /// The TLS handshake or session failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// Bad arguments or local setup (a certificate file, a key, a bind).
    #[error("local setup: {0}")]
    Setup(String),
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    /// True when the device or its network is to blame (a board fault),
    /// false for a harness-side fault or a stop.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            NetError::Io { .. } | NetError::LinkDown(_) | NetError::Protocol(_) | NetError::Tls(_)
        ) || matches!(self, NetError::Stopped(why) if *why == crate::stop::TIMED_OUT)
    }
}
