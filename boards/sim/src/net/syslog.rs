//! RFC 5424 syslog of security events over UDP (RFC 5426).
//!
//! Every event the core records (`DeviceApi::subscribe_events`) goes out as
//! one datagram of at most [`MAX_MESSAGE`] bytes to the collector in
//! configuration key `syslog_collector` (`host:port`, IP literal). Unset,
//! empty (the factory default, also after a factory reset) or `off`:
//! nothing is sent, so a board leaks no cleartext security events until
//! someone points it at a collector. Firmware with `no-security-logging`
//! starts no sender at all.
//!
//! ```text
//! <84>1 2026-11-25T08:30:12Z SIM0-0A1B2C3D hilt-sim 4242 login_failed [hilt@32473 seq="7" source="https:198.18.0.1:40312" severity="4"] login failed for admin
//! ```
//! Facility 10 (security/authorization, "authpriv"), the event's own
//! severity; HOSTNAME is the device id, APP-NAME `hilt-sim`, PROCID the
//! board's process id, MSGID the event kind; SD-ID `hilt@32473` (32473 is
//! the documentation enterprise number of RFC 5612).

use std::net::UdpSocket;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{configured_destination, NetConfig, Shutdown};
use crate::device_api::{config_key, DeviceApi, Event};

/// Facility: security/authorization messages (authpriv).
pub const FACILITY: u8 = 10;
/// Largest datagram sent (RFC 5426 says receivers SHOULD take 2048).
pub const MAX_MESSAGE: usize = 2048;

/// Keeps printable US-ASCII (33..=126), at most `max` characters; `-` when
/// nothing is left (the NILVALUE).
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

/// Escapes a structured-data parameter value (RFC 5424, 6.3.3).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| !c.is_control()).take(256) {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats one event as an RFC 5424 message.
pub fn format_event(ev: &Event, hostname: &str, procid: u32) -> String {
    let severity = ev.severity.min(7);
    let pri = u16::from(FACILITY) * 8 + u16::from(severity);
    let mut msg = format!(
        "<{pri}>1 {} {} hilt-sim {} {} [hilt@32473 seq=\"{}\" source=\"{}\" severity=\"{}\"]",
        super::timefmt::rfc3339(ev.time, None),
        header_field(hostname, 255),
        procid,
        header_field(&ev.kind, 32),
        ev.seq,
        sd_escape(&ev.source),
        severity,
    );
    let detail: String = ev
        .detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !detail.is_empty() {
        msg.push(' ');
        if !detail.is_ascii() {
            msg.push('\u{feff}');
        }
        msg.push_str(&detail);
    }
    if msg.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    msg
}

/// Starts the sender: subscribes now (so no event after `start` is missed)
/// and forwards on its own thread until stopped.
pub(crate) fn spawn(
    api: Arc<dyn DeviceApi>,
    cfg: NetConfig,
    sock: UdpSocket,
    sd: Arc<Shutdown>,
) -> std::io::Result<JoinHandle<()>> {
    let rx = api.subscribe_events();
    let procid = std::process::id();
    std::thread::Builder::new()
        .name("net-syslog".into())
        .spawn(move || {
            while !sd.is_stopped() {
                let ev = match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(ev) => ev,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => {
                        // The core went away: wait for the stop.
                        while !sd.sleep(Duration::from_secs(1)) {}
                        return;
                    }
                };
                // No default collector: nothing leaves until one is set.
                let dest = configured_destination(
                    api.as_ref(),
                    config_key::SYSLOG_COLLECTOR,
                    None,
                    cfg.mode,
                );
                // A failure to log is not itself logged (that would loop).
                if let Ok(Some(addr)) = dest {
                    let host = api.identity().device_id;
                    let line = format_event(&ev, &host, procid);
                    let _ = sock.send_to(line.as_bytes(), addr);
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(detail: &str, source: &str) -> Event {
        Event {
            seq: 7,
            time: 1_700_000_000,
            severity: 4,
            kind: "login_failed".into(),
            source: source.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn formats_rfc5424() {
        let m = format_event(
            &ev("login failed for admin", "https:1.2.3.4:5"),
            "SIM-1",
            42,
        );
        assert_eq!(
            m,
            "<84>1 2023-11-14T22:13:20Z SIM-1 hilt-sim 42 login_failed \
             [hilt@32473 seq=\"7\" source=\"https:1.2.3.4:5\" severity=\"4\"] login failed for admin"
        );
    }

    #[test]
    fn escapes_and_bounds() {
        let m = format_event(&ev("a\nb", "x\"]\\y"), "bad host name", 1);
        assert!(m.contains(r#"source="x\"\]\\y""#), "{m}");
        assert!(m.contains(" badhostname "), "{m}");
        assert!(m.ends_with("a b"));
        let long = "é".repeat(3000);
        let m = format_event(&ev(&long, "s"), "h", 1);
        assert!(m.len() <= MAX_MESSAGE);
        assert!(m.contains('\u{feff}'));
    }
}
