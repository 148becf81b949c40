//! A real telnet login (Debian's inetutils telnetd under inetutils-inetd,
//! /bin/login, a throwaway local user) in a network namespace, captured on
//! the host side of the veth. The classifier must find the password and
//! cite the frames that carried it; tshark must agree those frames are
//! client-to-server telnet segments that hold the typed password.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{hex_decode, run, tshark_count, tshark_fields, tshark_reads, Netns};
use hilt_capture::{
    classify_file, host_filter, Capture, ClassifyOptions, CredentialKind, Limits, NamedSecret,
    Protocol,
};

/// A local account made for this test and deleted afterwards.
struct ThrowawayUser {
    name: String,
}

impl ThrowawayUser {
    fn new(name: &str, password: &str) -> Self {
        common::run_ok(&["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name]);
        let user = Self { name: name.into() };
        let mut chpasswd = std::process::Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("chpasswd");
        chpasswd
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{name}:{password}\n").as_bytes())
            .expect("write chpasswd");
        assert!(chpasswd.wait().expect("chpasswd").success());
        user
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let _ = run(&["userdel", "-f", &self.name]);
    }
}

const IAC: u8 = 255;
const WILL: u8 = 251;
const WONT: u8 = 252;
const DO: u8 = 253;
const DONT: u8 = 254;

/// A minimal telnet client: answers option negotiation (accepts the
/// server's ECHO and SUPPRESS-GO-AHEAD, refuses everything else) and
/// collects the text.
struct Telnet {
    sock: TcpStream,
    text: Vec<u8>,
}

impl Telnet {
    fn connect(addr: SocketAddr) -> Self {
        let sock =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect telnet");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        sock.set_nodelay(true).expect("nodelay");
        Self {
            sock,
            text: Vec::new(),
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        let n = match self.sock.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(_) => return,
        };
        let mut reply = Vec::new();
        let mut i = 0;
        while i < n {
            if buf[i] == IAC && i + 1 < n {
                match buf[i + 1] {
                    DO | DONT | WILL | WONT if i + 2 < n => {
                        let opt = buf[i + 2];
                        match buf[i + 1] {
                            DO => reply.extend_from_slice(&[IAC, WONT, opt]),
                            WILL if opt == 1 || opt == 3 => {
                                reply.extend_from_slice(&[IAC, DO, opt])
                            }
                            WILL => reply.extend_from_slice(&[IAC, DONT, opt]),
                            _ => {}
                        }
                        i += 3;
                    }
                    IAC => {
                        self.text.push(IAC);
                        i += 2;
                    }
                    _ => i += 2,
                }
            } else {
                self.text.push(buf[i]);
                i += 1;
            }
        }
        if !reply.is_empty() {
            self.sock.write_all(&reply).expect("negotiate");
        }
    }

    fn expect(&mut self, what: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            let lower = String::from_utf8_lossy(&self.text).to_lowercase();
            if let Some(at) = lower.find(&what.to_lowercase()) {
                self.text.drain(..at + what.len());
                return;
            }
            assert!(
                Instant::now() < until,
                "no {what:?} from telnetd; got {:?}",
                String::from_utf8_lossy(&self.text)
            );
            self.pump();
        }
    }

    /// Types like a person: one segment per key.
    fn type_line(&mut self, line: &str) {
        for b in line.bytes() {
            self.sock.write_all(&[b]).expect("type");
            std::thread::sleep(Duration::from_millis(15));
        }
        self.sock.write_all(b"\r\n").expect("type");
    }
}

fn start_telnetd(ns: &mut Netns, dir: &Path) {
    let conf = dir.join("inetd.conf");
    std::fs::write(
        &conf,
        "telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",
    )
    .expect("inetd.conf");
    let pidfile = dir.join("inetd.pid");
    ns.spawn(&[
        "/usr/sbin/inetutils-inetd",
        "-d",
        &format!("--pidfile={}", pidfile.display()),
        conf.to_str().expect("utf-8 path"),
    ]);
    ns.wait_port(23, Duration::from_secs(10));
}

#[test]
fn classifier_finds_the_telnet_password_and_its_frames() {
    need_root!();
    for tool in ["/usr/sbin/inetutils-inetd", "/usr/sbin/telnetd"] {
        if !Path::new(tool).exists() {
            assert!(
                std::env::var_os("HILT_ALLOW_SKIP").is_some(),
                "{tool} missing: apt-get install inetutils-inetd inetutils-telnetd (scripts/install-deps.sh), or set HILT_ALLOW_SKIP=1 to skip"
            );
            eprintln!(
                "SKIPPED: {tool} missing (apt-get install inetutils-inetd inetutils-telnetd)"
            );
            return;
        }
    }
    let pid = std::process::id();
    let user_name = format!("hcap{pid}");
    let password = format!("Tl{}-x{}", pid, pid % 97);
    let _user = ThrowawayUser::new(&user_name, &password);
    let mut ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    start_telnetd(&mut ns, dir.path());

    let path = dir.path().join("telnet.pcap");
    let cap = Capture::start(
        &ns.host_if,
        &host_filter(ns.addr.into()),
        &path,
        Limits::default(),
    )
    .expect("start capture");
    let mut t = Telnet::connect(SocketAddr::from((ns.addr, 23)));
    t.expect("login: ", Duration::from_secs(15));
    t.type_line(&user_name);
    t.expect("Password: ", Duration::from_secs(15));
    t.type_line(&password);
    // Logged in: the shell runs (no home directory; HOME=/).
    t.expect("$ ", Duration::from_secs(15));
    t.type_line("exit");
    std::thread::sleep(Duration::from_millis(500));
    let stats = cap.stop().expect("stop");
    drop(t);

    tshark_reads(&path);
    assert_eq!(tshark_count(&path), stats.packets);

    let options = ClassifyOptions {
        secrets: vec![NamedSecret::new(
            "throwaway user's password",
            password.clone(),
        )],
        ..ClassifyOptions::default()
    };
    let report = classify_file(&path, &options).expect("classify");
    assert_eq!(report.frames, stats.packets);
    assert_eq!(report.read_error, None);
    let flow = report
        .flows
        .iter()
        .find(|f| f.server.port() == 23)
        .expect("a telnet flow");
    assert_eq!(flow.protocol, Protocol::Telnet);
    assert_eq!(flow.plaintext, Some(true));
    assert_eq!(flow.server, SocketAddr::from((ns.addr, 23)));
    assert_eq!(flow.credentials.len(), 1, "{:?}", flow.credentials);
    eprintln!("{}", serde_json::to_string_pretty(flow).expect("json"));
    let cred = &flow.credentials[0];
    assert_eq!(cred.kind, CredentialKind::TelnetLogin);
    assert_eq!(cred.user.as_deref(), Some(user_name.as_str()));
    assert!(cred.password_matches(password.as_bytes()));
    assert_eq!(cred.password_len, password.len());
    // Typed one key per segment: one frame per character.
    assert_eq!(cred.frames.len(), password.len(), "{cred:?}");
    assert_eq!(cred.frame, cred.frames[0]);

    // tshark: every cited frame goes to port 23, and their payloads, in
    // order, spell the password.
    let filter = cred
        .frames
        .iter()
        .map(|f| format!("frame.number=={f}"))
        .collect::<Vec<_>>()
        .join(" || ");
    let rows = tshark_fields(
        &path,
        &filter,
        &["frame.number", "tcp.dstport", "tcp.payload"],
    );
    assert_eq!(rows.len(), cred.frames.len());
    let mut typed = Vec::new();
    for row in &rows {
        assert_eq!(row[1], "23", "frame {} is not client to server", row[0]);
        typed.extend(hex_decode(&row[2]));
    }
    assert_eq!(typed, password.as_bytes());

    // The secret search names the same frames, and nothing echoes the password.
    let hit = &report.secrets[0];
    assert!(hit.found);
    assert_eq!(hit.frames, cred.frames);
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains(&password), "the report echoes the password");
    assert!(!format!("{report:?}").contains(&password));
    assert!(json.contains(&user_name));
}
