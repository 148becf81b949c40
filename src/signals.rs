//! SIGINT, SIGTERM and SIGHUP end a run the same way: the first stops the
//! running checks (their undo steps still run) and keeps the record,
//! marked incomplete with the signal's name; a second one leaves at once.

use std::sync::OnceLock;

use hilt_harness::stop::Interruption;

static RUN: OnceLock<Interruption> = OnceLock::new();

const NOTICE: &[u8] =
    b"\ninterrupt: stopping the running checks, undoing their changes, writing the record (again to abort)\n";

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: atomics, write(2), _exit(2).
    let Some(run) = RUN.get() else {
        // SAFETY: _exit is async-signal-safe and takes no pointers.
        unsafe { libc::_exit(128 + signal) }
    };
    if run.raise(signal) {
        // SAFETY: a static buffer written to stderr; write(2) is async-signal-safe.
        unsafe { libc::write(2, NOTICE.as_ptr().cast(), NOTICE.len()) };
    } else {
        // SAFETY: as above.
        unsafe { libc::_exit(run.exit_code()) }
    }
}

/// Installs the handler for `run`; call once, before the run starts.
pub fn install(run: Interruption) -> Result<(), String> {
    RUN.set(run)
        .map_err(|_| "the signal handler is already installed".to_string())?;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler of the right signature
        // and an empty mask is valid; SA_RESTART keeps blocking reads going.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(format!(
                "cannot install the handler for signal {signal}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
