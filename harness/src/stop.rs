//! When a check must stop: its deadline, or the run being interrupted.
//! Every transport call is bounded by both, so a silent device or a Ctrl-C
//! ends a check within one poll interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a check had to stop: the run was interrupted or its deadline passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Stopped(pub String);

#[derive(Debug, Clone)]
pub struct StopSignal {
    deadline: Instant,
    interrupted: Arc<AtomicBool>,
    /// What the check is waiting for right now (set by the transports),
    /// so a timeout can say what it was waiting for.
    waiting: Arc<Mutex<Option<String>>>,
}

/// `now + duration`, or `now` when that overflows `Instant` (a deadline
/// that is already due fails closed; a panic here would escape the
/// runner's guard).
pub fn instant_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration).unwrap_or(now)
}

impl StopSignal {
    pub fn new(deadline: Instant, interrupted: Arc<AtomicBool>) -> Self {
        Self {
            deadline,
            interrupted,
            waiting: Arc::new(Mutex::new(None)),
        }
    }

    /// A signal that only expires after `timeout` (tests, one-off commands).
    pub fn after(timeout: Duration) -> Self {
        Self::new(instant_after(timeout), Arc::new(AtomicBool::new(false)))
    }

    /// A new deadline `budget` from now, sharing the interruption flag.
    pub fn renewed(&self, budget: Duration) -> Self {
        Self {
            deadline: instant_after(budget),
            interrupted: self.interrupted.clone(),
            waiting: self.waiting.clone(),
        }
    }

    /// A new deadline `budget` from now that an interruption of the run
    /// does not cancel: undoing a check's changes must finish even after
    /// Ctrl-C (a second Ctrl-C still ends the process).
    pub fn detached(&self, budget: Duration) -> Self {
        Self {
            deadline: instant_after(budget),
            interrupted: Arc::new(AtomicBool::new(false)),
            // The check's last wait stays on record for its timeout reason.
            waiting: Arc::new(Mutex::new(None)),
        }
    }

    /// Notes what the check now waits for (`"console output matching
    /// \"login: \"" for up to 5 s`); kept until the next wait.
    pub fn set_waiting(&self, what: String) {
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = Some(what);
        }
    }

    /// What the check was last waiting for, if a transport said.
    pub fn waiting(&self) -> Option<String> {
        self.waiting.lock().ok().and_then(|w| w.clone())
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
        Instant::now()
            .checked_add(wanted)
            .map_or(self.deadline, |until| until.min(self.deadline))
    }

    /// Errs if the run was interrupted or the deadline passed.
    pub fn check(&self) -> Result<(), Stopped> {
        if self.is_interrupted() {
            Err(Stopped("run interrupted".into()))
        } else if Instant::now() >= self.deadline {
            Err(Stopped("check deadline passed".into()))
        } else {
            Ok(())
        }
    }
}

/// The run's interruption: set once by the first SIGINT, SIGTERM or SIGHUP,
/// remembering which signal it was for the record and the exit code.
#[derive(Debug, Clone, Default)]
pub struct Interruption {
    flag: Arc<AtomicBool>,
    signal: Arc<std::sync::atomic::AtomicI32>,
}

impl Interruption {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the run interrupted by `signal`; false when it already was
    /// (a second signal). Async-signal-safe: atomics only.
    pub fn raise(&self, signal: i32) -> bool {
        let first = !self.flag.swap(true, Ordering::SeqCst);
        if first {
            self.signal.store(signal, Ordering::SeqCst);
        }
        first
    }

    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag every stop signal and transport polls.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// The signal's name (`SIGTERM`), or "an interruption" when the flag
    /// was set without one.
    pub fn signal_name(&self) -> String {
        match self.signal.load(Ordering::SeqCst) {
            0 => "an interruption".into(),
            1 => "SIGHUP".into(),
            2 => "SIGINT".into(),
            15 => "SIGTERM".into(),
            n => format!("signal {n}"),
        }
    }

    /// Exit code of an interrupted run: 128 + the signal, as shells
    /// report a process the signal ended (130 for Ctrl-C, 143 for SIGTERM).
    pub fn exit_code(&self) -> i32 {
        match self.signal.load(Ordering::SeqCst) {
            0 => 130,
            n => 128 + n,
        }
    }
}
