//! Live progress per board on a terminal (stderr); nothing when stderr is
//! not a terminal, where libtest-mimic's plain lines on stdout suffice.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bars: Vec<ProgressBar>,
    _multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(boards: &[(String, usize)]) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bars: boards.iter().map(|_| ProgressBar::hidden()).collect(),
                _multi: None,
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
            _multi: Some(multi),
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
