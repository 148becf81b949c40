//! The classifier on savefiles built here frame by frame (no root needed):
//! each protocol's credential is found in the frame tshark dissects it in,
//! and thousands of truncated, mutated and random inputs never panic it.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use etherparse::{PacketBuilder, VlanId};
use hilt_capture::{
    classify_file, Classifier, ClassifyOptions, CredentialKind, NamedSecret, Protocol, Report,
};

const MAC_C: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_S: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Writes a classic pcap savefile (microsecond timestamps).
fn write_pcap(path: &Path, linktype: u32, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// One TCP connection, Ethernet-framed, optionally VLAN-tagged.
struct Conn {
    c: (IpAddr, u16),
    s: (IpAddr, u16),
    cseq: u32,
    sseq: u32,
    vlan: Option<u16>,
}

impl Conn {
    fn new(c: (IpAddr, u16), s: (IpAddr, u16)) -> Self {
        Self {
            c,
            s,
            cseq: 1000,
            sseq: 5_000_000,
            vlan: None,
        }
    }

    fn frame(&self, from_client: bool, flags: &str, payload: &[u8]) -> Vec<u8> {
        let (src, dst, seq, ack) = if from_client {
            (self.c, self.s, self.cseq, self.sseq)
        } else {
            (self.s, self.c, self.sseq, self.cseq)
        };
        let (smac, dmac) = if from_client {
            (MAC_C, MAC_S)
        } else {
            (MAC_S, MAC_C)
        };
        let eth = PacketBuilder::ethernet2(smac, dmac);
        let mut out = Vec::new();
        macro_rules! finish {
            ($ip:expr) => {{
                let mut tcp = $ip.tcp(src.1, dst.1, seq, 64240);
                if flags.contains('S') {
                    tcp = tcp.syn();
                }
                if flags.contains('A') {
                    tcp = tcp.ack(ack);
                }
                if flags.contains('P') {
                    tcp = tcp.psh();
                }
                if flags.contains('F') {
                    tcp = tcp.fin();
                }
                tcp.write(&mut out, payload).expect("build frame");
            }};
        }
        match (src.0, dst.0, self.vlan) {
            (IpAddr::V4(a), IpAddr::V4(b), None) => finish!(eth.ipv4(a.octets(), b.octets(), 64)),
            (IpAddr::V4(a), IpAddr::V4(b), Some(v)) => finish!(eth
                .single_vlan(VlanId::try_new(v).expect("vlan"))
                .ipv4(a.octets(), b.octets(), 64)),
            (IpAddr::V6(a), IpAddr::V6(b), _) => finish!(eth.ipv6(a.octets(), b.octets(), 64)),
            _ => unreachable!("mixed address families"),
        }
        out
    }

    fn handshake(&mut self, frames: &mut Vec<Vec<u8>>) {
        frames.push(self.frame(true, "S", b""));
        self.cseq += 1;
        frames.push(self.frame(false, "SA", b""));
        self.sseq += 1;
        frames.push(self.frame(true, "A", b""));
    }

    fn client(&mut self, frames: &mut Vec<Vec<u8>>, payload: &[u8]) -> u64 {
        frames.push(self.frame(true, "PA", payload));
        self.cseq += payload.len() as u32;
        frames.len() as u64
    }

    fn server(&mut self, frames: &mut Vec<Vec<u8>>, payload: &[u8]) -> u64 {
        frames.push(self.frame(false, "PA", payload));
        self.sseq += payload.len() as u32;
        frames.len() as u64
    }
}

fn udp(frames: &mut Vec<Vec<u8>>, sport: u16, dport: u16, payload: &[u8]) -> u64 {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_C, MAC_S)
        .ipv4([192, 0, 2, 10], [192, 0, 2, 1], 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .expect("build udp");
    frames.push(out);
    frames.len() as u64
}

fn mqtt_connect(user: &[u8], password: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x04MQTT\x04\xc2\x00\x3c\x00\x06sensor".to_vec();
    for field in [user, password] {
        body.extend_from_slice(&(field.len() as u16).to_be_bytes());
        body.extend_from_slice(field);
    }
    let mut pkt = vec![0x10, body.len() as u8];
    pkt.extend(body);
    pkt
}

struct Expected {
    snmp: u64,
    http_basic: u64,
    http_form: u64,
    telnet: Vec<u64>,
    ftp: u64,
    mqtt: u64,
    https_v6: u64,
}

/// A capture holding one of everything, and the frames that matter.
fn build_everything() -> (Vec<Vec<u8>>, Expected) {
    let dev4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let lab4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut f = Vec::new();

    let mut http = Conn::new((lab4, 40001), (dev4, 80));
    http.handshake(&mut f);
    let http_basic = http.client(
        &mut f,
        b"GET /api HTTP/1.1\r\nHost: dev\r\nAuthorization: Basic YWRtaW46aHVudGVyMg==\r\n\r\n",
    );
    http.server(&mut f, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    http.client(
        &mut f,
        b"POST /login HTTP/1.1\r\nHost: dev\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 33\r\n\r\n",
    );
    let http_form = http.client(&mut f, b"username=admin&password=S3cr%21t9");
    http.server(&mut f, b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");

    let mut telnet = Conn::new((lab4, 40002), (dev4, 23));
    telnet.vlan = Some(42);
    telnet.handshake(&mut f);
    telnet.server(&mut f, b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x03");
    telnet.client(&mut f, b"\xff\xfc\x18\xff\xfc\x20\xff\xfd\x03");
    telnet.server(&mut f, b"\r\nthermostat login: ");
    telnet.client(&mut f, b"root\r\n");
    telnet.server(&mut f, b"root\r\nPassword: ");
    let t1 = telnet.client(&mut f, b"to");
    let t2 = telnet.client(&mut f, b"or1\r\n");
    telnet.server(&mut f, b"\r\n# ");

    let mut ftp = Conn::new((lab4, 40003), (dev4, 21));
    ftp.handshake(&mut f);
    ftp.server(&mut f, b"220 device FTP\r\n");
    ftp.client(&mut f, b"USER upload\r\n");
    ftp.server(&mut f, b"331 Password required\r\n");
    let ftp_pass = ftp.client(&mut f, b"PASS ftppw-77\r\n");
    ftp.server(&mut f, b"230 Logged in\r\n");

    let mut mqtt = Conn::new((lab4, 40004), (dev4, 1883));
    mqtt.handshake(&mut f);
    let mqtt_frame = mqtt.client(&mut f, &mqtt_connect(b"telemetry", b"mq-secret-5"));
    mqtt.server(&mut f, b"\x20\x02\x00\x00");

    let dev6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let lab6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10));
    let mut tls = Conn::new((lab6, 40005), (dev6, 8443));
    tls.handshake(&mut f);
    let https_v6 = tls.client(&mut f, b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00");
    tls.server(&mut f, b"\x16\x03\x03\x00\x02\x02\x00");

    udp(
        &mut f,
        40006,
        514,
        b"<34>1 2026-01-01T00:00:00Z dev app - - - login ok",
    );
    udp(&mut f, 40007, 5683, b"\x40\x01\x12\x34\xb4temp");
    udp(
        &mut f,
        40008,
        53,
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03dev\x00\x00\x01\x00\x01",
    );
    let snmp = udp(
        &mut f,
        40009,
        161,
        b"\x30\x27\x02\x01\x01\x04\x07private\xa0\x19\x02\x01\x01\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00",
    );
    (
        f,
        Expected {
            snmp,
            http_basic,
            http_form,
            telnet: vec![t1, t2],
            ftp: ftp_pass,
            mqtt: mqtt_frame,
            https_v6,
        },
    )
}

fn secrets() -> ClassifyOptions {
    ClassifyOptions {
        secrets: vec![
            NamedSecret::new("http", "hunter2"),
            NamedSecret::new("telnet", "toor1"),
            NamedSecret::new("absent", "not-in-this-capture"),
        ],
        ..ClassifyOptions::default()
    }
}

fn check_everything(report: &Report, want: &Expected) {
    let by_port = |port: u16| {
        report
            .flows
            .iter()
            .find(|f| f.server.port() == port)
            .unwrap_or_else(|| panic!("no flow to port {port}: {:?}", report.flows))
    };
    let http = by_port(80);
    assert_eq!(http.protocol, Protocol::Http);
    let kinds: Vec<_> = http.credentials.iter().map(|c| (c.kind, c.frame)).collect();
    assert_eq!(
        kinds,
        vec![
            (CredentialKind::HttpBasic, want.http_basic),
            (CredentialKind::HttpForm, want.http_form)
        ]
    );
    assert!(http.credentials[0].password_matches(b"hunter2"));
    assert!(http.credentials[1].password_matches(b"S3cr!t9"));
    assert_eq!(http.credentials[1].user.as_deref(), Some("admin"));
    assert_eq!(http.credentials[1].field.as_deref(), Some("password"));

    let telnet = by_port(23);
    assert_eq!(telnet.protocol, Protocol::Telnet);
    assert_eq!(telnet.credentials.len(), 1);
    assert_eq!(telnet.credentials[0].user.as_deref(), Some("root"));
    assert!(telnet.credentials[0].password_matches(b"toor1"));
    assert_eq!(telnet.credentials[0].frames, want.telnet);

    let ftp = by_port(21);
    assert_eq!(ftp.protocol, Protocol::Ftp);
    assert_eq!(ftp.credentials[0].frame, want.ftp);
    assert_eq!(ftp.credentials[0].user.as_deref(), Some("upload"));

    let mqtt = by_port(1883);
    assert_eq!(mqtt.protocol, Protocol::Mqtt);
    assert_eq!(mqtt.credentials[0].frame, want.mqtt);
    assert_eq!(mqtt.credentials[0].user.as_deref(), Some("telemetry"));
    assert!(mqtt.credentials[0].password_matches(b"mq-secret-5"));

    let tls = by_port(8443);
    assert_eq!((tls.protocol, tls.plaintext), (Protocol::Tls, Some(false)));
    assert_eq!(tls.first_frame + 3, want.https_v6);
    assert!(tls.client.is_ipv6());

    assert_eq!(by_port(514).protocol, Protocol::Syslog);
    assert_eq!(by_port(5683).protocol, Protocol::Coap);
    assert_eq!(by_port(53).protocol, Protocol::Dns);
    let snmp = by_port(161);
    assert_eq!(
        (snmp.protocol, snmp.plaintext),
        (Protocol::Snmp, Some(true))
    );
    assert_eq!(snmp.credentials[0].kind, CredentialKind::SnmpCommunity);
    assert_eq!(snmp.credentials[0].frames, vec![want.snmp]);
    assert!(snmp.credentials[0].password_matches(b"private"));
    assert_eq!(report.credentials().count(), 6);

    let hits: Vec<_> = report
        .secrets
        .iter()
        .map(|h| (h.label.as_str(), h.found))
        .collect();
    assert_eq!(
        hits,
        vec![("http", true), ("telnet", true), ("absent", false)]
    );
    assert_eq!(report.secrets[0].frames, vec![want.http_basic]);
    assert_eq!(report.secrets[1].frames, want.telnet);
    let json = serde_json::to_string(report).expect("json");
    for secret in [
        "hunter2",
        "toor1",
        "S3cr!t9",
        "mq-secret-5",
        "ftppw-77",
        "not-in-this",
    ] {
        assert!(!json.contains(secret), "report echoes {secret}");
    }
}

#[test]
fn every_protocol_in_the_frame_tshark_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("everything.pcap");
    let (frames, want) = build_everything();
    write_pcap(&path, 1, &frames);
    let report = classify_file(&path, &secrets()).expect("classify");
    assert_eq!(report.frames, frames.len() as u64);
    assert_eq!(report.read_error, None);
    check_everything(&report, &want);

    if !common::have("tshark") {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "SKIPPED tshark comparison: tshark not installed: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("SKIPPED tshark comparison: tshark not installed");
        return;
    }
    use common::tshark_fields;
    assert_eq!(common::tshark_count(&path), frames.len() as u64);
    let one = |filter: &str, field: &str| -> Vec<String> {
        tshark_fields(&path, filter, &["frame.number", field])
            .into_iter()
            .map(|r| r.join("|"))
            .collect()
    };
    assert_eq!(
        one("http.authorization", "http.authbasic"),
        vec![format!("{}|admin:hunter2", want.http_basic)]
    );
    assert_eq!(
        one(
            "urlencoded-form.key == \"password\"",
            "urlencoded-form.value"
        ),
        vec![format!("{}|admin,S3cr!t9", want.http_form)]
    );
    assert_eq!(
        one("ftp.request.command == \"PASS\"", "ftp.request.arg"),
        vec![format!("{}|ftppw-77", want.ftp)]
    );
    assert_eq!(
        one("mqtt.passwd", "mqtt.username"),
        vec![format!("{}|telemetry", want.mqtt)]
    );
    assert_eq!(
        one("snmp.community", "snmp.community"),
        vec![format!("{}|private", want.snmp)]
    );
    // The same capture as pcapng (what dumpcap and Wireshark write).
    let ng = path.with_extension("pcapng");
    common::run_ok(&[
        "editcap",
        "-F",
        "pcapng",
        path.to_str().unwrap_or_default(),
        ng.to_str().unwrap_or_default(),
    ]);
    let report = classify_file(&ng, &secrets()).expect("classify pcapng");
    assert_eq!(report.frames, frames.len() as u64);
    check_everything(&report, &want);

    assert_eq!(one("vlan.id == 42 && telnet", "tcp.dstport").len(), 8);
    assert_eq!(
        one("tls.handshake.type == 1", "ipv6.src"),
        vec![format!("{}|2001:db8::a", want.https_v6)]
    );
}

#[test]
fn linux_cooked_and_raw_ip_captures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut raw = Vec::new();
    PacketBuilder::ipv4([192, 0, 2, 10], [192, 0, 2, 1], 64)
        .tcp(40010, 21, 7, 1000)
        .ack(1)
        .write(&mut raw, b"USER a\r\nPASS b\r\n")
        .expect("build");
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&raw);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&raw);
    let mut null = 2u32.to_ne_bytes().to_vec();
    null.extend_from_slice(&raw);
    for (linktype, frame) in [(101, raw.clone()), (113, sll), (276, sll2), (0, null)] {
        let path = dir.path().join(format!("lt{linktype}.pcap"));
        write_pcap(&path, linktype, &[frame]);
        let report = classify_file(&path, &ClassifyOptions::default()).expect("classify");
        // libpcap reports DLT values: LINKTYPE_RAW (101) is DLT_RAW (12).
        let dlt = if linktype == 101 { 12 } else { linktype as i32 };
        assert_eq!(report.linktype, dlt);
        let creds: Vec<_> = report.credentials().collect();
        assert_eq!(creds.len(), 1, "linktype {linktype}: {:?}", report.flows);
        assert_eq!(creds[0].1.kind, CredentialKind::Ftp);
        assert_eq!(creds[0].1.frame, 1);
    }
}

