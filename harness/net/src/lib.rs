//! Network transports for hilt (issue 4): a full TCP connect scanner and
//! UDP service probes, a TLS client and TLS version/suite probes, an
//! HTTP(S)/1.1 client that records redacted exchanges, a rogue TLS server
//! for man-in-the-middle checks, a downgrade server (TLS 1.0 / weak-suite
//! answers to a device's ClientHello), a syslog collector, and an SSH
//! password-login probe.
//!
//! Every buffer is bounded and every wait is bounded by a [`Stop`].

pub mod certinfo;
pub mod clienthello;
pub mod downgrade;
pub mod error;
pub mod greeting;
pub mod http;
pub mod link;
pub mod pem;
mod recorder;
pub mod rogue;
pub mod scan;
pub mod snmp;
pub mod ssh;
pub mod stop;
pub mod suites;
pub mod syslog;
pub mod takeover;
pub mod tls;
pub mod udp;
pub mod udp_scan;

pub use error::NetError;
pub use link::Link;
pub use stop::Stop;
