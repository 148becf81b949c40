//! The login drivers against real daemons nobody here wrote, each in a
//! network namespace of this test (hilt-cr-*, 198.19.41.0/24 and up) with
//! made-up accounts: busybox telnetd running Debian's `/bin/login`.
//! Needs root (namespaces), busybox, openssl; CI runs as root.

mod support;

use std::time::Duration;

use hilt_harness::board::{Board, Secret};
use hilt_harness::driver::login::{self, LoginProbe, Outcome, Target};
use hilt_harness::scrub::Scrubber;
use hilt_harness::stop::StopSignal;
use hilt_net::Link;
use support::netns_device::{require_tool, Device};

const PASSWORD: &str = "Kx9-vault-Lm2q";

fn board(device: &Device, interfaces: &str) -> Board {
    std::fs::write(device.path("pw"), format!("{PASSWORD}\n")).expect("pw");
    let file = device.path("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: t\nmodel: m\nhardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ operator: {{ password: 'file:pw' }} }}\n  interfaces:\n{interfaces}",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board file");
    Board::load(&file).expect("board file loads")
}

fn probe(board: &Board, index: usize) -> Box<dyn LoginProbe> {
    let network = board.spec.hardware.network.as_ref().expect("network");
    let link = Link::new(
        network.address,
        network.interface.clone(),
        network.host_address,
    )
    .expect("link");
    let stop = StopSignal::after(Duration::from_secs(60));
    login::probe_for(Target {
        board,
        interface: &board.spec.declares.interfaces[index],
        link: &link,
        stop: &stop,
        scrubber: Scrubber::new(&board.secret_values()),
    })
    .expect("driver")
    .expect("a driver for the service")
}

#[test]
fn telnet_login_through_busybox_telnetd_and_debian_login() {
    require_tool("busybox");
    require_tool("openssl");
    let mut device = Device::new("hilt-cr-t1", "198.19.41");
    device.accounts(&[("operator", PASSWORD), ("admin", "admin")]);
    device.write("issue", "AcmeOS 4.2.1 (build 7731)\n");
    device.spawn_with_accounts(
        "telnetd.log",
        &format!(
            "busybox telnetd -F -p 23 -b {} -f {} -l /bin/login",
            device.address,
            device.path("issue").display()
        ),
    );
    device.wait_tcp(23, Duration::from_secs(5));
    let board = board(&device, "    - { port: 23, service: telnet }\n");
    let mut telnet = probe(&board, 0);
    assert_eq!(telnet.label(), "telnet 23/tcp");

    // A default credential the device really has: accepted.
    let weak = telnet
        .attempt("admin", &Secret::from_guess("admin"))
        .expect("attempt");
    assert_eq!(weak.outcome, Outcome::Accepted, "{}", weak.transcript);

    // A wrong password: refused, with Debian's words; never shown.
    let wrong = telnet
        .attempt("operator", &Secret::from_guess("admin"))
        .expect("attempt");
    assert!(
        matches!(&wrong.outcome, Outcome::Refused(said) if said.contains("Login incorrect")),
        "{:?}\n{}",
        wrong.outcome,
        wrong.transcript
    );

    // The declared account: accepted; its password not in the transcript.
    let password = board.account_password("operator").expect("password");
    let right = telnet.attempt("operator", &password).expect("attempt");
    assert_eq!(right.outcome, Outcome::Accepted, "{}", right.transcript);
    assert!(!right.transcript.contains(PASSWORD), "{}", right.transcript);
    assert!(
        right.transcript.contains("<redacted>"),
        "{}",
        right.transcript
    );

    // The pre-login text, read without logging in.
    let banner = telnet.banner().expect("banner").expect("telnet has one");
    assert!(banner.contains("AcmeOS 4.2.1"), "{banner:?}");
}
