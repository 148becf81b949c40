//! One direction of a flow, reassembled in sequence order, with the frame
//! that carried each byte. Bounded: at most `cap` bytes are kept, and at
//! most [`MAX_PENDING`] out-of-order segments wait for a gap to fill.

/// Out-of-order segments held per direction.
const MAX_PENDING: usize = 32;
/// Bytes held in out-of-order segments per direction.
const MAX_PENDING_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// Reassembled bytes (the first `cap` of the direction).
    pub data: Vec<u8>,
    /// `(offset in data, frame)`: bytes from `offset` on came in `frame`.
    spans: Vec<(usize, u64)>,
    cap: usize,
    /// Next expected TCP sequence number.
    next_seq: Option<u32>,
    pending: Vec<(u32, u64, Vec<u8>)>,
    pending_bytes: usize,
    /// Bytes were lost: the cap was reached or the budget ran out.
    pub truncated: bool,
    /// Holes skipped because the missing segments never came.
    pub gaps: u32,
    /// Payload bytes seen in this direction (kept or not).
    pub seen: u64,
}

impl Stream {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// Frame that carried byte `offset`.
    pub fn frame_at(&self, offset: usize) -> Option<u64> {
        let idx = self.spans.partition_point(|(start, _)| *start <= offset);
        idx.checked_sub(1).map(|i| self.spans[i].1)
    }

    /// The bytes each frame added, in order (for UDP: one datagram each,
    /// as far as it was kept).
    pub fn chunks(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.spans.iter().enumerate().map(|(i, &(start, frame))| {
            let end = self.spans.get(i + 1).map_or(self.data.len(), |s| s.0);
            (frame, &self.data[start..end])
        })
    }

    /// Frames that carried bytes `start..end`, in order, without repeats.
    pub fn frames_in(&self, start: usize, end: usize, max: usize) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        if start >= end {
            return out;
        }
        let first = self.spans.partition_point(|(s, _)| *s <= start);
        let first = first.saturating_sub(1);
        for &(s, frame) in self.spans.iter().skip(first) {
            if s >= end || out.len() >= max {
                break;
            }
            if out.last() != Some(&frame) {
                out.push(frame);
            }
        }
        out
    }

    /// A datagram (UDP): appended whole.
    pub fn push_datagram(&mut self, frame: u64, payload: &[u8], budget: &mut usize) {
        self.seen += payload.len() as u64;
        self.append(frame, payload, budget);
    }

    /// A TCP SYN: the sequence number of the first data byte follows it.
    pub fn syn(&mut self, seq: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// A TCP segment's payload at `seq`.
    pub fn push_segment(&mut self, frame: u64, seq: u32, payload: &[u8], budget: &mut usize) {
        if payload.is_empty() {
            return;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            self.hold(frame, seq, payload, budget);
            return;
        }
        // At or behind the expected byte: keep only what is new.
        let skip = ahead.unsigned_abs() as usize;
        if skip >= payload.len() {
            return;
        }
        self.accept(frame, &payload[skip..], budget);
        self.release(budget);
    }

    fn accept(&mut self, frame: u64, bytes: &[u8], budget: &mut usize) {
        self.seen += bytes.len() as u64;
        if let Some(next) = self.next_seq.as_mut() {
            *next = next.wrapping_add(bytes.len() as u32);
        }
        self.append(frame, bytes, budget);
    }

    fn append(&mut self, frame: u64, bytes: &[u8], budget: &mut usize) {
        let room = self.cap.saturating_sub(self.data.len());
        let take = bytes.len().min(room).min(budget.saturating_sub(16));
        if take < bytes.len() {
            self.truncated = true;
        }
        if take == 0 {
            return;
        }
        if self.spans.last().map(|s| s.1) != Some(frame) {
            self.spans.push((self.data.len(), frame));
        }
        self.data.extend_from_slice(&bytes[..take]);
        *budget = budget.saturating_sub(take + 16);
    }

    fn hold(&mut self, frame: u64, seq: u32, payload: &[u8], budget: &mut usize) {
        if self.pending.len() >= MAX_PENDING
            || self.pending_bytes + payload.len() > MAX_PENDING_BYTES
            || *budget < payload.len()
        {
            // The hole is not going to be filled within bounds: skip it.
            self.skip_gap(budget);
            if self
                .next_seq
                .is_some_and(|n| seq.wrapping_sub(n) as i32 <= 0)
            {
                self.push_segment(frame, seq, payload, budget);
                return;
            }
            if self.pending.len() >= MAX_PENDING {
                self.truncated = true;
                return;
            }
        }
        self.pending_bytes += payload.len();
        *budget = budget.saturating_sub(payload.len());
        self.pending.push((seq, frame, payload.to_vec()));
    }

    /// Moves held segments that are now in order into the stream.
    fn release(&mut self, budget: &mut usize) {
        loop {
            let Some(next) = self.next_seq else { return };
            let Some(idx) = self
                .pending
                .iter()
                .position(|(seq, _, _)| seq.wrapping_sub(next) as i32 <= 0)
            else {
                return;
            };
            let (seq, frame, bytes) = self.pending.swap_remove(idx);
            self.pending_bytes -= bytes.len();
            *budget += bytes.len();
            let skip = next.wrapping_sub(seq) as usize;
            if skip < bytes.len() {
                self.accept(frame, &bytes[skip..], budget);
            }
        }
    }

    /// Jumps over the hole before the earliest held segment.
    fn skip_gap(&mut self, budget: &mut usize) {
        let Some(next) = self.next_seq else { return };
        let Some(earliest) = self
            .pending
            .iter()
            .map(|(seq, _, _)| *seq)
            .min_by_key(|seq| seq.wrapping_sub(next))
        else {
            return;
        };
        self.gaps += 1;
        self.next_seq = Some(earliest);
        self.release(budget);
    }

    /// End of capture: whatever is still held goes in, holes skipped.
    pub fn finish(&mut self, budget: &mut usize) {
        while !self.pending.is_empty() {
            let before = self.pending.len();
            self.skip_gap(budget);
            if self.pending.len() == before {
                // Cannot happen (the earliest is always released); stay bounded.
                self.pending.clear();
                self.pending_bytes = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut budget = 1 << 20;
        let mut s = Stream::new(1024);
        s.syn(999);
        s.push_segment(2, 1000, b"hello ", &mut budget);
        s.push_segment(4, 1011, b"!", &mut budget);
        s.push_segment(3, 1006, b"world", &mut budget);
        s.push_segment(5, 1000, b"hello world", &mut budget);
        s.finish(&mut budget);
        assert_eq!(s.data, b"hello world!");
        assert_eq!(s.frame_at(0), Some(2));
        assert_eq!(s.frame_at(6), Some(3));
        assert_eq!(s.frame_at(11), Some(4));
        assert_eq!(s.frames_in(4, 8, 10), vec![2, 3]);
        assert_eq!(s.gaps, 0);
    }

    #[test]
    fn holes_are_skipped_and_caps_hold() {
        let mut budget = 1 << 20;
        let mut s = Stream::new(8);
        s.push_segment(1, u32::MAX - 1, b"ab", &mut budget);
        s.push_segment(3, 10, b"zz", &mut budget);
        s.finish(&mut budget);
        assert_eq!(s.data, b"abzz");
        assert_eq!(s.gaps, 1);
        s.push_segment(4, 12, b"0123456789", &mut budget);
        assert_eq!(s.data.len(), 8);
        assert!(s.truncated);
    }
}
