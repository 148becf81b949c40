//! Bounded excerpts of a trial's text evidence (console transcripts), for
//! reports that quote them (JUnit's `<system-out>`). The files hold what a
//! device sent: only regular files under the run folder are read, never
//! more than about [`EXCERPT_BYTES`] of one, and every control character
//! comes out escaped (which can lengthen the text up to fourfold).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use crate::escape::escape_controls;
use crate::record::EvidenceRecord;

/// At most this much of one evidence file is quoted.
pub const EXCERPT_BYTES: u64 = 2048;
/// Lines shown on each side of a `line N` locator.
const CONTEXT_LINES: usize = 8;

/// What to quote of `evidence` (a file of the run folder `dir`): around
/// its `line N` locator when it has one, else its end (a transcript ends
/// with what decided the trial). None for files that are not text, or
/// that cannot be read as a regular file inside `dir`.
pub fn excerpt(dir: &Path, evidence: &EvidenceRecord) -> Option<String> {
    if !evidence.media_type.starts_with("text/") {
        return None;
    }
    let relative = Path::new(&evidence.path);
    // A record is input too: no absolute paths, no way out of the folder.
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let path = dir.join(relative);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let line = evidence
        .locator
        .as_deref()
        .and_then(|l| l.strip_prefix("line "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    let mut file = std::fs::File::open(&path).ok()?;
    let text = match line {
        Some(n) => around_line(file, n)?,
        None => {
            let start = meta.len().saturating_sub(EXCERPT_BYTES);
            file.seek(SeekFrom::Start(start)).ok()?;
            let mut bytes = Vec::new();
            file.take(EXCERPT_BYTES).read_to_end(&mut bytes).ok()?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if start > 0 {
                // Cut to whole lines: the first one is likely a fragment.
                let rest = text.split_once('\n').map_or(text.as_str(), |(_, r)| r);
                format!("[... {start} bytes before]\n{rest}")
            } else {
                text
            }
        }
    };
    Some(clean_lines(&text))
}

/// Lines `n - CONTEXT_LINES ..= n + CONTEXT_LINES` (1-based), read as a
/// stream and bounded in bytes.
fn around_line(file: std::fs::File, n: usize) -> Option<String> {
    use std::io::BufRead;
    let first = n.saturating_sub(CONTEXT_LINES).max(1);
    let last = n.saturating_add(CONTEXT_LINES);
    let mut out = String::new();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        // One line is bounded too: a device may never send a newline.
        let read = (&mut reader)
            .take(EXCERPT_BYTES)
            .read_until(b'\n', &mut line)
            .ok()?;
        if read == 0 {
            break;
        }
        // A line longer than the bound counts once per piece.
        number += 1;
        if number >= first && number <= last {
            out.push_str(&format!("{number:>5}: {}", String::from_utf8_lossy(&line)));
            if out.len() as u64 >= EXCERPT_BYTES {
                break;
            }
        }
        if number > last {
            break;
        }
    }
    Some(out)
}

/// Each line with its controls escaped (the newlines between them kept).
fn clean_lines(text: &str) -> String {
    text.lines()
        .map(|l| escape_controls(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(path: &str, media_type: &str, locator: Option<&str>) -> EvidenceRecord {
        EvidenceRecord {
            media_type: media_type.into(),
            locator: locator.map(String::from),
            ..crate::record::sample_evidence(path, "")
        }
    }

    #[test]
    fn quotes_the_end_or_the_located_line_bounded_and_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: Vec<String> = (1..=1000).map(|i| format!("line {i}\u{1b}[2J")).collect();
        std::fs::write(dir.path().join("t.log"), lines.join("\n") + "\n").expect("write");

        let tail = excerpt(dir.path(), &evidence("t.log", "text/plain", None)).expect("tail");
        // Escaping lengthens what was read: each ESC byte becomes `\x1b`.
        assert!(tail.len() < 2 * EXCERPT_BYTES as usize, "{}", tail.len());
        assert!(tail.ends_with("line 1000\\x1b[2J"), "{tail}");
        assert!(tail.starts_with("[... "), "{tail}");
        assert!(!tail.contains('\u{1b}'));

        let at = excerpt(
            dir.path(),
            &evidence("t.log", "text/plain", Some("line 500")),
        )
        .expect("around");
        assert!(at.contains("  500: line 500"), "{at}");
        assert!(at.contains("  492: ") && at.contains("  508: "), "{at}");
        assert!(!at.contains("  491: ") && !at.contains("  509: "), "{at}");
    }

    #[test]
    fn reads_nothing_outside_the_folder_and_no_binary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        std::fs::create_dir(&run).expect("mkdir");
        std::fs::write(dir.path().join("secret"), "outside").expect("write");
        std::fs::write(run.join("cap.pcap"), "pcap").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret"), run.join("link")).expect("link");
        // An absolute path to a file that exists and is readable.
        let absolute = dir.path().join("secret").to_string_lossy().into_owned();
        for (path, media) in [
            ("../secret", "text/plain"),
            (absolute.as_str(), "text/plain"),
            ("link", "text/plain"),
            ("cap.pcap", "application/vnd.tcpdump.pcap"),
            ("missing.log", "text/plain"),
        ] {
            assert_eq!(excerpt(&run, &evidence(path, media, None)), None, "{path}");
        }
        // The same folder does quote a text file inside it.
        std::fs::write(run.join("inside.log"), "inside").expect("write");
        assert_eq!(
            excerpt(&run, &evidence("inside.log", "text/plain", None)).as_deref(),
            Some("inside")
        );
    }
}
