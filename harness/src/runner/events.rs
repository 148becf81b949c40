//! The runner's side of the event stream: every event is folded into the
//! run record and handed, with the record, to the reporters. Workers emit
//! from their own threads; one lock keeps the stream in order, so every
//! reporter sees the same sequence and the record a reporter is given is
//! the one its event produced.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use hilt_reports::events::{RunEvent, RunPlan};
use hilt_reports::reporter::{Reporter, ReporterError};
use hilt_reports::RunRecord;

pub struct EventStream {
    /// When the run started, for the trials' offsets.
    pub started: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    record: RunRecord,
    reporter: Box<dyn Reporter>,
    /// The first report that could not be written.
    error: Option<ReporterError>,
}

impl EventStream {
    /// Emits `RunStarted` with the record's head.
    pub fn start(
        reporter: Box<dyn Reporter>,
        run_dir: PathBuf,
        plan: RunPlan,
        record: RunRecord,
        started: Instant,
    ) -> Self {
        let stream = Self {
            started,
            inner: Mutex::new(Inner {
                record: record.clone(),
                reporter,
                error: None,
            }),
        };
        stream.emit(RunEvent::RunStarted {
            run_dir,
            plan,
            record: Box::new(record),
        });
        stream
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a reporter panicked mid-event; the record
        // is still the best we have.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn emit(&self, event: RunEvent) {
        let mut inner = self.lock();
        inner.record.apply(&event);
        let Inner {
            record,
            reporter,
            error,
        } = &mut *inner;
        if let Err(e) = reporter.report(&event, record) {
            error.get_or_insert(e);
        }
    }

    /// The record as it stands.
    pub fn snapshot(&self) -> RunRecord {
        self.lock().record.clone()
    }

    /// Whether a reason for an interruption is on the record already.
    pub fn interruption_recorded(&self) -> bool {
        self.lock().record.interrupted.is_some()
    }

    /// The first report that could not be written, if any.
    pub fn take_error(&self) -> Option<ReporterError> {
        self.lock().error.take()
    }
}
