//! The faults, injected from outside as a lab's would be: a power cut
//! (SIGKILL of the board's process), a hang (SIGSTOP) and a pulled cable
//! (the host side of the board's link set down). Nothing inside hilt knows.

use std::process::Command;

use super::sim::SimBoard;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Killed,
    Frozen,
    CutOff,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Killed => "killed",
            Fault::Frozen => "frozen",
            Fault::CutOff => "cut off",
        }
    }

    pub fn inject(self, board: &SimBoard) {
        match self {
            Fault::Killed => signal(board, libc::SIGKILL),
            Fault::Frozen => signal(board, libc::SIGSTOP),
            Fault::CutOff => set_link(board, "down"),
        }
    }

    /// Undoes what can be undone without the run's help: a frozen board
    /// runs on, a cable goes back in. A killed board is started again by
    /// the caller (`hilt-sim up` without `--fresh` keeps its flash).
    pub fn heal(self, board: &SimBoard) {
        match self {
            Fault::Killed => {}
            Fault::Frozen => signal(board, libc::SIGCONT),
            Fault::CutOff => {
                set_link(board, "up");
                no_route_out(board, "del");
            }
        }
    }
}

/// While the link is down, the board's subnet must not fall through to
/// the default route: nothing of a test may leave this host. A lab's
/// host would be set up the same way; that hilt binds every socket to the
/// board's link anyway is shown by a test of its own.
pub fn no_route_out(board: &SimBoard, action: &str) {
    let subnet = board.subnet();
    let _ = Command::new("ip")
        .args(["route", action, "unreachable", &subnet, "metric", "4000"])
        .output();
}

fn signal(board: &SimBoard, signal: i32) {
    let Some(pid) = board.pid() else {
        panic!("{}: no pid file", board.name);
    };
    // SAFETY: kill(2) on the pid hilt-sim recorded for this board.
    let rc = unsafe { libc::kill(pid, signal) };
    assert!(
        rc == 0 || signal == libc::SIGCONT,
        "{}: kill({pid}, {signal}) failed",
        board.name
    );
}

fn set_link(board: &SimBoard, state: &str) {
    let link = board.host_link();
    if state == "down" {
        // Never leave the safety route without the link it stands in for.
        no_route_out(board, "add");
    }
    // Only ever a simulated board's own veth (never lo or the host's uplink).
    assert!(
        link.starts_with("hsim"),
        "{}: link {link:?} is not a simulated board's veth",
        board.name
    );
    let status = Command::new("ip")
        .args(["link", "set", "dev", &link, state])
        .status()
        .expect("ip runs");
    assert!(status.success(), "ip link set {link} {state} failed");
}
