//! `hilt rack`: the boards of this host and who holds them.

use clap::Subcommand;
use hilt_harness::rack::lease;

#[derive(Subcommand)]
pub enum RackCommand {
    /// List the lease files of this host: held (by which hilt, since
    /// when, for which board) or lapsed (last holder).
    Status {
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: RackCommand) -> i32 {
    match command {
        RackCommand::Status { json } => status(json),
    }
}

fn status(json: bool) -> i32 {
    let dir = lease::lease_dir();
    let leases = match lease::status(&dir) {
        Ok(leases) => leases,
        Err(e) => return crate::fail(format!("reading leases in {}: {e}", dir.display())),
    };
    if json {
        return match serde_json::to_string_pretty(&leases) {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => crate::fail(e),
        };
    }
    println!("leases in {}", dir.display());
    for entry in &leases {
        let state = if entry.held { "HELD " } else { "lapsed" };
        let (resource, who) = match &entry.holder {
            Some(h) => (
                h.resource.clone(),
                if entry.held {
                    h.describe()
                } else {
                    format!("last held by {}", h.describe())
                },
            ),
            None => (
                entry.file.display().to_string(),
                "no holder recorded".to_string(),
            ),
        };
        println!(
            "{state} {}  {}",
            hilt_reports::escape_controls(&resource),
            hilt_reports::escape_controls(&who)
        );
    }
    0
}
