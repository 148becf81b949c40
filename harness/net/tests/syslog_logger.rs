//! The syslog collector with util-linux `logger --rfc5424` as the sender.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use common::require_tool;
use hilt_net::syslog::{SyslogCollector, SyslogOptions};
use hilt_net::{Link, Stop};

fn logger(args: &[&str]) {
    require_tool("logger");
    let out = Command::new("logger").args(args).output().expect("logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn any() -> u16 {
    0
}

#[test]
fn udp_and_tcp_messages_from_logger() {
    let c = SyslogCollector::start(
        &Link::loopback(),
        Some(any()),
        Some(any()),
        SyslogOptions::default(),
    )
    .expect("start");
    let udp = c.udp_addr().expect("udp").port().to_string();
    let tcp = c.tcp_addr().expect("tcp").port().to_string();
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("now")
        .as_millis();
    logger(&[
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "-d",
        "-p",
        "auth.warning",
        "-t",
        "hiltapp",
        "--msgid",
        "LOGIN",
        "--sd-id",
        "login@32473",
        "--sd-param",
        "user=\"admin\"",
        "--sd-param",
        "result=\"fail\"",
        "failed login over udp",
    ]);
    logger(&[
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "--octet-count",
        "-p",
        "local3.info",
        "-t",
        "hiltapp",
        "octet counted over tcp",
    ]);
    logger(&[
        "--rfc5424",
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "-t",
        "hiltapp",
        "lf framed over tcp",
    ]);
    let stop = Stop::after(Duration::from_secs(10));
    let m = c
        .wait_for(
            |m| {
                m.parsed
                    .as_ref()
                    .is_some_and(|p| p.msg == "failed login over udp")
            },
            &stop,
        )
        .expect("udp message");
    assert_eq!(m.transport, "udp");
    let p = m.parsed.as_ref().expect("parsed");
    assert_eq!((p.facility, p.severity, p.version), (4, 4, 1));
    assert_eq!(p.app_name.as_deref(), Some("hiltapp"));
    assert_eq!(p.msgid.as_deref(), Some("LOGIN"));
    let sd = p
        .structured_data
        .iter()
        .find(|e| e.id == "login@32473")
        .expect("sd element");
    assert_eq!(
        sd.params,
        vec![
            ("user".into(), "admin".into()),
            ("result".into(), "fail".into())
        ]
    );
    assert!(p.hostname.is_some());
    let ts = p.timestamp_unix_ms.expect("timestamp");
    assert!(
        (ts - before as i64).abs() < 60_000,
        "sender timestamp {ts} vs {before}"
    );
    assert!(m.received_unix_ms >= before);

    let m = c
        .wait_for(
            |m| {
                m.parsed
                    .as_ref()
                    .is_some_and(|p| p.msg == "octet counted over tcp")
            },
            &stop,
        )
        .expect("tcp octet-counted message");
    assert_eq!(m.transport, "tcp");
    assert_eq!(
        m.parsed.as_ref().map(|p| (p.facility, p.severity)),
        Some((19, 6))
    );
    c.wait_for(
        |m| {
            m.parsed
                .as_ref()
                .is_some_and(|p| p.msg == "lf framed over tcp")
        },
        &stop,
    )
    .expect("tcp LF-framed message");
    let all = c.shutdown();
    assert!(all.iter().all(|m| m.parse_error.is_none()), "{all:?}");
}

#[test]
fn bsd_syslog_is_kept_raw_with_the_reason() {
    let c = SyslogCollector::start(
        &Link::loopback(),
        Some(any()),
        None,
        SyslogOptions::default(),
    )
    .expect("start");
    let udp = c.udp_addr().expect("udp").port().to_string();
    logger(&[
        "--rfc3164",
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "-d",
        "-t",
        "old",
        "legacy format",
    ]);
    let m = c
        .wait_for(
            |m| m.raw.contains("legacy format"),
            &Stop::after(Duration::from_secs(10)),
        )
        .expect("message");
    assert!(m.parsed.is_none());
    assert!(m.parse_error.is_some());
}

#[test]
fn message_cap_counts_the_rest_as_dropped() {
    let opts = SyslogOptions {
        max_messages: 2,
        ..Default::default()
    };
    let c = SyslogCollector::start(&Link::loopback(), Some(any()), None, opts).expect("start");
    let udp = c.udp_addr().expect("udp");
    let s = std::net::UdpSocket::bind(("127.0.0.1", 0)).expect("bind");
    for i in 0..5 {
        s.send_to(format!("<13>1 - - - - - - m{i}").as_bytes(), udp)
            .expect("send");
    }
    let stop = Stop::after(Duration::from_secs(10));
    while c.dropped() < 3 {
        assert!(stop.reason().is_none(), "dropped {}", c.dropped());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.messages().len(), 2);
}
