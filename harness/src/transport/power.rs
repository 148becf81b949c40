//! Power switching: none, shell commands from the board file, the
//! simulated board's power socket, QEMU, or a labgrid place's power port.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::board::PowerWiring;

/// Why the board's power could not be switched. Each is a fault of the
/// board's wiring (INCONCLUSIVE at the check layer), never of the device.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    #[error("the board file declares no power control (hardware.power)")]
    NotWired,
    #[error("power command {line:?} could not start: {source}")]
    Start {
        line: String,
        source: std::io::Error,
    },
    #[error("power command {line:?} did not finish within {:.1} s and was killed", .limit.as_secs_f64())]
    Killed { line: String, limit: Duration },
    #[error("power command {line:?}: cannot wait for it: {source}")]
    Wait {
        line: String,
        source: std::io::Error,
    },
    #[error("power command {line:?} failed: {status}")]
    Failed {
        line: String,
        status: std::process::ExitStatus,
    },
    #[error("power socket {}: {source}", .path.display())]
    Socket {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("no answer to `{action}` from power socket {} within {:.1} s", .path.display(), .waited.as_secs_f64())]
    NoAnswer {
        action: &'static str,
        path: std::path::PathBuf,
        waited: Duration,
    },
    #[error("QEMU power: {0}")]
    Qemu(String),
    #[error("labgrid power: {0}")]
    Labgrid(String),
    #[error("power socket {} answered {reply:?}", .path.display())]
    Refused {
        path: std::path::PathBuf,
        reply: String,
    },
}

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
) -> Result<(), PowerError> {
    match wiring {
        None | Some(PowerWiring::None) => Err(PowerError::NotWired),
        Some(PowerWiring::Sim(socket)) => sim_socket(&base_dir.join(socket), action),
        Some(PowerWiring::Qemu(board)) => super::qemu::power(board, action),
        Some(PowerWiring::Labgrid(port)) => super::labgrid::power(port, action),
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

fn shell(line: &str) -> Result<(), PowerError> {
    shell_within(line, COMMAND_LIMIT)
}

fn shell_within(line: &str, limit: Duration) -> Result<(), PowerError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(|source| PowerError::Start {
            line: line.to_string(),
            source,
        })?;
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
                return Err(PowerError::Killed {
                    line: line.to_string(),
                    limit,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                return Err(PowerError::Wait {
                    line: line.to_string(),
                    source,
                })
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(PowerError::Failed {
            line: line.to_string(),
            status,
        })
    }
}

/// How long the power socket may take to confirm a switch.
const REPLY_WAIT: Duration = Duration::from_secs(10);

fn sim_socket(path: &Path, action: PowerAction) -> Result<(), PowerError> {
    let fault = |source: std::io::Error| PowerError::Socket {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(fault)?;
    stream.set_read_timeout(Some(REPLY_WAIT)).map_err(fault)?;
    stream
        .write_all(format!("{}\n", action.word()).as_bytes())
        .map_err(fault)?;
    let mut reply = String::new();
    BufReader::new(stream.take_bounded())
        .read_line(&mut reply)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => PowerError::NoAnswer {
                action: action.word(),
                path: path.to_path_buf(),
                waited: REPLY_WAIT,
            },
            _ => fault(e),
        })?;
    if reply.starts_with("ok") {
        Ok(())
    } else {
        Err(PowerError::Refused {
            path: path.to_path_buf(),
            reply: reply.trim().to_string(),
        })
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
            matches!(&err, PowerError::Killed { .. }) && err.to_string().contains("was killed"),
            "{err}"
        );
    }

    #[test]
    fn a_failing_power_command_is_a_board_fault() {
        let err = shell("exit 3").expect_err("exit 3 fails");
        assert!(
            matches!(&err, PowerError::Failed { .. }) && err.to_string().contains("failed"),
            "{err}"
        );
        assert!(shell("true").is_ok());
    }
}
