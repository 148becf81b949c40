//! hilt's run record and its reporters.
//!
//! The run record (`record`) is the one source every report is rendered
//! from: the runner emits `events`, whose fold is the record; reporters
//! (`reporter`) turn the events and the record into the terminal lines,
//! `record.json`, JUnit, the summary and the signed manifest. This crate
//! has no knowledge of boards, transports or checks beyond the data they
//! leave.

pub mod diff;
pub mod escape;
pub mod events;
pub mod excerpt;
pub mod html;
pub mod junit;
pub mod manifest;
pub mod markdown;
pub mod merge;
pub mod record;
pub mod reporter;

pub use escape::{escape_controls, escape_html};
pub use record::*;
