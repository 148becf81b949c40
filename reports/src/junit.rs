//! JUnit XML rendered from a run record, in the dialect Jenkins' JUnit
//! plugin and GitLab's test reports read: one `<testsuite>` per board (and
//! one named `rack` for rack-wide checks), one `<testcase>` per check with
//! `classname` the board and `name` the check id, and `tests`, `failures`,
//! `errors`, `skipped` and `time` on every suite and on the root.
//!
//! Verdict mapping: FAIL is a `<failure>` whose message states the reason,
//! what was expected and what was observed; INCONCLUSIVE and ERROR are
//! `<error>` (the test could not be carried out); NOT_APPLICABLE and
//! DECLARED are `<skipped>` with the reason. `<system-out>` has the
//! verdict, how the board was left, each evidence file with its SHA-256,
//! and a bounded excerpt of each text evidence file (the transcript).
//! Device output reaches this file only through `escape_controls` (XML 1.0
//! cannot carry most control characters even as references) and then the
//! XML writer, which escapes markup.

use std::io::Write;
use std::path::Path;

use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::escape::escape_controls as clean;
use crate::record::{RunRecord, TrialRecord, Verdict};

/// A message attribute longer than this is cut (the element's text has it whole).
const MESSAGE_CHARS: usize = 1000;

/// Renders `record`; `evidence_dir` is its run folder, where the evidence
/// excerpts are read from (None: no excerpts).
pub fn render(
    record: &RunRecord,
    evidence_dir: Option<&Path>,
) -> Result<Vec<u8>, quick_xml::Error> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;

    let mut root = BytesStart::new("testsuites");
    root.push_attribute((
        "name",
        clean(&format!("hilt {}", record.suite.name)).as_ref(),
    ));
    push_counts(&mut root, &record.trials.iter().collect::<Vec<_>>());
    writer.write_event(Event::Start(root))?;

    // One suite per board, then one for trials of no board (rack-wide).
    let mut names: Vec<&str> = record.boards.iter().map(|b| b.name.as_str()).collect();
    for trial in &record.trials {
        if !names.contains(&trial.board.as_str()) {
            names.push(trial.board.as_str());
        }
    }
    for (id, name) in names.into_iter().enumerate() {
        let trials: Vec<&TrialRecord> = record.trials.iter().filter(|t| t.board == name).collect();
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", clean(name).as_ref()));
        suite.push_attribute(("id", id.to_string().as_str()));
        push_counts(&mut suite, &trials);
        suite.push_attribute(("timestamp", clean(&record.started_at).as_ref()));
        suite.push_attribute(("hostname", clean(&record.tool.host).as_ref()));
        writer.write_event(Event::Start(suite))?;
        for trial in trials {
            write_case(&mut writer, trial, evidence_dir)?;
        }
        writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut out = writer.into_inner();
    out.write_all(b"\n")?;
    Ok(out)
}

/// `tests`, `failures`, `errors`, `skipped` and `time` of `trials`.
fn push_counts(element: &mut BytesStart, trials: &[&TrialRecord]) {
    let count = |pred: fn(Verdict) -> bool| {
        trials
            .iter()
            .filter(|t| pred(t.verdict))
            .count()
            .to_string()
    };
    element.push_attribute(("tests", trials.len().to_string().as_str()));
    element.push_attribute(("failures", count(is_failure).as_str()));
    element.push_attribute(("errors", count(is_error).as_str()));
    element.push_attribute(("skipped", count(is_skipped).as_str()));
    element.push_attribute((
        "time",
        seconds(trials.iter().map(|t| t.duration_ms).sum()).as_str(),
    ));
}

