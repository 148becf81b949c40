//! A labgrid place as a board's wiring (`hardware.labgrid`). Before the
//! run, hilt acquires the place through the coordinator (hilt-labgrid) and
//! fills in the board's console, network address and power from the
//! resources the place holds; the [`Lease`] releases it when dropped.
//!
//! - `NetworkSerialPort` (ser2net, RFC 2217 or raw) -> `hardware.serial.tcp`
//! - `NetworkService` (its `address`) -> `hardware.network.address`
//! - `NetworkPowerPort` -> `hardware.power`, switched here as labgrid's
//!   client would: power drivers run in the client, not the exporter. The
//!   `simplerest` model is implemented (an HTTP GET of the exported URL
//!   with `{index}` and `{value}` filled in); other models are refused by
//!   name.
//!
//! A hilt killed with SIGKILL cannot release, and labgrid never releases a
//! vanished client's place, so each lease starts a watchdog process (see
//! hilt_labgrid::watchdog) that releases the place when hilt's end of a
//! pipe closes without a clean release.

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use hilt_labgrid::watchdog::{Watch, RELEASED};
use hilt_labgrid::{Client, Held, LabgridError, Resource};

use super::power::{PowerAction, PowerError};
use crate::board::{
    Board, HostPort, LabgridPower, LabgridWiring, NetworkWiring, PowerWiring, SerialWiring,
};

/// How long one coordinator call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts at a place someone else holds.
const RETRY: Duration = Duration::from_secs(1);
/// labgrid's NetworkPowerDriver waits this long between off and on in a cycle.
const CYCLE_DELAY: Duration = Duration::from_secs(2);
/// How long a power switch may take to answer.
const POWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The program a lease starts as its watchdog: `program args... WATCH-ARGS`
/// (hilt runs itself as `hilt labgrid-watchdog`).
#[derive(Debug, Clone)]
pub struct WatchdogCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// A place held for the run. Dropping it releases the place.
pub struct Lease {
    board: String,
    client: Client,
    held: Held,
    watchdog: Option<Watchdog>,
}

