//! The SSH login driver, chosen by `service: ssh` in a board file, against
//! Debian's dropbear in a namespace of this test (hilt-ssh-h1,
//! 198.19.45.16/30) with a made-up account root/root: port 22 takes
//! passwords, port 2022 public keys only. Needs root, dropbear-bin,
//! openssh-client and openssl.

#[path = "../../tests/support/command.rs"]
mod command;
#[path = "../../tests/support/ssh_server.rs"]
mod ssh_server;

use std::net::Ipv4Addr;
use std::time::Duration;

use hilt_harness::board::{Board, Secret};
use hilt_harness::driver::login::{self, LoginProbe, Outcome, Target};
use hilt_harness::scrub::Scrubber;
use hilt_harness::stop::StopSignal;
use hilt_net::Link;
use ssh_server::SshDevice;

fn board(dev: &SshDevice) -> Board {
    std::fs::write(dev.dir.join("pw"), "root\n").expect("pw");
    let file = dev.dir.join("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: t\nmodel: m\nhardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ root: {{ password: 'file:pw' }} }}\n  interfaces:\n\
             \x20   - {{ port: 22, service: ssh }}\n\
             \x20   - {{ port: 2022, service: SSH }}\n",
            dev.addr, dev.host_if, dev.host_addr
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
    .expect("a driver for ssh")
}

#[test]
fn ssh_login_through_dropbear_with_passwords_and_with_keys_only() {
    let mut dev = SshDevice::new("h1", Ipv4Addr::new(198, 19, 45, 16));
    dev.dropbear(22, &[("root", "root")], true);
    dev.dropbear(2022, &[("root", "root")], false);
    let board = board(&dev);

    let mut weak = probe(&board, 0);
    assert_eq!(weak.label(), "ssh 22/tcp");
    let banner = weak.banner().expect("banner").expect("an identification");
    assert!(banner.starts_with("SSH-2.0-dropbear_"), "{banner}");

    let taken = weak
        .attempt("root", &Secret::from_guess("root"))
        .expect("attempt");
    assert_eq!(taken.outcome, Outcome::Accepted, "{}", taken.transcript);
    assert!(taken.transcript.contains("host key: ssh-ed25519 SHA256:"));
    assert!(taken.transcript.contains("<redacted>"));

    let wrong = weak
        .attempt("root", &Secret::from_guess("hunter2"))
        .expect("attempt");
    assert!(
        matches!(&wrong.outcome, Outcome::Refused(why) if why.contains("refused the password")),
        "{:?}\n{}",
        wrong.outcome,
        wrong.transcript
    );
    assert!(!wrong.transcript.contains("hunter2"));
    assert_eq!(weak.passwords_not_taken(), None);

    let mut keys_only = probe(&board, 1);
    let refused = keys_only
        .attempt("root", &Secret::from_guess("root"))
        .expect("attempt");
    assert!(
        matches!(&refused.outcome, Outcome::Refused(why) if why.contains("password authentication not offered")),
        "{:?}\n{}",
        refused.outcome,
        refused.transcript
    );
    let why = keys_only.passwords_not_taken().expect("keys only");
    assert!(why.contains("publickey"), "{why}");
}