fn write_case(
    writer: &mut Writer<Vec<u8>>,
    trial: &TrialRecord,
    evidence_dir: Option<&Path>,
) -> Result<(), quick_xml::Error> {
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", clean(&trial.check).as_ref()));
    case.push_attribute(("classname", clean(&trial.board).as_ref()));
    case.push_attribute(("time", seconds(trial.duration_ms).as_str()));
    writer.write_event(Event::Start(case))?;

    // Each field escaped on its own: the newlines between them are ours.
    let detail = format!(
        "{}\nexpected: {}\nobserved: {}",
        clean(&trial.reason),
        clean(&trial.expected),
        clean(&trial.observed)
    );
    let (element, message) = match trial.verdict {
        Verdict::Fail => (
            Some("failure"),
            format!(
                "{} (expected: {}; observed: {})",
                trial.reason, trial.expected, trial.observed
            ),
        ),
        Verdict::Inconclusive | Verdict::Error => (Some("error"), trial.reason.clone()),
        Verdict::NotApplicable | Verdict::Declared => (Some("skipped"), trial.reason.clone()),
        Verdict::Pass => (None, String::new()),
    };
    if let Some(element) = element {
        let mut start = BytesStart::new(element);
        start.push_attribute(("message", bounded(&clean(&message)).as_str()));
        if element != "skipped" {
            start.push_attribute(("type", trial.verdict.as_str()));
        }
        writer.write_event(Event::Start(start))?;
        writer.write_event(Event::Text(BytesText::new(&detail)))?;
        writer.write_event(Event::End(BytesEnd::new(element)))?;
    }
    let mut out = format!(
        "test: {}\nverdict: {}\ncatalogue: {}\n",
        clean(&trial.name),
        trial.verdict,
        clean(&trial.catalogue_id)
    );
    if let Some(left) = &trial.board_left {
        let state = if left.restored { "as found" } else { "CHANGED" };
        out.push_str(&format!("board left: {state}: {}\n", clean(&left.note)));
    }
    for evidence in &trial.evidence {
        out.push_str(&format!(
            "evidence: {} sha256:{}\n",
            clean(&evidence.path),
            clean(&evidence.sha256)
        ));
        let quoted = evidence_dir.and_then(|dir| crate::excerpt::excerpt(dir, evidence));
        if let Some(quoted) = quoted {
            out.push_str(&format!(
                "--- excerpt of {} ---\n{quoted}\n--- end of excerpt ---\n",
                clean(&evidence.path)
            ));
        }
    }
    writer.write_event(Event::Start(BytesStart::new("system-out")))?;
    // CDATA cannot contain "]]>"; split it so the text survives intact.
    let out = out.replace("]]>", "]]]]><![CDATA[>");
    writer.write_event(Event::CData(BytesCData::new(out)))?;
    writer.write_event(Event::End(BytesEnd::new("system-out")))?;
    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
    Ok(())
}

/// `text` cut to [`MESSAGE_CHARS`] characters, marked when cut.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((at, _)) => format!("{} [...]", &text[..at]),
        None => text.to_string(),
    }
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

    #[test]
    fn hostile_device_output_is_escaped() {
        let rec =
            sample_one_board_record(vec![trial(Verdict::Fail, "</failure><x>\u{1b}[31m]]>&")]);
        let xml = String::from_utf8(render(&rec, None).expect("render")).expect("utf8");
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
        let xml =
            String::from_utf8(render(&sample_one_board_record(vec![t]), None).expect("render"))
                .expect("utf8");
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
        let rec = sample_one_board_record(vec![
            trial(Verdict::Pass, ""),
            trial(Verdict::Inconclusive, ""),
            trial(Verdict::Error, ""),
            trial(Verdict::NotApplicable, ""),
        ]);
        let xml = String::from_utf8(render(&rec, None).expect("render")).expect("utf8");
        assert!(xml.contains(r#"errors="2""#), "{xml}");
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert_eq!(rec.exit_code(), 2);
    }

    #[test]
    fn exit_codes_follow_the_worst_verdict() {
        assert_eq!(
            sample_one_board_record(vec![trial(Verdict::Pass, "")]).exit_code(),
            0
        );
        assert_eq!(
            sample_one_board_record(vec![trial(Verdict::NotApplicable, "")]).exit_code(),
            0
        );
        assert_eq!(
            sample_one_board_record(vec![trial(Verdict::Declared, "")]).exit_code(),
            0
        );
        assert_eq!(
            sample_one_board_record(vec![trial(Verdict::Pass, ""), trial(Verdict::Fail, "")])
                .exit_code(),
            1
        );
        assert_eq!(
            sample_one_board_record(vec![trial(Verdict::Fail, ""), trial(Verdict::Error, "")])
                .exit_code(),
            2
        );
    }
}