struct Watchdog {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Lease {
    pub fn place(&self) -> &str {
        &self.held.place
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let released = self.client.release(&self.held);
        if let Err(e) = &released {
            eprintln!(
                "hilt: {}: releasing labgrid place {}: {e} (its watchdog tries again)",
                self.board, self.held.place
            );
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            if let Some(mut pipe) = watchdog.pipe.take() {
                if released.is_ok() {
                    let _ = pipe.write_all(RELEASED);
                }
            }
            // The pipe is closed now; a watchdog told `released` leaves at
            // once. One that must release itself is left to finish.
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if let Ok(Some(_)) = watchdog.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The name hilt's session holds places under: `host/hilt-PID`, so a
/// watchdog releases only this run's places, never another run's.
fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/hilt-{}", std::process::id())
}

/// Acquires the board's labgrid place and wires the board from its
/// resources. `None` for a board without `hardware.labgrid`.
pub fn attach(
    board: &mut Board,
    watchdog: Option<&WatchdogCommand>,
    stopped: &dyn Fn() -> bool,
) -> Result<Option<Lease>, String> {
    let Some(wiring) = board.spec.hardware.labgrid.clone() else {
        return Ok(None);
    };
    let coordinator = wiring.coordinator.to_string();
    let name = session_name();
    let mut client =
        Client::connect(&coordinator, &name, CALL_TIMEOUT).map_err(|e| e.to_string())?;
    let wait = Duration::from_secs(wiring.wait_s);
    let (held, watchdog) = match &wiring.place {
        Some(place) => {
            // The watchdog first: if hilt dies between acquiring and
            // starting it, the place would stay locked.
            let watchdog = start_watchdog(watchdog, &coordinator, place, &name, None)?;
            let held = acquire_waiting(&mut client, place, wait, stopped)?;
            (held, watchdog)
        }
        None => {
            let held = client
                .reserve_and_acquire(&wiring.tags, wait, stopped)
                .map_err(|e| e.to_string())?;
            let watchdog = start_watchdog(
                watchdog,
                &coordinator,
                &held.place,
                &name,
                held.reservation.clone(),
            );
            match watchdog {
                Ok(w) => (held, w),
                Err(e) => {
                    let _ = client.release(&held);
                    return Err(e);
                }
            }
        }
    };
    let mut lease = Lease {
        board: board.name().to_string(),
        client,
        held,
        watchdog,
    };
    let place = lease.held.place.clone();
    let resources = lease
        .client
        .place_resources(&place)
        .map_err(|e| e.to_string())?;
    wire(board, &wiring, &resources).map_err(|e| format!("labgrid place {place}: {e}"))?;
    Ok(Some(lease))
}

/// Acquires `place`, trying again while someone else holds it.
fn acquire_waiting(
    client: &mut Client,
    place: &str,
    wait: Duration,
    stopped: &dyn Fn() -> bool,
) -> Result<Held, String> {
    let started = Instant::now();
    loop {
        match client.acquire(place) {
            Ok(held) => return Ok(held),
            Err(LabgridError::Refused { status, .. })
                if status.contains("already acquired") && started.elapsed() < wait =>
            {
                if stopped() {
                    return Err(format!("stopped while waiting for labgrid place {place}"));
                }
                std::thread::sleep(RETRY);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn start_watchdog(
    command: Option<&WatchdogCommand>,
    coordinator: &str,
    place: &str,
    user: &str,
    reservation: Option<String>,
) -> Result<Option<Watchdog>, String> {
    use std::os::unix::process::CommandExt;
    let Some(command) = command else {
        return Ok(None);
    };
    let watch = Watch {
        coordinator: coordinator.to_string(),
        place: place.to_string(),
        user: user.to_string(),
        reservation,
    };
    let mut child = Command::new(&command.program)
        .args(&command.args)
        .args(watch.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // Its own process group: a Ctrl-C at the terminal reaches hilt
        // (which releases) but must not kill the watchdog first.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start the labgrid watchdog {}: {e}",
                command.program.display()
            )
        })?;
    let pipe = child.stdin.take();
    Ok(Some(Watchdog { child, pipe }))
}

/// The watchdog's side, in the process a lease starts: reads the lease's
/// pipe on stdin and releases the place unless told it was released.
/// Returns what to log: nothing after a clean release.
pub fn watchdog(args: &[String]) -> Result<Option<String>, String> {
    use hilt_labgrid::watchdog::Outcome;
    let watch = Watch::from_args(args)?;
    Ok(
        match hilt_labgrid::watchdog::watch(&watch, std::io::stdin().lock())? {
            Outcome::ReleasedByHolder => None,
            Outcome::ReleasedAfterDeath => Some(format!(
                "labgrid place {} released after its holder died",
                watch.place
            )),
        },
    )
}

/// Fills in the console, network and power wiring from the place's resources.
fn wire(board: &mut Board, wiring: &LabgridWiring, resources: &[Resource]) -> Result<(), String> {
    let of = |class: &str| resources.iter().find(|r| r.class == class);
    let hw = &mut board.spec.hardware;
    if let Some(serial) = of("NetworkSerialPort") {
        let serial = serial.network_serial()?;
        let rfc2217 = match serial.protocol.as_str() {
            "rfc2217" => true,
            "raw" => false,
            other => {
                return Err(format!(
                    "serial protocol {other:?} is neither rfc2217 nor raw"
                ))
            }
        };
        hw.serial = Some(SerialWiring {
            port: None,
            tcp: Some(HostPort {
                host: serial.host,
                port: serial.port,
            }),
            unix: None,
            rfc2217,
            baud: serial.speed,
            line_ending: wiring.line_ending,
        });
    }
    if let Some(service) = of("NetworkService") {
        let address = resolve(&service.network_address()?)?;
        hw.network = Some(NetworkWiring {
            address,
            interface: wiring.interface.clone(),
            capture: None,
            host_address: None,
        });
    }
    if let Some(power) = of("NetworkPowerPort") {
        let power = power.network_power()?;
        hw.power = Some(PowerWiring::Labgrid(LabgridPower {
            model: power.model,
            host: power.host,
            index: power.index,
        }));
    }
    Ok(())
}

fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("the NetworkService address {host:?} does not resolve"))
}

/// Wires a labgrid board as [`attach`] would for a place that exports a
/// console, an address and power, without the coordinator: for previews
/// such as `--list` and `hilt board check`, which reach nothing. The
/// address is a stand-in from the documentation range (RFC 5737).
pub fn preview(board: &mut Board) {
    let Some(wiring) = board.spec.hardware.labgrid.clone() else {
        return;
    };
    let hw = &mut board.spec.hardware;
    hw.network = Some(NetworkWiring {
        address: IpAddr::from([192, 0, 2, 1]),
        interface: wiring.interface.clone(),
        capture: None,
        host_address: None,
    });
    hw.serial = Some(SerialWiring {
        port: None,
        tcp: Some(wiring.coordinator.clone()),
        unix: None,
        rfc2217: true,
        baud: 115_200,
        line_ending: wiring.line_ending,
    });
    hw.power = Some(PowerWiring::Labgrid(LabgridPower {
        model: "simplerest".into(),
        host: String::new(),
        index: 0,
    }));
}

/// Switches a `NetworkPowerPort` as labgrid's client driver for its model does.
pub fn power(port: &LabgridPower, action: PowerAction) -> Result<(), PowerError> {
    if port.model != "simplerest" {
        return Err(PowerError::Labgrid(format!(
            "NetworkPowerPort model {:?} is not supported (hilt switches `simplerest`)",
            port.model
        )));
    }
    match action {
        PowerAction::On => simplerest(port, true),
        PowerAction::Off => simplerest(port, false),
        PowerAction::Cycle => {
            simplerest(port, false)?;
            std::thread::sleep(CYCLE_DELAY);
            simplerest(port, true)
        }
    }
}

/// labgrid's `simplerest`: GET the exported URL with `{index}` and
/// `{value}` (1 on, 0 off) filled in; any 2xx answer is success.
fn simplerest(port: &LabgridPower, on: bool) -> Result<(), PowerError> {
    use hilt_net::http::{request, HttpOptions, HttpRequest, HttpTarget};
    let url = port
        .host
        .replace("{index}", &port.index.to_string())
        .replace("{value}", if on { "1" } else { "0" });
    let fault = |why: String| PowerError::Labgrid(format!("simplerest {url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fault("expected an http:// URL".into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port_number) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>()
                .map_err(|_| fault(format!("bad port in {authority:?}")))?,
        ),
        None => (authority, 80),
    };
    let address = resolve(host).map_err(fault)?;
    let target = HttpTarget::http(&hilt_net::link::Link::unbound(address), port_number);
    let opts = HttpOptions {
        timeout: POWER_TIMEOUT,
        ..HttpOptions::default()
    };
    let stop = hilt_net::stop::Stop::after(POWER_TIMEOUT);
    let response = request(&target, &HttpRequest::get(path), &opts, &stop)
        .map_err(|e| fault(e.to_string()))?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(fault(format!(
            "answered {} {}",
            response.status,
            response.reason.escape_debug()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_power_model_is_named() {
        let port = LabgridPower {
            model: "gude".into(),
            host: "192.0.2.1".into(),
            index: 1,
        };
        let err = power(&port, PowerAction::On).expect_err("not implemented");
        assert!(err.to_string().contains("\"gude\""), "{err}");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_before_any_traffic() {
        let port = LabgridPower {
            model: "simplerest".into(),
            host: "https://192.0.2.1/relay/{index}/{value}".into(),
            index: 1,
        };
        let err = power(&port, PowerAction::Off).expect_err("https is not simplerest's");
        assert!(err.to_string().contains("http://"), "{err}");
    }

    #[test]
    fn simplerest_gets_the_url_with_index_and_value() {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for status in ["200 OK", "500 Broken"] {
                let (mut stream, _) = listener.accept().expect("accept");
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).expect("read");
                lines.push(line.trim().to_string());
                let _ = write!(
                    stream,
                    "HTTP/1.0 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
            lines
        });
        let port = LabgridPower {
            model: "simplerest".into(),
            host: format!("http://{address}/relay/{{index}}/{{value}}"),
            index: 7,
        };
        power(&port, PowerAction::On).expect("200 switches");
        let err = power(&port, PowerAction::Off).expect_err("500 fails");
        assert!(err.to_string().contains("500"), "{err}");
        let lines = server.join().expect("server");
        assert_eq!(
            lines,
            ["GET /relay/7/1 HTTP/1.1", "GET /relay/7/0 HTTP/1.1"],
            "the requests"
        );
    }
}