#[test]
fn unreadable_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = classify_file(
        &dir.path().join("missing.pcap"),
        &ClassifyOptions::default(),
    )
    .expect_err("missing file");
    assert!(err.to_string().contains("missing.pcap"), "{err}");
    let path = dir.path().join("text.pcap");
    std::fs::write(&path, "not a capture at all").expect("write");
    assert!(classify_file(&path, &ClassifyOptions::default()).is_err());
    let path = dir.path().join("usb.pcap");
    write_pcap(&path, 189, &[vec![0; 40]]);
    let err = classify_file(&path, &ClassifyOptions::default()).expect_err("usb linktype");
    assert!(err.to_string().contains("189"), "{err}");
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn truncated_and_mutated_savefiles_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_path = dir.path().join("seed.pcap");
    let (frames, _) = build_everything();
    write_pcap(&seed_path, 1, &frames);
    let seed = std::fs::read(&seed_path).expect("seed");
    let path = dir.path().join("case.pcap");
    let options = secrets();
    let mut ran = 0;

    // Cut at every length: the report covers the frames before the cut.
    for len in (0..seed.len()).step_by(7) {
        std::fs::write(&path, &seed[..len]).expect("write");
        if let Ok(report) = classify_file(&path, &options) {
            assert!(report.frames <= frames.len() as u64);
        }
        ran += 1;
    }

    // Mutations: flipped bits, overwritten bytes, duplicated and deleted
    // runs, and record lengths set to extremes.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut case = seed.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(case.len());
            match rng.below(6) {
                0 => case[at] ^= 1 << rng.below(8),
                1 => case[at] = rng.next() as u8,
                2 => {
                    let end = (at + rng.below(64)).min(case.len());
                    let run: Vec<u8> = case[at..end].to_vec();
                    case.splice(at..at, run);
                }
                3 => {
                    let end = (at + rng.below(64)).min(case.len());
                    case.drain(at..end);
                }
                4 => {
                    let v = [0u32, 1, 0xffff, 0x4_0000, 0x4_0001, u32::MAX][rng.below(6)];
                    let end = (at + 4).min(case.len());
                    let bytes = v.to_le_bytes();
                    case[at..end].copy_from_slice(&bytes[..end - at]);
                }
                _ => case.truncate(at),
            }
            if case.is_empty() {
                break;
            }
        }
        std::fs::write(&path, &case).expect("write");
        let _ = classify_file(&path, &options);
        ran += 1;
    }

    // Frames of random bytes and mutated real frames fed straight to the
    // classifier, for every link type it decodes.
    for linktype in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276] {
        let mut c = Classifier::new(linktype, &options);
        for _ in 0..500 {
            let mut frame = if rng.below(2) == 0 {
                frames[rng.below(frames.len())].clone()
            } else {
                (0..rng.below(200)).map(|_| rng.next() as u8).collect()
            };
            for _ in 0..rng.below(4) {
                if !frame.is_empty() {
                    let at = rng.below(frame.len());
                    frame[at] = rng.next() as u8;
                }
            }
            c.feed(&frame);
            ran += 1;
        }
        let report = c.finish();
        assert_eq!(report.frames, 500);
    }
    eprintln!("{ran} malformed inputs classified without a panic");
    assert!(ran > 8000);
}

