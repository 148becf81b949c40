//! Secrets scrubbed from raw bytes, before anything escapes or renders
//! them.
//!
//! A device may echo a secret back in many forms: as typed, one character
//! per line (a console echoing each keystroke with CR/LF or
//! backspace-space-backspace between), URL-encoded, JSON- or C-escaped,
//! as HTML character references, as hex, as base64 (at any of three byte
//! alignments). A scrub that runs after the transcript escaped the bytes,
//! or searches only the plain form, lets these through; `Scrubber` finds
//! every form in the raw bytes and reports the byte ranges to hide.
//!
//! Every declared secret is masked, however short or common it is (a
//! password `admin` masks the user name `admin` too): the scrubber cannot
//! tell a secret from a word. The one exception is a finding's own text
//! naming an entry of hilt's public default-credential dictionary (see
//! `Finding::naming_public_credential`): that phrase is composed by the
//! check from the dictionary, which ships in hilt's source, so printing it
//! reveals nothing but the finding itself.
//!
//! Cost: one pass per decoded view and one substring search per form and
//! secret, over windows of at most a few MB, so transcripts of many MB
//! scrub in linear time and bounded memory.

mod encodings;
mod views;

use std::ops::Range;

use memchr::memmem;

use crate::board::Secret;

/// What replaces a secret in text.
pub const REDACTED: &str = "<redacted>";

/// Echo-form matches need at least this many characters: shorter ones
/// would hide ordinary words spread over lines.
const MIN_ECHO_SKELETON: usize = 3;
/// Smallest window scanned at once.
const MIN_WINDOW: usize = 1 << 20;

/// One secret, with its fixed encodings worked out once.
#[derive(Clone)]
struct Prepared {
    plain: Vec<u8>,
    /// Hex (both cases) and base64 cores: searched in the raw bytes.
    encoded: Vec<Vec<u8>>,
    /// The plain form without echo separators: searched in the echo view.
    skeleton: Vec<u8>,
}

/// Finds every form of a set of secrets in bytes or text.
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Vec<Prepared>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} secrets)", self.secrets.len())
    }
}

impl Scrubber {
    pub fn new(secrets: &[Secret]) -> Self {
        let mut scrubber = Self::default();
        for secret in secrets {
            scrubber.add(secret);
        }
        scrubber
    }

    /// Adds a secret (e.g. a password generated during the trial).
    pub fn add(&mut self, secret: &Secret) {
        let plain = secret.expose().as_bytes().to_vec();
        if plain.is_empty() || self.secrets.iter().any(|s| s.plain == plain) {
            return;
        }
        let mut encoded = Vec::new();
        if plain.len() >= 2 {
            encoded.extend(encodings::hex_forms(&plain));
        }
        encoded.extend(encodings::base64_cores(&plain));
        let skeleton = views::echo_skeleton(&plain);
        self.secrets.push(Prepared {
            plain,
            encoded,
            skeleton,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The sorted, merged byte ranges of `data` that show a secret.
    pub fn ranges(&self, data: &[u8]) -> Vec<Range<usize>> {
        if self.secrets.is_empty() || data.is_empty() {
            return Vec::new();
        }
        // The longest any form of a secret can be: 12 bytes per byte for
        // `\u{10ffff}`-style escapes, or an echo with gaps.
        let per_byte = 12.max(views::MAX_ECHO_GAP + 1);
        let span = self
            .secrets
            .iter()
            .map(|s| s.plain.len())
            .max()
            .unwrap_or(0)
            * per_byte;
        let window = MIN_WINDOW.max(span * 4);
        let mut found = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + window + span).min(data.len());
            for r in self.ranges_in(&data[start..end]) {
                found.push(r.start + start..r.end + start);
            }
            if end == data.len() {
                break;
            }
            start += window;
        }
        merge(found)
    }

    fn ranges_in(&self, data: &[u8]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        for s in &self.secrets {
            for needle in std::iter::once(&s.plain).chain(&s.encoded) {
                found.extend(memmem::find_iter(data, needle).map(|at| at..at + needle.len()));
            }
        }
        let decoded = [views::url(data), views::backslash(data), views::html(data)];
        for view in decoded.iter().flatten() {
            for s in &self.secrets {
                found.extend(find_in_view(view, &s.plain, usize::MAX));
            }
        }
        let echo = views::echo(data);
        for s in &self.secrets {
            if s.skeleton.len() >= MIN_ECHO_SKELETON {
                found.extend(find_in_view(&echo, &s.skeleton, views::MAX_ECHO_GAP));
            }
        }
        found
    }

    /// Overwrites every secret with `*` of the same length, keeping offsets
    /// (and so the framing of binary evidence such as pcap) intact.
    pub fn mask_bytes(&self, data: &mut [u8]) {
        for r in self.ranges(data) {
            data[r].fill(b'*');
        }
    }

    /// Replaces every secret in `text` with `<redacted>`.
    pub fn scrub_text(&self, text: &str) -> String {
        self.scrub_text_except(text, &[])
    }

    /// Like `scrub_text`, but leaves whole occurrences of `public` phrases
    /// (dictionary credentials a finding names) as they are.
    pub fn scrub_text_except(&self, text: &str, public: &[String]) -> String {
        let mut ranges = self.ranges(text.as_bytes());
        if ranges.is_empty() {
            return text.to_string();
        }
        let allowed: Vec<Range<usize>> = public
            .iter()
            .filter(|p| !p.is_empty())
            .flat_map(|p| {
                memmem::find_iter(text.as_bytes(), p.as_bytes())
                    .map(|at| at..at + p.len())
                    .collect::<Vec<_>>()
            })
            .collect();
        ranges.retain(|r| !allowed.iter().any(|a| a.start <= r.start && r.end <= a.end));
        replace_ranges(text, &ranges)
    }
}

/// Matches of `needle` in a view, mapped back to the window's offsets;
/// with `max_gap`, consecutive matched bytes may lie at most that far
/// apart in the original.
fn find_in_view(view: &views::View, needle: &[u8], max_gap: usize) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    if needle.is_empty() {
        return found;
    }
    let finder = memmem::Finder::new(needle);
    let mut pos = 0;
    while let Some(i) = finder.find(&view.bytes[pos..]) {
        let first = pos + i;
        let last = first + needle.len() - 1;
        let close = (first..last).all(|k| {
            (view.starts[k + 1] as usize).saturating_sub(view.ends[k] as usize) <= max_gap
        });
        if close {
            found.push(view.starts[first] as usize..view.ends[last] as usize);
            pos = last + 1;
        } else {
            pos = first + 1;
        }
    }
    found
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// `text` with each range (widened to whole characters) replaced by
/// `<redacted>`.
fn replace_ranges(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in ranges {
        let mut start = r.start.max(at);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = r.end.min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if start < at {
            start = at;
        }
        out.push_str(&text[at..start]);
        if end > start {
            out.push_str(REDACTED);
        }
        at = at.max(end);
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
