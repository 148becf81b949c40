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
    /// The caller's deadline when this stop was tightened by [`Stop::within`]:
    /// reaching `deadline` before it is the peer's silence, not the end of
    /// the caller's time.
    outer: Instant,
    interrupted: Arc<AtomicBool>,
}

/// [`Stop::reason`] when an operation's own bound passed before the
/// caller's deadline: the peer did not answer in time (a fault of the peer,
/// unlike the caller's deadline passing).
pub const TIMED_OUT: &str = "the peer did not answer within the operation's timeout";

impl Stop {
    pub fn new(deadline: Instant, interrupted: Arc<AtomicBool>) -> Self {
        Self {
            deadline,
            outer: deadline,
            interrupted,
        }
    }

    /// A tighter stop for one operation: it ends after `timeout` at most,
    /// and says [`TIMED_OUT`] when that bound, not the caller's, ended it.
    pub fn within(&self, timeout: Duration) -> Self {
        let bound = Instant::now()
            .checked_add(timeout)
            .map_or(self.deadline, |t| t.min(self.deadline));
        Self {
            deadline: bound,
            outer: self.outer,
            interrupted: self.interrupted.clone(),
        }
    }

    /// A stop that only expires after `timeout`.
    pub fn after(timeout: Duration) -> Self {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        Self::new(deadline, Arc::new(AtomicBool::new(false)))
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
            if self.deadline < self.outer && Instant::now() < self.outer {
                Some(TIMED_OUT)
            } else {
                Some("deadline passed")
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operations_own_bound_reads_as_the_peers_silence() {
        let caller = Stop::after(Duration::from_secs(60));
        let op = caller.within(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(op.reason(), Some(TIMED_OUT));
        assert_eq!(caller.reason(), None);
    }

    #[test]
    fn the_callers_deadline_reads_as_the_deadline() {
        let caller = Stop::after(Duration::from_millis(1));
        let op = caller.within(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(op.reason(), Some("deadline passed"));
        op.interrupt();
        assert_eq!(caller.reason(), Some("interrupted"));
    }

    #[test]
    fn a_huge_timeout_does_not_overflow() {
        let caller = Stop::after(Duration::MAX);
        let op = caller.within(Duration::MAX);
        assert_eq!(op.reason(), None);
    }
}
