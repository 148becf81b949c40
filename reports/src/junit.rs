//! JUnit XML rendered from a run record, in the dialect CI servers read
//! (one `<testsuite>` per board, one `<testcase>` per trial).
//!
//! Verdict mapping: FAIL is a `<failure>`; INCONCLUSIVE and ERROR are
//! `<error>` (the test could not be carried out); NOT_APPLICABLE and
//! DECLARED are `<skipped>` with the reason. Device output reaches this file
//! only through `escape_controls` (XML 1.0 cannot carry most control
//! characters even as references) and then the XML writer, which escapes
//! markup.

use std::io::Write;

use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::escape::escape_controls as clean;
use crate::record::{RunRecord, TrialRecord, Verdict};

pub fn render(record: &RunRecord) -> Result<Vec<u8>, quick_xml::Error> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;

    let total_ms: u64 = record.trials.iter().map(|t| t.duration_ms).sum();
    let mut root = BytesStart::new("testsuites");
    root.push_attribute((
        "name",
        clean(&format!("hilt {}", record.suite.name)).as_ref(),
    ));
    root.push_attribute(("tests", record.trials.len().to_string().as_str()));
    root.push_attribute(("failures", count(record.trials.iter(), is_failure).as_str()));
    root.push_attribute(("errors", count(record.trials.iter(), is_error).as_str()));
    root.push_attribute(("time", seconds(total_ms).as_str()));
    writer.write_event(Event::Start(root))?;

    // One suite per board, then one for trials of no board (rack-wide).
    let mut names: Vec<&str> = record.boards.iter().map(|b| b.name.as_str()).collect();
    for trial in &record.trials {
        if !names.contains(&trial.board.as_str()) {
            names.push(trial.board.as_str());
        }
    }
    for name in names {
        let trials: Vec<&TrialRecord> = record.trials.iter().filter(|t| t.board == name).collect();
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", clean(name).as_ref()));
        suite.push_attribute(("tests", trials.len().to_string().as_str()));
        suite.push_attribute((
            "failures",
            count(trials.iter().copied(), is_failure).as_str(),
        ));
        suite.push_attribute(("errors", count(trials.iter().copied(), is_error).as_str()));
        suite.push_attribute((
            "skipped",
            count(trials.iter().copied(), is_skipped).as_str(),
        ));
        suite.push_attribute((
            "time",
            seconds(trials.iter().map(|t| t.duration_ms).sum()).as_str(),
        ));
        suite.push_attribute(("timestamp", clean(&record.started_at).as_ref()));
        writer.write_event(Event::Start(suite))?;
        for trial in trials {
            write_case(&mut writer, trial)?;
        }
        writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut out = writer.into_inner();
    out.write_all(b"\n")?;
    Ok(out)
}

fn write_case(writer: &mut Writer<Vec<u8>>, trial: &TrialRecord) -> Result<(), quick_xml::Error> {
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", clean(&trial.name).as_ref()));
    case.push_attribute((
        "classname",
        clean(&format!("{}.{}", trial.board, trial.check)).as_ref(),
    ));
    case.push_attribute(("time", seconds(trial.duration_ms).as_str()));
    writer.write_event(Event::Start(case))?;

    // Each field escaped on its own: the newlines between them are ours.
    let detail = format!(
        "{}\nexpected: {}\nobserved: {}",
        clean(&trial.reason),
        clean(&trial.expected),
        clean(&trial.observed)
    );
    let element = match trial.verdict {
        Verdict::Fail => Some("failure"),
        Verdict::Inconclusive | Verdict::Error => Some("error"),
        Verdict::NotApplicable | Verdict::Declared => Some("skipped"),
        Verdict::Pass => None,
    };
    if let Some(element) = element {
        let mut start = BytesStart::new(element);
        start.push_attribute(("message", clean(&trial.reason).as_ref()));
        start.push_attribute(("type", trial.verdict.as_str()));
        writer.write_event(Event::Start(start))?;
        writer.write_event(Event::Text(BytesText::new(&detail)))?;
        writer.write_event(Event::End(BytesEnd::new(element)))?;
    }
    let mut out = format!(
        "verdict: {}\ncatalogue: {}\n",
        trial.verdict,
        clean(&trial.catalogue_id)
    );
    if let Some(left) = &trial.board_left {
        let state = if left.restored { "as found" } else { "CHANGED" };
        out.push_str(&format!("board left: {state}: {}\n", left.note));
    }
    for evidence in &trial.evidence {
        out.push_str(&format!(
            "evidence: {} sha256:{}\n",
            clean(&evidence.path),
            clean(&evidence.sha256)
        ));
    }
    writer.write_event(Event::Start(BytesStart::new("system-out")))?;
    // CDATA cannot contain "]]>"; split it so the text survives intact.
    let out = out.replace("]]>", "]]]]><![CDATA[>");
    writer.write_event(Event::CData(BytesCData::new(out)))?;
    writer.write_event(Event::End(BytesEnd::new("system-out")))?;
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

fn count<'a>(trials: impl Iterator<Item = &'a TrialRecord>, pred: fn(Verdict) -> bool) -> String {
    trials.filter(|t| pred(t.verdict)).count().to_string()
}

