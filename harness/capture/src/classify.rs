//! Reads a savefile and reports, per flow, the protocol, whether it is
//! plaintext, and credentials sent in the clear; optionally where known
//! secrets appear. Frame numbers are 1-based, as tshark counts them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;

use crate::creds::{self, Credential};
use crate::decode::{self, Transport};
use crate::protocol::{self, DetectedBy, Protocol};
use crate::stream::Stream;

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("cannot read capture {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("capture {path} has link type {linktype}, which the classifier cannot decode (Ethernet, Linux cooked, loopback and raw IP are supported)")]
    Linktype { path: PathBuf, linktype: i32 },
}

/// Bounds of one classification.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifyLimits {
    /// Flows tracked; later flows are counted in [`Report::flows_dropped`].
    pub max_flows: usize,
    /// Bytes reassembled per flow direction.
    pub stream_bytes: usize,
    /// Memory for all reassembly buffers together.
    pub total_bytes: usize,
    /// Frames read at most.
    pub max_frames: u64,
}

impl Default for ClassifyLimits {
    fn default() -> Self {
        Self {
            max_flows: 4096,
            stream_bytes: 256 * 1024,
            total_bytes: 256 * 1024 * 1024,
            max_frames: 5_000_000,
        }
    }
}

/// A known secret to look for. Its value never appears in `Debug`, in the
/// report or in errors; only the label does.
#[derive(Clone)]
pub struct NamedSecret {
    pub label: String,
    value: Vec<u8>,
}

impl NamedSecret {
    pub fn new(label: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

impl std::fmt::Debug for NamedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedSecret({:?}, <redacted>)", self.label)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClassifyOptions {
    pub limits: ClassifyLimits,
    /// Secrets to search for (raw, URL-encoded and base64 forms).
    pub secrets: Vec<NamedSecret>,
}

/// Where one secret was found.
#[derive(Debug, Clone, Serialize)]
pub struct SecretHit {
    pub label: String,
    pub found: bool,
    /// Frames holding the secret or part of it (at most 64).
    pub frames: Vec<u64>,
    /// Forms it was found in: "raw", "url-encoded", "base64".
    pub encodings: Vec<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Tcp,
    Udp,
}

/// One conversation between two endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub transport: TransportKind,
    /// The endpoint that opened the conversation (sent the SYN, or by port).
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub protocol: Protocol,
    pub detected_by: DetectedBy,
    /// `Some(true)` plaintext, `Some(false)` encrypted, `None` unknown.
    pub plaintext: Option<bool>,
    pub first_frame: u64,
    /// The first frame that carried payload (not a bare handshake).
    pub first_data_frame: Option<u64>,
    pub last_frame: u64,
    pub frames: u64,
    /// Payload bytes client to server and server to client.
    pub client_bytes: u64,
    pub server_bytes: u64,
    /// Reassembly hit a bound; analysis saw only the start of the stream.
    pub truncated: bool,
    /// Sequence holes skipped (segments the capture missed).
    pub gaps: u32,
    pub credentials: Vec<Credential>,
}

/// What the classifier found in one capture.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: Option<PathBuf>,
    pub linktype: i32,
    /// Frames read (the last frame number).
    pub frames: u64,
    /// Frames that were TCP or UDP over IP.
    pub decoded_frames: u64,
    pub flows: Vec<FlowReport>,
    /// Flows beyond [`ClassifyLimits::max_flows`], not analysed (distinct
    /// flows up to 16 times the limit, then every further frame of one).
    pub flows_dropped: u64,
    /// The file ended or broke before its end (truncated, corrupt); what was
    /// read before is reported.
    pub read_error: Option<String>,
    /// [`ClassifyLimits::max_frames`] was reached.
    pub stopped_early: bool,
    pub secrets: Vec<SecretHit>,
}

impl Report {
    /// Every credential found, with its flow.
    pub fn credentials(&self) -> impl Iterator<Item = (&FlowReport, &Credential)> {
        self.flows
            .iter()
            .flat_map(|f| f.credentials.iter().map(move |c| (f, c)))
    }

