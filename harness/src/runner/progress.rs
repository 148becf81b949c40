//! Live progress per board on a terminal: one bar per board, and a line
//! per finished trial printed above the bars (so they never garble each
//! other). When output is not a terminal, nothing is drawn and the runner
//! leaves the plain cargo-test lines to libtest-mimic.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bars: Vec<ProgressBar>,
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Live only when both stdout and stderr are a terminal: a CI log or a
    /// pipe gets plain lines.
    pub fn new(boards: &[(String, usize)], wanted: bool) -> Self {
        let terminal = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        if !wanted || !terminal {
            return Self {
                bars: boards.iter().map(|_| ProgressBar::hidden()).collect(),
                multi: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:20}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars = boards
            .iter()
            .map(|(name, total)| {
                let bar = multi.add(ProgressBar::new(*total as u64));
                bar.set_style(style.clone());
                bar.set_prefix(name.clone());
                bar
            })
            .collect();
        Self {
            bars,
            multi: Some(multi),
        }
    }

    pub fn is_live(&self) -> bool {
        self.multi.is_some()
    }

    /// A finished trial, as a line above the bars.
    pub fn trial_line(&self, name: &str, verdict: &str, reason: &str) {
        if let Some(multi) = &self.multi {
            // Device text in a reason could move the cursor, recolour the
            // terminal or fake a line of its own: every control escaped.
            let name = hilt_reports::escape_controls(name);
            let line = if verdict == "PASS" {
                format!("test {name} ... ok")
            } else {
                let reason = hilt_reports::escape_controls(reason);
                format!("test {name} ... {verdict}: {reason}")
            };
            let _ = multi.println(line);
        }
    }

    pub fn start(&self, board: usize, check: &str) {
        if let Some(bar) = self.bars.get(board) {
            bar.set_message(check.to_string());
        }
    }

    pub fn done(&self, board: usize, verdict: &str) {
        if let Some(bar) = self.bars.get(board) {
            bar.inc(1);
            bar.set_message(format!("last: {verdict}"));
        }
    }

    pub fn finish(&self, board: usize) {
        if let Some(bar) = self.bars.get(board) {
            bar.finish_and_clear();
        }
    }
}
