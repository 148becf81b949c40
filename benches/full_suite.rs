//! Wall time of the full NIST IR 8259A suite on one simulated board
//! (goal: under 60 s), with the slowest checks. Build the simulator for the
//! same profile first: `cargo build --release -p hilt-sim && cargo bench --bench full_suite`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn main() {
    let hilt = env!("CARGO_BIN_EXE_hilt");
    let sim = Path::new(hilt).with_file_name("hilt-sim");
    if !sim.is_file() {
        eprintln!(
            "{} is missing: cargo build --release -p hilt-sim first",
            sim.display()
        );
        std::process::exit(1);
    }
    let out = std::env::temp_dir().join(format!("hilt-bench-{}", std::process::id()));
    let start = Instant::now();
    let run = Command::new(hilt)
        .args(["run", "--suite", "nistir-8259a", "--out"])
        .arg(&out)
        .args(["--", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let wall = start.elapsed();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot run hilt: {e}");
            std::process::exit(1);
        }
    };
    let record = std::fs::read_dir(&out)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .and_then(|e| std::fs::read(e.path().join("record.json")).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let _ = std::fs::remove_dir_all(&out);
    let Some(record) = record else {
        eprintln!(
            "no record written: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::process::exit(1);
    };
    let mut trials: Vec<(u64, String, String)> = record["trials"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["duration_ms"].as_u64().unwrap_or(0),
                        t["check"].as_str().unwrap_or("").to_string(),
                        t["verdict"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let count = trials.len();
    trials.sort_by_key(|t| std::cmp::Reverse(t.0));
    println!(
        "full nistir-8259a suite on one simulated board: {count} trials in {:.1} s wall, board start and stop included (goal < 60 s); exit code {:?}",
        wall.as_secs_f64(),
        run.status.code()
    );
    for (ms, check, verdict) in trials.iter().take(5) {
        println!("  {:>6} ms  {check} ({verdict})", ms);
    }
}
