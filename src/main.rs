//! `hilt`: the command line. It parses arguments, loads definitions and
//! hands them to the harness; it holds no test logic of its own.

mod board_check;
mod image_cmd;
mod labgrid_watchdog;
mod merge_cmd;
mod rack_cmd;
mod report_cmd;
mod signals;
mod sim;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hilt_harness::board::{Board, BoardFile};
use hilt_harness::runner::{self, RunConfig};
use hilt_harness::stop::Interruption;
use hilt_harness::suite::{Suite, SuiteFile};
use hilt_reports::reporter::{
    self, HtmlFile, JunitFile, LibtestLines, ManifestFile, RecordFile, Reporters, Summary,
    TerminalProgress,
};

const EXIT_HELP: &str = "\
Exit status:
  0    every trial PASS, NOT_APPLICABLE or DECLARED (and `list`, `board check`, `schema` succeeded)
  1    at least one FAIL (the device did not hold), nothing INCONCLUSIVE or ERROR
  2    INCONCLUSIVE (board fault), ERROR (harness fault), or a usage or definition error
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM, 129 by SIGHUP: the changes of the
       running check are undone and the run record is kept, marked incomplete";

#[derive(Parser)]
#[command(
    name = "hilt",
    version,
    about = "Hardware-in-the-loop security conformance harness",
    long_about = "hilt attacks a device the way a lab would (unauthorized configuration, forged and rolled-back updates, default credentials, open debug ports, plaintext and man-in-the-middle traffic) and reports, per NIST IR 8259A capability and ETSI EN 303 645 provision, whether it held.",
    after_help = EXIT_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a suite against boards (default: the simulated board).
    #[command(after_help = EXIT_HELP)]
    Run(RunArgs),
    /// List every check with its catalogue id and references.
    List {
        /// Only the checks of this suite, in its order.
        #[arg(long)]
        suite: Option<String>,
        /// Also print each check's suite parameters: type, range, default, meaning.
        #[arg(long)]
        params: bool,
        /// FILTER must be the whole check id (`capability::name`).
        #[arg(long)]
        exact: bool,
        /// Only checks whose id (`capability::name`) contains a FILTER, or
        /// whose catalogue id is one (`AU-07`, any case).
        filters: Vec<String>,
    },
    /// Validate board files.
    Board {
        #[command(subcommand)]
        command: BoardCommand,
    },
    /// Print the JSON Schema of board files, suite files, run records
    /// (record.json) or lab statements (`run --lab-info`).
    Schema {
        #[arg(value_enum, default_value = "board")]
        kind: SchemaKind,
    },
    /// Inspect, verify, sign and forge MCUboot images.
    Image {
        #[command(subcommand)]
        command: image_cmd::ImageCommand,
    },
    /// Work with run folders: verify one against its signed manifest, compare
    /// two, merge shards, render a record again (JUnit, Markdown, HTML).
    Report {
        #[command(subcommand)]
        command: report_cmd::ReportCommand,
    },
    /// The boards of this host: who holds which lease.
    Rack {
        #[command(subcommand)]
        command: rack_cmd::RackCommand,
    },
    /// Manage simulated reference boards (runs `hilt-sim`).
    #[command(disable_help_flag = true)]
    Sim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Internal: started by a run for each labgrid place it holds; releases
    /// the place if the run dies without releasing it (see docs/labgrid.md).
    #[command(hide = true, name = "labgrid-watchdog")]
    LabgridWatchdog {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BoardCommand {
    /// Check that board files are valid, and preview which checks of a
    /// suite will run on each board and what would make the others run.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Suite whose coverage is previewed (name from suites/ or path).
        #[arg(long, default_value = "nistir-8259a")]
        suite: String,
        /// `text` for a terminal, `json` for tools.
        #[arg(long, value_enum, default_value = "text")]
        format: board_check::Format,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    Board,
    Suite,
    /// The run record, record.json.
    Record,
    /// The lab's statements for the record (`hilt run --lab-info FILE`).
    Lab,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Board files (repeat for a rack). Without any, hilt starts the
    /// simulated reference board, runs against it and stops it.
    #[arg(long = "board", short = 'b')]
    boards: Vec<PathBuf>,
    /// Suite name (from suites/) or path to a suite file.
    #[arg(long, default_value = "nistir-8259a")]
    suite: String,
    /// Folder that receives `<run-id>/record.json`, `junit.xml`, `report.html` and evidence.
    #[arg(long, default_value = "hilt-out")]
    out: PathBuf,
    /// Sign the run's manifest.json with this Ed25519 key: `env:NAME` or
    /// `file:PATH`, a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`).
    #[arg(long, value_name = "KEY")]
    sign_key: Option<String>,
    /// YAML file of the lab's statements for the record: title, lab,
    /// customer, methods, decision rule, dates, authorisation, items
    /// (`hilt schema lab`; docs/record.md).
    #[arg(long, value_name = "FILE")]
    lab_info: Option<PathBuf>,
    /// How many simulated boards to start when no board file is given.
    #[arg(long, default_value_t = 1)]
    sim_count: u32,
    /// Firmware flaw for the simulated boards (see `hilt sim firmware --list-flaws`).
    #[arg(long)]
    sim_flaw: Option<String>,
    /// Before each board's suite, check that its console and declared
    /// services answer and that it runs its golden image; a board that
    /// fails is quarantined (its trials INCONCLUSIVE, not run) and the
    /// others go on. The findings are in the record (`boards[].health`).
    #[arg(long)]
    health_check: bool,
    /// Run only this job's share, K of N: with at least N boards, every
    /// N-th board (by name) from the K-th; with fewer, every N-th check of
    /// the suite on every board. `hilt report merge` combines the jobs'
    /// run folders into one record.
    #[arg(long, value_name = "K/N")]
    shard: Option<hilt_harness::rack::shard::Shard>,
    /// Seconds to wait for boards another hilt on this host has leased
    /// (default: none, the run stops naming the holder).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    lease_wait: u64,
    /// cargo-test style selection after `--`: FILTER... (any of them; a trial-name
    /// substring or a catalogue id such as AU-07), --exact, --skip PATTERN,
    /// --list, --test-threads N (boards run at once), --ignored (only
    /// NOT_APPLICABLE trials), --format terse|json, --quiet.
    #[arg(last = true)]
    test_args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::List {
            suite,
            params,
            exact,
            filters,
        } => list(suite.as_deref(), params, exact, &filters),
        Command::Board {
            command:
                BoardCommand::Check {
                    files,
                    suite,
                    format,
                },
        } => match find_suite(&suite) {
            Ok(suite) => board_check::run(&files, &suite, format),
            Err(e) => fail(e),
        },
        Command::Schema { kind } => schema(kind),
        Command::Image { command } => image_cmd::run(command).unwrap_or_else(fail),
        Command::Report { command } => report_cmd::run(command),
        Command::Rack { command } => rack_cmd::run(command),
        Command::Sim { args } => sim::passthrough(&args),
        Command::LabgridWatchdog { args } => labgrid_watchdog::run(&args),
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn fail(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    2
}

fn run(args: RunArgs) -> i32 {
    let (test_args, filters) = match libtest_args(&args.test_args) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let suite = match find_suite(&args.suite) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // Read before anything starts, so a bad key costs no run.
    let sign_key = match args.sign_key.as_deref().map(report_cmd::load_sign_key) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => return fail(e),
    };
    let report = match &args.lab_info {
        Some(file) => match hilt_harness::yaml::load::<hilt_reports::ReportInfo>(file) {
            Ok((report, _)) => report,
            Err(e) => return fail(e),
        },
        None => hilt_reports::ReportInfo::default(),
    };

    let mut started_sim = None;
    let board_files = if args.boards.is_empty() {
        match sim::up(args.sim_count, args.sim_flaw.as_deref()) {
            Ok(up) => {
                let files = up.board_files.clone();
                started_sim = Some(up);
                files
            }
            Err(e) => return fail(format!("cannot start the simulated board: {e}")),
        }
    } else {
        args.boards.clone()
    };
    let code = run_boards(
        &board_files,
        suite,
        report,
        &args,
        test_args,
        filters,
        sign_key,
    );
    if let Some(up) = started_sim {
        if let Err(e) = sim::down(&up) {
            eprintln!("warning: stopping the simulated board: {e}");
        }
    }
    code
}

fn run_boards(
    files: &[PathBuf],
    mut suite: Suite,
    report: hilt_reports::ReportInfo,
    args: &RunArgs,
    test_args: libtest_mimic::Arguments,
    filters: Vec<String>,
    sign_key: Option<hilt_reports::manifest::SigningKey>,
) -> i32 {
    let mut boards = Vec::new();
    for file in files {
        match Board::load(file) {
            Ok(b) => {
                let network = b.spec.hardware.network.as_ref();
                if let Some(warning) = network.and_then(|n| n.unbound_warning()) {
                    eprintln!("warning: {}: {warning}", file.display());
                }
                boards.push(b)
            }
            Err(e) => return fail(e),
        }
    }
    if let Some(shard) = &args.shard {
        let rack: Vec<String> = hilt_suites::rack().iter().map(|c| c.meta().id()).collect();
        let by = shard.apply(&mut boards, &mut suite, |id| rack.iter().any(|r| r == id));
        eprintln!(
            "hilt: shard {}/{}: {}",
            shard.index,
            shard.count,
            match by {
                hilt_harness::rack::shard::SplitBy::Boards => format!(
                    "boards {}",
                    boards
                        .iter()
                        .map(|b| b.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hilt_harness::rack::shard::SplitBy::Checks => format!(
                    "{} of the suite's checks on every board",
                    suite.spec.checks.len()
                ),
            }
        );
    }
    let interrupted = Interruption::new();
    // First SIGINT/SIGTERM/SIGHUP: stop cleanly and keep the record. Second: leave now.
    if let Err(e) = signals::install(interrupted.clone()) {
        return fail(e);
    }
    let listing = test_args.list;
    // Every board exclusive to this run until it ends (the kernel drops
    // the leases when hilt exits, however it exits).
    let _leases = if listing {
        None
    } else {
        match hilt_harness::rack::lease::acquire(
            &boards,
            std::time::Duration::from_secs(args.lease_wait),
        ) {
            Ok(leases) => Some(leases),
            Err(e) => return fail(e),
        }
    };
    // QEMU boards: their machines run from here until the guards drop
    // after the run (and die with hilt if it is killed).
    let mut machines = Vec::new();
    if listing {
        // A listing starts nothing: QEMU boards are wired as a run would.
        boards
            .iter_mut()
            .for_each(hilt_harness::transport::qemu::preview);
    } else {
        for board in &mut boards {
            match hilt_harness::transport::qemu::start(board) {
                Ok(Some(guard)) => {
                    machines.push(guard);
                    // A machine that runs from power-on boots now: the
                    // first check starts once the console shows its prompt.
                    let held = board
                        .spec
                        .hardware
                        .qemu
                        .as_ref()
                        .is_some_and(|q| q.hold_until_console);
                    if !held {
                        if let Err(e) = hilt_harness::driver::console::await_power_on(board) {
                            eprintln!(
                                "hilt: {}: the QEMU machine showed no console prompt after its start ({e}); the checks will find it as it is",
                                board.name()
                            );
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    return fail(format!(
                        "{}: cannot start the board's QEMU machine: {e}",
                        board.file.display()
                    ))
                }
            }
        }
    }
    // labgrid places: held from here until they drop after the run;
    // each lease's watchdog releases its place if hilt dies first.
    let mut places = Vec::new();
    if listing {
        boards
            .iter_mut()
            .for_each(hilt_harness::transport::labgrid::preview);
    } else {
        let watchdog = labgrid_watchdog::command();
        for board in &mut boards {
            let stopped = || interrupted.is_raised();
            match hilt_harness::transport::labgrid::attach(board, watchdog.as_ref(), &stopped) {
                Ok(Some(lease)) => {
                    eprintln!(
                        "hilt: {}: holding labgrid place {}",
                        board.name(),
                        lease.place()
                    );
                    places.push(lease)
                }
                Ok(None) => {}
                Err(e) => {
                    return fail(format!(
                        "{}: cannot take the board's labgrid place: {e}",
                        board.file.display()
                    ))
                }
            }
        }
    }
    let config = RunConfig {
        boards,
        suite,
        checks: hilt_suites::all(),
        rack_checks: hilt_suites::rack(),
        out_root: args.out.clone(),
        test_args,
        filters,
        command: std::env::args().collect(),
        interrupted,
        restore: Some(Arc::new(hilt_suites::restore::GoldenImage)),
        health: args.health_check.then(|| {
            Arc::new(hilt_suites::health::BoardHealth)
                as Arc<dyn hilt_harness::rack::health::HealthCheck>
        }),
        description: runner::RunDescription {
            report,
            hilt_commit: option_env!("HILT_GIT_COMMIT").map(String::from),
            built_in: vec![hilt_reports::ToolVersion {
                name: "probe-rs (library)".into(),
                version: env!("HILT_PROBE_RS_VERSION").into(),
            }],
        },
    };
    if listing {
        return match runner::plan(&config) {
            Ok(plan) => {
                reporter::libtest::list(&config.test_args, &plan.reported());
                0
            }
            Err(e) => fail(e),
        };
    }
    let reporters = reporters(&config.test_args, sign_key);
    let result = runner::run(config, reporters);
    drop(machines);
    drop(places);
    match result {
        Ok(outcome) => outcome.exit_code,
        Err(e) => fail(e),
    }
}

/// What a `hilt run` reports: the trial lines on the terminal (live bars
/// when stdout and stderr are a terminal and the plain format is asked
/// for, else libtest's lines), the run folder's files, the manifest once
/// they are final, and the summary.
fn reporters(
    test_args: &libtest_mimic::Arguments,
    sign_key: Option<hilt_reports::manifest::SigningKey>,
) -> Reporters {
    // Machine-readable formats (and --quiet) always come from libtest-mimic.
    let plain_format = test_args.format.is_none() && !test_args.quiet;
    let terminal = if plain_format && TerminalProgress::available() {
        Reporters::new().with(TerminalProgress::new())
    } else {
        Reporters::new().with(LibtestLines::new(test_args))
    };
    let signed_by = sign_key.as_ref().map(|k| k.fingerprint());
    terminal
        .with(RecordFile::default())
        .with(JunitFile::default())
        .with(HtmlFile::default())
        .with(ManifestFile::new(sign_key))
        .with(Summary::new(signed_by))
}

/// libtest-mimic's arguments, and the filters apart (libtest-mimic takes
/// one; `cargo test` takes any number, and so do we, catalogue ids too).
fn libtest_args(args: &[String]) -> Result<(libtest_mimic::Arguments, Vec<String>), String> {
    use clap::Parser as _;
    // libtest's options that take a value as the next argument.
    const WITH_VALUE: &[&str] = &[
        "--test-threads",
        "--skip",
        "--logfile",
        "--color",
        "--format",
        "-Z",
    ];
    let mut options = vec!["hilt".to_string()];
    let mut filters = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg.starts_with('-') {
            options.push(arg.clone());
            if WITH_VALUE.contains(&arg.as_str()) {
                options.extend(iter.next().cloned());
            }
        } else {
            filters.push(arg.clone());
        }
    }
    let parsed = libtest_mimic::Arguments::try_parse_from(&options).map_err(|e| e.to_string())?;
    Ok((parsed, filters))
}

/// A suite by path, or by name from `./suites/` or hilt's own suites folder.
fn find_suite(name: &str) -> Result<Suite, String> {
    let known = hilt_suites::ids();
    let direct = PathBuf::from(name);
    let candidates = [
        direct.clone(),
        PathBuf::from("suites").join(format!("{name}.yaml")),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("suites")
            .join(format!("{name}.yaml")),
    ];
    for path in &candidates {
        if path.is_file() {
            let suite = Suite::load(path, &known).map_err(|e| e.to_string())?;
            let (checks, rack) = (hilt_suites::all(), hilt_suites::rack());
            let metas: Vec<_> = checks
                .iter()
                .map(|c| c.meta())
                .chain(rack.iter().map(|c| c.meta()))
                .collect();
            suite.validate_params(&metas).map_err(|e| e.to_string())?;
            return Ok(suite);
        }
    }
    Err(format!(
        "no suite {name:?}: not a file, and not found as suites/{name}.yaml"
    ))
}

fn list(suite: Option<&str>, params: bool, exact: bool, filters: &[String]) -> i32 {
    // Board checks and rack-wide ones alike, by their metadata.
    let registry = hilt_suites::registry();
    let in_order: Vec<&hilt_harness::CheckMeta> = match suite {
        None => registry.metas().collect(),
        Some(name) => match find_suite(name) {
            Ok(suite) => suite
                .spec
                .checks
                .iter()
                .filter_map(|e| registry.meta(&e.check))
                .collect(),
            Err(e) => return fail(e),
        },
    };
    // The same selection as `hilt run -- FILTER...`, on check ids.
    let args = libtest_mimic::Arguments {
        exact,
        ..Default::default()
    };
    let selection = runner::Selection::new(&args, filters);
    // Columns as wide as their widest entry, so long names stay aligned.
    let selected: Vec<&hilt_harness::CheckMeta> = in_order
        .into_iter()
        .filter(|m| selection.selects(&m.id(), m.catalogue_id, false))
        .collect();
    let rows: Vec<[String; 5]> = selected
        .iter()
        .map(|m| {
            [
                m.catalogue_id.to_string(),
                m.id(),
                dash(m.nistir_8259a),
                dash(m.en_303_645),
                dash(m.ts_103_701),
            ]
        })
        .collect();
    let header = ["ID", "CHECK", "8259A", "EN 303 645", "TS 103 701"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$} {:<w1$} {:<w2$} {:<w3$} {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
    }
    if params {
        print_params(&mut out, &selected);
    }
    0
}

/// The suite parameters each check declares, as `hilt list --params` shows them.
fn print_params(out: &mut impl Write, checks: &[&hilt_harness::CheckMeta]) {
    let _ = writeln!(
        out,
        "\nPARAMETERS (suite `params:`; anything else is an error)"
    );
    for meta in checks {
        for spec in meta.params {
            let _ = writeln!(
                out,
                "{} {}.{}: {}\n    {}",
                meta.catalogue_id,
                meta.id(),
                spec.name,
                spec.type_text(),
                spec.meaning
            );
        }
    }
}

fn dash(items: &[&str]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

/// Adds every check's declared parameters to the description of a suite
/// entry's `params`, so editors show them.
fn describe_params(schema: &mut serde_json::Value) {
    let mut text = String::from("Parameters by check:");
    for check in hilt_suites::all() {
        let meta = check.meta();
        for spec in meta.params {
            text.push_str(&format!(
                "\n- {} `{}`: {}; {}",
                meta.id(),
                spec.name,
                spec.type_text(),
                spec.meaning
            ));
        }
    }
    if let Some(description) = schema
        .pointer_mut("/$defs/SuiteEntry/properties/params/description")
        .and_then(|d| d.as_str().map(|s| format!("{s}\n{text}")))
    {
        schema["$defs"]["SuiteEntry"]["properties"]["params"]["description"] = description.into();
    }
}

fn schema(kind: SchemaKind) -> i32 {
    let schema = match kind {
        SchemaKind::Board => serde_json::to_value(schemars::schema_for!(BoardFile)),
        SchemaKind::Suite => serde_json::to_value(schemars::schema_for!(SuiteFile)),
        SchemaKind::Record => Ok(hilt_reports::RunRecord::json_schema()),
        SchemaKind::Lab => serde_json::to_value(schemars::schema_for!(hilt_reports::ReportInfo)),
    };
    let mut schema = match schema {
        Ok(value) => value,
        Err(e) => return fail(e),
    };
    if let SchemaKind::Suite = kind {
        describe_params(&mut schema);
    }
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => fail(e),
    }
}
