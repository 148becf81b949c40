//! The serial console transport: a tty (local device or PTY) or a raw TCP
//! export, an expect engine over a bounded rolling buffer, and a
//! timestamped transcript of every byte in both directions. The dialogue
//! (login, prompts, logout) is the console driver's, in `driver::console`.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

use crate::board::{LineEnding, Secret, SerialWiring};
use crate::scrub::Scrubber;
use crate::stop::StopSignal;

/// Bytes kept for matching. Older output is dropped: a chatty boot log
/// cannot grow memory without bound.
const MATCH_BUFFER: usize = 64 * 1024;
/// Transcript bytes kept per console (evidence); beyond this it is cut.
const TRANSCRIPT_LIMIT: usize = 4 * 1024 * 1024;
/// Transcript lines kept per console; beyond this, chunks join the last
/// line (a device echoing byte by byte would otherwise cost a line each).
const TRANSCRIPT_EVENTS: usize = 256 * 1024;
/// How long one read waits before re-checking deadline and interruption.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    #[error("cannot open serial console {what}: {source}")]
    Open { what: String, source: io::Error },
    #[error("serial console lost: {0}")]
    Lost(String),
    #[error(
        "no {pattern} from {console} within {} ({})",
        seconds(.waited_ms),
        shown_tail(.tail)
    )]
    Timeout {
        /// What was waited for, as a reader should see it.
        pattern: String,
        /// Which console (its device path or `host:port`).
        console: String,
        waited_ms: u128,
        /// The end of what the device printed (raw text, for callers to inspect).
        tail: String,
    },
    #[error("{0}")]
    Stopped(String),
    #[error("unsupported serial wiring: {0}")]
    Unsupported(String),
}

/// How much of the device's last output a timeout reason quotes.
const TAIL_SHOWN: usize = 80;

fn seconds(ms: &u128) -> String {
    format!("{:.1} s", *ms as f64 / 1000.0)
}

/// The end of the device's output for a reason: control characters
/// escaped (they would drive the reader's terminal), or a note that
/// nothing came at all.
fn shown_tail(tail: &str) -> String {
    if tail.is_empty() {
        return "nothing received".to_string();
    }
    let chars: Vec<char> = tail.chars().collect();
    let last = &chars[chars.len().saturating_sub(TAIL_SHOWN)..];
    let text: String = last.iter().collect();
    format!(
        "last {} characters: \"{}\"",
        last.len(),
        escape_controls(&text)
    )
}

