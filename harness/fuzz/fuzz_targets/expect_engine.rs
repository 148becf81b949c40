//! The console's expect engine on hostile device output: the input is cut
//! into chunks (as reads from a serial port arrive) and fed to pattern
//! matching, the login dialogue and command parsing. Nothing may panic,
//! and the engine must stay within its bounds.
#![no_main]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;

use hilt_harness::board::{ConsoleDecl, LineEnding, Secret};
use hilt_harness::driver::console as dialogue;
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::Console;
use libfuzzer_sys::fuzz_target;

/// Replays the fuzzer's bytes as device output, then hangs up (so each
/// input ends as soon as it is consumed, not at a timeout).
struct Replay(VecDeque<Vec<u8>>);

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.pop_front() {
            Some(chunk) => {
                let n = chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                Ok(n)
            }
            None => Ok(0),
        }
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks chunk sizes; the rest is device output.
    let Some((&shape, output)) = data.split_first() else { return };
    let size = usize::from(shape % 64) + 1;
    let chunks: VecDeque<Vec<u8>> = output.chunks(size).map(<[u8]>::to_vec).collect();
    let stop = StopSignal::after(Duration::from_millis(20));
    let mut console = Console::from_stream(Replay(chunks.clone()), LineEnding::Cr, stop.clone());
    let _ = console.expect_any(&["login: ", "Password: ", r"sim> |\$ "], Duration::from_millis(5));
    let _ = console.command("id", "sim> ", Duration::from_millis(5));
    let _ = console.transcript();
    let _ = console.expect_any_or_quiet(&["login: "], Duration::from_millis(5), Duration::from_millis(2));

    let decl = ConsoleDecl {
        login: Some("login: ".into()),
        password: Some("Password: ".into()),
        prompt: "sim> ".into(),
        account: None,
        logout: "logout".into(),
        settle_ms: 5,
        failure: Some("Login incorrect".into()),
        wake: Default::default(),
        autoboot: None,
        change_password: None,
        reboot: None,
    };
    let mut console = Console::from_stream(Replay(chunks), LineEnding::Cr, stop);
    let _ = dialogue::login(&mut console, &decl, "admin", &Secret::from_guess("x"), Duration::from_millis(5));
});
