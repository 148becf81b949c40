//! Shared by the board tests: start boards with `hilt-sim up` in a private
//! runtime folder, talk to the console PTY, speak SMP, run imgtool.
//!
//! Board indices used by the tests (each test its own, so they may run in
//! parallel with each other and with other tests on the machine):
//! boot 100-119, console 140-154, flaws_net 155 158 159 167 168,
//! flaws_core 156 157 163 165 166 169, gdb 160-162, many 170-185, smp 186-189,
//! flaws_tls 190-193.
#![allow(dead_code)]

use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ciborium::value::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_hilt-sim");

/// Boards started in a private runtime folder; stopped on drop.
pub struct Sim {
    pub dir: tempfile::TempDir,
    pub base: u32,
    pub count: u32,
}

impl Sim {
    /// Boards without their network side (the core alone).
    pub fn up(base: u32, count: u32, flaws: &[&str]) -> Sim {
        Sim::up_with(base, count, flaws, &["--loopback", "--no-net"])
    }

    pub fn up_with(base: u32, count: u32, flaws: &[&str], args: &[&str]) -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = Sim { dir, base, count };
        sim.run_up(flaws, args);
        sim
    }

    pub fn run_up(&self, flaws: &[&str], args: &[&str]) {
        let mut cmd = Command::new(BIN);
        cmd.arg("up")
            .arg("--count")
            .arg(self.count.to_string())
            .arg("--base-index")
            .arg(self.base.to_string())
            .arg("--runtime-dir")
            .arg(self.dir.path())
            .args(args);
        for f in flaws {
            cmd.arg("--flaw").arg(f);
        }
        let out = cmd.output().expect("run hilt-sim up");
        assert!(
            out.status.success(),
            "hilt-sim up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn board_dir(&self, index: u32) -> PathBuf {
        self.dir.path().join(format!("sim-{index}"))
    }

    pub fn password(&self, index: u32) -> String {
        std::fs::read_to_string(self.board_dir(index).join("password"))
            .expect("password file")
            .trim()
            .to_string()
    }

    pub fn label_id(&self, index: u32) -> String {
        let l = std::fs::read_to_string(self.board_dir(index).join("label.txt")).expect("label");
        l.lines()
            .find_map(|l| l.strip_prefix("device_id: "))
            .expect("device id on label")
            .to_string()
    }

    pub fn console(&self, index: u32) -> Console {
        Console::open(&self.board_dir(index).join("tty"))
    }

    pub fn power(&self, index: u32, what: &str) -> String {
        use std::io::{BufRead as _, BufReader};
        let mut s =
            std::os::unix::net::UnixStream::connect(self.board_dir(index).join("power.sock"))
                .expect("power socket");
        s.write_all(format!("{what}\n").as_bytes()).expect("write");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("read");
        line.trim().to_string()
    }

    pub fn down(&self) {
        let _ = Command::new(BIN)
            .arg("down")
            .arg("--runtime-dir")
            .arg(self.dir.path())
            .output();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.down();
    }
}

/// The console, as a lab's serial terminal sees it.
pub struct Console {
    file: std::fs::File,
    pub transcript: Vec<u8>,
}

impl Console {
    pub fn open(path: &Path) -> Console {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .expect("open tty");
        // SAFETY: termios is plain data filled by tcgetattr.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            libc::tcgetattr(file.as_raw_fd(), &mut t);
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(file.as_raw_fd(), libc::TCSANOW, &t);
        }
        Console {
            file,
            transcript: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, data: &[u8]) {
        for chunk in data.chunks(256) {
            let mut rest = chunk;
            while !rest.is_empty() {
                match self.file.write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r").as_bytes());
    }

    fn read_some(&mut self, timeout_ms: i32) -> usize {
        let mut p = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, timeout_ms) } <= 0 {
            return 0;
        }
        let mut buf = [0u8; 4096];
        match std::io::Read::read(&mut self.file, &mut buf) {
            Ok(n) => {
                self.transcript.extend_from_slice(&buf[..n]);
                n
            }
            Err(_) => 0,
        }
    }

