use super::*;
use crate::record::{sample_evidence, sample_record, sample_trial, BoardInfo, EvidenceRecord};

fn evidence(path: &str) -> EvidenceRecord {
    EvidenceRecord {
        bytes: 42,
        locator: Some("line 7".into()),
        ..sample_evidence(path, &"ab".repeat(32))
    }
}

/// Two boards: b1 fails AU-08 (LA-2, 5.6-2), b2 passes it; both pass
/// SU-02 (SU-2, 5.3-2); b2's CS-06 (CS-1 and DI-1) is INCONCLUSIVE.
fn rack_record() -> RunRecord {
    let mut fail = sample_trial("b1", "AU-08", &["LA-2"], &["5.6-2"], Verdict::Fail);
    fail.evidence = vec![evidence("b1/AU-08/login-banners.txt")];
    let trials = vec![
        fail,
        sample_trial("b1", "SU-02", &["SU-2"], &["5.3-2"], Verdict::Pass),
        sample_trial("b2", "AU-08", &["LA-2"], &["5.6-2"], Verdict::Pass),
        sample_trial("b2", "SU-02", &["SU-2"], &["5.3-2"], Verdict::Pass),
        sample_trial("b2", "CS-06", &["CS-1", "DI-1"], &[], Verdict::Inconclusive),
        sample_trial("b2", "NT-01", &[], &["5.3-13"], Verdict::Declared),
    ];
    let mut b2 = BoardInfo::new("b2", "model two", "b2.yaml", "11");
    b2.health = Some(crate::record::BoardHealthRecord {
        quarantined: None,
        items: vec![crate::record::HealthItem {
            what: "console".into(),
            status: crate::record::HealthStatus::Ok,
            detail: "prompt seen".into(),
        }],
        evidence: vec![evidence("b2/health/console.txt")],
    });
    let boards = vec![BoardInfo::new("b1", "model one", "b1.yaml", "00"), b2];
    sample_record(boards, trials)
}

/// The text of the table row that starts with `first_cell`, tags removed.
fn row_text(html: &str, first_cell: &str) -> String {
    let start = html
        .find(&format!("<tr><td>{first_cell}</td>"))
        .unwrap_or_else(|| panic!("no row {first_cell}"));
    let end = start + html[start..].find("</tr>").expect("row ends");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push('|');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split('|')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

#[test]
fn summaries_count_each_trial_once_per_capability_and_provision() {
    let html = render(&rack_record());
    // Capability rows: name, elements, checks, PASS FAIL INCONCL. ERROR N/A DECL., result.
    assert_eq!(
        row_text(&html, "LA Logical Access to Interfaces"),
        "LA Logical Access to Interfaces|LA-2|AU-08|1|1|does not conform"
    );
    assert_eq!(
        row_text(&html, "SU Software Update"),
        "SU Software Update|SU-2|SU-02|2|conforms"
    );
    // CS-06 counts under both capabilities its elements name.
    assert_eq!(
        row_text(&html, "DI Device Identification"),
        "DI Device Identification|DI-1|CS-06|1|not established"
    );
    assert_eq!(
        row_text(&html, "CS Cybersecurity State Awareness"),
        "CS Cybersecurity State Awareness|CS-1|CS-06|1|not established"
    );
    assert_eq!(
        row_text(&html, "(no 8259A element: non-technical)"),
        "(no 8259A element: non-technical)|NT-01|1|lab review"
    );
    assert_eq!(
        row_text(&html, "5.6-2"),
        "5.6-2|Minimize exposed attack surfaces|AU-08|1|1|does not conform"
    );
    assert_eq!(
        row_text(&html, "5.3-2"),
        "5.3-2|Keep software updated|SU-02|2|conforms"
    );
    // 8259A's order: DI before LA before SU before CS.
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(at("<td>DI Device") < at("<td>LA Logical"));
    assert!(at("<td>LA Logical") < at("<td>SU Software"));
    assert!(at("<td>SU Software") < at("<td>CS Cyber"));
}

#[test]
fn the_matrix_has_a_row_per_board_and_a_cell_per_capability() {
    let html = render(&rack_record());
    let matrix = &html[html.find("id=\"matrix\"").expect("matrix")
        ..html.find("id=\"findings\"").expect("findings")];
    // Columns in 8259A's order, DI first; b1 has no DI trial: said, not
    // left blank.
    assert!(
        matrix.contains("<th>Board</th><th>DI Device Identification</th><th>LA Logical"),
        "{matrix}"
    );
    assert!(matrix.contains("<th>b1</th><td class=\"small\">no trial</td><td class=\"s-fail\">does not conform<br><span class=\"small\">1 FAIL</span></td>"), "{matrix}");
    assert!(
        matrix.contains("<th>b2</th><td class=\"s-open\">not established"),
        "{matrix}"
    );
}

#[test]
fn findings_show_fail_and_inconclusive_with_expected_observed_and_evidence_links() {
    let html = render(&rack_record());
    let findings = &html[html.find("id=\"findings\"").expect("findings")
        ..html.find("id=\"trials\"").expect("trials")];
    assert_eq!(
        findings.matches("<section class=\"finding").count(),
        2,
        "{findings}"
    );
    for text in [
        "AU-08 expected",
        "AU-08 observed",
        "CS-06 observed",
        "<a href=\"b1/AU-08/login-banners.txt\">b1/AU-08/login-banners.txt</a>",
        "(line 7)",
    ] {
        assert!(findings.contains(text), "{text} in {findings}");
    }
    assert!(!findings.contains("SU-02 observed"), "a PASS is no finding");
    // The trial table links each finding; the manifest lists the file.
    assert!(html.contains("<a href=\"#t0\">FAIL</a>"));
    assert!(html.contains("<a href=\"#t4\">INCONCLUSIVE</a>"));
    let manifest = &html[html.find("id=\"evidence\"").expect("manifest")..];
    assert!(manifest.contains(&"ab".repeat(32)));
    assert!(manifest.contains("2 evidence file(s), 84 bytes in all."));
    assert!(manifest.contains("health check of b2"), "{manifest}");
    let items = &html[html.find("id=\"items\"").expect("items")..];
    assert!(items.contains("console: ok: prompt seen"), "{items}");
    assert!(
        items.contains("<a href=\"b2/health/console.txt\">"),
        "{items}"
    );
}

#[test]
fn the_report_fetches_nothing_and_runs_nothing() {
    let html = render(&rack_record());
    for forbidden in [
        "<script", "src=", "<link", "http:", "https:", "url(", "@import",
    ] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("@media print"));
}

