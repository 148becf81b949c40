//! Sixteen boards at once on this small machine, each with its own
//! identity, PTY, address and debug port, with their network sides.

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn yaml_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} in board file"))
        .trim_matches('"')
        .to_string()
}

#[test]
fn sixteen_boards_run_at_once_with_distinct_identities_ptys_and_addresses() {
    let t = Instant::now();
    let sim = Sim::up_with(170, 16, &[], &[]);
    eprintln!("16 boards up in {:?}", t.elapsed());
    let mut ids = BTreeSet::new();
    let mut ttys = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for i in 170..186 {
        let dir = sim.board_dir(i);
        let tty = std::fs::read_link(dir.join("tty")).expect("tty link");
        ttys.insert(tty);
        let yaml = std::fs::read_to_string(dir.join("board.yaml")).expect("board file");
        let addr = yaml_value(&yaml, "address");
        addrs.insert(addr.clone());
        let mut c = sim.console(i);
        c.login("admin", &sim.password(i)).expect("login");
        let id = c.cmd("id");
        assert_eq!(id, format!("device_id: {}", sim.label_id(i)));
        ids.insert(id);
        // The board's declared HTTPS port answers on its own address.
        let port = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("- { port: "))
            .and_then(|r| r.split(',').next())
            .expect("declared port")
            .to_string();
        let sa: SocketAddr = format!("{addr}:{port}").parse().expect("address");
        TcpStream::connect_timeout(&sa, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("sim-{i} at {sa}: {e}"));
        // And its debug port on the host.
        TcpStream::connect_timeout(
            &format!("127.0.0.1:{}", 3333 + i)
                .parse()
                .expect("debug address"),
            Duration::from_secs(5),
        )
        .expect("debug port");
    }
    assert_eq!(ids.len(), 16);
    assert_eq!(ttys.len(), 16);
    assert_eq!(addrs.len(), 16);
}