    /// Reads until `pat` appears in new output; returns the output up to
    /// and including it and keeps the rest for the next call.
    pub fn expect(&mut self, pat: &str, timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(i) = find(&self.transcript, pat.as_bytes()) {
                let out: Vec<u8> = self.transcript.drain(..i + pat.len()).collect();
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timeout waiting for {pat:?}; got {:?}",
                    String::from_utf8_lossy(&self.transcript)
                ));
            }
            self.read_some(left.as_millis().min(100) as i32);
        }
    }

    pub fn drain(&mut self) {
        while self.read_some(50) > 0 {}
        self.transcript.clear();
    }

    /// Wakes the console and logs in; returns the outcome text.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        self.drain();
        self.send("");
        // A session may still be open (the device keeps it): log out first.
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let t = String::from_utf8_lossy(&self.transcript).into_owned();
            if t.contains("login: ") {
                break;
            }
            if t.contains("sim> ") {
                self.transcript.clear();
                self.send("logout");
                self.expect("login: ", Duration::from_secs(5))?;
                break;
            }
            if Instant::now() > end {
                return Err(format!("no login prompt: {t:?}"));
            }
            self.read_some(100);
        }
        self.transcript.clear();
        self.send(user);
        self.expect("Password: ", Duration::from_secs(5))?;
        self.send(password);
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let t = String::from_utf8_lossy(&self.transcript).into_owned();
            if t.contains("sim> ") {
                self.transcript.clear();
                return Ok(());
            }
            if t.contains("Login incorrect") {
                self.transcript.clear();
                return Err("Login incorrect".into());
            }
            if Instant::now() > end {
                return Err(format!("no answer to login: {t:?}"));
            }
            self.read_some(100);
        }
    }

    /// Runs a shell command and returns its output (without echo and prompt).
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        let out = self
            .expect("sim> ", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("command {line:?}: {e}"));
        let out = out.trim_end_matches("sim> ");
        let out = out.strip_prefix(line).unwrap_or(out);
        out.replace("\r\n", "\n").trim().to_string()
    }

    /// Sends one SMP request and waits for its response (a CBOR map).
    pub fn smp(&mut self, op: u8, group: u16, id: u8, body: Value) -> Result<Value, String> {
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(&body, &mut cbor).map_err(|e| e.to_string())?;
        let mut msg = vec![op, 0];
        msg.extend_from_slice(&(cbor.len() as u16).to_be_bytes());
        msg.extend_from_slice(&group.to_be_bytes());
        msg.push(0x42);
        msg.push(id);
        msg.extend_from_slice(&cbor);
        let mut raw = ((msg.len() + 2) as u16).to_be_bytes().to_vec();
        raw.extend_from_slice(&msg);
        raw.extend_from_slice(&crc16(&msg).to_be_bytes());
        let text = base64::engine::general_purpose::STANDARD.encode(&raw);
        let mut frames = Vec::new();
        for (i, c) in text.as_bytes().chunks(124).enumerate() {
            frames.extend_from_slice(if i == 0 { &[6, 9] } else { &[4, 20] });
            frames.extend_from_slice(c);
            frames.push(b'\n');
        }
        self.transcript.clear();
        self.send_raw(&frames);
        // Collect response frames.
        let end = Instant::now() + Duration::from_secs(10);
        let mut data = Vec::new();
        loop {
            while let Some(nl) = self.transcript.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.transcript.drain(..=nl).collect();
                let Some(start) = line.windows(2).position(|w| w == [6, 9] || w == [4, 20]) else {
                    continue;
                };
                let b64 = &line[start + 2..line.len() - 1];
                let dec = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| e.to_string())?;
                if line[start] == 6 {
                    data.clear();
                }
                data.extend_from_slice(&dec);
                if data.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
                    if data.len() >= len + 2 {
                        let msg = &data[2..len];
                        let crc = u16::from_be_bytes([data[len], data[len + 1]]);
                        if crc16(msg) != crc {
                            return Err("bad CRC in response".into());
                        }
                        if msg[0] & 7 != op + 1 || msg[6] != 0x42 {
                            return Err("unexpected response header".into());
                        }
                        return ciborium::de::from_reader(&msg[8..]).map_err(|e| e.to_string());
                    }
                }
            }
            if Instant::now() > end {
                return Err("timeout waiting for an SMP response".into());
            }
            self.read_some(100);
        }
    }

    /// Uploads an image into slot 1 in chunks, as mcumgr does.
    pub fn smp_upload(&mut self, image: &[u8]) -> Result<(), String> {
        let mut off = 0usize;
        while off < image.len() {
            let end = (off + 256).min(image.len());
            let mut m = vec![
                (t("off"), Value::Integer((off as u64).into())),
                (t("data"), Value::Bytes(image[off..end].to_vec())),
            ];
            if off == 0 {
                m.push((t("image"), Value::Integer(0.into())));
                m.push((t("len"), Value::Integer((image.len() as u64).into())));
            }
            let r = self.smp(2, 1, 1, Value::Map(m))?;
            let next = map_get(&r, "off")
                .and_then(|v| v.as_integer())
                .map(i128::from)
                .ok_or_else(|| format!("upload refused: {r:?}"))?;
            off = next as usize;
        }
        Ok(())
    }

    pub fn smp_image_state(&mut self) -> Result<Value, String> {
        self.smp(0, 1, 0, Value::Map(vec![]))
    }

    pub fn smp_test(&mut self, hash: &[u8], confirm: bool) -> Result<Value, String> {
        self.smp(
            2,
            1,
            0,
            Value::Map(vec![
                (t("hash"), Value::Bytes(hash.to_vec())),
                (t("confirm"), Value::Bool(confirm)),
            ]),
        )
    }

    pub fn smp_confirm(&mut self) -> Result<Value, String> {
        self.smp(2, 1, 0, Value::Map(vec![(t("confirm"), Value::Bool(true))]))
    }

    pub fn smp_reset(&mut self) -> Result<Value, String> {
        self.smp(2, 0, 5, Value::Map(vec![]))
    }

    /// Waits for the next boot to reach its login prompt; returns the boot log.
    pub fn wait_boot(&mut self) -> String {
        self.expect("login: ", Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("no boot: {e}"))
    }
}

