//! When a check must stop: its deadline, or the run being interrupted.
//! Every transport call is bounded by both, so a silent device or a Ctrl-C
//! ends a check within one poll interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::check::CheckError;

#[derive(Debug, Clone)]
pub struct StopSignal {
    deadline: Instant,
    interrupted: Arc<AtomicBool>,
}

impl StopSignal {
    pub fn new(deadline: Instant, interrupted: Arc<AtomicBool>) -> Self {
        Self {
            deadline,
            interrupted,
        }
    }

    /// A signal that only expires after `timeout` (tests, one-off commands).
    pub fn after(timeout: Duration) -> Self {
        Self::new(Instant::now() + timeout, Arc::new(AtomicBool::new(false)))
    }

    /// A new deadline `budget` from now, sharing the interruption flag
    /// (for a restore step after a check used up its own time).
    pub fn renewed(&self, budget: Duration) -> Self {
        Self::new(Instant::now() + budget, self.interrupted.clone())
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The run's interruption flag (shared with transports of other crates).
    pub fn interrupted_flag(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The earlier of `now + wanted` and the deadline.
    pub fn bound(&self, wanted: Duration) -> Instant {
        (Instant::now() + wanted).min(self.deadline)
    }

    /// Errs if the run was interrupted or the deadline passed.
    pub fn check(&self) -> Result<(), CheckError> {
        if self.is_interrupted() {
            Err(CheckError::Stopped("run interrupted".into()))
        } else if Instant::now() >= self.deadline {
            Err(CheckError::Stopped("check deadline passed".into()))
        } else {
            Ok(())
        }
    }
}
