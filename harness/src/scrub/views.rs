//! Decoded views of device bytes, each with a map back to the original
//! offsets: a secret is searched in its plain form inside every view, so
//! one search covers every encoder's variant of an escaping (which bytes
//! it percent-encodes, `\u0022` or `\"`, `&#34;` or `&quot;`).
//!
//! Each view costs one pass over the data and five bytes per byte of it
//! (a window of the data, see `Scrubber::ranges`).

/// A decoded form of a window of data.
pub(super) struct View {
    pub bytes: Vec<u8>,
    /// For each decoded byte, where its encoding starts and ends in the window.
    pub starts: Vec<u32>,
    pub ends: Vec<u32>,
}

/// Gap allowed between two echoed characters of a secret (`\r\n`,
/// backspace-space-backspace, a colour sequence).
pub(super) const MAX_ECHO_GAP: usize = 16;

/// What one step of a decoder produced.
enum Unit {
    /// Decoded bytes (at most 4: one UTF-8 character).
    Bytes([u8; 4], usize),
    /// Nothing (a separator the echo view drops).
    Drop,
}

fn one(b: u8) -> Unit {
    Unit::Bytes([b, 0, 0, 0], 1)
}

fn build(data: &[u8], step: impl Fn(&[u8], usize) -> (Unit, usize)) -> View {
    let mut view = View {
        bytes: Vec::with_capacity(data.len()),
        starts: Vec::with_capacity(data.len()),
        ends: Vec::with_capacity(data.len()),
    };
    let mut i = 0;
    while i < data.len() {
        let (unit, len) = step(data, i);
        let len = len.max(1);
        if let Unit::Bytes(bytes, n) = unit {
            for &b in &bytes[..n] {
                view.bytes.push(b);
                view.starts.push(i as u32);
                view.ends.push((i + len) as u32);
            }
        }
        i += len;
    }
    view
}

/// URL encoding: `%XX` (either case) and `+` for a space.
pub(super) fn url(data: &[u8]) -> Option<View> {
    if !data.iter().any(|&b| b == b'%' || b == b'+') {
        return None;
    }
    Some(build(data, |d, i| match d[i] {
        b'%' => match hex_byte(d.get(i + 1..i + 3)) {
            Some(b) => (one(b), 3),
            None => (one(b'%'), 1),
        },
        b'+' => (one(b' '), 1),
        b => (one(b), 1),
    }))
}

/// Backslash escapes: JSON (`\"`, `\\`, `\/`, `\n`, `\uXXXX` with
/// surrogate pairs), C and Python (`\xNN`, `\'`, `\0`) and Rust's
/// `Debug` (`\u{85}`).
pub(super) fn backslash(data: &[u8]) -> Option<View> {
    if !data.contains(&b'\\') {
        return None;
    }
    Some(build(data, |d, i| {
        if d[i] != b'\\' {
            return (one(d[i]), 1);
        }
        let simple = match d.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'\'') => Some(b'\''),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            Some(b'0') => Some(0),
            _ => None,
        };
        if let Some(b) = simple {
            return (one(b), 2);
        }
        match d.get(i + 1) {
            Some(b'x') => match hex_byte(d.get(i + 2..i + 4)) {
                Some(b) => (one(b), 4),
                None => (one(b'\\'), 1),
            },
            Some(b'u') => unicode_escape(d, i).unwrap_or((one(b'\\'), 1)),
            _ => (one(b'\\'), 1),
        }
    }))
}

/// `\u{X..}`, `\uXXXX` or a `\uXXXX\uXXXX` surrogate pair at `i`.
fn unicode_escape(d: &[u8], i: usize) -> Option<(Unit, usize)> {
    if d.get(i + 2) == Some(&b'{') {
        let close = d
            .get(i + 3..(i + 10).min(d.len()))?
            .iter()
            .position(|&b| b == b'}')?;
        let digits = std::str::from_utf8(&d[i + 3..i + 3 + close]).ok()?;
        let c = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
        return Some((char_unit(c), 4 + close));
    }
    let first = hex4(d.get(i + 2..i + 6))?;
    if (0xD800..0xDC00).contains(&first) && d.get(i + 6..i + 8) == Some(b"\\u") {
        let second = hex4(d.get(i + 8..i + 12))?;
        if (0xDC00..0xE000).contains(&second) {
            let c = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?;
            return Some((char_unit(c), 12));
        }
    }
    Some((char_unit(char::from_u32(first)?), 6))
}

