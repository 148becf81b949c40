//! The SSH login probe against Debian's dropbear and OpenSSH, each in a
//! namespace of its own with made-up accounts (root/root): a password
//! server takes root/root and refuses root/wrong; a keys-only server
//! refuses every password as "not offered"; OpenSSH with passwords by
//! keyboard-interactive (PAM) only takes them that way. The host key
//! fingerprint is checked against ssh-keygen's. Subnet 198.19.45.0/24
//! (helper ssh's), namespaces hilt-ssh-n1..n4. An expired password
//! (PAM asks for a new one) is neither a login nor a refusal.

#[path = "../../../tests/support/command.rs"]
mod command;
#[path = "../../../tests/support/ssh_server.rs"]
mod ssh_server;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use hilt_net::ssh::{read_identification, try_password, SshAuth};
use hilt_net::{Link, NetError, Stop};
use ssh_server::SshDevice;

const STEP: Duration = Duration::from_secs(10);

fn link(dev: &SshDevice) -> Link {
    Link::new(
        IpAddr::V4(dev.addr),
        Some(dev.host_if.clone()),
        Some(IpAddr::V4(dev.host_addr)),
    )
    .expect("link")
}

fn stop() -> Stop {
    Stop::after(Duration::from_secs(30))
}

#[test]
fn dropbear_with_passwords_takes_the_right_one_and_refuses_a_wrong_one() {
    let mut dev = SshDevice::new("n1", Ipv4Addr::new(198, 19, 45, 0));
    let pubkey = dev.dropbear(22, &[("root", "root")], true);
    let link = link(&dev);

    let ok = try_password(&link, 22, "root", "root", STEP, &stop()).expect("attempt");
    assert_eq!(
        ok.auth,
        SshAuth::Accepted {
            method: "password".into()
        },
        "{}",
        ok.transcript()
    );
    let id = ok.server_id.clone().expect("identification string");
    assert!(id.starts_with("SSH-2.0-dropbear"), "{id}");
    assert!(
        ok.methods.iter().any(|m| m == "password"),
        "{:?}",
        ok.methods
    );
    let key = ok.host_key.clone().expect("host key");
    assert_eq!(key.key_type, "ssh-ed25519");
    assert_eq!(
        key.sha256,
        SshDevice::fingerprint(&pubkey),
        "ssh-keygen disagrees"
    );

    let bad = try_password(&link, 22, "root", "wrong", STEP, &stop()).expect("attempt");
    assert!(
        matches!(bad.auth, SshAuth::Refused { .. }),
        "{}",
        bad.transcript()
    );
    assert!(!bad.transcript().contains("wrong"), "{}", bad.transcript());
    assert_eq!(bad.host_key, ok.host_key);

    // The identification string alone, read without logging in.
    let read = read_identification(&link, 22, STEP, &stop()).expect("identification");
    assert_eq!(read, id);
}

