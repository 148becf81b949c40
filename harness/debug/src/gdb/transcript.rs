//! A bounded, timestamped record of the packets exchanged with a debug
//! port, kept as evidence.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

/// Direction of one transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Bytes we sent.
    Sent,
    /// Bytes the peer sent.
    Received,
    /// A note from the client (a retransmission, a timeout, a mode change).
    Note,
}

/// One entry: when, which way, and the bytes (cut at the per-entry limit).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Time since the transcript started.
    pub at: Duration,
    pub direction: Direction,
    pub bytes: Vec<u8>,
    /// How many bytes were cut from the end of this entry.
    pub cut: usize,
}

/// Per-entry byte limit: a 64 KiB memory dump is kept whole, a hostile
/// multi-megabyte packet is not.
const ENTRY_LIMIT: usize = 64 * 1024;

/// A transcript that keeps at most `limit` bytes, dropping the oldest
/// entries first (and counting what it dropped).
#[derive(Debug, Clone)]
pub struct Transcript {
    started: Instant,
    started_wall: SystemTime,
    entries: VecDeque<Entry>,
    bytes: usize,
    limit: usize,
    dropped_entries: u64,
}

impl Transcript {
    /// A transcript holding at most `limit` bytes of entries.
    pub fn new(limit: usize) -> Self {
        Self {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            entries: VecDeque::new(),
            bytes: 0,
            limit,
            dropped_entries: 0,
        }
    }

    /// Wall-clock time the transcript started.
    pub fn started(&self) -> SystemTime {
        self.started_wall
    }

    /// Entries still held, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Entries dropped to stay within the limit.
    pub fn dropped_entries(&self) -> u64 {
        self.dropped_entries
    }

    pub(crate) fn sent(&mut self, bytes: &[u8]) {
        self.push(Direction::Sent, bytes);
    }

    pub(crate) fn received(&mut self, bytes: &[u8]) {
        self.push(Direction::Received, bytes);
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.push(Direction::Note, text.as_bytes());
    }

    fn push(&mut self, direction: Direction, bytes: &[u8]) {
        let keep = bytes.len().min(ENTRY_LIMIT).min(self.limit);
        let entry = Entry {
            at: self.started.elapsed(),
            direction,
            bytes: bytes[..keep].to_vec(),
            cut: bytes.len() - keep,
        };
        self.bytes += keep;
        self.entries.push_back(entry);
        while self.bytes > self.limit {
            match self.entries.pop_front() {
                Some(old) => {
                    self.bytes -= old.bytes.len();
                    self.dropped_entries += 1;
                }
                None => break,
            }
        }
    }

    /// Renders the transcript as text, one entry a line:
    /// `+12.345678 > $m0,4#fd` (`>` sent, `<` received, `#` note). Bytes
    /// outside printable ASCII are shown as `\xNN`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let since_epoch = self
            .started_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "# gdb remote transcript, started at unix time {}.{:06}",
            since_epoch.as_secs(),
            since_epoch.subsec_micros()
        );
        if self.dropped_entries > 0 {
            let _ = writeln!(
                out,
                "# {} older entries dropped (limit {} bytes)",
                self.dropped_entries, self.limit
            );
        }
        for e in &self.entries {
            let arrow = match e.direction {
                Direction::Sent => '>',
                Direction::Received => '<',
                Direction::Note => '#',
            };
            let _ = write!(
                out,
                "+{}.{:06} {arrow} ",
                e.at.as_secs(),
                e.at.subsec_micros()
            );
            for &b in &e.bytes {
                if (0x20..0x7f).contains(&b) && b != b'\\' {
                    out.push(char::from(b));
                } else {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            if e.cut > 0 {
                let _ = write!(out, " ...({} bytes cut)", e.cut);
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_rendered() {
        let mut t = Transcript::new(10);
        t.sent(b"$g#67");
        t.received(b"+");
        t.received(b"$0123#ca");
        assert!(t.entries().map(|e| e.bytes.len()).sum::<usize>() <= 10);
        assert!(t.dropped_entries() >= 1);
        let text = t.render();
        assert!(text.contains("< $0123#ca"), "{text}");
        let mut big = Transcript::new(1 << 20);
        big.received(&vec![b'a'; ENTRY_LIMIT + 5]);
        assert_eq!(big.entries().next().map(|e| e.cut), Some(5));
        big.note("bytes \x03 and \\");
        assert!(big.render().contains("# bytes \\x03 and \\x5c"));
    }
}