pub fn t(s: &str) -> Value {
    Value::Text(s.into())
}

pub fn map_get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The committed TEST ONLY keys.
pub fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("keys")
        .join(name)
}

/// Runs imgtool (panics with its output on failure).
pub fn imgtool(args: &[&str]) {
    let out = Command::new("imgtool")
        .args(args)
        .output()
        .expect("run imgtool");
    assert!(
        out.status.success(),
        "imgtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A payload from `hilt-sim firmware --payload-only`, signed by imgtool.
pub fn signed_image(
    dir: &Path,
    name: &str,
    key: Option<&Path>,
    version: &str,
    counter: u32,
) -> Vec<u8> {
    let payload = dir.join(format!("{name}.payload"));
    let out = dir.join(format!("{name}.bin"));
    let st = Command::new(BIN)
        .args(["firmware", "--payload-only", "--version", version, "--out"])
        .arg(&payload)
        .status()
        .expect("hilt-sim firmware");
    assert!(st.success());
    let counter = counter.to_string();
    let mut args = vec![
        "sign",
        "-H",
        "0x200",
        "--pad-header",
        "-S",
        "0x20000",
        "-v",
        version,
        "-s",
        &counter,
    ];
    let k;
    if let Some(key) = key {
        k = key.display().to_string();
        args.push("--key");
        args.push(&k);
    }
    let p = payload.display().to_string();
    let o = out.display().to_string();
    args.push(&p);
    args.push(&o);
    imgtool(&args);
    std::fs::read(&out).expect("signed image")
}

/// The MCUboot image hash of an image file (SHA-256 over header, payload
/// and protected TLVs), computed from the header fields.
pub fn image_hash(img: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let hdr = usize::from(u16::from_le_bytes([img[8], img[9]]));
    let prot = usize::from(u16::from_le_bytes([img[10], img[11]]));
    let size = u32::from_le_bytes([img[12], img[13], img[14], img[15]]) as usize;
    sha2::Sha256::digest(&img[..hdr + size + prot]).to_vec()
}

// ------------------------------------------------------------------ forgeries
//
// The forgeries the harness's software-update checks send, made here by
// editing bytes (the board's tests use no hilt crate).

/// Header fields: (header size, protected TLV size, payload size).
pub fn header_sizes(img: &[u8]) -> (usize, usize, usize) {
    let hdr = usize::from(u16::from_le_bytes([img[8], img[9]]));
    let prot = usize::from(u16::from_le_bytes([img[10], img[11]]));
    let size = u32::from_le_bytes([img[12], img[13], img[14], img[15]]) as usize;
    (hdr, prot, size)
}

/// SU-04: the payload's middle byte flipped; hash and signature kept.
pub fn tampered_payload(golden: &[u8]) -> Vec<u8> {
    let (hdr, _, size) = header_sizes(golden);
    let mut b = golden.to_vec();
    b[hdr + size / 2] ^= 0x01;
    b
}

/// SU-09: the protected security counter lowered by one (raised from 0),
/// nothing re-signed.
pub fn edited_counter(golden: &[u8]) -> Vec<u8> {
    let (hdr, _, size) = header_sizes(golden);
    // Protected TLV area: info (4), then SEC_CNT type/len (4), value.
    let at = hdr + size + 8;
    let mut b = golden.to_vec();
    assert_eq!(
        u16::from_le_bytes([b[hdr + size + 4], b[hdr + size + 5]]),
        0x50
    );
    let old = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let new = old.checked_sub(1).unwrap_or(1);
    b[at..at + 4].copy_from_slice(&new.to_le_bytes());
    b
}

/// The protected security counter raised by one, nothing re-signed (the
/// forgery that shows whether the protected TLVs are authenticated: the
/// raised counter passes any rollback check).
pub fn raised_counter(golden: &[u8]) -> Vec<u8> {
    let (hdr, _, size) = header_sizes(golden);
    let at = hdr + size + 8;
    let mut b = golden.to_vec();
    assert_eq!(
        u16::from_le_bytes([b[hdr + size + 4], b[hdr + size + 5]]),
        0x50
    );
    let old = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    b[at..at + 4].copy_from_slice(&(old + 1).to_le_bytes());
    b
}

/// SU-06: `ih_img_size` raised by 4096, nothing re-signed.
pub fn lying_size(golden: &[u8]) -> Vec<u8> {
    let (_, _, size) = header_sizes(golden);
    let mut b = golden.to_vec();
    b[12..16].copy_from_slice(&(size as u32 + 4096).to_le_bytes());
    b
}

/// SU-03 as the suite builds it: a payload byte changed and the SHA256 TLV
/// recomputed to match, so only the genuine signature no longer fits.
pub fn rehashed_payload(golden: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let (hdr, prot, size) = header_sizes(golden);
    let mut b = golden.to_vec();
    b[hdr + size - 1] ^= 0x5a;
    let digest = sha2::Sha256::digest(&b[..hdr + size + prot]);
    // Unprotected TLV area: info (4), then SHA256 type/len (4), value.
    let at = hdr + size + prot + 8;
    assert_eq!(u16::from_le_bytes([b[at - 4], b[at - 3]]), 0x10);
    b[at..at + 32].copy_from_slice(&digest);
    b
}

/// The hash `image state` lists slot 1 under, if it lists slot 1.
pub fn slot_hash(state: &Value, slot: i128) -> Option<Vec<u8>> {
    map_get(state, "images")?
        .as_array()?
        .iter()
        .find(|i| {
            map_get(i, "slot")
                .and_then(|v| v.as_integer())
                .map(i128::from)
                == Some(slot)
        })
        .and_then(|i| map_get(i, "hash")?.as_bytes().cloned())
}

/// Whether `image state` says the running image is confirmed.
pub fn running_confirmed(state: &Value) -> bool {
    map_get(state, "images")
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .find(|i| map_get(i, "active").and_then(|v| v.as_bool()) == Some(true))
        })
        .and_then(|i| map_get(i, "confirmed")?.as_bool())
        .unwrap_or(false)
}

/// Sends `image` through SMP as a lab does (upload, test boot of whatever
/// slot 1 then holds, reset) on a logged-in console; returns the boot log
/// up to the next login prompt, or `Err` with what came instead.
pub fn smp_install(c: &mut Console, image: &[u8], boot_wait: Duration) -> Result<String, String> {
    c.smp_upload(image)?;
    let st = c.smp_image_state()?;
    let hash = slot_hash(&st, 1).ok_or_else(|| format!("slot 1 empty after upload: {st:?}"))?;
    c.smp_test(&hash, false)?;
    c.smp_reset()?;
    c.expect("login: ", boot_wait)
}

/// Flips bit 0 of the byte at `off` in a file (flash.bin at rest).
pub fn flip_byte(path: &Path, off: u64) {
    use std::os::unix::fs::FileExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open flash.bin");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off).expect("read");
    b[0] ^= 0x01;
    f.write_all_at(&b, off).expect("write");
}
