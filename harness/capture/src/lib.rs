//! hilt-capture: packet capture into pcap savefiles, and a classifier that
//! finds plaintext protocols and credentials in them.
//!
//! - [`Capture`] captures on one interface with a BPF filter into one
//!   savefile, on a background thread, bounded by [`Limits`]; it never hangs
//!   on an idle link. [`Capture::stop`] returns [`CaptureStats`].
//! - [`classify_file`] reads a savefile and returns a [`Report`]: flows,
//!   protocol guesses, plaintext or not, credentials seen in the clear and,
//!   for secrets the caller names, the frames they appear in. Frame numbers
//!   are 1-based, as tshark numbers them.
//!
//! Secrets never appear in `Debug` output or in serialized reports; only
//! their length, label and frames do.
//!
//! ```no_run
//! use hilt_capture::{classify_file, host_filter, Capture, ClassifyOptions, Limits, NamedSecret};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::path::Path::new("evidence/telnet-login.pcap");
//! let cap = Capture::start("hsim0", &host_filter("198.18.0.2".parse()?), path, Limits::default())?;
//! // ... log in to the board over telnet ...
//! let stats = cap.stop()?;
//! println!("{} packets, {} dropped by the kernel", stats.packets, stats.dropped_kernel);
//!
//! let options = ClassifyOptions {
//!     secrets: vec![NamedSecret::new("accounts.admin.password", "from-the-secret-file")],
//!     ..ClassifyOptions::default()
//! };
//! let report = classify_file(path, &options)?;
//! for (flow, cred) in report.credentials() {
//!     println!("{:?} to {} leaks a password in frame {}", cred.kind, flow.server, cred.frame);
//! }
//! # Ok(())
//! # }
//! ```

mod capture;
mod classify;
mod creds;
mod decode;
mod protocol;
mod stream;

pub use capture::{
    check_filter, host_filter, hosts_filter, Capture, CaptureError, CaptureStats, Ended, Limits,
    POLL,
};
pub use classify::{
    classify_file, Classifier, ClassifyError, ClassifyLimits, ClassifyOptions, FlowReport,
    NamedSecret, Report, SecretHit, TransportKind,
};
pub use creds::{Credential, CredentialKind};
pub use protocol::{DetectedBy, Protocol};