/// Escapes control characters (C0, DEL, C1) and leaves the rest as is.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\r' => "\\r".to_string(),
            '\n' => "\\n".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\x{{{:02x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Patterns as a reason names them: `a` or `b`.
fn shown_patterns(patterns: &[&str]) -> String {
    patterns
        .iter()
        .map(|p| format!("`{}`", escape_controls(crate::board::declared_text(p))))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Anything bytes go through: a tty or a TCP stream.
trait Link: Read + Write + Send {}
impl<T: Read + Write + Send> Link for T {}

/// What matched, and what came before it.
#[derive(Debug, Clone)]
pub struct Match {
    /// Which pattern matched (index into the list given).
    pub index: usize,
    /// Output before the match (ANSI sequences removed), lossy UTF-8.
    pub before: String,
    /// The matched text.
    pub matched: String,
    /// Capture groups (index 0 is the whole match).
    pub captures: Vec<Option<String>>,
}

/// An open console.
pub struct Console {
    link: Box<dyn Link>,
    line_ending: LineEnding,
    /// Output not yet consumed, after `context` bytes already consumed:
    /// the last consumed byte is kept so a pattern anchored to a line
    /// start (`(?m)^`) knows whether the unconsumed text begins a line.
    buffer: Vec<u8>,
    context: usize,
    /// What the layer above noted the console rests at (a prompt it
    /// consumed); cleared by any new output.
    rest_mark: Option<u8>,
    transcript: Transcript,
    /// Secrets hidden from the transcript and from error messages.
    scrubber: Scrubber,
    /// Bytes received so far (the transcript may stop growing at its limit).
    received: u64,
    stop: StopSignal,
    lost: Option<String>,
    /// The device path or `host:port`, named in timeout reasons.
    name: String,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("buffered", &self.pending().len())
            .finish()
    }
}

impl Console {
    /// Opens the console the board file describes.
    pub fn open(
        wiring: &SerialWiring,
        base_dir: &Path,
        stop: StopSignal,
    ) -> Result<Self, SerialError> {
        let name: String;
        let link: Box<dyn Link> = if let Some(port) = &wiring.port {
            let path = base_dir.join(port);
            let what = path.display().to_string();
            name = what.clone();
            let tty = serialport::new(what.clone(), wiring.baud)
                .timeout(POLL)
                .open_native()
                .map_err(|e| SerialError::Open {
                    what: what.clone(),
                    source: io::Error::other(e.to_string()),
                })?;
            Box::new(tty)
        } else if let Some(socket) = &wiring.unix {
            let path = base_dir.join(socket);
            let what = path.display().to_string();
            name = what.clone();
            let open = |source| SerialError::Open {
                what: what.clone(),
                source,
            };
            let stream = std::os::unix::net::UnixStream::connect(&path).map_err(open)?;
            stream.set_read_timeout(Some(POLL)).map_err(open)?;
            Box::new(stream)
        } else if let Some(tcp) = &wiring.tcp {
            let what = tcp.to_string();
            name = what.clone();
            let stream = TcpStream::connect((tcp.host.as_str(), tcp.port)).map_err(|source| {
                SerialError::Open {
                    what: what.clone(),
                    source,
                }
            })?;
            stream
                .set_read_timeout(Some(POLL))
                .map_err(|source| SerialError::Open {
                    what: what.clone(),
                    source,
                })?;
            if wiring.rfc2217 {
                let link = super::rfc2217::Rfc2217::open(stream, wiring.baud)
                    .map_err(|source| SerialError::Open { what, source })?;
                Box::new(link)
            } else {
                Box::new(stream)
            }
        } else {
            return Err(SerialError::Unsupported(
                "serial wiring names no port".into(),
            ));
        };
        Ok(Self::from_link(link, wiring.line_ending, stop, name))
    }

    /// A console over any byte stream: a socket another transport opened,
    /// a scripted peer in a test or a fuzzer's input.
    pub fn from_stream<S: Read + Write + Send + 'static>(
        stream: S,
        line_ending: LineEnding,
        stop: StopSignal,
    ) -> Self {
        Self::from_link(
            Box::new(stream),
            line_ending,
            stop,
            "the console stream".into(),
        )
    }

    /// The same console named `name` in timeout reasons (`telnet
    /// 198.18.0.2:23` for a console another driver opened).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn from_link(
        link: Box<dyn Link>,
        line_ending: LineEnding,
        stop: StopSignal,
        name: String,
    ) -> Self {
        Self {
            link,
            line_ending,
            buffer: Vec::new(),
            context: 0,
            rest_mark: None,
            transcript: Transcript::new(),
            scrubber: Scrubber::default(),
            received: 0,
            stop,
            lost: None,
            name,
        }
    }

    /// The secrets to hide from the transcript and from error messages
    /// (device output quoted in a timeout).
    pub fn set_scrubber(&mut self, scrubber: Scrubber) {
        self.scrubber = scrubber;
    }

    /// Replaces the stop signal (a console reused across phases of a check).
    pub fn set_stop(&mut self, stop: StopSignal) {
        self.stop = stop;
    }

    /// The device path or `host:port`, as timeout reasons name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The board's line ending.
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// Records which prompt the console rests at (the driver's own tag),
    /// until new output arrives.
    pub fn mark_rest(&mut self, mark: Option<u8>) {
        self.rest_mark = mark;
    }

    /// The tag given to [`Console::mark_rest`], if nothing arrived since.
    pub fn rest_mark(&self) -> Option<u8> {
        self.rest_mark
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        self.transcript.sent(bytes);
        self.write_all(bytes)
    }

    /// Sends a line followed by the board's line ending.
    pub fn send_line(&mut self, line: &str) -> Result<(), SerialError> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(self.line_ending.as_bytes());
        self.send(&bytes)
    }

    /// Sends a secret line; the transcript shows `<redacted>`.
    pub fn send_secret_line(&mut self, secret: &Secret) -> Result<(), SerialError> {
        self.send_secret_line_as(secret, "<redacted>")
    }

    /// Sends a line that holds a secret (`passwd <new>` filled in); the
    /// transcript shows `shown`, which must not be empty.
    pub fn send_secret_line_as(&mut self, secret: &Secret, shown: &str) -> Result<(), SerialError> {
        // One transcript line, so a bare line ending in the transcript
        // always means an empty line was sent.
        let shown = if shown.is_empty() {
            "<redacted>"
        } else {
            shown
        };
        let mut shown = shown.as_bytes().to_vec();
        shown.extend_from_slice(self.line_ending.as_bytes());
        self.transcript.sent(&shown);
        let mut bytes = secret.expose().as_bytes().to_vec();
        bytes.extend_from_slice(self.line_ending.as_bytes());
        self.write_all(&bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        if let Some(why) = &self.lost {
            return Err(SerialError::Lost(why.clone()));
        }
        let result = self.link.write_all(bytes).and_then(|()| self.link.flush());
        result.map_err(|e| self.mark_lost(format!("write failed: {e}")))
    }

    fn mark_lost(&mut self, why: String) -> SerialError {
        self.transcript.note(&format!("console lost: {why}"));
        self.lost = Some(why.clone());
        SerialError::Lost(why)
    }

    /// Waits until `pattern` matches the output, bounded by `timeout` and
    /// the check's stop signal. Output up to the end of the match is consumed.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<Match, SerialError> {
        self.expect_any(&[pattern], timeout)
    }

    /// Waits for the first of several patterns.
    pub fn expect_any(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
    ) -> Result<Match, SerialError> {
        let compiled: Vec<Regex> = patterns
            .iter()
            .map(|p| {
                Regex::new(p)
                    .map_err(|e| SerialError::Unsupported(format!("bad pattern {p:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        let until = self.stop.bound(timeout);
        self.stop.set_waiting(format!(
            "console output matching {:?} for up to {} s",
            patterns.join(" | "),
            timeout.as_secs_f64()
        ));
        loop {
            if let Some(found) = self.find(&compiled) {
                return Ok(found);
            }
            if self.stop.is_interrupted() {
                return Err(SerialError::Stopped("run interrupted".into()));
            }
            if Instant::now() >= until {
                if self.stop.remaining().is_zero() {
                    return Err(SerialError::Stopped(format!(
                        "check deadline passed after {} waiting for {} from {}",
                        seconds(&started.elapsed().as_millis()),
                        shown_patterns(patterns),
                        self.name
                    )));
                }
                return Err(SerialError::Timeout {
                    pattern: shown_patterns(patterns),
                    console: self.name.clone(),
                    waited_ms: started.elapsed().as_millis(),
                    tail: self.tail(200),
                });
            }
            self.read_some()?;
        }
    }

    /// Like [`Console::expect_any`], but gives up early once the device,
    /// having printed something, has been silent for `quiet`: a board that
    /// halted after its boot log need not be waited on for the full
    /// `timeout`. The timeout error then carries what was printed last.
    pub fn expect_any_or_quiet(
        &mut self,
        patterns: &[&str],
        timeout: Duration,
        quiet: Duration,
    ) -> Result<Match, SerialError> {
        let started = Instant::now();
        let first_len = self.received;
        let mut last_len = first_len;
        let mut last_change = started;
        loop {
            let step = quiet.min(Duration::from_millis(250));
            match self.expect_any(patterns, step) {
                Err(SerialError::Timeout { .. }) => {}
                other => return other,
            }
            let now = Instant::now();
            let len = self.received;
            if len != last_len {
                last_len = len;
                last_change = now;
            }
            let spoke = len > first_len;
            if (spoke && now - last_change >= quiet) || now - started >= timeout {
                let pattern = if spoke && now - started < timeout {
                    format!(
                        "{} before the console fell silent for {}",
                        shown_patterns(patterns),
                        seconds(&quiet.as_millis())
                    )
                } else {
                    shown_patterns(patterns)
                };
                return Err(SerialError::Timeout {
                    pattern,
                    console: self.name.clone(),
                    waited_ms: started.elapsed().as_millis(),
                    tail: self.tail(200),
                });
            }
        }
    }

    /// Reads whatever arrives for `quiet` (bounded by the stop signal) and
    /// returns it; used to let a chatty console settle.
    pub fn drain(&mut self, quiet: Duration) -> Result<String, SerialError> {
        let until = self.stop.bound(quiet);
        while Instant::now() < until {
            if self.stop.is_interrupted() {
                return Err(SerialError::Stopped("run interrupted".into()));
            }
            self.read_some()?;
        }
        Ok(self.take_pending())
    }

    /// Consumes what has already arrived (one short read past it), so
    /// the next answer is not confused with older output.
    pub fn discard_pending(&mut self) -> Result<(), SerialError> {
        // Bounded: a console that never stops talking is read for at most
        // this long.
        let until = self.stop.bound(Duration::from_millis(500));
        while Instant::now() < until {
            let before = self.received;
            self.read_some()?;
            if self.received == before {
                break;
            }
        }
        self.take_pending();
        Ok(())
    }

    /// Runs one command and returns its output (the echo of the command
    /// and the next prompt removed); `prompt` is a pattern.
    pub fn command(
        &mut self,
        line: &str,
        prompt: &str,
        timeout: Duration,
    ) -> Result<String, SerialError> {
        self.discard_pending()?;
        self.send_line(line)?;
        let found = self.expect(prompt, timeout)?;
        let out = found.before.replace('\r', "");
        let out = out
            .strip_prefix(line)
            .map(|rest| rest.trim_start_matches('\n'))
            .unwrap_or(&out);
        Ok(out.trim_end().to_string())
    }

    /// Output not yet consumed.
    fn pending(&self) -> &[u8] {
        &self.buffer[self.context..]
    }

    /// Consumes `len` bytes of pending output, keeping the last as context.
    fn consume(&mut self, len: usize) {
        let end = (self.context + len).min(self.buffer.len());
        if end > 0 {
            self.buffer.drain(..end - 1);
            self.context = 1;
        }
    }

    /// Consumes all pending output and returns it (lossy UTF-8).
    fn take_pending(&mut self) -> String {
        let text = String::from_utf8_lossy(self.pending()).into_owned();
        self.consume(self.pending().len());
        text
    }

    fn read_some(&mut self) -> Result<(), SerialError> {
        let mut chunk = [0u8; 4096];
        match self.link.read(&mut chunk) {
            Ok(0) => Err(self.mark_lost("end of stream (device closed the console)".into())),
            Ok(n) => {
                self.received += n as u64;
                self.rest_mark = None;
                self.transcript.received(&chunk[..n]);
                strip_ansi_into(&chunk[..n], &mut self.buffer);
                let pending = self.pending().len();
                if pending > MATCH_BUFFER {
                    self.consume(pending - MATCH_BUFFER);
                }
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            }
            Err(e) => Err(self.mark_lost(format!("read failed: {e}"))),
        }
    }

    fn find(&mut self, patterns: &[Regex]) -> Option<Match> {
        // Earliest match wins, so a prompt is not skipped for a later one.
        // Searching from `context` lets `^` see the byte before.
        let from = self.context;
        let (index, captures) = patterns
            .iter()
            .enumerate()
            .filter_map(|(i, re)| re.captures_at(&self.buffer, from).map(|c| (i, c)))
            .min_by_key(|(_, c)| c.get(0).map_or(usize::MAX, |m| m.start()))?;
        let whole = captures.get(0)?;
        let (start, end) = (whole.start(), whole.end());
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let found = Match {
            index,
            before: lossy(&self.buffer[from..start]),
            matched: lossy(&self.buffer[start..end]),
            captures: captures
                .iter()
                .map(|c| c.map(|m| lossy(m.as_bytes())))
                .collect(),
        };
        self.consume(end - from);
        Some(found)
    }

    /// The last output, for an error message: scrubbed while still raw,
    /// before anything quotes or escapes it. The whole match buffer
    /// (bounded) is scrubbed first, so a secret cut by the tail's start
    /// is hidden too.
    fn tail(&self, max: usize) -> String {
        let text = self
            .scrubber
            .scrub_text(&String::from_utf8_lossy(self.pending()));
        last_bytes(&text, max)
    }

    /// The transcript so far, one timestamped line per chunk, scrubbed of
    /// the console's secrets in the raw bytes before they are escaped.
    pub fn transcript(&self) -> String {
        self.transcript.render(&self.scrubber)
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, and two-byte
/// `ESC x`) and NUL bytes, so patterns match what a person sees.
fn strip_ansi_into(input: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == 0x1b {
            if input.get(i + 1) == Some(&b'[') {
                i += 2;
                while i < input.len() && !(0x40..=0x7e).contains(&input[i]) {
                    i += 1;
                }
                i += 1;
            } else {
                i += 2;
            }
            continue;
        }
        if b != 0 {
            out.push(b);
        }
        i += 1;
    }
}

/// Timestamped record of console traffic: `+SECONDS <` for received and
/// `+SECONDS >` for sent bytes, `#` for notes. The bytes are kept raw and
/// escaped only when rendered, after the secrets were found in them: an
/// escape (`\\`, `\x22`) or a chunk boundary (a device echoing one byte
/// per read) would otherwise split a secret where no scrub can see it.
struct Transcript {
    started: Instant,
    raw: Vec<u8>,
    lines: Vec<TranscriptLine>,
    cut: bool,
}

/// One chunk: when, which way, and where its bytes are in `raw`.
struct TranscriptLine {
    at_ms: u64,
    direction: char,
    start: usize,
    end: usize,
}

impl Transcript {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            raw: Vec::new(),
            lines: Vec::new(),
            cut: false,
        }
    }

    fn received(&mut self, bytes: &[u8]) {
        self.line('<', bytes);
    }

    fn sent(&mut self, bytes: &[u8]) {
        self.line('>', bytes);
    }

    fn note(&mut self, text: &str) {
        self.line('#', text.as_bytes());
    }

    fn line(&mut self, direction: char, bytes: &[u8]) {
        if self.cut {
            return;
        }
        if self.raw.len() + bytes.len() > TRANSCRIPT_LIMIT {
            self.cut = true;
            return;
        }
        let start = self.raw.len();
        self.raw.extend_from_slice(bytes);
        let end = self.raw.len();
        let full = self.lines.len() >= TRANSCRIPT_EVENTS;
        match self.lines.last_mut() {
            Some(last) if full && last.direction == direction => {
                last.end = end;
            }
            _ => self.lines.push(TranscriptLine {
                at_ms: self.started.elapsed().as_millis() as u64,
                direction,
                start,
                end,
            }),
        }
    }

    /// The text form, secrets (found in the raw bytes, across lines)
    /// shown once as `<redacted>` where they begin; a line holding nothing
    /// but the rest of a secret is left out.
    fn render(&self, scrubber: &Scrubber) -> String {
        let hidden = scrubber.ranges(&self.raw);
        let mut next_hidden = 0;
        let mut text = String::with_capacity(self.raw.len() + self.lines.len() * 12);
        for line in &self.lines {
            let mut body = String::new();
            let mut only_continuation = line.start < line.end;
            let mut at = line.start;
            while at < line.end {
                while hidden.get(next_hidden).is_some_and(|r| r.end <= at) {
                    next_hidden += 1;
                }
                match hidden.get(next_hidden) {
                    Some(r) if r.start <= at => {
                        if r.start >= line.start {
                            only_continuation = false;
                            if r.start == at {
                                body.push_str(crate::scrub::REDACTED);
                            }
                        }
                        at = r.end.min(line.end);
                    }
                    Some(r) => {
                        only_continuation = false;
                        let stop = r.start.min(line.end);
                        escape_into(&self.raw[at..stop], &mut body);
                        at = stop;
                    }
                    None => {
                        only_continuation = false;
                        escape_into(&self.raw[at..line.end], &mut body);
                        at = line.end;
                    }
                }
            }
            if only_continuation {
                continue;
            }
            let _ = writeln!(
                text,
                "+{}.{:03} {} {body}",
                line.at_ms / 1000,
                line.at_ms % 1000,
                line.direction
            );
        }
        if self.cut {
            text.push_str("# transcript limit reached; further traffic not recorded\n");
        }
        text
    }
}

/// Printable ASCII as is; everything else as `\xNN` (`\\`, `\n`, `\r`).
fn escape_into(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// The end of `text`, at most `max` bytes, starting on a character.
pub fn last_bytes(text: &str, max: usize) -> String {
    let mut from = text.len().saturating_sub(max);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..].to_string()
}

impl Console {
    /// Reads until the console has been quiet for `quiet` (or `max` passed)
    /// and returns what it showed, consuming it.
    pub fn settle(&mut self, quiet: Duration, max: Duration) -> Result<String, SerialError> {
        let start = Instant::now();
        let mut last_received = self.received;
        let mut last_change = Instant::now();
        loop {
            if self.stop.is_interrupted() {
                return Err(SerialError::Stopped("run interrupted".into()));
            }
            let now = Instant::now();
            if now.duration_since(last_change) >= quiet || now.duration_since(start) >= max {
                break;
            }
            if self.stop.remaining().is_zero() {
                return Err(SerialError::Stopped(format!(
                    "check deadline passed while reading {}",
                    self.name
                )));
            }
            self.read_some()?;
            if self.received != last_received {
                last_received = self.received;
                last_change = Instant::now();
            }
        }
        Ok(self.take_pending())
    }

    /// The last output (scrubbed), for an error message.
    pub fn last_output(&self, max: usize) -> String {
        self.tail(max)
    }

    /// Secrets hidden from the transcript, for the layer above to scrub
    /// text it quotes.
    pub fn scrub(&self, text: &str) -> String {
        self.scrubber.scrub_text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A scripted byte source for engine tests: real consoles are tested
    /// end-to-end on PTYs in tests/.
    struct Script {
        chunks: Arc<Mutex<VecDeque<Vec<u8>>>>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.chunks.lock().ok().and_then(|mut c| c.pop_front()) {
                Some(chunk) if chunk.is_empty() => Ok(0),
                Some(chunk) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    Ok(n)
                }
                None => Err(io::Error::new(io::ErrorKind::TimedOut, "idle")),
            }
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn console(chunks: &[&[u8]]) -> Console {
        let chunks = chunks.iter().map(|c| c.to_vec()).collect();
        let link = Script {
            chunks: Arc::new(Mutex::new(chunks)),
        };
        Console::from_link(
            Box::new(link),
            LineEnding::Cr,
            StopSignal::after(Duration::from_secs(5)),
            "/dev/pts/99".into(),
        )
    }

    #[test]
    fn matches_across_chunks_and_through_ansi() {
        let mut c = console(&[b"boot...\r\nlog", b"\x1b[1;32min\x1b[0m: "]);
        let m = c.expect("login: ", Duration::from_secs(1)).expect("match");
        assert_eq!(m.before, "boot...\r\n");
    }

    #[test]
    fn a_line_start_anchor_sees_what_was_consumed_before() {
        let login = crate::board::resting_prompt("login: ");
        // `Last ` consumed by an earlier match: the rest of the line does
        // not begin one, so `login: ` after it is no prompt.
        let mut c = console(&[b"Last ", b"login: "]);
        c.expect("Last ", Duration::from_secs(1))
            .expect("first part");
        assert!(c.expect(&login, Duration::from_millis(200)).is_err());
        // After a line break it is one.
        let mut c = console(&[b"boot\r\n", b"login: "]);
        c.expect("boot", Duration::from_secs(1)).expect("boot");
        assert!(c.expect(&login, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn new_output_clears_the_rest_mark() {
        let mut c = console(&[b"login: "]);
        c.mark_rest(Some(7));
        assert_eq!(c.rest_mark(), Some(7));
        let _ = c.settle(Duration::from_millis(50), Duration::from_millis(200));
        assert_eq!(c.rest_mark(), None);
    }

    #[test]
    fn timeout_reports_the_tail() {
        let mut c = console(&[b"nothing useful"]);
        match c.expect("login: ", Duration::from_millis(100)) {
            Err(SerialError::Timeout { tail, .. }) => assert_eq!(tail, "nothing useful"),
            other => panic!("expected timeout, got {other:?}"),
        }
    }

    #[test]
    fn timeout_reason_names_pattern_console_wait_and_escaped_tail() {
        let mut c = console(&[b"boot\r\n\x1b]0;title\x07\x9b", "\u{9b}x".as_bytes()]);
        let err = c
            .expect_any(&["login: ", "sim> "], Duration::from_millis(300))
            .expect_err("no prompt");
        let reason = err.to_string();
        assert!(
            reason.starts_with("no `login: ` or `sim> ` from /dev/pts/99 within 0."),
            "{reason}"
        );
        assert!(reason.contains(" s (last "), "{reason}");
        // Control characters are escaped (C0, BEL, C1), never passed through.
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        assert!(
            reason.contains("\\r\\n") && reason.contains("\\x{9b}x"),
            "{reason}"
        );

        let mut silent = console(&[]);
        let reason = silent
            .expect("login: ", Duration::from_millis(100))
            .expect_err("silent")
            .to_string();
        assert!(
            reason.starts_with("no `login: ` from /dev/pts/99 within 0.1 s (nothing received)"),
            "{reason}"
        );
    }

    #[test]
    fn quiet_after_output_ends_the_wait_early() {
        let mut c = console(&[b"[boot] verdict: no bootable image; halted\r\n"]);
        let started = Instant::now();
        let got = c.expect_any_or_quiet(
            &["login: "],
            Duration::from_secs(4),
            Duration::from_millis(300),
        );
        assert!(
            matches!(got, Err(SerialError::Timeout { ref tail, .. }) if tail.contains("halted"))
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "gave up after the quiet spell"
        );
    }

    #[test]
    fn silence_before_any_output_waits_for_the_full_timeout() {
        let mut c = console(&[]);
        let started = Instant::now();
        let got = c.expect_any_or_quiet(
            &["login: "],
            Duration::from_millis(900),
            Duration::from_millis(100),
        );
        assert!(matches!(got, Err(SerialError::Timeout { .. })));
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    #[test]
    fn a_prompt_still_matches_when_waiting_for_quiet() {
        let mut c = console(&[b"boot\r\n", b"login: "]);
        let m = c
            .expect_any_or_quiet(
                &["login: "],
                Duration::from_secs(2),
                Duration::from_millis(300),
            )
            .expect("prompt");
        assert_eq!(m.before, "boot\r\n");
    }

    #[test]
    fn end_of_stream_is_a_lost_console() {
        let mut c = console(&[b"partial", b""]);
        assert!(matches!(
            c.expect("login: ", Duration::from_secs(1)),
            Err(SerialError::Lost(_))
        ));
        assert!(matches!(c.send_line("x"), Err(SerialError::Lost(_))));
        assert!(c.transcript().contains("console lost"));
    }

    #[test]
    fn buffer_stays_bounded_under_flood() {
        let flood = vec![b'x'; 8192];
        let chunks: Vec<&[u8]> = std::iter::repeat_n(flood.as_slice(), 64).collect();
        let mut c = console(&chunks);
        let _ = c.expect("never", Duration::from_millis(300));
        assert!(c.pending().len() <= MATCH_BUFFER);
    }

    #[test]
    fn secrets_never_reach_the_transcript() {
        let mut c = console(&[]);
        let secret_ref = crate::board::SecretRef::Env("HILT_TEST_SERIAL_SECRET".into());
        std::env::set_var("HILT_TEST_SERIAL_SECRET", "pa55word");
        let secret = secret_ref.resolve(Path::new(".")).expect("set above");
        c.send_secret_line(&secret).expect("send");
        assert!(!c.transcript().contains("pa55word"));
        assert!(c.transcript().contains("<redacted>"));
    }

    #[test]
    fn transcript_escapes_control_bytes() {
        let mut c = console(&[b"a\x1b[0m\x07\r\n"]);
        let _ = c.expect("a", Duration::from_millis(200));
        assert!(
            c.transcript().contains("a\\x1b[0m\\x07\\r\\n"),
            "{}",
            c.transcript()
        );
    }
}
