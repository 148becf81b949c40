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