#[test]
fn bounds_hold_on_many_flows_and_long_streams() {
    let options = ClassifyOptions {
        limits: hilt_capture::ClassifyLimits {
            max_flows: 100,
            stream_bytes: 4096,
            ..Default::default()
        },
        ..ClassifyOptions::default()
    };
    let mut c = Classifier::new(1, &options);
    let lab = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let dev = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut conn = Conn::new((lab, 50000), (dev, 80));
    let mut f = Vec::new();
    for _ in 0..100 {
        conn.client(&mut f, &[b'a'; 1000]);
    }
    for frame in &f {
        c.feed(frame);
    }
    for port in 0..300u16 {
        let mut f = Vec::new();
        udp(&mut f, 10_000 + port, 9, b"x");
        c.feed(&f[0]);
        c.feed(&f[0]);
    }
    let report = c.finish();
    assert_eq!(report.flows.len(), 100);
    assert_eq!(report.flows_dropped, 201);
    let long = &report.flows[0];
    assert_eq!(long.client_bytes, 100_000);
    assert!(long.truncated);
    assert_eq!(report.frames, 100 + 600);
}

#[test]
fn hostile_streams_stay_fast() {
    // A device that prints "Password:" forever, a client that sends one
    // letter forever, and a degenerate secret: linear time, bounded output.
    let options = ClassifyOptions {
        secrets: vec![NamedSecret::new(
            "degenerate",
            vec![b'a'; 40]
                .into_iter()
                .chain([b'b'])
                .collect::<Vec<u8>>(),
        )],
        ..ClassifyOptions::default()
    };
    let lab = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let dev = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut conn = Conn::new((lab, 50001), (dev, 23));
    let mut f = Vec::new();
    conn.handshake(&mut f);
    let prompts = b"Password:".repeat(150);
    for _ in 0..300 {
        conn.server(&mut f, &prompts);
        conn.client(&mut f, &[b'a'; 1300]);
    }
    let started = std::time::Instant::now();
    let mut c = Classifier::new(1, &options);
    for frame in &f {
        c.feed(frame);
    }
    let report = c.finish();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    assert!(!report.secrets[0].found);
    assert!(report.flows[0].credentials.len() <= 16);
    assert!(report.flows[0].truncated);
    eprintln!("hostile telnet flow classified in {took:?}");
}
