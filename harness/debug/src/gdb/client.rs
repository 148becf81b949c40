//! A GDB remote serial protocol client over TCP.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::error::GdbError;
use super::packet::{
    self, escape_binary, expand_rle, frame, from_hex, from_hex_optional, parse_error_reply, to_hex,
    Decoder, Event, StopReply,
};
use super::transcript::Transcript;

/// Framing overhead of one packet: `$`, `#` and two checksum digits.
const FRAMING: usize = 4;
/// PacketSize assumed when the peer does not state one (what GDB assumes).
const DEFAULT_PACKET_SIZE: usize = 400;
/// Smallest PacketSize we honour; a peer claiming less gets this.
const MIN_PACKET_SIZE: usize = 64;
/// Room for `Xffffffffffffffff,ffffffff:` in write packets.
const WRITE_HEADER: usize = 28;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;
/// Packets that arrive while we wait for an acknowledgement and are kept
/// for the next reply; more than this is a confused peer.
const STASH_LIMIT: usize = 4;
/// Unsolicited stop replies kept for [`GdbClient::unsolicited_stops`] (the
/// rest are counted).
const UNSOLICITED_KEPT: usize = 16;
/// GDB's signal number for an interrupt (SIGINT): a stub that halted a
/// running target for its debugger reports it.
const SIGINT: u8 = 2;

/// What a request is answered with; decides which packets that arrive in
/// between are not its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A plain reply (`OK`, hex data, `Exx`, ...). A stop reply is not
    /// one: it is the stub saying the target halted (QEMU sends one as soon
    /// as a client connects to a running guest), noted and skipped. `O`
    /// console output is kept apart and skipped.
    Reply,
    /// A stop reply (`?`, `s`, `c`); `O` console output is skipped.
    Stop,
    /// `qRcmd`: `O` packets are the command's output; stop replies are
    /// skipped as for `Reply`.
    Monitor,
}

impl Expect {
    /// What a packet starting with these bytes is answered with.
    fn of(payload: &[u8]) -> Expect {
        match payload {
            [b'?'] => Expect::Stop,
            [b'c' | b's' | b'C' | b'S', ..] => Expect::Stop,
            p if p.starts_with(b"vCont;")
                || p.starts_with(b"vAttach;")
                || p.starts_with(b"vRun;")
                || p.starts_with(b"vStopped") =>
            {
                Expect::Stop
            }
            p if p.starts_with(b"qRcmd,") => Expect::Monitor,
            _ => Expect::Reply,
        }
    }
}

/// What a received payload is, as far as pairing replies goes.
enum Kind {
    /// A stop reply.
    Stop(StopReply),
    /// `O` console output (hex), decoded.
    Output(Vec<u8>),
    /// Anything else.
    Other,
}

fn classify(payload: &[u8]) -> Kind {
    if let Some(hex) = payload.strip_prefix(b"O") {
        if payload != b"OK" {
            if let Ok(text) = packet::from_hex(hex) {
                return Kind::Output(text);
            }
        }
    }
    match StopReply::parse(payload) {
        Some(stop) => Kind::Stop(stop),
        None => Kind::Other,
    }
}

/// How [`GdbClient::release`] left the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// `D` answered `OK`: the stub let go of the target, and a stub resumes
    /// it on detach (GDB's `detach`: "the process continues its
    /// execution"; QEMU, OpenOCD's default `gdb_detach resume`, Black
    /// Magic Probe).
    Detached,
    /// The stub refused `D`; the target was running when we connected, so
    /// it was resumed with `c` and the connection closed.
    Resumed,
}

/// Limits and timeouts of a connection.
#[derive(Debug, Clone)]
pub struct GdbConfig {
    /// Time allowed for the TCP connection.
    pub connect_timeout: Duration,
    /// Time allowed for one request and its reply (acks included).
    pub reply_timeout: Duration,
    /// Time allowed for a monitor command (`qRcmd`) to finish.
    pub monitor_timeout: Duration,
    /// Largest raw packet payload accepted from the peer.
    pub max_packet: usize,
    /// Largest payload after run-length expansion.
    pub max_reply: usize,
    /// Largest monitor output collected from `O` packets.
    pub max_monitor_output: usize,
    /// Transmissions of one packet before giving up on `-` replies.
    pub transmissions: u32,
    /// Transcript bytes kept (oldest dropped first).
    pub transcript_limit: usize,
    /// Ask the peer to drop acknowledgements (`QStartNoAckMode`) when it
    /// offers to.
    pub no_ack_mode: bool,
}

