//! Release after the holder dies. labgrid keeps a place acquired by a
//! client that vanished (and an acquired reservation does not lapse), so a
//! hilt killed with SIGKILL would leave its places locked for good. Each
//! held place gets a watchdog: a child process reading a pipe from hilt.
//! hilt writes `released` on it after releasing cleanly; if the pipe closes
//! without that line, hilt died, and the watchdog releases the place (only
//! if still held under hilt's session name) and cancels the reservation.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::Client;

/// What a clean release writes to the watchdog before closing the pipe.
pub const RELEASED: &[u8] = b"released\n";
/// How long the watchdog keeps trying to reach the coordinator.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// What one watchdog releases.
#[derive(Debug, Clone)]
pub struct Watch {
    pub coordinator: String,
    pub place: String,
    /// The session name hilt holds the place under.
    pub user: String,
    pub reservation: Option<String>,
}

impl Watch {
    /// The arguments a watchdog process is started with.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--coordinator".to_string(),
            self.coordinator.clone(),
            "--place".into(),
            self.place.clone(),
            "--user".into(),
            self.user.clone(),
        ];
        if let Some(token) = &self.reservation {
            args.extend(["--reservation".to_string(), token.clone()]);
        }
        args
    }

    /// Reads the arguments [`Watch::to_args`] wrote.
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        let mut coordinator = None;
        let mut place = None;
        let mut user = None;
        let mut reservation = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .clone();
            match flag.as_str() {
                "--coordinator" => coordinator = Some(value),
                "--place" => place = Some(value),
                "--user" => user = Some(value),
                "--reservation" => reservation = Some(value),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(Self {
            coordinator: coordinator.ok_or("--coordinator is required")?,
            place: place.ok_or("--place is required")?,
            user: user.ok_or("--user is required")?,
            reservation,
        })
    }
}

/// What a watchdog found when the pipe closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The holder released the place itself.
    ReleasedByHolder,
    /// The holder died; the watchdog released what was still held under
    /// its name.
    ReleasedAfterDeath,
}

/// Waits until `pipe` closes; unless the holder said `released` first,
/// releases the place.
pub fn watch(watch: &Watch, mut pipe: impl Read) -> Result<Outcome, String> {
    let mut said = Vec::new();
    // Bounded: the holder writes one short line at most.
    let _ = (&mut pipe).take(64).read_to_end(&mut said);
    if said.starts_with(RELEASED) {
        return Ok(Outcome::ReleasedByHolder);
    }
    let started = Instant::now();
    loop {
        match release(watch) {
            Ok(()) => return Ok(Outcome::ReleasedAfterDeath),
            Err(e) if started.elapsed() >= RETRY_FOR => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn release(watch: &Watch) -> Result<(), String> {
    let mut client = Client::connect(
        &watch.coordinator,
        &format!("{}-watchdog", watch.user),
        Duration::from_secs(5),
    )
    .map_err(|e| e.to_string())?;
    client
        .release_from(&watch.place, &watch.user)
        .map_err(|e| e.to_string())?;
    if let Some(token) = &watch.reservation {
        // Already gone (cancelled by the holder, lapsed) is fine.
        let _ = client.cancel_reservation(token);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_the_round_trip() {
        let w = Watch {
            coordinator: "198.19.70.1:20408".into(),
            place: "sim-220".into(),
            user: "host/hilt-1".into(),
            reservation: Some("ABC".into()),
        };
        let back = Watch::from_args(&w.to_args()).expect("parses");
        assert_eq!(back.place, "sim-220");
        assert_eq!(back.reservation.as_deref(), Some("ABC"));
        assert!(Watch::from_args(&["--place".into()]).is_err());
    }

    #[test]
    fn a_clean_release_leaves_nothing_to_do() {
        let w = Watch {
            coordinator: "127.0.0.1:1".into(),
            place: "p".into(),
            user: "u".into(),
            reservation: None,
        };
        assert_eq!(watch(&w, RELEASED), Ok(Outcome::ReleasedByHolder));
    }
}
