//! The update shapes, each through its one path with a client of its own
//! (not hilt's drivers): SMP over UDP (`smp-udp-update`), the console's
//! base64 chunks (`console-upload`) and the multipart HTTPS upload
//! (`http-upload-only`), and that each leaves no other path (no SMP on the
//! console, no raw upload). Loopback wiring.
//!
//! Board indices: 55, 56, 57, 58.

mod common;
mod net_common;

use std::net::UdpSocket;
use std::time::Duration;

use base64::Engine as _;
use ciborium::value::Value;
use common::*;
use net_common::{basic, https, https_typed, roots_from, tls_client};

/// One SMP request over UDP; the answer's CBOR body.
fn smp_udp(sock: &UdpSocket, to: &str, group: u16, id: u8, seq: u8) -> Value {
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&Value::Map(vec![]), &mut cbor).expect("cbor");
    let mut msg = vec![0u8, 0];
    msg.extend_from_slice(&(cbor.len() as u16).to_be_bytes());
    msg.extend_from_slice(&group.to_be_bytes());
    msg.push(seq);
    msg.push(id);
    msg.extend_from_slice(&cbor);
    sock.send_to(&msg, to).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an SMP answer over UDP");
    assert!(n >= 8, "short answer");
    assert_eq!(buf[0] & 0x07, 1, "a read response");
    assert_eq!(buf[6], seq, "the request's sequence number");
    ciborium::de::from_reader(&buf[8..n]).expect("CBOR body")
}

#[test]
fn smp_over_udp_answers_image_state_and_the_console_none() {
    let sim = Sim::up_with(55, 1, &[], &["--loopback", "--shape", "smp-udp-update"]);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let state = smp_udp(&sock, "127.77.0.57:1337", 1, 0, 7);
    let images = map_get(&state, "images")
        .and_then(Value::as_array)
        .expect("images");
    let active = images
        .iter()
        .find(|i| map_get(i, "active").and_then(Value::as_bool) == Some(true))
        .expect("an active image");
    assert_eq!(
        map_get(active, "version").and_then(Value::as_text),
        Some("1.0.0")
    );
    // The console takes no SMP frames on this shape.
    let mut console = sim.console(55);
    let password = sim.password(55);
    console.login("admin", &password).expect("login");
    assert!(
        console.smp_image_state().is_err(),
        "SMP answered on the console"
    );
    let board = std::fs::read_to_string(sim.board_dir(55).join("board.yaml")).expect("board file");
    assert!(board.contains("smp-udp"), "{board}");
    assert!(!board.contains("smp-serial"), "{board}");
    sim.down();
}

#[test]
fn the_console_takes_an_image_in_base64_chunks_after_login_only() {
    let sim = Sim::up_with(56, 1, &[], &["--loopback", "--shape", "console-upload"]);
    let candidate = std::fs::read(sim.board_dir(56).join("candidate.bin")).expect("candidate");
    let mut console = sim.console(56);
    // At the login prompt the command is a user name.
    console.drain();
    console.send("fw-upload 0 AAAA");
    console
        .expect("Password: ", Duration::from_secs(5))
        .expect("a password prompt");
    console.send("x");
    console
        .expect("login: ", Duration::from_secs(10))
        .expect("the login prompt again");
    let password = sim.password(56);
    console.login("admin", &password).expect("login");
    assert!(
        console.smp_image_state().is_err(),
        "SMP answered on the console"
    );
    // The frame was a line of text to this console: its answer and prompt.
    console.drain();
    let b64 = base64::engine::general_purpose::STANDARD;
    for (i, chunk) in candidate.chunks(120).enumerate() {
        let out = console.cmd(&format!("fw-upload {} {}", i * 120, b64.encode(chunk)));
        assert_eq!(out, format!("ok {}", (i * 120 + chunk.len())), "chunk {i}");
    }
    assert!(console
        .cmd("fw-upload 5 AAAA")
        .starts_with("error: expected offset"));
    let installed = console.cmd("fw-install");
    assert!(
        installed.starts_with("ok version 1.1.0 sha256 "),
        "{installed}"
    );
    console.send("reboot");
    console.wait_boot();
    console.login("admin", &password).expect("login");
    assert!(console.cmd("version").contains("version: 1.1.0"));
    assert_eq!(console.cmd("fw-confirm"), "ok");
    sim.down();
}

#[test]
fn console_upload_unauthenticated_takes_chunks_at_the_login_prompt() {
    let sim = Sim::up_with(
        58,
        1,
        &["console-upload-unauthenticated"],
        &["--loopback", "--shape", "console-upload"],
    );
    let mut console = sim.console(58);
    console.drain();
    console.send("fw-upload 0 AAAA");
    console
        .expect("ok 3", Duration::from_secs(5))
        .expect("the chunk taken before login");
    sim.down();
}

#[test]
fn the_multipart_form_is_the_one_upload() {
    let sim = Sim::up_with(57, 1, &[], &["--loopback", "--shape", "http-upload-only"]);
    let cfg = tls_client(roots_from(&sim.board_dir(57).join("manufacturer-ca.pem")));
    let addr = "127.77.0.59:10443".parse().expect("address");
    let name = "127.77.0.59";
    let auth = basic("admin", &sim.password(57));
    let golden = std::fs::read(sim.board_dir(57).join("golden.bin")).expect("golden");
    let mut form = b"--B\r\nContent-Disposition: form-data; name=\"firmware\"; filename=\"fw.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    form.extend_from_slice(&golden);
    form.extend_from_slice(b"\r\n--B--\r\n");
    let multipart = Some("multipart/form-data; boundary=B");
    let path = "/api/v1/firmware/upload?mode=store";
    let anonymous =
        https_typed(&cfg, addr, name, "POST", path, None, multipart, &form).expect("HTTPS");
    assert_eq!(anonymous.status, 401);
    let taken = https_typed(
        &cfg,
        addr,
        name,
        "POST",
        path,
        Some(&auth),
        multipart,
        &form,
    )
    .expect("HTTPS");
    assert_eq!(
        taken.status,
        202,
        "{}",
        String::from_utf8_lossy(&taken.body)
    );
    assert_eq!(taken.json()["mode"], "store_only");
    let no_field = https_typed(
        &cfg,
        addr,
        name,
        "POST",
        path,
        Some(&auth),
        Some("multipart/form-data; boundary=B"),
        b"--B\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--B--\r\n",
    )
    .expect("HTTPS");
    assert_eq!(no_field.status, 400);
    let raw = https(
        &cfg,
        addr,
        name,
        "POST",
        "/api/v1/firmware",
        Some(&auth),
        &golden,
    )
    .expect("HTTPS");
    assert_eq!(raw.status, 404, "the raw upload is gone on this shape");
    sim.down();
}