impl Default for GdbConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
            monitor_timeout: Duration::from_secs(30),
            max_packet: 64 * 1024,
            max_reply: 1024 * 1024,
            max_monitor_output: 256 * 1024,
            transmissions: 3,
            transcript_limit: 4 * 1024 * 1024,
            no_ack_mode: true,
        }
    }
}

/// Raw register bytes from `g`, in target byte order; `None` where the
/// stub marked the byte unavailable (`xx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registers(pub Vec<Option<u8>>);

impl Registers {
    /// Register `index` of a block of 32-bit little-endian registers (ARM:
    /// r0..r15 are indices 0..15). `None` if out of range or unavailable.
    pub fn u32_le(&self, index: usize) -> Option<u32> {
        let start = index.checked_mul(4)?;
        let bytes = self.0.get(start..start.checked_add(4)?)?;
        let mut word = [0u8; 4];
        for (dst, src) in word.iter_mut().zip(bytes) {
            *dst = (*src)?;
        }
        Some(u32::from_le_bytes(word))
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A connection to a GDB server (OpenOCD, J-Link GDB server, Black Magic
/// Probe, QEMU's gdbstub, hilt's simulated board).
pub struct GdbClient {
    stream: TcpStream,
    peer: String,
    config: GdbConfig,
    decoder: Decoder,
    read_buf: Box<[u8; READ_CHUNK]>,
    read_pos: usize,
    read_len: usize,
    stash: VecDeque<Vec<u8>>,
    ack_mode: bool,
    packet_size: usize,
    features: Vec<String>,
    binary_writes: bool,
    transcript: Transcript,
    lost: Option<String>,
    /// The connection is finished (detached, killed, or the socket died):
    /// nothing more is sent, not even on drop.
    closed: bool,
    /// Stop replies that answered nothing we asked.
    unsolicited: Vec<StopReply>,
    unsolicited_count: u64,
    /// Console output from `O` packets outside monitor commands (bounded
    /// by `max_monitor_output`; the rest is counted).
    console: Vec<u8>,
    console_dropped: u64,
    /// We sent `c`/`s`/`vCont` at some point.
    run_control_sent: bool,
    /// We resumed the target and have not seen it stop since.
    running: bool,
    /// The protocol showed the target running when we connected: the stub
    /// sent a stop reply before we ran it (it halted the target for us), or
    /// its first `?` answer said SIGINT (halted by an interrupt request).
    was_running: bool,
}

impl std::fmt::Debug for GdbClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdbClient")
            .field("peer", &self.peer)
            .field("ack_mode", &self.ack_mode)
            .field("packet_size", &self.packet_size)
            .finish()
    }
}

impl GdbClient {
    /// Connects to `addr` (`host:port`) and negotiates: `qSupported`
    /// (PacketSize, features), then `QStartNoAckMode` if the peer offers it
    /// and the config allows it.
    pub fn connect(addr: &str, config: GdbConfig) -> Result<Self, GdbError> {
        let mut client = Self::connect_raw(addr, config)?;
        client.negotiate()?;
        Ok(client)
    }

