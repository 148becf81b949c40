//! The client against labgrid's own coordinator and exporter (PyPI
//! `labgrid`), on loopback: places set up and read back with
//! `labgrid-client`, so what hilt's client did is checked by a tool
//! nobody here wrote. About 20 s (most of it labgrid-client's start-up).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use hilt_labgrid::watchdog::{self, Outcome, Watch};
use hilt_labgrid::{Client, LabgridError};

#[path = "../../../tests/support/command.rs"]
mod command;
#[path = "../../../tests/support/labgrid.rs"]
mod labgrid;

const TIMEOUT: Duration = Duration::from_secs(10);

fn free_loopback_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

const EXPORTED: &str = "
board-a:
  NetworkService:
    address: 198.19.70.10
    username: root
  NetworkPowerPort:
    model: simplerest
    host: 'http://198.19.70.2:8080/relay/{index}/{value}'
    index: 3
  NetworkSerialPort:
    host: 198.19.70.2
    port: 4001
board-b:
  NetworkService:
    address: 198.19.70.11
    username: root
";

struct Lab {
    _dir: tempfile::TempDir,
    _coordinator: labgrid::Running,
    _exporter: labgrid::Running,
    address: String,
}

fn lab() -> Lab {
    command::require_tool("labgrid-coordinator");
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = free_loopback_port();
    let address = listen.to_string();
    let coordinator = labgrid::coordinator(None, listen, dir.path());
    let exporter = labgrid::exporter(None, &address, "rack1", "198.19.70.2", EXPORTED, dir.path());
    labgrid::await_resources(None, &address, "rack1", 4);
    labgrid::create_place(
        None,
        &address,
        "pa",
        "rack1",
        "board-a",
        &["board=sim", "slot=a"],
    );
    labgrid::create_place(
        None,
        &address,
        "pb",
        "rack1",
        "board-b",
        &["board=sim", "slot=b"],
    );
    Lab {
        _dir: dir,
        _coordinator: coordinator,
        _exporter: exporter,
        address,
    }
}

/// One lab for the three stories (labgrid's programs take seconds to start).
#[test]
fn the_client_against_labgrids_coordinator() {
    let lab = lab();
    a_place_is_acquired_read_and_released_as_labgrid_sees_it(&lab);
    a_reservation_by_tags_gets_a_free_place_and_waits_for_a_held_one(&lab);
    the_watchdog_releases_only_when_its_holder_died(&lab);
}

