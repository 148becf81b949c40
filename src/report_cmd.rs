//! `hilt report`: what is done with a run folder after the run: `verify`
//! it against its manifest, `diff` two runs, `merge` the
//! folders of a sharded run, `render` its record again.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use hilt_harness::board::SecretRef;
use hilt_reports::manifest::{self, SignatureStatus, SigningKey, VerifyingKey};

pub const VERIFY_EXIT_HELP: &str = "\
Exit status:
  0  every file matches the manifest, the record agrees with it, and the signature
     (if any) holds (for the --key given)
  1  a file was changed, is missing or was added, the record disagrees with the
     manifest, or the signature does not hold: each is printed naming its file
  2  usage error, or the manifest (or --key) cannot be read";

pub const DIFF_EXIT_HELP: &str = "\
Exit status:
  0  no regression: no trial of both runs went from PASS, NOT_APPLICABLE or DECLARED
     to FAIL, INCONCLUSIVE or ERROR (fixes, new or removed trials, other verdict
     changes and changed evidence are listed but do not count)
  1  at least one regression, or NEW is incomplete (an interrupted run cannot show
     that nothing regressed)
  2  usage error, or OLD or NEW cannot be read as a run record";

/// How `hilt report diff` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DiffFormat {
    /// One line per change, then a summary line and `diff: ...`.
    Text,
    /// The whole diff as one JSON object.
    Json,
}

