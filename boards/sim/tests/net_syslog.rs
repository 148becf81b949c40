//! Security events leave the board as RFC 5424 syslog over UDP.

mod net_common;

use std::net::UdpSocket;
use std::time::Duration;

use hilt_sim::net::{self, NetConfig, NetMode};
use net_common::{basic, https, roots_from, tls_client, MockDevice};

/// A strict parse of an RFC 5424 SYSLOG-MSG (section 6), as far as this
/// board uses it: returns (pri, hostname, app, procid, msgid, sd, msg).
fn parse_5424(m: &str) -> Result<[String; 7], String> {
    let rest = m.strip_prefix('<').ok_or("no PRI")?;
    let (pri, rest) = rest.split_once('>').ok_or("PRI not closed")?;
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad PRI {pri}"));
    }
    if pri.parse::<u32>().map_err(|e| e.to_string())? > 191 {
        return Err("PRI out of range".into());
    }
    let rest = rest.strip_prefix("1 ").ok_or("VERSION must be 1")?;
    let mut it = rest.splitn(6, ' ');
    let ts = it.next().ok_or("no TIMESTAMP")?;
    // FULL-DATE "T" FULL-TIME with Z (the board always sends UTC).
    let b = ts.as_bytes();
    let ok_ts = ts.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && ts.ends_with('Z')
        && ts[..4].bytes().all(|c| c.is_ascii_digit());
    if !ok_ts {
        return Err(format!("bad TIMESTAMP {ts}"));
    }
    let mut fields = Vec::new();
    for (name, max) in [
        ("HOSTNAME", 255),
        ("APP-NAME", 48),
        ("PROCID", 128),
        ("MSGID", 32),
    ] {
        let f = it.next().ok_or(format!("no {name}"))?;
        if f.is_empty() || f.len() > max || !f.bytes().all(|c| (33..=126).contains(&c)) {
            return Err(format!("bad {name} {f:?}"));
        }
        fields.push(f.to_string());
    }
    let tail = it.next().ok_or("no STRUCTURED-DATA")?;
    // One SD-ELEMENT: "[" SD-ID *(SP PARAM-NAME "=" DQUOTE value DQUOTE) "]".
    let (sd, msg) = if let Some(r) = tail.strip_prefix('-') {
        ("-".to_string(), r)
    } else {
        let bytes = tail.as_bytes();
        if bytes.first() != Some(&b'[') {
            return Err("SD must start with [".into());
        }
        let (mut i, mut in_q, mut esc) = (1, false, false);
        while i < bytes.len() {
            let c = bytes[i];
            if esc {
                esc = false;
            } else if in_q && c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_q = !in_q;
            } else if !in_q && c == b']' {
                break;
            }
            i += 1;
        }
        if i >= bytes.len() {
            return Err("SD not closed".into());
        }
        (tail[..=i].to_string(), &tail[i + 1..])
    };
    let msg = match msg.strip_prefix(' ') {
        Some(m) => m.trim_start_matches('\u{feff}').to_string(),
        None if msg.is_empty() => String::new(),
        None => return Err("MSG must follow a space".into()),
    };
    Ok([
        pri.to_string(),
        fields[0].clone(),
        fields[1].clone(),
        fields[2].clone(),
        fields[3].clone(),
        sd,
        msg,
    ])
}