fn a_place_is_acquired_read_and_released_as_labgrid_sees_it(lab: &Lab) {
    let mut hilt = Client::connect(&lab.address, "testhost/hilt-a", TIMEOUT).expect("session");
    let held = hilt.acquire("pa").expect("acquire pa");
    assert_eq!(
        labgrid::holder(None, &lab.address, "pa").as_deref(),
        Some("testhost/hilt-a")
    );

    // Another client cannot take it while it is held.
    let mut other = Client::connect(&lab.address, "testhost/other", TIMEOUT).expect("session");
    match other.acquire("pa") {
        Err(LabgridError::Refused { status, .. }) => {
            assert!(status.contains("already acquired"), "{status}")
        }
        other => panic!("a held place was acquired again: {other:?}"),
    }

    // Its resources, as the exporter published them.
    let resources = hilt.place_resources("pa").expect("resources");
    let class = |c: &str| {
        resources
            .iter()
            .find(|r| r.class == c)
            .unwrap_or_else(|| panic!("no {c} in {resources:?}"))
    };
    let serial = class("NetworkSerialPort").network_serial().expect("serial");
    assert_eq!((serial.host.as_str(), serial.port), ("198.19.70.2", 4001));
    assert_eq!(serial.protocol, "rfc2217");
    assert_eq!(
        class("NetworkService").network_address().as_deref(),
        Ok("198.19.70.10")
    );
    let power = class("NetworkPowerPort").network_power().expect("power");
    assert_eq!((power.model.as_str(), power.index), ("simplerest", 3));
    assert_eq!(resources.len(), 3, "only pa's resources: {resources:?}");

    // Releasing under another name leaves it held; under ours frees it.
    other.release_from("pa", "testhost/other").expect("no-op");
    assert!(labgrid::holder(None, &lab.address, "pa").is_some());
    hilt.release(&held).expect("release");
    assert_eq!(labgrid::holder(None, &lab.address, "pa"), None);
    // Twice is no error (the watchdog may release after hilt did).
    hilt.release(&held).expect("release again");

    // A place that does not exist is named as such.
    match hilt.place_resources("nope") {
        Err(e @ LabgridError::NoSuchPlace { .. }) => {
            assert!(e.to_string().contains("pa, pb"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

fn a_reservation_by_tags_gets_a_free_place_and_waits_for_a_held_one(lab: &Lab) {
    let mut first = Client::connect(&lab.address, "testhost/first", TIMEOUT).expect("session");
    let tags: BTreeMap<String, String> = [("slot".to_string(), "b".to_string())].into();
    let held = first
        .reserve_and_acquire(&tags, TIMEOUT, &|| false)
        .expect("pb is free");
    assert_eq!(held.place, "pb");
    let token = held.reservation.clone().expect("through a reservation");
    assert_eq!(
        labgrid::holder(None, &lab.address, "pb").as_deref(),
        Some("testhost/first")
    );
    let shown = labgrid::client_ok(None, &lab.address, &["reservations"]);
    assert!(shown.contains(&token), "{shown}");

    // The only place with these tags is held: a second reservation waits,
    // and is cancelled when hilt gives up.
    let mut second = Client::connect(&lab.address, "testhost/second", TIMEOUT).expect("session");
    let started = Instant::now();
    match second.reserve_and_acquire(&tags, Duration::from_secs(2), &|| false) {
        Err(LabgridError::Timeout { what, .. }) => assert!(what.contains("slot=b"), "{what}"),
        other => panic!("a held place was reserved: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    // A stop request ends the wait too.
    match second.reserve_and_acquire(&tags, TIMEOUT, &|| true) {
        Err(LabgridError::Stopped(_)) => {}
        other => panic!("{other:?}"),
    }

    first.release(&held).expect("release");
    let shown = labgrid::client_ok(None, &lab.address, &["reservations"]);
    assert!(
        !shown.contains(&token),
        "the reservation was not cancelled: {shown}"
    );
    let again = second
        .reserve_and_acquire(&tags, TIMEOUT, &|| false)
        .expect("pb is free again");
    assert_eq!(again.place, "pb");
    second.release(&again).expect("release");
}

fn the_watchdog_releases_only_when_its_holder_died(lab: &Lab) {
    let mut hilt = Client::connect(&lab.address, "testhost/hilt-w", TIMEOUT).expect("session");
    let held = hilt.acquire("pa").expect("acquire");
    let watch = Watch {
        coordinator: lab.address.clone(),
        place: "pa".into(),
        user: "testhost/hilt-w".into(),
        reservation: None,
    };
    // The holder said it released: the watchdog leaves the place alone.
    assert_eq!(
        watchdog::watch(&watch, watchdog::RELEASED),
        Ok(Outcome::ReleasedByHolder)
    );
    assert!(labgrid::holder(None, &lab.address, "pa").is_some());
    // The pipe closed without a word: the holder died.
    assert_eq!(
        watchdog::watch(&watch, &b""[..]),
        Ok(Outcome::ReleasedAfterDeath)
    );
    assert_eq!(labgrid::holder(None, &lab.address, "pa"), None);

    // Held by someone else by then: the watchdog does not take it from them.
    let mut next = Client::connect(&lab.address, "testhost/next", TIMEOUT).expect("session");
    let theirs = next.acquire("pa").expect("acquire");
    assert_eq!(
        watchdog::watch(&watch, &b""[..]),
        Ok(Outcome::ReleasedAfterDeath)
    );
    assert_eq!(
        labgrid::holder(None, &lab.address, "pa").as_deref(),
        Some("testhost/next")
    );
    next.release(&theirs).expect("release");
    let _ = held;
}

#[test]
fn nothing_listening_is_a_connection_error_named_for_the_coordinator() {
    let address = free_loopback_port().to_string();
    let started = Instant::now();
    match Client::connect(&address, "testhost/x", Duration::from_secs(3)) {
        Err(e @ (LabgridError::Connect { .. } | LabgridError::Timeout { .. })) => {
            assert!(e.to_string().contains(&address), "{e}")
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}