fn is_failure(v: Verdict) -> bool {
    v == Verdict::Fail
}

fn is_error(v: Verdict) -> bool {
    matches!(v, Verdict::Inconclusive | Verdict::Error)
}

fn is_skipped(v: Verdict) -> bool {
    matches!(v, Verdict::NotApplicable | Verdict::Declared)
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    fn trial(verdict: Verdict, observed: &str) -> TrialRecord {
        TrialRecord {
            observed: observed.into(),
            ..sample_trial("b", "AU-09", &[], &[], verdict)
        }
    }

    fn record(trials: Vec<TrialRecord>) -> RunRecord {
        sample_record(vec![BoardInfo::new("b", "m", "f", "0")], trials)
    }

    #[test]
    fn hostile_device_output_is_escaped() {
        let rec = record(vec![trial(Verdict::Fail, "</failure><x>\u{1b}[31m]]>&")]);
        let xml = String::from_utf8(render(&rec).expect("render")).expect("utf8");
        assert!(
            xml.contains("&lt;/failure&gt;&lt;x&gt;\\x1b[31m]]&gt;&amp;"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
        assert!(xml.contains(r#"failures="1""#));
    }

    #[test]
    fn control_characters_come_out_escaped_and_the_xml_parses() {
        let hostile = "boot\u{1b}[2J\u{7f}\u{85}\u{9b}31m\u{0}\u{fffe}\r\nfake line";
        let mut t = trial(Verdict::Fail, hostile);
        t.reason = format!("banner said {hostile}");
        t.name = format!("b::c::{hostile}");
        let xml = String::from_utf8(render(&record(vec![t])).expect("render")).expect("utf8");
        for c in ['\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{0}', '\u{fffe}'] {
            assert!(!xml.contains(c), "{c:?} in {xml}");
        }
        assert!(xml.contains("\\x1b[2J\\x7f\\u{85}\\u{9b}31m"), "{xml}");
        // Parse it back: every element closes, and the texts survive.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut texts = String::new();
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Text(t)) => texts.push_str(&t.decode().expect("text decodes")),
                Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                    for a in e.attributes() {
                        let a = a.expect("attribute parses");
                        texts.push_str(&a.unescape_value().expect("attribute unescapes"));
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("JUnit does not parse: {e}\n{xml}"),
            }
        }
        assert!(texts.contains("banner said boot\\x1b[2J"), "{texts}");
    }

    #[test]
    fn verdicts_map_to_junit_elements() {
        let rec = record(vec![
            trial(Verdict::Pass, ""),
            trial(Verdict::Inconclusive, ""),
            trial(Verdict::Error, ""),
            trial(Verdict::NotApplicable, ""),
        ]);
        let xml = String::from_utf8(render(&rec).expect("render")).expect("utf8");
        assert!(xml.contains(r#"errors="2""#), "{xml}");
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert_eq!(rec.exit_code(), 2);
    }

    #[test]
    fn exit_codes_follow_the_worst_verdict() {
        assert_eq!(record(vec![trial(Verdict::Pass, "")]).exit_code(), 0);
        assert_eq!(
            record(vec![trial(Verdict::NotApplicable, "")]).exit_code(),
            0
        );
        assert_eq!(record(vec![trial(Verdict::Declared, "")]).exit_code(), 0);
        assert_eq!(
            record(vec![trial(Verdict::Pass, ""), trial(Verdict::Fail, "")]).exit_code(),
            1
        );
        assert_eq!(
            record(vec![trial(Verdict::Fail, ""), trial(Verdict::Error, "")]).exit_code(),
            2
        );
    }
}