/// What `hilt report render` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RenderFormat {
    /// junit.xml as a run writes it (evidence excerpts from the record's folder).
    Junit,
    /// A Markdown summary: boards, verdicts per 8259A capability, every
    /// FAIL, INCONCLUSIVE and ERROR with expected and observed.
    Md,
    /// report.html as a run writes it.
    Html,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Check a run folder against its manifest.json: every file's SHA-256
    /// and size, no file missing or added, the record's evidence hashes,
    /// and the Ed25519 signature.
    #[command(after_help = VERIFY_EXIT_HELP)]
    Verify {
        /// The run folder (`hilt-out/<run-id>`).
        dir: PathBuf,
        /// The lab's public key (`PUBLIC KEY` PEM, `openssl pkey -in KEY
        /// -pubout`): the manifest must be signed by this key. Without it
        /// the signature is checked against the key it names.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Compare two runs, per board and check: regressions, fixes, other
    /// verdict changes, new and removed trials, evidence whose SHA-256
    /// changed, and board identification that changed.
    #[command(after_help = DIFF_EXIT_HELP)]
    Diff {
        /// The earlier run: its folder or its record.json.
        old: PathBuf,
        /// The later run: its folder or its record.json.
        new: PathBuf,
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
    },
    /// Render a run record again, as JUnit, Markdown or HTML, on stdout or
    /// into a file (exit 2 when the record cannot be read).
    Render {
        /// The run folder, or its record.json.
        record: PathBuf,
        #[arg(long, value_enum)]
        format: RenderFormat,
        /// Write here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Combine the run folders of a sharded run (`hilt run --shard K/N`)
    /// into one: one record (same schema) with every shard's trials and
    /// boards, rack-wide checks judged again on all boards, the evidence,
    /// JUnit, HTML and a manifest. The shards must have run the same suite
    /// file with the same lab statements; a trial with different results
    /// in two shards is an error naming it.
    Merge {
        /// Run folders (or their record.json), one per shard.
        #[arg(required = true, num_args = 1..)]
        runs: Vec<PathBuf>,
        /// The merged run folder (created; must not exist yet).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Sign the merged manifest (as `hilt run --sign-key`).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<String>,
    },
}

pub fn run(command: ReportCommand) -> i32 {
    match command {
        ReportCommand::Verify { dir, key } => verify(&dir, key.as_deref()),
        ReportCommand::Diff { old, new, format } => diff(&old, &new, format),
        ReportCommand::Render {
            record,
            format,
            output,
        } => match render(&record, format, output.as_deref()) {
            Ok(()) => 0,
            Err(e) => crate::fail(e),
        },
        ReportCommand::Merge {
            runs,
            out,
            sign_key,
        } => match crate::merge_cmd::merge(&runs, &out, sign_key.as_deref()) {
            Ok(()) => 0,
            Err(e) => crate::fail(e),
        },
    }
}

/// The record of a run folder, or a record file; refuses a record format
/// this hilt does not know.
pub fn read_record(path: &Path) -> Result<hilt_reports::RunRecord, String> {
    let file = if path.is_dir() {
        path.join("record.json")
    } else {
        path.to_path_buf()
    };
    let record =
        hilt_reports::RunRecord::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    if record.format != hilt_reports::RECORD_FORMAT {
        return Err(format!(
            "{}: record format {} (this hilt reads format {})",
            file.display(),
            record.format,
            hilt_reports::RECORD_FORMAT
        ));
    }
    Ok(record)
}

/// Renders the record at `path` (a run folder or a record file); JUnit
/// quotes evidence from the folder the record is in.
fn render(path: &Path, format: RenderFormat, output: Option<&Path>) -> Result<(), String> {
    let record = read_record(path)?;
    let folder = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let bytes = match format {
        RenderFormat::Junit => {
            hilt_reports::junit::render(&record, Some(folder)).map_err(|e| e.to_string())?
        }
        RenderFormat::Md => hilt_reports::markdown::render(&record).into_bytes(),
        RenderFormat::Html => hilt_reports::html::render(&record).into_bytes(),
    };
    match output {
        Some(file) => {
            std::fs::write(file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .map_err(|e| format!("writing to stdout: {e}")),
    }
}

fn diff(old: &Path, new: &Path, format: DiffFormat) -> i32 {
    let (old, new) = match (read_record(old), read_record(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let diff = hilt_reports::diff::diff(&old, &new);
    let text = match format {
        DiffFormat::Text => hilt_reports::diff::render_text(&diff),
        DiffFormat::Json => match serde_json::to_string_pretty(&diff) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    diff.exit_code()
}

/// Reads `--sign-key KEY` (`env:NAME` or `file:PATH`, as any secret).
pub fn load_sign_key(reference: &str) -> Result<SigningKey, String> {
    let secret_ref = SecretRef::parse(reference).map_err(|e| format!("--sign-key: {e}"))?;
    if secret_ref == SecretRef::Label {
        return Err("--sign-key: expected `env:NAME` or `file:PATH`".into());
    }
    let secret = secret_ref
        .resolve(Path::new("."))
        .map_err(|e| format!("--sign-key: {e}"))?;
    SigningKey::from_pkcs8_pem(secret.expose()).map_err(|e| format!("--sign-key: {e}"))
}

fn verify(dir: &Path, key: Option<&Path>) -> i32 {
    let trusted = match key {
        None => None,
        Some(path) => {
            let pem = match hilt_harness::yaml::read_regular_file(path, 64 * 1024) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    eprintln!("error: --key {}: {e}", path.display());
                    return 2;
                }
            };
            match VerifyingKey::from_public_key_pem(&pem) {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("error: --key {}: {e}", path.display());
                    return 2;
                }
            }
        }
    };
    let result = match manifest::verify(dir, trusted.as_ref()) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    for problem in &result.problems {
        let _ = writeln!(
            out,
            "FAILED {}",
            hilt_reports::escape_controls(&problem.to_string())
        );
    }
    let signature = match &result.signature {
        SignatureStatus::Unsigned => "not signed".to_string(),
        SignatureStatus::SelfConsistent { fingerprint } => format!(
            "self-consistent, signed by key {fingerprint} (give --key to require the lab's key)"
        ),
        SignatureStatus::Trusted { fingerprint } => {
            format!("valid, signed by the trusted key {fingerprint}")
        }
        SignatureStatus::Invalid => "INVALID".to_string(),
    };
    let _ = writeln!(
        out,
        "{}: {} files, {} problem(s); signature {signature}",
        dir.display(),
        result.files,
        result.problems.len()
    );
    if result.ok() {
        let _ = writeln!(out, "verify: ok");
        0
    } else {
        let _ = writeln!(out, "verify: FAILED");
        1
    }
}