    /// Flows that carry payload in the clear.
    pub fn plaintext_flows(&self) -> impl Iterator<Item = &FlowReport> {
        self.flows.iter().filter(|f| f.plaintext == Some(true))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    tcp: bool,
    a: SocketAddr,
    b: SocketAddr,
}

impl Key {
    fn new(tcp: bool, x: SocketAddr, y: SocketAddr) -> Self {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Self { tcp, a, b }
    }
}

struct Flow {
    tcp: bool,
    client: SocketAddr,
    server: SocketAddr,
    first_frame: u64,
    first_data_frame: Option<u64>,
    last_frame: u64,
    frames: u64,
    to_server: Stream,
    to_client: Stream,
    closed: bool,
}

/// Secret search patterns (one secret, several encodings).
struct Pattern {
    secret: usize,
    encoding: &'static str,
    bytes: Vec<u8>,
    table: Vec<usize>,
}

const MAX_SECRET_FRAMES: usize = 64;

fn patterns(secrets: &[NamedSecret]) -> Vec<Pattern> {
    let mut out = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        if s.value.is_empty() {
            continue;
        }
        let mut push = |encoding: &'static str, bytes: Vec<u8>| {
            if !bytes.is_empty()
                && !out
                    .iter()
                    .any(|p: &Pattern| p.secret == i && p.bytes == bytes)
            {
                out.push(Pattern {
                    secret: i,
                    encoding,
                    table: kmp_table(&bytes),
                    bytes,
                });
            }
        };
        push("raw", s.value.clone());
        let mut url = Vec::new();
        for &b in &s.value {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                url.push(b);
            } else {
                url.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
        push("url-encoded", url);
        // base64 of any text holding the secret contains one of three
        // fixed strings, one per alignment of the secret in 3-byte groups.
        for k in 0..3usize {
            let mut buf = vec![0u8; k];
            buf.extend_from_slice(&s.value);
            let enc = base64::engine::general_purpose::STANDARD.encode(&buf);
            let skip = [0, 2, 3][k];
            let full = (buf.len() / 3) * 4;
            if full >= skip + 4 {
                push("base64", enc.as_bytes()[skip..full].to_vec());
            }
        }
    }
    out
}

/// Knuth-Morris-Pratt failure table: linear-time search whatever the
/// secret and the capture look like.
fn kmp_table(needle: &[u8]) -> Vec<usize> {
    let mut table = vec![0; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = table[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        table[i] = k;
    }
    table
}

/// Calls `f` with the start of every occurrence of the pattern in `hay`.
fn find_all(hay: &[u8], pattern: &Pattern, mut f: impl FnMut(usize)) {
    let needle = &pattern.bytes;
    if needle.is_empty() {
        return;
    }
    let mut k = 0;
    for (i, &b) in hay.iter().enumerate() {
        while k > 0 && b != needle[k] {
            k = pattern.table[k - 1];
        }
        if b == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            f(i + 1 - k);
            k = pattern.table[k - 1];
        }
    }
}

/// Classifies frames fed one by one (for captures not in a file).
pub struct Classifier {
    linktype: i32,
    limits: ClassifyLimits,
    secrets: Vec<NamedSecret>,
    patterns: Vec<Pattern>,
    hits: Vec<(Vec<u64>, Vec<&'static str>)>,
    index: HashMap<Key, usize>,
    flows: Vec<Flow>,
    budget: usize,
    frames: u64,
    decoded: u64,
    flows_dropped: u64,
    dropped: std::collections::HashSet<Key>,
}

impl Classifier {
    pub fn new(linktype: i32, options: &ClassifyOptions) -> Self {
        Self {
            linktype,
            limits: options.limits.clone(),
            patterns: patterns(&options.secrets),
            hits: vec![(Vec::new(), Vec::new()); options.secrets.len()],
            secrets: options.secrets.clone(),
            index: HashMap::new(),
            flows: Vec::new(),
            budget: options.limits.total_bytes,
            frames: 0,
            decoded: 0,
            flows_dropped: 0,
            dropped: std::collections::HashSet::new(),
        }
    }

    /// True if frames of this link type can be decoded.
    pub fn supports(linktype: i32) -> bool {
        decode::supported(linktype)
    }

    fn note_secret(&mut self, pattern: usize, frames: &[u64]) {
        let p = &self.patterns[pattern];
        let (list, encodings) = &mut self.hits[p.secret];
        if !encodings.contains(&p.encoding) {
            encodings.push(p.encoding);
        }
        for f in frames {
            if list.len() < MAX_SECRET_FRAMES && !list.contains(f) {
                list.push(*f);
            }
        }
    }

