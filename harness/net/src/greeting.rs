//! Reading the greeting a service sends unasked (SSH's version line,
//! telnet's option negotiation, FTP's and SMTP's 220): the cheapest proof
//! that the process behind a port is running, since the kernel completes
//! a TCP handshake even for a frozen one.

use std::io::Read;
use std::time::Duration;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;

/// Connects to the board's `port` through its link and returns how many
/// bytes the service sent within `timeout` (at most 4 KiB are read; 0
/// means it stayed silent).
pub fn read_greeting(
    link: &Link,
    port: u16,
    timeout: Duration,
    stop: &Stop,
) -> Result<usize, NetError> {
    let stop = stop.within(timeout);
    let addr = link.to(port);
    let mut sock = crate::tls::tcp_connect(link, port, &stop)?;
    let mut buf = [0u8; 4096];
    loop {
        if stop.is_interrupted() {
            return Err(NetError::Stopped("interrupted"));
        }
        if stop.reason().is_some() {
            return Ok(0);
        }
        match sock.read(&mut buf) {
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(NetError::io(format!("reading the greeting of {addr}"), e)),
        }
    }
}
