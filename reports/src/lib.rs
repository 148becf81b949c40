//! hilt's run record and its renderers.
//!
//! The run record (`record`) is the one source every report is rendered
//! from: the runner fills it, reporters read it. This crate has no
//! knowledge of boards, transports or checks beyond the data they leave.

pub mod diff;
pub mod escape;
pub mod html;
pub mod junit;
pub mod manifest;
pub mod record;

pub use escape::{escape_controls, escape_html};
pub use record::*;
