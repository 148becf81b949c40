//! How long rendering the reports of a 16-board rack takes (goal: under
//! 1 s each): a record of every check of hilt's catalogue on 16 boards,
//! with a mix of verdicts, three evidence files a trial and observations
//! of a realistic length, rendered as HTML and JUnit (with its evidence
//! excerpts read from files), and read back from its JSON. Run with `cargo bench --bench render`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hilt_reports::{
    BoardInfo, EvidenceRecord, References, RunRecord, SuiteInfo, ToolInfo, TrialRecord, Verdict,
};

const BOARDS: usize = 16;
const GOAL: Duration = Duration::from_secs(1);

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Every verdict, most of them PASS, as a rack's would be.
fn verdict(n: usize) -> Verdict {
    match n % 20 {
        0..=12 => Verdict::Pass,
        13 | 14 => Verdict::Fail,
        15 => Verdict::Inconclusive,
        16 => Verdict::Error,
        17 | 18 => Verdict::NotApplicable,
        _ => Verdict::Declared,
    }
}

fn sixteen_board_record() -> RunRecord {
    let checks = hilt_suites::all();
    let mut boards = Vec::new();
    let mut trials = Vec::new();
    for b in 0..BOARDS {
        let board = format!("rack-{b:02}");
        let mut info = BoardInfo::new(
            &board,
            "hilt reference thermostat (simulated)",
            &format!("boards/{board}.yaml"),
            &"5a".repeat(32),
        );
        info.firmware_version = Some("1.2.3".into());
        info.image_sha256_before = Some("c3".repeat(32));
        info.image_sha256_after = Some("c3".repeat(32));
        boards.push(info);
        for (c, check) in checks.iter().enumerate() {
            let meta = check.meta();
            let n = b * checks.len() + c;
            let evidence = (0..3)
                .map(|e| EvidenceRecord {
                    path: format!("evidence/{board}/{}/file-{e}.txt", meta.id()),
                    sha256: format!("{n:060x}{e:04x}"),
                    bytes: 4096 + e as u64,
                    media_type: "text/plain".into(),
                    description: "console transcript of the attempt".into(),
                    locator: Some(format!("line {}", 10 + e)),
                })
                .collect();
            trials.push(TrialRecord {
                name: format!("{board}::{}", meta.id()),
                board: board.clone(),
                check: meta.id(),
                catalogue_id: meta.catalogue_id.into(),
                title: meta.title.into(),
                references: References {
                    nistir_8259a: strings(meta.nistir_8259a),
                    en_303_645: strings(meta.en_303_645),
                    ts_103_701: strings(meta.ts_103_701),
                    cra_annex_i: strings(meta.cra_annex_i),
                },
                applicability: None,
                verdict: verdict(n),
                reason: "the device answered the forged request with 200 and the value read back changed <as observed>".into(),
                expected: meta.expected.into(),
                observed: "console: login: admin\r\nPassword: ********\r\nsim> cfg get telnet\r\ntelnet=off\r\n".repeat(6),
                measurements: BTreeMap::from([("latency_ms".to_string(), n.to_string())]),
                started_at: "2026-12-07T05:00:00Z".into(),
                finished_at: "2026-12-07T05:00:02Z".into(),
                start_offset_ms: n as u64 * 10,
                end_offset_ms: n as u64 * 10 + 2000,
                duration_ms: 2000,
                evidence,
                board_left: None,
            });
        }
    }
    RunRecord {
        format: hilt_reports::RECORD_FORMAT,
        schema_version: hilt_reports::RECORD_SCHEMA_VERSION.into(),
        run_id: "20261207T050000Z-bench".into(),
        tool: ToolInfo {
            name: "hilt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: strings(&["hilt", "run", "--suite", "nistir-8259a"]),
            host: "bench".into(),
        },
        started_at: "2026-12-07T05:00:00Z".into(),
        finished_at: Some("2026-12-07T05:10:00Z".into()),
        complete: true,
        interrupted: None,
        suite: SuiteInfo {
            name: "nistir-8259a".into(),
            file: None,
            sha256: None,
        },
        report: hilt_reports::ReportInfo::default().with_defaults("NIST IR 8259A core baseline"),
        environment: Default::default(),
        boards,
        trials,
    }
}

/// A run folder holding the record's evidence files, 4 KiB of console
/// transcript each.
fn write_evidence(record: &RunRecord) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let text = "+1.250 < sim> cfg get telnet\\r\\n\n".repeat(128);
    for evidence in record.trials.iter().flat_map(|t| &t.evidence) {
        let path = dir.path().join(&evidence.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &text)?;
    }
    Ok(dir)
}

/// Median and slowest of `runs` timings of `render`, and its output size.
fn time<T>(
    runs: usize,
    mut render: impl FnMut() -> T,
    size: impl Fn(&T) -> usize,
) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let out = render();
        times.push(start.elapsed());
        bytes = size(&out);
    }
    times.sort();
    (times[runs / 2], times[runs - 1], bytes)
}

fn main() {
    let record = sixteen_board_record();
    let json = match serde_json::to_vec_pretty(&record) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("cannot serialise the record: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "16-board record: {} trials, {} evidence files, {} bytes of JSON",
        record.trials.len(),
        record
            .trials
            .iter()
            .map(|t| t.evidence.len())
            .sum::<usize>(),
        json.len()
    );
    let runs = 20;
    let mut over = false;
    let mut report = |name: &str, (median, max, bytes): (Duration, Duration, usize)| {
        over |= max >= GOAL;
        println!(
            "  {name:<22} median {:>8.2} ms, max {:>8.2} ms, {bytes} bytes (goal < 1 s)",
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        );
    };
    report(
        "read record.json",
        time(
            runs,
            || serde_json::from_slice::<RunRecord>(&json).map(|r| r.trials.len()),
            |_| json.len(),
        ),
    );
    report(
        "render HTML",
        time(runs, || hilt_reports::html::render(&record), String::len),
    );
    // JUnit quotes the end of each text evidence file: give it the files.
    let dir = match write_evidence(&record) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("cannot write the evidence files: {e}");
            std::process::exit(1);
        }
    };
    report(
        "render JUnit",
        time(
            runs,
            || hilt_reports::junit::render(&record, Some(dir.path())),
            |r| r.as_ref().map_or(0, Vec::len),
        ),
    );
    if over {
        eprintln!("a renderer took 1 s or more");
        std::process::exit(1);
    }
}