    /// Connects without negotiating anything (acknowledgements on, the
    /// default PacketSize). For peers that misbehave on `qSupported`.
    pub fn connect_raw(addr: &str, config: GdbConfig) -> Result<Self, GdbError> {
        let connect_err = |reason: String| GdbError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve the address: {e}")))?
            .collect();
        let mut last = String::from("the address resolved to nothing");
        let mut stream = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, config.connect_timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("{a}: {e}"),
            }
        }
        let stream = stream.ok_or_else(|| {
            connect_err(format!(
                "{last} (is the GDB server running and listening there?)"
            ))
        })?;
        let _ = stream.set_nodelay(true);
        stream
            .set_write_timeout(Some(config.reply_timeout))
            .map_err(|e| connect_err(e.to_string()))?;
        let mut transcript = Transcript::new(config.transcript_limit);
        transcript.note(&format!("connected to {addr}"));
        Ok(Self {
            stream,
            peer: addr.to_string(),
            decoder: Decoder::new(config.max_packet),
            read_buf: Box::new([0u8; READ_CHUNK]),
            read_pos: 0,
            read_len: 0,
            stash: VecDeque::new(),
            ack_mode: true,
            packet_size: DEFAULT_PACKET_SIZE,
            features: Vec::new(),
            binary_writes: true,
            transcript,
            lost: None,
            closed: false,
            unsolicited: Vec::new(),
            unsolicited_count: 0,
            console: Vec::new(),
            console_dropped: 0,
            run_control_sent: false,
            running: false,
            was_running: false,
            config,
        })
    }

    /// `qSupported`, then `QStartNoAckMode` when offered.
    pub fn negotiate(&mut self) -> Result<(), GdbError> {
        let reply = self.request(b"qSupported:swbreak+;hwbreak+")?;
        if let Some(err) = parse_error_reply(&reply) {
            return Err(GdbError::Refused {
                peer: self.peer.clone(),
                command: "qSupported".into(),
                reply: err,
            });
        }
        self.features = String::from_utf8_lossy(&reply)
            .split(';')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(size) = self
            .features
            .iter()
            .find_map(|f| f.strip_prefix("PacketSize="))
        {
            match usize::from_str_radix(size, 16) {
                Ok(n) if n >= MIN_PACKET_SIZE => self.packet_size = n,
                Ok(n) => {
                    self.transcript.note(&format!(
                        "peer PacketSize {n} is implausibly small; using {MIN_PACKET_SIZE}"
                    ));
                    self.packet_size = MIN_PACKET_SIZE;
                }
                Err(_) => {
                    return Err(self.protocol(format!("unreadable PacketSize {size:?}")));
                }
            }
        }
        if self.config.no_ack_mode && self.supports("QStartNoAckMode") {
            let reply = self.request(b"QStartNoAckMode")?;
            if reply == b"OK" {
                self.ack_mode = false;
                self.transcript
                    .note("acknowledgements off (QStartNoAckMode)");
            }
        }
        Ok(())
    }

    /// Where this client is connected.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Features from the peer's `qSupported` reply (`PacketSize=1000`,
    /// `qXfer:features:read+`, ...).
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// Whether the peer offered `name+` (or `name=...`) in `qSupported`.
    pub fn supports(&self, name: &str) -> bool {
        self.features.iter().any(|f| {
            f.strip_prefix(name)
                .is_some_and(|rest| rest == "+" || rest.starts_with('='))
        })
    }

    /// The packet size in use (the peer's PacketSize, or 400).
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// Whether `+`/`-` acknowledgements are still in use.
    pub fn ack_mode(&self) -> bool {
        self.ack_mode
    }

    /// The packets sent and received so far.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Sends one packet and returns the reply payload (run-length encoding
    /// expanded; `Exx` replies are returned as they are). The escape hatch
    /// for requests this client has no method for.
    ///
    /// A stop reply that arrives while the answer to anything but a
    /// run-control or `?` request is awaited is not its answer: it is
    /// noted ([`unsolicited_stops`](Self::unsolicited_stops)) and skipped,
    /// as are `O` console-output packets ([`console_output`](Self::console_output)).
    pub fn request(&mut self, payload: &[u8]) -> Result<Vec<u8>, GdbError> {
        let expect = Expect::of(payload);
        if expect == Expect::Stop {
            self.run_control(payload);
        }
        let deadline = Instant::now() + self.config.reply_timeout;
        let what = describe(payload);
        let result = self
            .send_packet(payload, deadline, &what, expect)
            .and_then(|()| self.recv_reply(deadline, &format!("the reply to {what}"), expect));
        self.desync_on_timeout(result)
    }

    /// Notes a run-control request (`c`, `s`, `vCont;...`): from now on a
    /// stop reply may be an answer, not a sign of how we found the target.
    fn run_control(&mut self, payload: &[u8]) {
        if payload != b"?" {
            self.run_control_sent = true;
        }
    }

    /// Whether the protocol showed the target running when this client
    /// connected: the stub sent a stop reply before we ran the target
    /// (QEMU halts a running guest when a client connects and says so with
    /// `T02`), or the first `?` answered SIGINT (halted by an interrupt
    /// request, as OpenOCD reports a halt on attach).
    /// [`release`](Self::release) leaves such a target running.
    pub fn target_was_running(&self) -> bool {
        self.was_running
    }

    /// Stop replies that answered nothing asked (the first 16), and how
    /// many there were in all.
    pub fn unsolicited_stops(&self) -> (&[StopReply], u64) {
        (&self.unsolicited, self.unsolicited_count)
    }

    /// Console output the stub sent in `O` packets outside monitor
    /// commands (bounded by `max_monitor_output`).
    pub fn console_output(&self) -> &[u8] {
        &self.console
    }

    fn note_unsolicited(&mut self, stop: StopReply) {
        self.unsolicited_count = self.unsolicited_count.saturating_add(1);
        self.running = false;
        let why = if self.run_control_sent {
            "the target stopped"
        } else {
            self.was_running = true;
            "the stub halted the running target for this client"
        };
        self.transcript.note(&format!(
            "unsolicited stop reply {stop:?}: {why}; not taken as a reply"
        ));
        if self.unsolicited.len() < UNSOLICITED_KEPT {
            self.unsolicited.push(stop);
        }
    }

    fn note_output(&mut self, text: &[u8]) {
        let room = self
            .config
            .max_monitor_output
            .saturating_sub(self.console.len());
        let kept = text.len().min(room);
        self.console.extend_from_slice(&text[..kept]);
        self.console_dropped = self
            .console_dropped
            .saturating_add((text.len() - kept) as u64);
        self.transcript.note(&format!(
            "console output ({} bytes) in an O packet; not taken as a reply",
            text.len()
        ));
    }

    /// The answer to a request: packets that cannot be it (see [`Expect`])
    /// are noted and skipped until the deadline.
    fn recv_reply(
        &mut self,
        deadline: Instant,
        what: &str,
        expect: Expect,
    ) -> Result<Vec<u8>, GdbError> {
        loop {
            let payload = self.recv_packet(deadline, what)?;
            match (classify(&payload), expect) {
                (Kind::Output(text), Expect::Reply | Expect::Stop) => self.note_output(&text),
                (Kind::Stop(stop), Expect::Reply | Expect::Monitor) => self.note_unsolicited(stop),
                (Kind::Stop(_), Expect::Stop) => {
                    self.running = false;
                    return Ok(payload);
                }
                _ => return Ok(payload),
            }
        }
    }

    /// A reply that arrives after its deadline would be taken as the reply
    /// to the next request. After a timeout the connection is therefore
    /// closed for further requests: reconnect.
    fn desync_on_timeout<T>(&mut self, result: Result<T, GdbError>) -> Result<T, GdbError> {
        if let Err(GdbError::Timeout { waiting_for, .. }) = &result {
            let why = format!(
                "an earlier request timed out ({waiting_for}); replies may be out of step, reconnect"
            );
            self.transcript.note(&why);
            self.lost = Some(why);
        }
        result
    }

    /// `?`: why the target is halted.
    pub fn halt_reason(&mut self) -> Result<StopReply, GdbError> {
        let reply = self.request(b"?")?;
        let stop = self.stop_reply("?", &reply)?;
        if !self.run_control_sent && stop.signal() == Some(SIGINT) && !self.was_running {
            self.was_running = true;
            self.transcript.note(
                "the stub says the target was halted by an interrupt (SIGINT): it was running",
            );
        }
        Ok(stop)
    }

    /// `g`: all general registers.
    pub fn read_registers(&mut self) -> Result<Registers, GdbError> {
        let reply = self.request(b"g")?;
        self.check_reply("g", &reply)?;
        from_hex_optional(&reply)
            .map(Registers)
            .map_err(|e| self.protocol(format!("bad register data: {e}")))
    }

    /// `p n`: one register, in target byte order.
    pub fn read_register(&mut self, number: u32) -> Result<Vec<u8>, GdbError> {
        let command = format!("p{number:x}");
        let reply = self.request(command.as_bytes())?;
        self.check_reply(&command, &reply)?;
        from_hex(&reply).map_err(|e| self.protocol(format!("bad register data: {e}")))
    }

    /// `qXfer:features:read:target.xml`: the target description XML (the
    /// architecture and register layout). Some stubs (QEMU) answer `p`
    /// only after a client has read it. Bounded by `max_reply`.
    pub fn target_description(&mut self) -> Result<String, GdbError> {
        self.read_xfer("features", "target.xml")
    }

    /// `qXfer:<object>:read:<annex>:offset,length`, the whole object.
    pub fn read_xfer(&mut self, object: &str, annex: &str) -> Result<String, GdbError> {
        let chunk = self.read_chunk();
        let mut out: Vec<u8> = Vec::new();
        loop {
            let command = format!("qXfer:{object}:read:{annex}:{:x},{chunk:x}", out.len());
            let reply = self.request(command.as_bytes())?;
            self.check_reply(&command, &reply)?;
            let (more, data) = match reply.split_first() {
                Some((b'm', data)) => (true, data),
                Some((b'l', data)) => (false, data),
                _ => {
                    return Err(self.protocol(format!(
                        "reply to {command} starts with neither m nor l: {}",
                        describe(&reply)
                    )))
                }
            };
            let data = packet::unescape_binary(data)
                .map_err(|e| self.protocol(format!("bad data for {command}: {e}")))?;
            if out.len() + data.len() > self.config.max_reply {
                return Err(GdbError::OutputTooLarge {
                    peer: self.peer.clone(),
                    limit: self.config.max_reply,
                });
            }
            out.extend_from_slice(&data);
            // `m` with no data would never end.
            if !more || data.is_empty() {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Largest memory read that fits one reply packet.
    fn read_chunk(&self) -> usize {
        let size = self.packet_size.min(self.config.max_packet);
        (size.saturating_sub(FRAMING) / 2).max(1)
    }

    /// `m addr,len`, split into reads that fit the packet size. A refused
    /// read gives [`GdbError::MemoryReadRefused`] with the stub's code.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, GdbError> {
        let mut out = Vec::with_capacity(len.min(self.config.max_reply));
        let chunk = self.read_chunk();
        while out.len() < len {
            let at = self.offset(addr, out.len())?;
            let want = (len - out.len()).min(chunk);
            let command = format!("m{at:x},{want:x}");
            let reply = self.request(command.as_bytes())?;
            if let Some(err) = parse_error_reply(&reply) {
                return Err(GdbError::MemoryReadRefused {
                    peer: self.peer.clone(),
                    addr: at,
                    len: want,
                    code: err.code,
                    text: err.text,
                });
            }
            if reply.is_empty() {
                return Err(self.protocol(format!(
                    "empty reply to {command} (memory reads unsupported, or nothing readable at {at:#x})"
                )));
            }
            let data = from_hex(&reply)
                .map_err(|e| self.protocol(format!("bad memory data for {command}: {e}")))?;
            if data.len() > want {
                return Err(self.protocol(format!(
                    "{command} returned {} bytes, more than asked",
                    data.len()
                )));
            }
            // A shorter reply is allowed: the stub read only part of it.
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    fn offset(&self, addr: u64, by: usize) -> Result<u64, GdbError> {
        u64::try_from(by)
            .ok()
            .and_then(|by| addr.checked_add(by))
            .ok_or(GdbError::AddressOverflow {
                addr,
                len: by as u64,
            })
    }

    /// `M addr,len:hex`, split to fit the packet size.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), GdbError> {
        let chunk = (self.packet_size.saturating_sub(FRAMING + WRITE_HEADER) / 2).max(1);
        let mut done = 0;
        while done < data.len() {
            let at = self.offset(addr, done)?;
            let end = (done + chunk).min(data.len());
            let part = &data[done..end];
            let mut command = format!("M{at:x},{:x}:", part.len()).into_bytes();
            command.extend_from_slice(to_hex(part).as_bytes());
            let reply = self.request(&command)?;
            self.write_reply(at, part.len(), &reply, "M")?;
            done = end;
        }
        Ok(())
    }

    /// `X addr,len:binary` (escaped), split to fit the packet size. Falls
    /// back to `M` if the peer answers `X` with an empty reply.
    pub fn write_memory_binary(&mut self, addr: u64, data: &[u8]) -> Result<(), GdbError> {
        let budget = self
            .packet_size
            .saturating_sub(FRAMING + WRITE_HEADER)
            .max(2);
        let mut done = 0;
        while done < data.len() {
            if !self.binary_writes {
                let at = self.offset(addr, done)?;
                return self.write_memory(at, &data[done..]);
            }
            // Take bytes while their escaped form fits the budget.
            let mut end = done;
            let mut size = 0;
            while end < data.len() {
                let cost = if packet::needs_escape(data[end]) {
                    2
                } else {
                    1
                };
                if size + cost > budget {
                    break;
                }
                size += cost;
                end += 1;
            }
            let at = self.offset(addr, done)?;
            let part = &data[done..end];
            let mut command = format!("X{at:x},{:x}:", part.len()).into_bytes();
            command.extend_from_slice(&escape_binary(part));
            let reply = self.request(&command)?;
            if reply.is_empty() {
                self.transcript
                    .note("peer does not support X; writing with M instead");
                self.binary_writes = false;
                continue;
            }
            self.write_reply(at, part.len(), &reply, "X")?;
            done = end;
        }
        Ok(())
    }

    fn write_reply(
        &mut self,
        at: u64,
        len: usize,
        reply: &[u8],
        kind: &str,
    ) -> Result<(), GdbError> {
        if reply == b"OK" {
            return Ok(());
        }
        if let Some(err) = parse_error_reply(reply) {
            return Err(GdbError::MemoryWriteRefused {
                peer: self.peer.clone(),
                addr: at,
                len,
                code: err.code,
                text: err.text,
            });
        }
        if reply.is_empty() {
            return Err(GdbError::Unsupported {
                peer: self.peer.clone(),
                command: kind.into(),
            });
        }
        Err(self.protocol(format!(
            "unexpected reply to {kind} at {at:#x}: {}",
            describe(reply)
        )))
    }

    /// `qRcmd`: a monitor command (OpenOCD `reset halt`, Black Magic
    /// `swdp_scan`, QEMU `info registers`, the simulator's `status`).
    /// Returns the output the peer sent in `O` packets and in its final
    /// reply, bounded by `monitor_timeout` and `max_monitor_output`.
    pub fn monitor(&mut self, command: &str) -> Result<String, GdbError> {
        let timeout = self.config.monitor_timeout;
        self.monitor_with_timeout(command, timeout)
    }

    /// [`monitor`](Self::monitor) with its own time limit.
    pub fn monitor_with_timeout(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<String, GdbError> {
        let deadline = Instant::now() + timeout;
        let mut packet = b"qRcmd,".to_vec();
        packet.extend_from_slice(to_hex(command.as_bytes()).as_bytes());
        let what = format!("monitor {command:?}");
        let result = self.monitor_exchange(&packet, deadline, command, &what);
        self.desync_on_timeout(result)
    }

    fn monitor_exchange(
        &mut self,
        packet: &[u8],
        deadline: Instant,
        command: &str,
        what: &str,
    ) -> Result<String, GdbError> {
        self.send_packet(packet, deadline, what, Expect::Monitor)?;
        let mut output: Vec<u8> = Vec::new();
        loop {
            let reply =
                self.recv_reply(deadline, &format!("the output of {what}"), Expect::Monitor)?;
            if reply == b"OK" {
                break;
            }
            if let Some(err) = parse_error_reply(&reply) {
                return Err(GdbError::MonitorRefused {
                    peer: self.peer.clone(),
                    command: command.into(),
                    code: err.code,
                    output: String::from_utf8_lossy(&output).into_owned(),
                });
            }
            if reply.is_empty() {
                return Err(GdbError::Unsupported {
                    peer: self.peer.clone(),
                    command: what.into(),
                });
            }
            let (hex, last) = match reply.split_first() {
                Some((b'O', rest)) => (rest, false),
                _ => (reply.as_slice(), true),
            };
            let text = from_hex(hex)
                .map_err(|e| self.protocol(format!("bad monitor output for {what}: {e}")))?;
            if output.len() + text.len() > self.config.max_monitor_output {
                return Err(GdbError::OutputTooLarge {
                    peer: self.peer.clone(),
                    limit: self.config.max_monitor_output,
                });
            }
            output.extend_from_slice(&text);
            if last {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&output).into_owned())
    }

    /// `c`: resumes the target. Does not wait; use
    /// [`wait_for_stop`](Self::wait_for_stop) or [`interrupt`](Self::interrupt).
    pub fn resume(&mut self) -> Result<(), GdbError> {
        let deadline = Instant::now() + self.config.reply_timeout;
        self.run_control(b"c");
        self.send_packet(b"c", deadline, "c", Expect::Stop)?;
        self.running = true;
        Ok(())
    }

    /// Waits up to `timeout` for a stop reply (after `c`), skipping `O`
    /// console output packets (kept in [`console_output`](Self::console_output)).
    pub fn wait_for_stop(&mut self, timeout: Duration) -> Result<StopReply, GdbError> {
        let deadline = Instant::now() + timeout;
        let reply = self.recv_reply(deadline, "a stop reply", Expect::Stop)?;
        self.stop_reply("c", &reply)
    }

    /// Sends Ctrl-C (0x03) and waits for the stop reply.
    pub fn interrupt(&mut self) -> Result<StopReply, GdbError> {
        self.write(&[packet::INTERRUPT])?;
        self.wait_for_stop(self.config.reply_timeout)
    }

    /// `s`: one instruction, and the stop reply.
    pub fn step(&mut self) -> Result<StopReply, GdbError> {
        let reply = self.request(b"s")?;
        self.stop_reply("s", &reply)
    }

    /// `k`: kills the target. The peer may close the connection or not
    /// answer at all; both count as done.
    pub fn kill(&mut self) -> Result<(), GdbError> {
        let deadline = Instant::now() + self.config.reply_timeout.min(Duration::from_secs(1));
        self.send_packet(b"k", deadline, "k", Expect::Reply)?;
        match self.recv_packet(deadline, "the reply to k") {
            Ok(_) | Err(GdbError::Lost { .. }) | Err(GdbError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        self.finish("killed");
        Ok(())
    }

    /// `D`: detaches (the stub resumes the target). A target this client
    /// resumed is stopped first (Ctrl-C): in all-stop mode a stub takes
    /// any byte that arrives while the target runs as an interrupt (QEMU
    /// halts the guest on it and drops the packet), so `D` is sent only to
    /// a halted target.
    pub fn detach(&mut self) -> Result<(), GdbError> {
        if self.running {
            self.interrupt()?;
        }
        let reply = self.request(b"D")?;
        self.check_reply("D", &reply)?;
        self.finish("detached");
        Ok(())
    }

    /// Leaves the target as a lab expects to find it after a read: running
    /// if it was running when we connected ([`target_was_running`](Self::target_was_running)),
    /// and this client gone. Sends `D` (a stub resumes the target on
    /// detach); if the stub refuses `D` and the target was running, sends
    /// `c` and closes the connection. Not `c` then `D`: in all-stop mode
    /// the `D` would arrive while the target runs, and QEMU takes its `$`
    /// as an interrupt, halts the guest again and drops the packet.
    pub fn release(&mut self) -> Result<Released, GdbError> {
        if self.running {
            self.interrupt()?;
        }
        let reply = self.request(b"D")?;
        if reply == b"OK" {
            self.finish("detached");
            return Ok(Released::Detached);
        }
        let refusal = self.check_reply("D", &reply).err().unwrap_or_else(|| {
            self.protocol(format!("unexpected reply to D: {}", describe(&reply)))
        });
        if self.was_running {
            self.transcript
                .note("the stub refused D; resuming the target with c before closing");
            let deadline = Instant::now() + self.config.reply_timeout;
            self.run_control(b"c");
            self.send_packet(b"c", deadline, "c", Expect::Stop)?;
            self.finish("resumed and closed");
            return Ok(Released::Resumed);
        }
        self.finish("closed the connection to");
        Err(refusal)
    }

    fn finish(&mut self, why: &str) {
        self.transcript.note(why);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.closed = true;
        self.lost = Some(format!("this client {why} the target"));
    }

    fn stop_reply(&self, command: &str, reply: &[u8]) -> Result<StopReply, GdbError> {
        self.check_reply(command, reply)?;
        StopReply::parse(reply).ok_or_else(|| {
            self.protocol(format!(
                "reply to {command} is not a stop reply: {}",
                describe(reply)
            ))
        })
    }

    /// Maps `Exx` and the empty reply to errors.
    fn check_reply(&self, command: &str, reply: &[u8]) -> Result<(), GdbError> {
        if let Some(err) = parse_error_reply(reply) {
            return Err(GdbError::Refused {
                peer: self.peer.clone(),
                command: command.into(),
                reply: err,
            });
        }
        if reply.is_empty() {
            return Err(GdbError::Unsupported {
                peer: self.peer.clone(),
                command: command.into(),
            });
        }
        Ok(())
    }

    fn protocol(&self, detail: String) -> GdbError {
        GdbError::Protocol {
            peer: self.peer.clone(),
            detail,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), GdbError> {
        if let Some(why) = &self.lost {
            return Err(GdbError::Lost {
                peer: self.peer.clone(),
                reason: why.clone(),
            });
        }
        self.transcript.sent(bytes);
        if let Err(e) = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
        {
            return Err(self.mark_lost(format!("write failed: {e}")));
        }
        Ok(())
    }

    fn mark_lost(&mut self, reason: String) -> GdbError {
        self.transcript.note(&format!("connection lost: {reason}"));
        self.lost = Some(reason.clone());
        self.closed = true;
        GdbError::Lost {
            peer: self.peer.clone(),
            reason,
        }
    }

    /// Sends a packet; in acknowledgement mode waits for `+` and
    /// retransmits on `-` (at most `transmissions` times).
    fn send_packet(
        &mut self,
        payload: &[u8],
        deadline: Instant,
        what: &str,
        expect: Expect,
    ) -> Result<(), GdbError> {
        let framed = frame(payload);
        for _ in 0..self.config.transmissions.max(1) {
            self.write(&framed)?;
            if !self.ack_mode {
                return Ok(());
            }
            loop {
                match self.next_event(deadline, &format!("the acknowledgement of {what}"))? {
                    Event::Ack => return Ok(()),
                    Event::Nack => {
                        self.transcript.note("peer asked for a retransmission");
                        break;
                    }
                    Event::Packet(raw) => {
                        self.write(b"+")?;
                        let payload = expand_rle(&raw, self.config.max_reply).map_err(|e| {
                            self.protocol(format!("cannot decode a packet sent before the acknowledgement of {what}: {e}"))
                        })?;
                        // A stop reply or console output the stub sent
                        // on its own (QEMU's stop reply on connect) is not
                        // the reply: note it and wait on for the ack.
                        match (classify(&payload), expect) {
                            (Kind::Output(text), Expect::Reply | Expect::Stop) => {
                                self.note_output(&text);
                                continue;
                            }
                            (Kind::Stop(stop), Expect::Reply | Expect::Monitor) => {
                                self.note_unsolicited(stop);
                                continue;
                            }
                            _ => {}
                        }
                        // Otherwise some stubs drop the ack: keep it as the
                        // reply and take ours as received.
                        if self.stash.len() >= STASH_LIMIT {
                            return Err(self.protocol(
                                "peer keeps sending packets without acknowledging ours".into(),
                            ));
                        }
                        self.stash.push_back(payload);
                        return Ok(());
                    }
                    Event::Oversize { limit } => {
                        return Err(GdbError::PacketTooLarge {
                            peer: self.peer.clone(),
                            limit,
                        })
                    }
                    Event::BadChecksum { .. } | Event::BadChecksumDigits => {
                        self.write(b"-")?;
                    }
                    Event::Notification(_) | Event::Interrupt => {}
                }
            }
        }
        Err(GdbError::Retransmits {
            peer: self.peer.clone(),
            command: what.into(),
            attempts: self.config.transmissions.max(1),
        })
    }

    /// Receives one packet (acknowledging it in ack mode) and expands its
    /// run-length encoding. Notifications and stray acks are skipped.
    fn recv_packet(&mut self, deadline: Instant, what: &str) -> Result<Vec<u8>, GdbError> {
        if let Some(payload) = self.stash.pop_front() {
            return Ok(payload);
        }
        let mut bad = 0u32;
        let raw = loop {
            match self.next_event(deadline, what)? {
                Event::Packet(raw) => {
                    if self.ack_mode {
                        self.write(b"+")?;
                    }
                    break raw;
                }
                Event::Oversize { limit } => {
                    return Err(GdbError::PacketTooLarge {
                        peer: self.peer.clone(),
                        limit,
                    })
                }
                Event::BadChecksum {
                    received, computed, ..
                } => {
                    bad += 1;
                    if !self.ack_mode || bad >= self.config.transmissions.max(1) {
                        return Err(self.protocol(format!(
                            "bad checksum in {what}: received {received:02x}, computed {computed:02x}"
                        )));
                    }
                    self.write(b"-")?;
                }
                Event::BadChecksumDigits => {
                    bad += 1;
                    if !self.ack_mode || bad >= self.config.transmissions.max(1) {
                        return Err(self.protocol(format!("unreadable checksum in {what}")));
                    }
                    self.write(b"-")?;
                }
                Event::Ack | Event::Nack | Event::Notification(_) | Event::Interrupt => {}
            }
        };
        expand_rle(&raw, self.config.max_reply)
            .map_err(|e| self.protocol(format!("cannot decode {what}: {e}")))
    }

    /// The next decoder event, reading from the socket as needed, until
    /// `deadline`.
    fn next_event(&mut self, deadline: Instant, what: &str) -> Result<Event, GdbError> {
        let started = Instant::now();
        loop {
            while self.read_pos < self.read_len {
                let b = self.read_buf[self.read_pos];
                self.read_pos += 1;
                if let Some(event) = self.decoder.push(b) {
                    return Ok(event);
                }
            }
            if let Some(why) = &self.lost {
                return Err(GdbError::Lost {
                    peer: self.peer.clone(),
                    reason: why.clone(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                let partial = self.decoder.in_packet();
                self.transcript
                    .note(&format!("timed out waiting for {what}"));
                return Err(GdbError::Timeout {
                    peer: self.peer.clone(),
                    waiting_for: if partial {
                        format!("{what} (a packet was started but never finished)")
                    } else {
                        what.to_string()
                    },
                    waited_ms: now.duration_since(started).as_millis(),
                });
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            if let Err(e) = self.stream.set_read_timeout(Some(wait)) {
                return Err(self.mark_lost(format!("cannot set a read timeout: {e}")));
            }
            match self.stream.read(&mut self.read_buf[..]) {
                Ok(0) => return Err(self.mark_lost("the peer closed the connection".into())),
                Ok(n) => {
                    let n = n.min(READ_CHUNK);
                    self.transcript.received(&self.read_buf[..n]);
                    self.read_pos = 0;
                    self.read_len = n;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(self.mark_lost(format!("read failed: {e}"))),
            }
        }
    }
}

impl Drop for GdbClient {
    /// A client dropped without [`release`](GdbClient::release) or
    /// [`detach`](GdbClient::detach) still lets go of the target: QEMU keeps
    /// a guest halted after its client vanishes without `D`. `D` is sent
    /// without waiting for the answer, and only to a halted target (one we
    /// resumed runs on when the socket closes).
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if !self.running {
            let framed = frame(b"D");
            self.transcript.sent(&framed);
            let _ = self.stream.write_all(&framed);
            let _ = self.stream.flush();
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A short printable form of a packet for messages (`m20000000,100`).
fn describe(payload: &[u8]) -> String {
    const SHOW: usize = 48;
    let shown: String = payload
        .iter()
        .take(SHOW)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    if payload.len() > SHOW {
        format!("`{shown}...` ({} bytes)", payload.len())
    } else {
        format!("`{shown}`")
    }
}
