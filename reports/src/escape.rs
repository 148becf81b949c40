//! The one escaping for text that reaches a terminal or an XML report.
//!
//! Reasons and observations quote what a device said, and a device may
//! say anything: ANSI sequences that move the cursor or recolour the
//! terminal, a carriage return that overwrites the verdict, a newline
//! that fakes a `test ... ok` line, C1 controls (U+0085 is a newline to
//! some readers, U+009B a CSI to some terminals), and characters XML 1.0
//! cannot carry at all. Every one of them is shown as an escape instead.

use std::borrow::Cow;
use std::fmt::Write as _;

/// C0 controls (tab, newline and carriage return included), DEL and the
/// C1 controls U+0080..U+009F, plus the non-characters U+FFFE and U+FFFF,
/// written as `\n`, `\r`, `\t`, `\xNN` (below U+0080) or `\u{NN}`. A
/// backslash stays a backslash: this makes text safe to show, not
/// reversible.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    let n = c as u32;
    n < 0x20 || (0x7f..=0x9f).contains(&n) || n == 0xfffe || n == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_del_and_c1_are_escaped() {
        assert_eq!(
            escape_controls("a\u{1b}[31mb\x7f\u{85}\u{9b}2J\r\ntest x ... ok\t\u{7}"),
            "a\\x1b[31mb\\x7f\\u{85}\\u{9b}2J\\r\\ntest x ... ok\\t\\x07"
        );
    }

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        let text = "déjà vu \\ <tag> \u{a0}\u{fffd}";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }
}
