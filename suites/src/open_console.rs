//! The console as a path to settings, state and the event log: what a
//! person with a cable reaches without credentials. A console that asks
//! for a login first guards all of these behind it (AU-09 judges the
//! login itself); a console that gives its shell without one (declared so,
//! or doing so) is judged by what its declared dialogues do there.

use hilt_harness::board::{Board, ConsoleDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::{CheckError, Finding, Verdict};

use crate::console::STEP;

/// What one path (the console, the API) showed for a check.
pub struct PathResult {
    /// Why it fails the check, if it does.
    pub failure: Option<String>,
    pub observed: String,
}

impl PathResult {
    pub fn held(observed: impl Into<String>) -> Self {
        Self {
            failure: None,
            observed: observed.into(),
        }
    }

    pub fn failed(reason: impl Into<String>, observed: impl Into<String>) -> Self {
        Self {
            failure: Some(reason.into()),
            observed: observed.into(),
        }
    }

    /// The result of a check that judged one path with a finding.
    pub fn from_finding(finding: Finding) -> Self {
        match finding.verdict {
            Verdict::Fail => Self::failed(finding.reason, finding.observed),
            _ => Self::held(finding.observed),
        }
    }
}

/// One finding over every path judged: FAIL when any path failed.
pub fn combine(results: Vec<PathResult>, held: &str) -> Finding {
    let observed = results
        .iter()
        .map(|r| r.observed.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let failures: Vec<&str> = results
        .iter()
        .filter_map(|r| r.failure.as_deref())
        .collect();
    if failures.is_empty() {
        Finding::pass(held, observed)
    } else {
        Finding::fail(failures.join("; "), observed)
    }
}

/// Whether the board has a console the checks can reach.
pub fn has_console(board: &Board) -> bool {
    board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some()
}

/// The shell a person at the console reaches without credentials, if any:
/// the console is woken (a session left open is ended once), and only a
/// shell shown again without a login counts.
pub fn unauthenticated_shell(ctx: &mut CheckContext) -> Result<Option<ConsoleDecl>, CheckError> {
    let decl = ctx.console_decl()?;
    let console = ctx.console()?;
    if dialogue::wake(console, &decl, STEP)? == dialogue::AT_SHELL {
        Ok(Some(decl))
    } else {
        Ok(None)
    }
}

/// What the console path says when it asks for a login first.
pub fn login_first() -> PathResult {
    PathResult::held("console: asks for a login before any command (AU-09 judges the login)")
}

/// Whether a dialogue's output is a refusal rather than the data asked for.
pub fn refused(output: &str) -> bool {
    let refusal = regex::Regex::new(
        r"(?i)denied|not permitted|permission|unauthori[sz]ed|authentication required|login required|not logged in",
    );
    output.trim().is_empty() || refusal.is_ok_and(|r| r.is_match(output))
}

/// Event lines of a log dialogue's output (non-empty lines).
pub fn log_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
