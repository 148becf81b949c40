//! A Markdown summary of a run record, for a merge request or a ticket:
//! the run, its boards, the verdicts per NIST IR 8259A capability (hilt's
//! decision rule applied, as in the HTML report), and every FAIL,
//! INCONCLUSIVE and ERROR with its reason, expected and observed, and its
//! evidence.
//!
//! Every text from the record goes through [`text`]: controls escaped,
//! markup characters made literal, so a device banner cannot add a link,
//! an image, a table column or HTML to the page a forge renders.

use std::fmt::Write as _;

use crate::escape::escape_controls;
use crate::html::summary::{by_capability, capability_name, NO_CAPABILITY};
use crate::record::{RunRecord, TrialRecord, Verdict};

/// The verdict columns of the capability table.
const COLUMNS: [Verdict; 6] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Inconclusive,
    Verdict::Error,
    Verdict::NotApplicable,
    Verdict::Declared,
];

pub fn render(record: &RunRecord) -> String {
    let mut md = String::new();
    let title = record.report.title.as_deref().unwrap_or("hilt run");
    let _ = writeln!(md, "# {}\n", text(title));
    let _ = writeln!(
        md,
        "Run `{}` of suite {}, {} to {}.",
        text(&record.run_id),
        text(&record.suite.name),
        text(&record.started_at),
        text(record.finished_at.as_deref().unwrap_or("(not finished)"))
    );
    if !record.complete {
        let why = record
            .interrupted
            .as_deref()
            .unwrap_or("not every selected trial finished");
        let _ = writeln!(md, "\n**The record is incomplete:** {}.", text(why));
    }
    let tally: Vec<String> = record
        .tally()
        .iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect();
    let _ = writeln!(
        md,
        "\n**{} trials:** {}.\n",
        record.trials.len(),
        tally.join(", ")
    );

    md.push_str("## Boards\n\n| board | model | serial number | firmware | image SHA-256 before / after |\n|---|---|---|---|---|\n");
    for board in &record.boards {
        let image = match (&board.image_sha256_before, &board.image_sha256_after) {
            (None, None) => "-".to_string(),
            (before, after) => format!(
                "{} / {}",
                text(before.as_deref().unwrap_or("-")),
                text(after.as_deref().unwrap_or("-"))
            ),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            text(&board.name),
            text(&board.model),
            text(board.serial_number.as_deref().unwrap_or("-")),
            text(board.firmware_version.as_deref().unwrap_or("-")),
            image
        );
    }

    md.push_str("\n## Per NIST IR 8259A capability\n\n| capability | status |");
    for verdict in COLUMNS {
        let _ = write!(md, " {verdict} |");
    }
    md.push_str(" checks |\n|---|---|");
    md.push_str(&"---:|".repeat(COLUMNS.len()));
    md.push_str("---|\n");
    for (key, group) in by_capability(record) {
        let name = if key == NO_CAPABILITY {
            "(no 8259A element)".to_string()
        } else {
            format!("{} ({})", capability_name(&key), key)
        };
        let _ = write!(md, "| {} | {} |", text(&name), group.tally.status().label());
        for verdict in COLUMNS {
            let _ = write!(md, " {} |", group.tally.count(verdict));
        }
        let checks: Vec<String> = group.checks.iter().map(|c| text(c)).collect();
        let _ = writeln!(md, " {} |", checks.join(", "));
    }

    let findings: Vec<&TrialRecord> = [Verdict::Fail, Verdict::Inconclusive, Verdict::Error]
        .iter()
        .flat_map(|v| record.trials.iter().filter(move |t| t.verdict == *v))
        .collect();
    md.push_str("\n## Findings\n\n");
    if findings.is_empty() {
        md.push_str("No FAIL, INCONCLUSIVE or ERROR.\n");
    }
    for trial in findings {
        finding(&mut md, trial);
    }
    md
}

fn finding(md: &mut String, trial: &TrialRecord) {
    let _ = writeln!(
        md,
        "### {} {} ({}: {})\n",
        trial.verdict,
        text(&trial.name),
        text(&trial.catalogue_id),
        text(&trial.title)
    );
    let _ = writeln!(md, "- reason: {}", text(&trial.reason));
    let _ = writeln!(md, "- expected: {}", text(&trial.expected));
    let _ = writeln!(md, "- observed: {}", text(&trial.observed));
    if let Some(left) = &trial.board_left {
        let state = if left.restored { "as found" } else { "CHANGED" };
        let _ = writeln!(md, "- board left {state}: {}", text(&left.note));
    }
    for evidence in &trial.evidence {
        let locator = evidence
            .locator
            .as_deref()
            .map(|l| format!(", at {}", text(l)))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- evidence: {} ({}{locator}; SHA-256 {})",
            text(&evidence.path),
            text(&evidence.description),
            text(&evidence.sha256)
        );
    }
    md.push('\n');
}

/// `value` as literal Markdown text on one line: controls escaped (a
/// newline becomes `\n`), `<`, `>` and `&` as entities, and the characters
/// that make emphasis, code, links, images, headings and table cells
/// escaped with a backslash (with `[` escaped, `(` starts no link).
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in escape_controls(value).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    #[test]
    fn fails_come_with_expected_and_observed_and_a_capability_row() {
        let mut fail = sample_trial("b", "SU-02", &["SU-2"], &["5.3-2"], Verdict::Fail);
        fail.reason = "the unsigned image was installed".into();
        let pass = sample_trial("b", "AU-09", &["LA-1"], &[], Verdict::Pass);
        let record = sample_one_board_record(vec![fail, pass]);
        let md = render(&record);
        assert!(
            md.contains("### FAIL b::capability::su-02 (SU-02: SU-02 title)"),
            "{md}"
        );
        assert!(
            md.contains("- reason: the unsigned image was installed"),
            "{md}"
        );
        assert!(
            md.contains("- expected: SU-02 expected\n- observed: SU-02 observed"),
            "{md}"
        );
        assert!(
            md.contains("| Software Update (SU) | does not conform | 0 | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("| Logical Access to Interfaces (LA) | conforms | 1 | 0 |"),
            "{md}"
        );
        assert!(!md.contains("### PASS"), "{md}");
        assert!(md.contains("**2 trials:** 1 PASS, 1 FAIL."), "{md}");
    }

    #[test]
    fn device_text_cannot_add_markup() {
        let mut fail = sample_trial("b", "AU-08", &["LA-1"], &[], Verdict::Fail);
        fail.observed =
            "banner <script>alert(1)</script> ![x](http://e/) | col\n### fake\u{1b}[2J".into();
        let record = sample_one_board_record(vec![fail]);
        let md = render(&record);
        let line = md
            .lines()
            .find(|l| l.starts_with("- observed: "))
            .expect("observed line");
        assert_eq!(
            line,
            "- observed: banner &lt;script&gt;alert(1)&lt;/script&gt; \\!\\[x\\](http://e/) \\| col\\\\n\\#\\#\\# fake\\\\x1b\\[2J"
        );
        assert!(!md.contains("\n### fake"), "{md}");
    }
}
