//! Power switching: none, shell commands from the board file, or the
//! simulated board's power socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::board::PowerWiring;
use crate::check::CheckError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    On,
    Off,
    Cycle,
}

impl PowerAction {
    fn word(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Cycle => "cycle",
        }
    }
}

/// Switches the board's power. A board without power control gives a
/// board fault (INCONCLUSIVE), so a check needing it never passes.
pub fn switch(
    wiring: Option<&PowerWiring>,
    base_dir: &Path,
    action: PowerAction,
) -> Result<(), CheckError> {
    match wiring {
        None | Some(PowerWiring::None) => Err(CheckError::Board(
            "the board file declares no power control (hardware.power)".into(),
        )),
        Some(PowerWiring::Sim(socket)) => sim_socket(&base_dir.join(socket), action),
        Some(PowerWiring::Command(commands)) => {
            let line = match action {
                PowerAction::On => commands.on.clone(),
                PowerAction::Off => commands.off.clone(),
                PowerAction::Cycle => match &commands.cycle {
                    Some(cycle) => cycle.clone(),
                    None => {
                        shell(&commands.off)?;
                        std::thread::sleep(Duration::from_millis(500));
                        return shell(&commands.on);
                    }
                },
            };
            shell(&line)
        }
    }
}

/// How long a power command (a relay tool, uhubctl, a PDU's CLI) may run
/// before it is killed: a hung switch must not hang the check.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

fn shell(line: &str) -> Result<(), CheckError> {
    shell_within(line, COMMAND_LIMIT)
}

fn shell_within(line: &str, limit: Duration) -> Result<(), CheckError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(|e| CheckError::Board(format!("power command {line:?} could not start: {e}")))?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= limit => {
                // SAFETY: kill(2) on the child's own process group id.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.wait();
                return Err(CheckError::Board(format!(
                    "power command {line:?} did not finish within {:.1} s and was killed",
                    limit.as_secs_f64()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(CheckError::Board(format!(
                    "power command {line:?}: cannot wait for it: {e}"
                )))
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(CheckError::Board(format!(
            "power command {line:?} failed: {status}"
        )))
    }
}

/// How long the power socket may take to confirm a switch.
const REPLY_WAIT: Duration = Duration::from_secs(10);

fn sim_socket(path: &Path, action: PowerAction) -> Result<(), CheckError> {
    let fault =
        |e: std::io::Error| CheckError::Board(format!("power socket {}: {e}", path.display()));
    let mut stream = UnixStream::connect(path).map_err(fault)?;
    stream.set_read_timeout(Some(REPLY_WAIT)).map_err(fault)?;
    stream
        .write_all(format!("{}\n", action.word()).as_bytes())
        .map_err(fault)?;
    let mut reply = String::new();
    BufReader::new(stream.take_bounded())
        .read_line(&mut reply)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                CheckError::Board(format!(
                    "no answer to `{}` from power socket {} within {:.1} s",
                    action.word(),
                    path.display(),
                    REPLY_WAIT.as_secs_f64()
                ))
            }
            _ => fault(e),
        })?;
    if reply.starts_with("ok") {
        Ok(())
    } else {
        Err(CheckError::Board(format!(
            "power socket {} answered {:?}",
            path.display(),
            reply.trim()
        )))
    }
}

/// Reading a reply line from a device-side socket is bounded.
trait TakeBounded {
    fn take_bounded(self) -> std::io::Take<UnixStream>;
}

impl TakeBounded for UnixStream {
    fn take_bounded(self) -> std::io::Take<UnixStream> {
        std::io::Read::take(self, 256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_power_command_is_killed_with_what_it_started() {
        let started = std::time::Instant::now();
        let err = shell_within("sleep 30 & sleep 30", Duration::from_millis(200))
            .expect_err("a hung command must fail");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(&err, CheckError::Board(why) if why.contains("was killed")),
            "{err}"
        );
    }

    #[test]
    fn a_failing_power_command_is_a_board_fault() {
        let err = shell("exit 3").expect_err("exit 3 fails");
        assert!(
            matches!(&err, CheckError::Board(why) if why.contains("failed")),
            "{err}"
        );
        assert!(shell("true").is_ok());
    }
}
