//! The telnet-like login service on tcp/23 (loopback: 10023): off by
//! default, on while configuration `telnet_enabled` is `true` (the network
//! side opens and closes the port as the setting changes), always on with
//! the `telnet-open` flaw.
//!
//! Prompts `login: ` and `Password: ` (checked by the core, with lockout;
//! with the default-password flaw admin/admin works), then a `sim> ` shell
//! with `id`, `version`, `status`, `help` and `logout` (or `exit`). Telnet
//! option negotiation from the client is skipped (never answered); lines end
//! at CR, LF or CR LF/CR NUL. Bounded: 3 login attempts, lines of 256 bytes,
//! 60 s idle, 10 min per session.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shutdown;
use crate::device_api::{AuthResult, DeviceApi};

const MAX_LINE: usize = 256;
const IDLE: Duration = Duration::from_secs(60);
const SESSION: Duration = Duration::from_secs(600);
const ATTEMPTS: usize = 3;

const IAC: u8 = 255;

/// Strips telnet commands from the input and splits it into lines.
struct LineReader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    /// Telnet command parsing state.
    state: u8,
    skip_lf: bool,
    deadline: Instant,
}

/// Parser states.
const DATA: u8 = 0;
const CMD: u8 = 1;
const OPT: u8 = 2;
const SUB: u8 = 3;
const SUB_IAC: u8 = 4;

impl<R: Read> LineReader<R> {
    fn new(inner: R, deadline: Instant) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            state: DATA,
            skip_lf: false,
            deadline,
        }
    }

    fn next_byte(&mut self) -> Option<u8> {
        if self.pos >= self.buf.len() {
            if Instant::now() > self.deadline {
                return None;
            }
            let mut chunk = [0u8; 512];
            let n = match self.inner.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            self.buf.clear();
            self.buf.extend_from_slice(&chunk[..n]);
            self.pos = 0;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Some(b)
    }

    /// The next line (without its end), `None` at end of input, timeout or
    /// an over-long line.
    fn line(&mut self) -> Option<String> {
        let mut line = Vec::new();
        loop {
            let b = self.next_byte()?;
            match self.state {
                DATA => {
                    if b == IAC {
                        self.state = CMD;
                        continue;
                    }
                    if self.skip_lf {
                        self.skip_lf = false;
                        if b == b'\n' || b == 0 {
                            continue;
                        }
                    }
                    match b {
                        b'\r' => {
                            self.skip_lf = true;
                            return Some(String::from_utf8_lossy(&line).into_owned());
                        }
                        b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
                        0x08 | 0x7f => {
                            line.pop();
                        }
                        b if b >= 0x20 => {
                            if line.len() >= MAX_LINE {
                                return None;
                            }
                            line.push(b);
                        }
                        _ => {}
                    }
                }
                CMD => {
                    self.state = match b {
                        251..=254 => OPT,
                        250 => SUB,
                        IAC => {
                            // Escaped 255 data byte: not printable text, drop.
                            DATA
                        }
                        _ => DATA,
                    }
                }
                OPT => self.state = DATA,
                SUB => {
                    if b == IAC {
                        self.state = SUB_IAC;
                    }
                }
                _ => {
                    // SUB_IAC: SE ends the subnegotiation.
                    self.state = if b == 240 { DATA } else { SUB };
                }
            }
        }
    }
}

/// Serves one telnet connection.
pub fn serve(api: &dyn DeviceApi, stream: TcpStream, peer: SocketAddr, _sd: &Arc<Shutdown>) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let source = format!("telnet:{peer}");
    let mut lines = LineReader::new(stream, Instant::now() + SESSION);
    let model = api.identity().model;
    if out
        .write_all(format!("\r\n{model}\r\n\r\n").as_bytes())
        .is_err()
    {
        return;
    }
    let mut logged_in = false;
    for _ in 0..ATTEMPTS {
        if out.write_all(b"login: ").is_err() {
            return;
        }
        let Some(user) = lines.line() else { return };
        if out.write_all(b"Password: ").is_err() {
            return;
        }
        let Some(password) = lines.line() else { return };
        match api.authenticate(user.trim(), &password, &source) {
            AuthResult::Ok => {
                logged_in = true;
                break;
            }
            // Same answer whether locked out or wrong.
            AuthResult::Denied | AuthResult::LockedOut => {
                if out.write_all(b"\r\nLogin incorrect\r\n").is_err() {
                    return;
                }
            }
        }
    }
    if !logged_in {
        return;
    }
    let _ = out.write_all(b"\r\n");
    loop {
        if out.write_all(b"sim> ").is_err() {
            return;
        }
        let Some(cmd) = lines.line() else { return };
        let reply = match cmd.trim() {
            "" => String::new(),
            "id" => format!("{}\r\n", api.identity().device_id),
            "version" => format!("{}\r\n", api.identity().firmware_version),
            "status" => {
                let st = api.status();
                format!("{} {}\r\n", st.health.as_str(), st.image_sha256)
            }
            "help" => "commands: id version status help logout\r\n".to_string(),
            "logout" | "exit" => {
                let _ = out.write_all(b"bye\r\n");
                return;
            }
            other => {
                let shown: String = other.chars().take(32).collect();
                format!("unknown command: {shown}\r\n")
            }
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_negotiation_and_splits_lines() {
        let input: Vec<u8> = [
            &[IAC, 251, 1, IAC, 250, 24, 0, b'x', IAC, 240][..],
            b"adm\x7fmin\r\0pw\r\nid\nver",
        ]
        .concat();
        let mut r = LineReader::new(&input[..], Instant::now() + Duration::from_secs(5));
        assert_eq!(r.line().as_deref(), Some("admin"));
        assert_eq!(r.line().as_deref(), Some("pw"));
        assert_eq!(r.line().as_deref(), Some("id"));
        assert_eq!(r.line(), None);
    }

    #[test]
    fn long_lines_end_the_session() {
        let input = vec![b'a'; MAX_LINE + 1];
        let mut r = LineReader::new(&input[..], Instant::now() + Duration::from_secs(5));
        assert_eq!(r.line(), None);
    }
}