    /// Feeds the next frame (its captured bytes). Returns its frame number.
    pub fn feed(&mut self, data: &[u8]) -> u64 {
        self.frames += 1;
        let frame = self.frames;
        for i in 0..self.patterns.len() {
            let mut found = false;
            find_all(data, &self.patterns[i], |_| found = true);
            if found {
                self.note_secret(i, &[frame]);
            }
        }
        let Some(seg) = decode::decode(self.linktype, data) else {
            return frame;
        };
        self.decoded += 1;
        let tcp = matches!(seg.transport, Transport::Tcp { .. });
        let key = Key::new(tcp, seg.src, seg.dst);
        let opening = matches!(
            seg.transport,
            Transport::Tcp {
                syn: true,
                ack: false,
                ..
            }
        );
        let idx = match self.index.get(&key) {
            Some(&i) if !(opening && self.flows[i].closed) => Some(i),
            _ => None,
        };
        let idx = match idx {
            Some(i) => i,
            None => {
                if self.flows.len() >= self.limits.max_flows {
                    let known = self.index.contains_key(&key) || self.dropped.contains(&key);
                    if !known {
                        self.flows_dropped += 1;
                        if self.dropped.len() < self.limits.max_flows.saturating_mul(16) {
                            self.dropped.insert(key);
                        }
                    }
                    return frame;
                }
                let (client, server) = match seg.transport {
                    Transport::Tcp { syn: true, ack, .. } => {
                        if ack {
                            (seg.dst, seg.src)
                        } else {
                            (seg.src, seg.dst)
                        }
                    }
                    _ => {
                        let dst_known = protocol::well_known(tcp, seg.dst.port());
                        let src_known = protocol::well_known(tcp, seg.src.port());
                        if src_known && !dst_known {
                            (seg.dst, seg.src)
                        } else {
                            (seg.src, seg.dst)
                        }
                    }
                };
                let cap = self.limits.stream_bytes;
                self.flows.push(Flow {
                    tcp,
                    client,
                    server,
                    first_frame: frame,
                    first_data_frame: None,
                    last_frame: frame,
                    frames: 0,
                    to_server: Stream::new(cap),
                    to_client: Stream::new(cap),
                    closed: false,
                });
                let i = self.flows.len() - 1;
                self.index.insert(key, i);
                i
            }
        };
        let flow = &mut self.flows[idx];
        flow.frames += 1;
        flow.last_frame = frame;
        if !seg.payload.is_empty() && flow.first_data_frame.is_none() {
            flow.first_data_frame = Some(frame);
        }
        let stream = if seg.src == flow.client {
            &mut flow.to_server
        } else {
            &mut flow.to_client
        };
        match seg.transport {
            Transport::Tcp {
                seq, syn, fin, rst, ..
            } => {
                if syn {
                    stream.syn(seq);
                }
                let seq = if syn { seq.wrapping_add(1) } else { seq };
                stream.push_segment(frame, seq, seg.payload, &mut self.budget);
                if fin || rst {
                    flow.closed = true;
                }
            }
            Transport::Udp => stream.push_datagram(frame, seg.payload, &mut self.budget),
        }
        frame
    }

    /// Ends the capture: analyses every flow and returns the report.
    pub fn finish(mut self) -> Report {
        let mut flows = Vec::with_capacity(self.flows.len());
        let flows_in = std::mem::take(&mut self.flows);
        for mut flow in flows_in {
            flow.to_server.finish(&mut self.budget);
            flow.to_client.finish(&mut self.budget);
            flows.push(self.analyse(flow));
        }
        let secrets = self
            .secrets
            .iter()
            .zip(std::mem::take(&mut self.hits))
            .map(|(s, (mut frames, encodings))| {
                frames.sort_unstable();
                SecretHit {
                    label: s.label.clone(),
                    found: !frames.is_empty(),
                    frames,
                    encodings,
                }
            })
            .collect();
        Report {
            file: None,
            linktype: self.linktype,
            frames: self.frames,
            decoded_frames: self.decoded,
            flows,
            flows_dropped: self.flows_dropped,
            read_error: None,
            stopped_early: false,
            secrets,
        }
    }

