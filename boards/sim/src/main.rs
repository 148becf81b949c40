//! `hilt-sim`: start, stop and list simulated boards, build firmware for
//! them, and (internally) run one board process.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use hilt_sim::{board, firmware, lifecycle};

#[derive(Parser)]
#[command(
    name = "hilt-sim",
    version,
    about = "Simulated reference board for hilt"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start N boards in the background and wait for their login prompts.
    Up {
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Use indices BASE..BASE+COUNT (an index a running board holds is
        /// an error); without it, free indices are picked, lowest first.
        #[arg(long)]
        base_index: Option<u32>,
        #[arg(long, default_value = "/run/hilt")]
        runtime_dir: PathBuf,
        /// Provision with this flaw (repeatable; see `firmware --list-flaws`).
        #[arg(long)]
        flaw: Vec<String>,
        /// Dress the board as another kind of device (repeatable; see
        /// `firmware --list-shapes`).
        #[arg(long)]
        shape: Vec<String>,
        /// Use loopback addresses instead of network namespaces.
        #[arg(long)]
        loopback: bool,
        /// Erase flash first (a new device, new identity).
        #[arg(long)]
        fresh: bool,
        /// Do not start the network side.
        #[arg(long)]
        no_net: bool,
    },
    /// Stop boards (a power cut; flash persists).
    Down {
        #[arg(long, default_value = "/run/hilt")]
        runtime_dir: PathBuf,
        #[arg(long)]
        index: Option<u32>,
    },
    /// List boards in a runtime folder.
    Status {
        #[arg(long, default_value = "/run/hilt")]
        runtime_dir: PathBuf,
    },
    /// Build a signed firmware image (TEST key) with the given flaws.
    Firmware {
        #[arg(long)]
        flaw: Vec<String>,
        /// Build for this device shape (repeatable).
        #[arg(long)]
        shape: Vec<String>,
        #[arg(long, default_value = firmware::REFERENCE_VERSION)]
        version: String,
        #[arg(long, default_value_t = firmware::REFERENCE_SECURITY_COUNTER)]
        security_counter: u32,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write only the payload (manifest and code), for signing with imgtool.
        #[arg(long)]
        payload_only: bool,
        /// List the flaws and where they live.
        #[arg(long)]
        list_flaws: bool,
        /// List the device shapes.
        #[arg(long)]
        list_shapes: bool,
    },
    /// Print the board file of instance INDEX (for the committed
    /// boards/sim-*.yaml; `up` writes one per instance).
    #[command(hide = true)]
    BoardFile {
        #[arg(long)]
        index: u32,
        #[arg(long, default_value = "/run/hilt")]
        runtime_dir: PathBuf,
        /// Path of the trusted key as the board file should name it.
        #[arg(long)]
        trusted_key: Option<String>,
        #[arg(long)]
        loopback: bool,
        #[arg(long)]
        shape: Vec<String>,
    },
    /// Run one board in the foreground (what `up` starts).
    #[command(hide = true)]
    Board {
        #[arg(long)]
        index: u32,
        #[arg(long, default_value = "/run/hilt")]
        runtime_dir: PathBuf,
        #[arg(long)]
        flaw: Vec<String>,
        #[arg(long)]
        shape: Vec<String>,
        #[arg(long)]
        loopback: bool,
        #[arg(long)]
        no_net: bool,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("hilt-sim: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Up {
            count,
            base_index,
            runtime_dir,
            flaw,
            shape,
            loopback,
            fresh,
            no_net,
        } => {
            let runtime_dir = std::path::absolute(&runtime_dir)?;
            let boards = lifecycle::up(&lifecycle::UpOptions {
                count,
                base_index,
                runtime_dir,
                flaws: flaw,
                shapes: shape,
                loopback,
                fresh,
                no_net,
            })?;
            for (i, file) in boards {
                println!("sim-{i} {}", file.display());
            }
        }
        Cmd::Down { runtime_dir, index } => {
            for i in lifecycle::down(&runtime_dir, index)? {
                println!("sim-{i} stopped");
            }
        }
        Cmd::Status { runtime_dir } => {
            for l in lifecycle::status(&runtime_dir) {
                println!("{l}");
            }
        }
        Cmd::Firmware {
            flaw,
            shape,
            version,
            security_counter,
            out,
            payload_only,
            list_flaws,
            list_shapes,
        } => {
            if list_shapes {
                for s in hilt_sim::shapes::SHAPES {
                    println!("{:24} {}", s.name, s.summary);
                }
                return Ok(());
            }
            if list_flaws {
                for f in firmware::FLAWS {
                    let home = match f.home {
                        firmware::Home::Firmware => "firmware",
                        firmware::Home::Bootloader => "bootloader",
                    };
                    println!(
                        "{:32} {:10} {:32} {}",
                        f.name, home, f.capability, f.summary
                    );
                }
                return Ok(());
            }
            let Some(out) = out else {
                anyhow::bail!("--out FILE is required");
            };
            let bytes = if payload_only {
                firmware::Manifest::new(&flaw, &version)
                    .and_then(|m| m.with_shapes(&shape))
                    .map_err(anyhow::Error::msg)?
                    .payload()
            } else {
                firmware::build_shaped(&flaw, &shape, &version, security_counter)
                    .map_err(anyhow::Error::msg)?
            };
            std::fs::write(&out, bytes)?;
        }
        Cmd::BoardFile {
            index,
            runtime_dir,
            trusted_key,
            loopback,
            shape,
        } => {
            let dir = lifecycle::board_dir(&runtime_dir, index);
            let key =
                trusted_key.unwrap_or_else(|| dir.join("trusted-key.pem").display().to_string());
            print!(
                "{}",
                lifecycle::board_yaml_with(index, &dir, loopback, &key, &shape)?
            );
        }
        Cmd::Board {
            index,
            runtime_dir,
            flaw,
            shape,
            loopback,
            no_net,
        } => {
            lifecycle::keep_lock_private();
            let dir = lifecycle::board_dir(&runtime_dir, index);
            board::run(
                board::BoardOptions {
                    index,
                    dir,
                    flaws: flaw,
                    shapes: shape,
                    loopback,
                    no_net,
                },
                || {
                    // Tell `up` we reached the login prompt, then let go of
                    // its pipe so the board outlives it.
                    let mut so = std::io::stdout();
                    let _ = writeln!(so, "ready");
                    let _ = so.flush();
                    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                        use std::os::fd::AsRawFd as _;
                        // SAFETY: dup2 onto stdout with a valid fd.
                        unsafe {
                            libc::dup2(null.as_raw_fd(), 1);
                        }
                    }
                },
            )?;
        }
    }
    Ok(())
}
