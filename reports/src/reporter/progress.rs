//! Live progress per board on a terminal: one bar per board, and a line
//! per finished trial printed above the bars (so they never garble each
//! other). Only where both stdout and stderr are a terminal
//! ([`TerminalProgress::available`]); a CI log or a pipe gets the plain
//! lines of [`super::LibtestLines`] instead.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, ReporterError};
use crate::escape::escape_controls;
use crate::events::RunEvent;
use crate::record::{RunRecord, Verdict};

pub struct TerminalProgress {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl TerminalProgress {
    /// Whether live bars can be drawn here.
    pub fn available() -> bool {
        std::io::stderr().is_terminal() && std::io::stdout().is_terminal()
    }

    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
        }
    }

    fn bar(&self, board: &str) -> Option<&ProgressBar> {
        self.bars.get(board)
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for TerminalProgress {
    fn report(&mut self, event: &RunEvent, _record: &RunRecord) -> Result<(), ReporterError> {
        match event {
            RunEvent::RunStarted { plan, .. } => {
                let style =
                    ProgressStyle::with_template("{prefix:>12} [{bar:20}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                for board in &plan.boards {
                    let bar = self
                        .multi
                        .add(ProgressBar::new(plan.trials_on(board) as u64));
                    bar.set_style(style.clone());
                    bar.set_prefix(board.clone());
                    self.bars.insert(board.clone(), bar);
                }
            }
            RunEvent::TrialStarted {
                board: Some(board),
                check,
                ..
            } => {
                if let Some(bar) = self.bar(board) {
                    bar.set_message(check.clone());
                }
            }
            RunEvent::BoardQuarantined { board, reason } => {
                if let Some(bar) = self.bar(board) {
                    bar.set_message(format!("unavailable: {}", escape_controls(reason)));
                }
            }
            RunEvent::TrialFinished { trial, .. } => {
                if let Some(bar) = self.bar(&trial.board) {
                    bar.inc(1);
                    bar.set_message(format!("last: {}", trial.verdict));
                }
                // Device text in a reason could move the cursor, recolour
                // the terminal or fake a line of its own: every control escaped.
                let name = escape_controls(&trial.name);
                let line = if trial.verdict == Verdict::Pass {
                    format!("test {name} ... ok")
                } else {
                    let reason = escape_controls(&trial.reason);
                    format!("test {name} ... {}: {reason}", trial.verdict)
                };
                let _ = self.multi.println(line);
            }
            RunEvent::BoardFinished { board } => {
                if let Some(bar) = self.bar(board) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        Ok(())
    }
}