    fn analyse(&mut self, flow: Flow) -> FlowReport {
        let (protocol, detected_by) = protocol::guess(
            flow.tcp,
            flow.server.port(),
            &flow.to_server.data,
            &flow.to_client.data,
        );
        let mut credentials = Vec::new();
        match protocol {
            Protocol::Http => creds::http(&flow.to_server, &mut credentials),
            Protocol::Telnet => {
                creds::login(&flow.to_server, &flow.to_client, true, &mut credentials)
            }
            Protocol::Ftp => creds::ftp(&flow.to_server, &mut credentials),
            Protocol::Mqtt => creds::mqtt(&flow.to_server, &mut credentials),
            Protocol::Snmp => creds::snmp(&flow.to_server, &mut credentials),
            Protocol::Unknown if flow.tcp => {
                creds::login(&flow.to_server, &flow.to_client, false, &mut credentials)
            }
            _ => {}
        }
        // Secrets split over several segments (a password typed one key
        // per packet) only show in the reassembled streams.
        for stream in [&flow.to_server, &flow.to_client] {
            let telnet = (protocol == Protocol::Telnet).then(|| creds::strip_telnet(&stream.data));
            for i in 0..self.patterns.len() {
                let mut frames = Vec::new();
                find_all(&stream.data, &self.patterns[i], |at| {
                    frames.extend(stream.frames_in(at, at + self.patterns[i].bytes.len(), 16));
                });
                if let Some((clean, offsets)) = &telnet {
                    find_all(clean, &self.patterns[i], |at| {
                        for o in &offsets[at..at + self.patterns[i].bytes.len()] {
                            frames.extend(stream.frame_at(*o));
                        }
                    });
                }
                if !frames.is_empty() {
                    self.note_secret(i, &frames);
                }
            }
        }
        // A credential whose password equals a known secret counts as that
        // secret found (it may have been encoded past recognition).
        for c in &credentials {
            for (s, hit) in self.secrets.iter().zip(self.hits.iter_mut()) {
                if c.password_matches(&s.value) {
                    if !hit.1.contains(&"credential") {
                        hit.1.push("credential");
                    }
                    for f in &c.frames {
                        if hit.0.len() < MAX_SECRET_FRAMES && !hit.0.contains(f) {
                            hit.0.push(*f);
                        }
                    }
                }
            }
        }
        FlowReport {
            transport: if flow.tcp {
                TransportKind::Tcp
            } else {
                TransportKind::Udp
            },
            client: flow.client,
            server: flow.server,
            protocol,
            detected_by,
            plaintext: match protocol {
                Protocol::Unknown if flow.to_server.seen + flow.to_client.seen == 0 => None,
                // SNMPv3 may encrypt its PDUs; v1/v2c (a community) never do.
                Protocol::Snmp if credentials.is_empty() => None,
                p => p.plaintext(),
            },
            first_frame: flow.first_frame,
            first_data_frame: flow.first_data_frame,
            last_frame: flow.last_frame,
            frames: flow.frames,
            client_bytes: flow.to_server.seen,
            server_bytes: flow.to_client.seen,
            truncated: flow.to_server.truncated || flow.to_client.truncated,
            gaps: flow.to_server.gaps + flow.to_client.gaps,
            credentials,
        }
    }
}

/// Classifies a savefile (pcap or pcapng, read with libpcap).
pub fn classify_file(path: &Path, options: &ClassifyOptions) -> Result<Report, ClassifyError> {
    let mut cap = pcap::Capture::from_file(path).map_err(|e| ClassifyError::Open {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let linktype = cap.get_datalink().0;
    if !Classifier::supports(linktype) {
        return Err(ClassifyError::Linktype {
            path: path.into(),
            linktype,
        });
    }
    let mut classifier = Classifier::new(linktype, options);
    let mut read_error = None;
    let mut stopped_early = false;
    loop {
        if classifier.frames >= options.limits.max_frames {
            stopped_early = true;
            break;
        }
        match cap.next_packet() {
            Ok(p) => {
                classifier.feed(p.data);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                read_error = Some(e.to_string());
                break;
            }
        }
    }
    let mut report = classifier.finish();
    report.file = Some(path.into());
    report.read_error = read_error;
    report.stopped_early = stopped_early;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_search_finds_overlapping_and_every_base64_alignment() {
        let pats = patterns(&[NamedSecret::new("s", "aab")]);
        let mut at = Vec::new();
        find_all(b"aaabaab", &pats[0], |i| at.push(i));
        assert_eq!(at, vec![1, 4]);
        let secret = NamedSecret::new("s", "hunter2!");
        let pats = patterns(std::slice::from_ref(&secret));
        for prefix in ["", "a", "ab", "abc", "user:"] {
            let text = format!("{prefix}hunter2!tail");
            let enc = base64::engine::general_purpose::STANDARD.encode(text);
            let found = pats.iter().filter(|p| p.encoding == "base64").any(|p| {
                let mut hit = false;
                find_all(enc.as_bytes(), p, |_| hit = true);
                hit
            });
            assert!(found, "base64 with prefix {prefix:?} missed");
        }
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