#[test]
fn a_keys_only_server_refuses_every_password_as_not_offered() {
    let mut dev = SshDevice::new("n2", Ipv4Addr::new(198, 19, 45, 4));
    dev.dropbear(22, &[("root", "root")], false);
    let link = link(&dev);
    for password in ["root", "wrong"] {
        let got = try_password(&link, 22, "root", password, STEP, &stop()).expect("attempt");
        match &got.auth {
            SshAuth::NotOffered { reason } => {
                assert!(
                    reason.contains("password authentication not offered"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}\n{}", got.transcript()),
        }
        assert_eq!(got.methods, ["publickey"]);
        assert!(
            got.tried.is_empty(),
            "no password was sent: {:?}",
            got.tried
        );
    }
}

#[test]
fn openssh_with_keyboard_interactive_only_takes_the_password_that_way() {
    let mut dev = SshDevice::new("n3", Ipv4Addr::new(198, 19, 45, 8));
    let pubkey = dev.sshd(2222, &[("root", "root")], true);
    let link = link(&dev);

    let ok = try_password(&link, 2222, "root", "root", STEP, &stop()).expect("attempt");
    assert_eq!(
        ok.auth,
        SshAuth::Accepted {
            method: "keyboard-interactive".into()
        },
        "{}",
        ok.transcript()
    );
    assert!(
        !ok.methods.iter().any(|m| m == "password"),
        "{:?}",
        ok.methods
    );
    assert!(
        ok.tried[0].prompts.iter().any(|p| p.contains("Password")),
        "{:?}",
        ok.tried
    );
    assert!(ok
        .server_id
        .as_deref()
        .unwrap_or("")
        .starts_with("SSH-2.0-OpenSSH"));
    assert_eq!(
        ok.host_key.as_ref().map(|k| k.sha256.clone()),
        Some(SshDevice::fingerprint(&pubkey))
    );

    let bad = try_password(&link, 2222, "root", "wrong", STEP, &stop()).expect("attempt");
    assert!(
        matches!(bad.auth, SshAuth::Refused { .. }),
        "{}",
        bad.transcript()
    );
}

/// An account whose password has expired (PAM asks for a new one after
/// taking the current one): the right password is neither a login nor a
/// refusal (no new password is ever sent); a wrong one is refused.
#[test]
fn an_expired_password_is_unknown_and_no_new_one_is_sent() {
    let mut dev = SshDevice::new("n4", Ipv4Addr::new(198, 19, 45, 12));
    dev.expired = true;
    dev.sshd(2222, &[("root", "root")], true);
    let link = link(&dev);
    let got = try_password(&link, 2222, "root", "root", STEP, &stop()).expect("attempt");
    match &got.auth {
        SshAuth::Unknown { reason } => assert!(reason.contains("new password"), "{reason}"),
        other => panic!("{other:?}\n{}", got.transcript()),
    }
    assert!(
        got.tried[0]
            .prompts
            .iter()
            .any(|p| p.to_ascii_lowercase().contains("new password")),
        "{:?}",
        got.tried
    );
    let bad = try_password(&link, 2222, "root", "wrong", STEP, &stop()).expect("attempt");
    assert!(
        matches!(bad.auth, SshAuth::Refused { .. }),
        "{}",
        bad.transcript()
    );
}

/// A port that accepts and then says nothing: the attempt ends within its
/// bound as the peer's silence, never as a verdict.
#[test]
fn a_silent_server_times_out_within_the_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        std::thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let started = Instant::now();
    let got = try_password(
        &Link::loopback(),
        port,
        "root",
        "root",
        Duration::from_millis(800),
        &stop(),
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(got, Err(NetError::Stopped(why)) if why == hilt_net::stop::TIMED_OUT),
        "{got:?}"
    );
    let _ = held.join();
}

/// Garbage instead of SSH (an HTTP server on the port): an error, no panic,
/// no verdict; the identification read names the missing string.
#[test]
fn a_server_that_does_not_speak_ssh_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().expect("accept");
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\xff\xfe\r\n\r\n");
        }
    });
    let got = try_password(&Link::loopback(), port, "root", "root", STEP, &stop());
    assert!(got.is_err(), "{got:?}");
    let id = read_identification(&Link::loopback(), port, STEP, &stop());
    assert!(
        matches!(&id, Err(NetError::Protocol(m)) if m.contains("without an SSH identification")),
        "{id:?}"
    );
    let _ = server.join();
}

/// A valid identification string, then junk where the key exchange should
/// be (random bytes, then a packet length of 4 GiB): an error, no panic.
#[test]
fn junk_after_the_identification_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        for junk in [
            &b"\x13\x37garbage-garbage-garbage"[..],
            &[0xff, 0xff, 0xff, 0xff, 0x0a, 0x14][..],
        ] {
            let (mut s, _) = listener.accept().expect("accept");
            let _ = s.write_all(b"SSH-2.0-Evil_1.0\r\n");
            let _ = s.write_all(junk);
            let _ = s.write_all(&[0u8; 64]);
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    for _ in 0..2 {
        let started = Instant::now();
        let got = try_password(
            &Link::loopback(),
            port,
            "root",
            "root",
            Duration::from_secs(2),
            &stop(),
        );
        assert!(got.is_err(), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let _ = server.join();
}
