use super::*;
use base64::Engine as _;

const SPECIAL: &str = "p\"a\\ss%&<w 0rd";

fn scrubber(value: &str) -> Scrubber {
    let mut s = Scrubber::default();
    s.add(&Secret::from_guess(value));
    s
}

/// Every form a device could print `secret` in, each inside some text.
fn forms(secret: &str) -> Vec<(String, String)> {
    let b = secret.as_bytes();
    let std64 = base64::engine::general_purpose::STANDARD;
    let url64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let percent_all: String = b.iter().map(|c| format!("%{c:02X}")).collect();
    let percent_some: String = b
        .iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() {
                (c as char).to_string()
            } else if c == b' ' {
                "+".to_string()
            } else {
                format!("%{c:02x}")
            }
        })
        .collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json_unicode: String = secret
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    let html: String = secret
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&#34;".to_string(),
            '\\' => "&#x5c;".to_string(),
            c => c.to_string(),
        })
        .collect();
    let per_line = |sep: &str| -> String { secret.chars().map(|c| format!("{c}{sep}")).collect() };
    let mut out = vec![
        ("plain".to_string(), format!("said {secret} ok")),
        (
            "echo crlf".into(),
            format!("Password: {}\r\nsim> ", per_line("\r\n")),
        ),
        ("echo lf".into(), per_line("\n")),
        ("echo erased".into(), per_line("\x08 \x08")),
        ("echo coloured".into(), per_line("\x1b[0m")),
        ("url all".into(), format!("GET /?pw={percent_all} HTTP/1.1")),
        ("url form".into(), format!("pw={percent_some}&x=1")),
        ("json".into(), format!("{{\"password\":{json}}}")),
        (
            "json unicode".into(),
            format!("{{\"password\":\"{json_unicode}\"}}"),
        ),
        ("rust debug".into(), format!("answer {secret:?}")),
        ("html".into(), format!("<td>{html}</td>")),
        ("hex lower".into(), format!("mem: {}", hex::encode(b))),
        ("hex upper".into(), format!("MEM: {}", hex::encode_upper(b))),
    ];
    for prefix in ["", "a", "ab", "admin:"] {
        let mut plain = prefix.as_bytes().to_vec();
        plain.extend_from_slice(b);
        out.push((
            format!("base64 after {prefix:?}"),
            format!("Authorization: Basic {}", std64.encode(&plain)),
        ));
        out.push((
            format!("base64url after {prefix:?}"),
            format!("token={}", url64.encode(&plain)),
        ));
    }
    out
}

/// Whether `shown` still reveals `secret`: decoded in each way it could
/// have been encoded.
fn reveals(shown: &str, secret: &str) -> bool {
    let again = scrubber(secret);
    !again.ranges(shown.as_bytes()).is_empty()
}

#[test]
fn every_form_of_a_special_password_is_scrubbed_from_text() {
    let s = scrubber(SPECIAL);
    for (form, text) in forms(SPECIAL) {
        assert!(
            reveals(&text, SPECIAL),
            "{form}: the test form is found at all"
        );
        let clean = s.scrub_text(&text);
        assert!(clean.contains(REDACTED), "{form}: {clean:?}");
        assert!(!reveals(&clean, SPECIAL), "{form}: {clean:?}");
        for piece in ["0rd", "ss%&", "p\"a"] {
            assert!(!clean.contains(piece), "{form}: {clean:?}");
        }
    }
}

#[test]
fn every_form_is_masked_in_bytes_keeping_their_length() {
    let s = scrubber(SPECIAL);
    for (form, text) in forms(SPECIAL) {
        let mut bytes = text.clone().into_bytes();
        s.mask_bytes(&mut bytes);
        assert_eq!(bytes.len(), text.len());
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        assert!(!reveals(&shown, SPECIAL), "{form}: {shown:?}");
    }
}

#[test]
fn base64_left_over_never_decodes_to_the_secret() {
    let s = scrubber("s3cret");
    let std64 = base64::engine::general_purpose::STANDARD;
    for prefix in ["", "a", "ab", "abc", "user:", "root:x"] {
        let encoded = std64.encode(format!("{prefix}s3cret!"));
        let mut bytes = encoded.clone().into_bytes();
        s.mask_bytes(&mut bytes);
        let kept: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'*' { b'A' } else { b })
            .collect();
        let decoded = std64.decode(&kept).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&decoded).contains("s3cret"),
            "{prefix:?}"
        );
    }
}

#[test]
fn ordinary_text_is_left_alone() {
    let s = scrubber(SPECIAL);
    let text = "login: admin\r\nPassword: \r\nsim> id\r\ndevice_id: SIM-1\r\n\\x1b[0m 70 61";
    assert_eq!(s.scrub_text(text), text);
    // An echo spread too thin is not an echo.
    let far = "a\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\ndmin";
    assert_eq!(scrubber("admin").scrub_text(far), far);
}

#[test]
fn short_and_dictionary_secrets_are_masked_but_public_phrases_pass() {
    let s = scrubber("admin");
    let reason =
        "logged in with the default credential admin/admin; console said \"Welcome admin\"";
    let clean = s.scrub_text_except(reason, &["admin/admin".to_string()]);
    assert_eq!(
        clean,
        "logged in with the default credential admin/admin; console said \"Welcome <redacted>\""
    );
    assert_eq!(s.scrub_text("login: admin"), "login: <redacted>");
}

#[test]
fn multibyte_text_around_a_secret_stays_valid() {
    let s = scrubber("pässwörd");
    let clean = s.scrub_text("« pässwörd »");
    assert_eq!(clean, "« <redacted> »");
}

#[test]
fn megabytes_scrub_in_bounded_time() {
    let s = Scrubber::new(&[Secret::from_guess(SPECIAL), Secret::from_guess("admin")]);
    let mut data = Vec::new();
    while data.len() < 8 << 20 {
        data.extend_from_slice(b"a\r\nd\\x1b[0m%41&amp;+ 0123456789abcdef\x08 \x08");
    }
    let tail = format!("end {SPECIAL:?}");
    data.extend_from_slice(tail.as_bytes());
    let started = std::time::Instant::now();
    let ranges = s.ranges(&data);
    assert!(ranges.last().is_some_and(|r| r.end == data.len() - 1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_match_across_window_edges_is_found() {
    let s = scrubber(SPECIAL);
    let mut data = vec![b'.'; MIN_WINDOW - 5];
    data.extend_from_slice(SPECIAL.as_bytes());
    data.extend_from_slice(b"....");
    s.mask_bytes(&mut data);
    assert!(!data.windows(3).any(|w| w == b"0rd"));
}
