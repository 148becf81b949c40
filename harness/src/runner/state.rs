//! The run's shared state: the record (rewritten to disk after every
//! trial) and the finished trials that libtest-mimic's reporting waits on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use hilt_reports::{RunRecord, TrialRecord};

pub struct RunState {
    pub started: Instant,
    pub record_path: PathBuf,
    inner: Mutex<Inner>,
    changed: Condvar,
}

struct Inner {
    record: RunRecord,
    finished: HashMap<String, TrialRecord>,
    /// Boards whose worker has ended (their unfinished trials never will).
    boards_done: Vec<bool>,
    write_error: Option<String>,
}

/// What the reporting side learns about a trial.
pub enum TrialStatus {
    Finished(Box<TrialRecord>),
    /// The board's worker ended without running it (interrupted).
    NotRun,
}

impl RunState {
    pub fn new(record: RunRecord, record_path: PathBuf, boards: usize, started: Instant) -> Self {
        Self {
            started,
            record_path,
            inner: Mutex::new(Inner {
                record,
                finished: HashMap::new(),
                // One slot per board, and one for the rack-wide trials.
                boards_done: vec![false; boards + 1],
                write_error: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a reporter thread panicked mid-update; the
        // data is still the best record we have.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn finish_trial(
        &self,
        trial: TrialRecord,
        identity: &std::collections::BTreeMap<String, String>,
    ) {
        let mut inner = self.lock();
        if let Some(board) = inner
            .record
            .boards
            .iter_mut()
            .find(|b| b.name == trial.board)
        {
            super::describe::observe(board, identity);
        }
        inner.record.trials.push(trial.clone());
        inner.finished.insert(trial.name.clone(), trial);
        Self::persist(&self.record_path, &mut inner);
        self.changed.notify_all();
    }

    pub fn board_done(&self, board: usize) {
        let mut inner = self.lock();
        if let Some(done) = inner.boards_done.get_mut(board) {
            *done = true;
        }
        self.changed.notify_all();
    }

    /// Blocks until the trial finished or its board's worker ended.
    pub fn wait_for(&self, name: &str, board: usize) -> TrialStatus {
        let mut inner = self.lock();
        loop {
            if let Some(trial) = inner.finished.get(name) {
                return TrialStatus::Finished(Box::new(trial.clone()));
            }
            if inner.boards_done.get(board).copied().unwrap_or(true) {
                return TrialStatus::NotRun;
            }
            inner = self.changed.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut RunRecord)) {
        let mut inner = self.lock();
        f(&mut inner.record);
        Self::persist(&self.record_path, &mut inner);
    }

    pub fn snapshot(&self) -> RunRecord {
        self.lock().record.clone()
    }

    pub fn write_error(&self) -> Option<String> {
        self.lock().write_error.clone()
    }

    fn persist(path: &std::path::Path, inner: &mut Inner) {
        if let Err(e) = inner.record.write_atomically(path) {
            inner.write_error = Some(format!("{}: {e}", path.display()));
        }
    }
}
