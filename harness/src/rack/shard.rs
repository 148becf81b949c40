//! `--shard K/N`: one of N CI jobs takes its share of a run. With at
//! least N boards the boards are split (by name, every N-th from the
//! K-th), so each board stays whole in one job; with fewer boards than
//! jobs the suite's checks are split the same way, on every board. The
//! jobs' records are put together by `hilt report merge`.

use std::str::FromStr;

use crate::board::Board;
use crate::suite::Suite;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("--shard: expected K/N with 1 <= K <= N (e.g. 2/4), got {text:?}");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// What a shard split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBy {
    Boards,
    Checks,
}

impl Shard {
    fn mine(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// Keeps this shard's boards, or this shard's checks of `suite`.
    /// Rack-wide checks stay in every shard (the merge judges them again
    /// on all boards).
    pub fn apply(
        &self,
        boards: &mut Vec<Board>,
        suite: &mut Suite,
        is_rack_check: impl Fn(&str) -> bool,
    ) -> SplitBy {
        if boards.len() >= self.count {
            boards.sort_by(|a, b| a.name().cmp(b.name()));
            let mut position = 0;
            boards.retain(|_| {
                position += 1;
                self.mine(position - 1)
            });
            SplitBy::Boards
        } else {
            let mut position = 0;
            suite.spec.checks.retain(|entry| {
                if is_rack_check(&entry.check) {
                    return true;
                }
                position += 1;
                self.mine(position - 1)
            });
            SplitBy::Checks
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/2", "3/2", "1/0", "x/2", "2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_position_belongs_to_exactly_one_shard() {
        for count in 1..6 {
            for position in 0..17 {
                let owners = (1..=count)
                    .filter(|&index| Shard { index, count }.mine(position))
                    .count();
                assert_eq!(owners, 1, "{position} of {count}");
            }
        }
    }
}
