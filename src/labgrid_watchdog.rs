//! `hilt labgrid-watchdog`: the process a run starts for each labgrid place
//! it holds (hilt_harness::transport::labgrid). It outlives a killed run
//! to release the place.

use hilt_harness::transport::labgrid::{self, WatchdogCommand};

/// How a run starts its watchdogs: this same executable.
pub fn command() -> Option<WatchdogCommand> {
    match std::env::current_exe() {
        Ok(program) => Some(WatchdogCommand {
            program,
            args: vec!["labgrid-watchdog".into()],
        }),
        Err(e) => {
            eprintln!("warning: cannot find hilt's own executable ({e}): a labgrid place stays locked if this run is killed");
            None
        }
    }
}

pub fn run(args: &[String]) -> i32 {
    // The run's terminal may hang up or be interrupted: the watchdog still
    // has to see the run end. Only the closing pipe ends it.
    for signal in [libc::SIGINT, libc::SIGHUP] {
        // SAFETY: SIG_IGN for a signal is always valid.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    match labgrid::watchdog(args) {
        Ok(None) => 0,
        Ok(Some(what)) => {
            eprintln!("hilt labgrid-watchdog: {what}");
            0
        }
        Err(e) => {
            eprintln!("hilt labgrid-watchdog: {e}");
            2
        }
    }
}
