//! Network serial as ser2net exports it with `telnet(rfc2217)`: a telnet
//! stream whose data bytes are the console's, with 0xFF doubled, telnet
//! negotiation in between, and COM-PORT-OPTION (RFC 2217) to set the line.
//!
//! `Rfc2217` is a byte link for the console: it negotiates binary mode,
//! suppress-go-ahead and the COM port option, sets the baud rate, escapes
//! what it writes and strips telnet commands from what it reads.

use std::io::{self, Read, Write};
use std::net::TcpStream;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const BINARY: u8 = 0;
const SUPPRESS_GO_AHEAD: u8 = 3;
const COM_PORT_OPTION: u8 = 44;
const SET_BAUDRATE: u8 = 1;
/// Longest subnegotiation kept; longer ones are skipped, never buffered.
const MAX_SUBNEGOTIATION: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Option(u8),
    Sub,
    SubIac,
}

/// Decodes the telnet stream: data bytes out, replies to negotiation kept
/// for the writer.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    sub: Vec<u8>,
    replies: Vec<u8>,
    /// Options we agree to enable on our side (a DO answered WILL).
    ours: &'static [u8],
    /// Options we agree the peer enables (a WILL answered DO).
    theirs: &'static [u8],
    /// The peer said it echoes (WILL ECHO, agreed).
    remote_echo: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::agreeing(RFC2217_OPTIONS, RFC2217_OPTIONS)
    }
}

/// What an RFC 2217 console link agrees to, on both sides.
const RFC2217_OPTIONS: &[u8] = &[BINARY, SUPPRESS_GO_AHEAD, COM_PORT_OPTION];
/// A telnet login client agrees to the server's echo and suppress-go-ahead
/// and to nothing on its own side (no terminal type, window size or
/// environment is sent; no binary mode, so CR LF stays a line ending).
const LOGIN_THEIRS: &[u8] = &[ECHO, SUPPRESS_GO_AHEAD];
const ECHO: u8 = 1;

impl Decoder {
    /// A decoder that answers DO with WILL for `ours`, WILL with DO for
    /// `theirs`, and refuses every other option.
    pub fn agreeing(ours: &'static [u8], theirs: &'static [u8]) -> Self {
        Self {
            state: State::Data,
            sub: Vec::new(),
            replies: Vec::new(),
            ours,
            theirs,
            remote_echo: false,
        }
    }

    /// Whether the peer echoes what is typed (it said WILL ECHO and it
    /// was agreed); otherwise a telnet client echoes locally (RFC 857).
    pub fn remote_echo(&self) -> bool {
        self.remote_echo
    }

    /// The decoder of a telnet login client (see [`Rfc2217::telnet`]).
    pub fn telnet_login() -> Self {
        Self::agreeing(&[], LOGIN_THEIRS)
    }

    /// Feeds raw bytes; appends console data to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    out.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Option(b),
                (State::Iac, SB) => {
                    self.sub.clear();
                    State::Sub
                }
                (State::Iac, _) => State::Data,
                (State::Option(verb), option) => {
                    self.answer(verb, option);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => {
                    if self.sub.len() < MAX_SUBNEGOTIATION {
                        self.sub.push(b);
                    }
                    State::Sub
                }
                (State::SubIac, SE) => State::Data,
                (State::SubIac, IAC) => {
                    if self.sub.len() < MAX_SUBNEGOTIATION {
                        self.sub.push(IAC);
                    }
                    State::Sub
                }
                (State::SubIac, _) => State::Sub,
            };
        }
    }

    /// Agrees to the options it was made with (an RFC 2217 link: binary,
    /// suppress-go-ahead and the COM port option); refuses everything else
    /// (echo included there: the device echoes itself).
    fn answer(&mut self, verb: u8, option: u8) {
        if option == ECHO {
            self.remote_echo = verb == WILL && self.theirs.contains(&ECHO);
        }
        let reply = match verb {
            DO if self.ours.contains(&option) => WILL,
            DO => WONT,
            WILL if self.theirs.contains(&option) => DO,
            WILL => DONT,
            // WONT/DONT need no answer once refused.
            _ => return,
        };
        self.replies.extend_from_slice(&[IAC, reply, option]);
    }

    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.replies)
    }
}

/// Doubles every 0xFF so data is not read as a telnet command.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out
}

/// The opening: our offers and the baud rate.
pub fn opening(baud: u32) -> Vec<u8> {
    let mut out = vec![
        IAC,
        WILL,
        BINARY,
        IAC,
        DO,
        BINARY,
        IAC,
        WILL,
        SUPPRESS_GO_AHEAD,
        IAC,
        DO,
        SUPPRESS_GO_AHEAD,
        IAC,
        WILL,
        COM_PORT_OPTION,
        IAC,
        SB,
        COM_PORT_OPTION,
        SET_BAUDRATE,
    ];
    out.extend_from_slice(&escape(&baud.to_be_bytes()));
    out.extend_from_slice(&[IAC, SE]);
    out
}

