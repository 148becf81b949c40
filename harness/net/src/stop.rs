//! The bound on every wait: a deadline and an interruption flag.
//!
//! It mirrors the harness's `StopSignal` (the harness builds one from its
//! own deadline and interrupt flag) so this crate depends on no hilt crate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When an operation must give up: its deadline, or an interruption.
#[derive(Debug, Clone)]
pub struct Stop {
    deadline: Instant,
    interrupted: Arc<AtomicBool>,
}

impl Stop {
    pub fn new(deadline: Instant, interrupted: Arc<AtomicBool>) -> Self {
        Self {
            deadline,
            interrupted,
        }
    }

    /// A stop that only expires after `timeout`.
    pub fn after(timeout: Duration) -> Self {
        Self::new(Instant::now() + timeout, Arc::new(AtomicBool::new(false)))
    }

    /// Sets the interruption flag (every clone sees it).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The smaller of `wanted` and the time left.
    pub fn bound(&self, wanted: Duration) -> Duration {
        wanted.min(self.remaining())
    }

    /// Why to stop now, if so.
    pub fn reason(&self) -> Option<&'static str> {
        if self.is_interrupted() {
            Some("interrupted")
        } else if Instant::now() >= self.deadline {
            Some("deadline passed")
        } else {
            None
        }
    }
}

impl Stop {
    /// The shared interruption flag (to derive a tighter Stop).
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupted.clone()
    }
}
