//! How fast `hilt list` answers (goal: under 100 ms), measured on the
//! built binary over repeated runs. Run with `cargo bench --bench cli_list`.

use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let hilt = env!("CARGO_BIN_EXE_hilt");
    let runs = 50;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new(hilt).arg("list").output();
        let elapsed = start.elapsed();
        match out {
            Ok(out) if out.status.success() => times.push(elapsed),
            Ok(out) => {
                eprintln!("hilt list failed: {}", String::from_utf8_lossy(&out.stderr));
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("cannot run {hilt}: {e}");
                std::process::exit(1);
            }
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "hilt list: {runs} runs, min {:.2} ms, median {:.2} ms, p95 {:.2} ms, max {:.2} ms (goal < 100 ms)",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs * 95 / 100]),
        ms(times[runs - 1])
    );
}