fn char_unit(c: char) -> Unit {
    let mut buf = [0u8; 4];
    let n = c.encode_utf8(&mut buf).len();
    Unit::Bytes(buf, n)
}

/// HTML and XML character references: `&lt;`, `&amp;`, `&#34;`, `&#x22;`.
pub(super) fn html(data: &[u8]) -> Option<View> {
    if !data.contains(&b'&') {
        return None;
    }
    Some(build(data, |d, i| {
        if d[i] != b'&' {
            return (one(d[i]), 1);
        }
        let rest = &d[i + 1..d.len().min(i + 12)];
        let Some(semi) = rest.iter().position(|&b| b == b';') else {
            return (one(b'&'), 1);
        };
        let name = &rest[..semi];
        let decoded = match name {
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"amp" => Some('&'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            b"nbsp" => Some(' '),
            [b'#', b'x' | b'X', digits @ ..] => number(digits, 16),
            [b'#', digits @ ..] => number(digits, 10),
            _ => None,
        };
        match decoded {
            Some(c) => (char_unit(c), semi + 2),
            None => (one(b'&'), 1),
        }
    }))
}

fn number(digits: &[u8], radix: u32) -> Option<char> {
    let text = std::str::from_utf8(digits).ok()?;
    char::from_u32(u32::from_str_radix(text, radix).ok()?)
}

/// A console's echo with what it puts between typed characters removed:
/// CR, LF, tab, space, backspace, DEL, NUL and ANSI escape sequences. A
/// secret echoed one character per line reads whole again here.
pub(super) fn echo(data: &[u8]) -> View {
    build(data, |d, i| match d[i] {
        b'\r' | b'\n' | b'\t' | b' ' | 0x08 | 0x7f | 0 => (Unit::Drop, 1),
        0x1b if d.get(i + 1) == Some(&b'[') => {
            // CSI: parameters, then one final byte in 0x40..=0x7e.
            let end = d[i + 2..]
                .iter()
                .take(32)
                .position(|b| (0x40..=0x7e).contains(b))
                .map_or(2, |p| p + 3);
            (Unit::Drop, end)
        }
        0x1b => (Unit::Drop, 2.min(d.len() - i)),
        b => (one(b), 1),
    })
}

/// The bytes of `secret` the echo view keeps.
pub(super) fn echo_skeleton(secret: &[u8]) -> Vec<u8> {
    echo(secret).bytes
}

fn hex_byte(pair: Option<&[u8]>) -> Option<u8> {
    let pair = std::str::from_utf8(pair?).ok()?;
    if pair.len() != 2 || !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(pair, 16).ok()
}

fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = std::str::from_utf8(digits?).ok()?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(view: Option<View>) -> String {
        String::from_utf8_lossy(&view.expect("a view").bytes).into_owned()
    }

    #[test]
    fn url_decodes_either_case_and_plus() {
        assert_eq!(decoded(url(b"p%22a%5c+x%2F")), "p\"a\\ x/");
        assert!(url(b"plain").is_none());
    }

    #[test]
    fn backslash_decodes_json_c_and_rust_forms() {
        assert_eq!(
            decoded(backslash(br#"a\"b\\c\u003cd\x25e\u{85}f\ud83d\ude00"#)),
            "a\"b\\c<d%e\u{85}f\u{1F600}"
        );
    }

    #[test]
    fn html_decodes_named_and_numeric_references() {
        assert_eq!(
            decoded(html(b"&lt;&amp;&#34;&#x27;&bogus;")),
            "<&\"'&bogus;"
        );
    }

    #[test]
    fn echo_drops_separators_and_maps_back() {
        let view = echo(b"p\r\na\x08 \x08s\x1b[0ms");
        assert_eq!(view.bytes, b"pass");
        assert_eq!(view.starts, [0, 3, 7, 12]);
        assert_eq!(view.ends[3], 13);
    }
}