/// A console link over RFC 2217.
pub struct Rfc2217 {
    stream: TcpStream,
    decoder: Decoder,
    pending: Vec<u8>,
    /// A telnet login client shows a line break where a line was sent
    /// while the server does not echo (a terminal in local echo shows
    /// the line; the typed characters, maybe a password, are left out),
    /// so the server's next prompt starts a line as on a screen.
    echo_line_breaks: bool,
}

impl Rfc2217 {
    /// A plain telnet session (a login service, RFC 854) over `stream`:
    /// nothing is offered, the server's echo and suppress-go-ahead are
    /// agreed to and every other option refused; 0xFF is escaped as on any
    /// telnet stream.
    pub fn telnet(stream: TcpStream) -> Self {
        Self {
            stream,
            decoder: Decoder::telnet_login(),
            pending: Vec::new(),
            echo_line_breaks: true,
        }
    }

    pub fn open(mut stream: TcpStream, baud: u32) -> io::Result<Self> {
        stream.write_all(&opening(baud))?;
        Ok(Self {
            stream,
            decoder: Decoder::default(),
            pending: Vec::new(),
            echo_line_breaks: false,
        })
    }
}

impl Read for Rfc2217 {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            let mut raw = [0u8; 4096];
            let n = self.stream.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.decoder.feed(&raw[..n], &mut self.pending);
            let replies = self.decoder.take_replies();
            if !replies.is_empty() {
                self.stream.write_all(&replies)?;
            }
            if self.pending.is_empty() {
                // Only negotiation arrived: report "nothing yet" as a
                // timeout would, so callers poll again.
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "telnet negotiation only",
                ));
            }
        }
    }
}

impl Write for Rfc2217 {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write_all(&escape(buf))?;
        if self.echo_line_breaks && !self.decoder.remote_echo() && buf.ends_with(b"\n") {
            self.pending.extend_from_slice(b"\r\n");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_passes_and_commands_are_stripped() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(
            &[
                b'a',
                IAC,
                IAC,
                b'b',
                IAC,
                DO,
                COM_PORT_OPTION,
                b'c',
                IAC,
                DO,
                1,
            ],
            &mut out,
        );
        d.feed(
            &[IAC, SB, COM_PORT_OPTION, 101, 0, 0, IAC, IAC, IAC, SE, b'd'],
            &mut out,
        );
        assert_eq!(out, vec![b'a', IAC, b'b', b'c', b'd']);
        // COM port agreed, echo (1) refused.
        assert_eq!(
            d.take_replies(),
            vec![IAC, WILL, COM_PORT_OPTION, IAC, WONT, 1]
        );
    }

    #[test]
    fn a_telnet_login_agrees_to_echo_and_refuses_terminal_questions() {
        let mut d = Decoder::telnet_login();
        let mut out = Vec::new();
        // inetutils-telnetd's opening: DO TTYPE, WILL ECHO, WILL SGA, DO NAWS, DO BINARY.
        d.feed(
            &[
                IAC,
                DO,
                24,
                IAC,
                WILL,
                ECHO,
                IAC,
                WILL,
                SUPPRESS_GO_AHEAD,
                IAC,
                DO,
                31,
                IAC,
                DO,
                BINARY,
                b'l',
            ],
            &mut out,
        );
        assert_eq!(out, b"l");
        assert_eq!(
            d.take_replies(),
            vec![
                IAC,
                WONT,
                24,
                IAC,
                DO,
                ECHO,
                IAC,
                DO,
                SUPPRESS_GO_AHEAD,
                IAC,
                WONT,
                31,
                IAC,
                WONT,
                BINARY
            ]
        );
    }

    #[test]
    fn commands_split_across_reads_are_handled() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(&[b'x', IAC], &mut out);
        d.feed(&[WILL], &mut out);
        d.feed(&[BINARY, b'y'], &mut out);
        assert_eq!(out, b"xy");
        assert_eq!(d.take_replies(), vec![IAC, DO, BINARY]);
    }

    #[test]
    fn escaping_doubles_iac_and_the_baud_is_escaped_too() {
        assert_eq!(escape(&[1, IAC, 2]), vec![1, IAC, IAC, 2]);
        let open = opening(0x0001_c2ff);
        assert!(open.ends_with(&[0, 1, 0xc2, IAC, IAC, IAC, SE]));
    }

    #[test]
    fn garbage_never_panics_and_subnegotiation_stays_bounded() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let b = if seed % 7 == 0 {
                IAC
            } else {
                (seed >> 8) as u8
            };
            d.feed(&[b], &mut out);
            assert!(d.sub.len() <= MAX_SUBNEGOTIATION);
        }
    }
}