/// Replaces every string of a JSON value but enumerations with `hostile`
/// wrapped around it, and every object key of free-form maps too.
fn poison(value: &mut serde_json::Value, hostile: &str) {
    match value {
        serde_json::Value::String(s) => *s = format!("{hostile}{s}"),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| poison(v, hostile)),
        serde_json::Value::Object(map) => {
            let entries: Vec<(String, serde_json::Value)> =
                std::mem::take(map).into_iter().collect();
            for (key, mut v) in entries {
                // Enumerations, not free text.
                if key != "verdict" && key != "status" {
                    poison(&mut v, hostile);
                }
                let free_form = matches!(v, serde_json::Value::String(_)) && key.starts_with("m_");
                map.insert(
                    if free_form {
                        format!("{hostile}{key}")
                    } else {
                        key
                    },
                    v,
                );
            }
        }
        _ => {}
    }
}

#[test]
fn every_string_of_the_record_comes_out_escaped() {
    let mut record = rack_record();
    record.report = crate::record::ReportInfo::default().with_defaults("suite");
    record.report.lab = Some(crate::record::Lab {
        name: "lab".into(),
        address: Some("street".into()),
        accreditation: Some("acc".into()),
    });
    record.report.customer = Some(crate::record::Customer {
        name: "customer".into(),
        contact: Some("contact".into()),
    });
    record.report.authorized_by = vec![crate::record::Person {
        name: "signer".into(),
        role: Some("role".into()),
    }];
    for field in [
        &mut record.report.location,
        &mut record.report.received_on,
        &mut record.report.issued_on,
        &mut record.report.sampling,
    ] {
        *field = Some("x".into());
    }
    record.report.deviations = vec!["deviation".into()];
    record.report.external_results = vec!["external".into()];
    record.environment.tools = vec![crate::record::ToolVersion {
        name: "qemu".into(),
        version: "9".into(),
    }];
    record.environment.hilt_commit = Some("c0ffee".into());
    record.tool.command = vec!["hilt".into(), "run".into()];
    record.suite.file = Some("suite.yaml".into());
    record.suite.sha256 = Some("55".into());
    record.finished_at = Some("end".into());
    record.interrupted = Some("stopped".into());
    record.complete = false;
    let board = &mut record.boards[0];
    for field in [
        &mut board.manufacturer,
        &mut board.hardware_revision,
        &mut board.serial_number,
        &mut board.logical_id,
        &mut board.physical_id,
        &mut board.firmware_version,
        &mut board.image_sha256_before,
        &mut board.image_sha256_after,
        &mut board.condition,
        &mut board.probe,
    ] {
        *field = Some("x".into());
    }
    board.observed_identity.insert("m_id".into(), "v".into());
    let trial = &mut record.trials[0];
    trial.measurements.insert("m_latency_ms".into(), "3".into());
    trial.board_left = Some(crate::record::BoardLeft {
        restored: false,
        note: "note".into(),
    });
    trial.applicability = Some(crate::record::ApplicabilityRecord {
        applies: true,
        source: "device".into(),
        enabled_by: vec![],
    });

    let hostile = "<script>alert(1)</script><i x='1' y=\"2\">&amp;\u{1b}[2J\u{202e}";
    let mut json = serde_json::to_value(&record).expect("record to JSON");
    poison(&mut json, hostile);
    let record: RunRecord = serde_json::from_value(json).expect("poisoned record reads");
    let html = render(&record);
    for markup in ["<script", "<i ", "<i>", "\u{1b}", "\u{202e}", "x='1'"] {
        assert!(!html.contains(markup), "{markup:?} reached the report");
    }
    // Shown literally, everywhere it was put: one per string field shown.
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;i x=&#39;1&#39; y=&quot;2&quot;&gt;&amp;amp;\\x1b[2J\\u{202e}";
    let count = html.matches(shown).count();
    assert!(count >= 60, "{count} escaped copies");
    // Evidence paths that are now hostile are shown, and linked only as
    // relative, percent-encoded paths.
    assert!(
        html.contains("<a href=\"%3Cscript%3Ealert%281%29"),
        "{html}"
    );
}
