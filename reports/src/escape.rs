//! The one escaping for text that reaches a terminal, an XML report or
//! the HTML report.
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

/// Text for HTML, as element content or a quoted attribute value: the
/// controls shown as [`escape_controls`] shows them (newlines kept, for
/// blocks that preserve them), the bidirectional overrides and isolates
/// (U+202A..U+202E, U+2066..U+2069, which can make text read in another
/// order than it is stored) shown as `\u{NN}` too, and `&`, `<`, `>`, `"`,
/// `'` written as character references, so nothing a device sent becomes
/// markup.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    escape_html_into(&mut out, text);
    out
}

/// [`escape_html`], appended to `out`.
pub fn escape_html_into(out: &mut String, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for c in escape_controls(line).chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c if is_bidi_control(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x202a..=0x202e | 0x2066..=0x2069)
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
    fn html_markup_quotes_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"q\"\u{1b}[2J\r\nnext \u{202e}txt"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\\x1b[2J\\r\nnext \\u{202e}txt"
        );
        assert_eq!(escape_html("déjà vu"), "déjà vu");
    }

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        let text = "déjà vu \\ <tag> \u{a0}\u{fffd}";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }
}
