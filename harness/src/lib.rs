//! hilt's engine: board files, suite files, the check interface,
//! transports, evidence capture and the runner.

pub mod board;
pub mod check;
pub mod context;
pub mod driver;
pub mod evidence;
pub mod outcome;
pub mod params;
pub mod rack;
pub mod registry;
pub mod runner;
pub mod scrub;
pub mod stop;
pub mod suite;
pub mod transport;
pub mod yaml;

pub use check::{
    Applicability, Capability, Check, CheckError, CheckMeta, Finding, NotApplicable, RackCheck,
};
pub use hilt_reports::Verdict;
pub use registry::Registry;