#[test]
fn security_events_go_out_as_rfc5424() {
    let collector = UdpSocket::bind("127.0.0.1:0").expect("bind");
    collector
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let dev = MockDevice::new(230, &[]);
    dev.set(
        "syslog_collector",
        &collector.local_addr().expect("addr").to_string(),
    );
    let h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    // A failed login over HTTPS is a security event.
    let c = tls_client(roots_from(&dev.dir.path().join("manufacturer-ca.pem")));
    let r = https(
        &c,
        h.listener("https").expect("https"),
        "127.77.0.232",
        "GET",
        "/api/v1/status",
        Some(&basic("admin", "wrong")),
        b"",
    )
    .expect("request");
    assert_eq!(r.status, 401);
    let mut buf = [0u8; 4096];
    let (n, from) = collector.recv_from(&mut buf).expect("a syslog datagram");
    // Sent from the board's own address.
    assert_eq!(from.ip().to_string(), "127.77.0.232");
    let line = std::str::from_utf8(&buf[..n]).expect("UTF-8");
    let [pri, host, app, procid, msgid, sd, msg] = parse_5424(line).expect(line);
    assert_eq!(pri, "84", "authpriv.warning: {line}");
    assert_eq!(host, "SIM-TEST-0230");
    assert_eq!(app, "hilt-sim");
    assert_eq!(procid, std::process::id().to_string());
    assert_eq!(msgid, "login_failed");
    assert!(sd.starts_with("[hilt@32473 seq=\"1\""), "{sd}");
    assert!(sd.contains("source=\"https:127.0.0.1:"), "{sd}");
    assert_eq!(msg, "login failed");
}

#[test]
fn no_security_logging_sends_nothing() {
    let collector = UdpSocket::bind("127.0.0.1:0").expect("bind");
    collector
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let dev = MockDevice::new(231, &["no-security-logging", "plaintext-api"]);
    dev.set(
        "syslog_collector",
        &collector.local_addr().expect("addr").to_string(),
    );
    let h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    let r = net_common::http(
        h.listener("http").expect("http"),
        "GET",
        "/api/v1/status",
        Some(&basic("admin", "wrong")),
        b"",
    )
    .expect("request");
    assert_eq!(r.status, 401);
    assert_eq!(dev.events_of("login_failed").len(), 1);
    let mut buf = [0u8; 4096];
    assert!(
        collector.recv_from(&mut buf).is_err(),
        "nothing may be sent"
    );
}

#[test]
fn nothing_is_sent_until_a_collector_is_configured() {
    // Empty (the factory default) and `off` both send nothing. On loopback
    // the host side is 127.0.0.1; an earlier default sent to port 5514
    // there, so listen on it too when it is free.
    let old_default = UdpSocket::bind("127.0.0.1:5514").ok();
    if old_default.is_none() {
        eprintln!("note: 127.0.0.1:5514 is taken; not watching the old default port");
    }
    let watcher = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for s in old_default.iter().chain([&watcher]) {
        s.set_read_timeout(Some(Duration::from_millis(1000)))
            .expect("timeout");
    }
    let dev = MockDevice::new(232, &["plaintext-api"]);
    let h = net::start(
        dev.clone(),
        NetConfig::for_device(dev.as_ref(), NetMode::Loopback),
    )
    .expect("start");
    let fail_login = || {
        let r = net_common::http(
            h.listener("http").expect("http"),
            "GET",
            "/api/v1/status",
            Some(&basic("admin", "wrong")),
            b"",
        )
        .expect("request");
        assert_eq!(r.status, 401);
    };
    let mut buf = [0u8; 4096];
    for setting in ["", "off"] {
        dev.set("syslog_collector", setting);
        let before = dev.events_of("login_failed").len();
        fail_login();
        assert_eq!(dev.events_of("login_failed").len(), before + 1);
        if let Some(s) = &old_default {
            assert!(
                s.recv_from(&mut buf).is_err(),
                "syslog_collector={setting:?} sent to the old default"
            );
        }
    }
    // Configured: the same event goes out.
    dev.set(
        "syslog_collector",
        &watcher.local_addr().expect("addr").to_string(),
    );
    watcher
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    fail_login();
    let (n, _) = watcher.recv_from(&mut buf).expect("a syslog datagram");
    assert!(String::from_utf8_lossy(&buf[..n]).contains(" login_failed "));
}

#[test]
fn the_parser_rejects_non_5424() {
    assert!(parse_5424("<13>Nov 25 08:00:00 host app: legacy BSD syslog").is_err());
    assert!(parse_5424("<84>1 2026-01-01T00:00:00Z h a 1 m - hello").is_ok());
    assert!(parse_5424("<84>1 2026-01-01T00:00:00Z h a 1 m [x@1 a=\"]\"").is_err());
}
