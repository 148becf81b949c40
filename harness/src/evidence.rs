//! Evidence files: what a check leaves behind, hashed as it is written.
//!
//! Every file lives under the run folder (`evidence/<board>/<check>/`), is
//! scrubbed of the board's secret values when it is text, and is entered
//! in the record with its SHA-256, size and media type.

use std::path::{Path, PathBuf};

use hilt_reports::EvidenceRecord;
use sha2::{Digest, Sha256};

use crate::board::Secret;
use crate::scrub::Scrubber;

/// Replaces every form of a secret value in `text` with `<redacted>`
/// (see `crate::scrub` for the forms).
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    Scrubber::new(secrets).scrub_text(text)
}

/// Byte-level scrub for binary evidence: overwrites each form of a secret
/// value with `*` of the same length, keeping offsets (and so pcap
/// framing) intact.
pub fn scrub_bytes(data: &mut [u8], secrets: &[Secret]) {
    Scrubber::new(secrets).mask_bytes(data)
}

/// Where in an evidence file a check's observation is, recorded as the
/// evidence entry's `locator`. Numbers count from 1, as tshark numbers
/// frames and editors number lines; byte offsets count from 0, as `xxd`
/// and `dd skip=` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locator {
    /// A line of a text file: `line N`.
    Line(u64),
    /// A frame of a pcap as written: `frame N` (`tshark -Y frame.number==N`).
    Frame(u64),
    /// A byte offset in a binary file: `byte N`.
    Byte(u64),
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locator::Line(n) => write!(f, "line {n}"),
            Locator::Frame(n) => write!(f, "frame {n}"),
            Locator::Byte(n) => write!(f, "byte {n}"),
        }
    }
}

/// Evidence that could not be written (a harness fault at the check layer).
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence name {0:?} must be a plain file name")]
    Name(String),
    #[error("cannot create evidence folder {}: {source}", .dir.display())]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write evidence {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where one trial writes its evidence.
#[derive(Debug)]
pub struct EvidenceSink {
    run_dir: PathBuf,
    dir: PathBuf,
    scrubber: Scrubber,
    records: Vec<EvidenceRecord>,
    /// Locators by file name, for files kept now or later (a console
    /// transcript is written when the console closes).
    locators: std::collections::BTreeMap<String, Locator>,
}

impl EvidenceSink {
    pub fn new(run_dir: &Path, board: &str, check_id: &str, secrets: Vec<Secret>) -> Self {
        let dir = run_dir
            .join("evidence")
            .join(board)
            .join(check_id.replace("::", "."));
        Self {
            run_dir: run_dir.to_path_buf(),
            dir,
            scrubber: Scrubber::new(&secrets),
            records: Vec::new(),
            locators: Default::default(),
        }
    }

    /// What this trial's evidence is scrubbed of.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Adds a secret that came to be during the trial (a generated
    /// password); evidence written from now on is scrubbed of it too.
    pub fn add_secret(&mut self, secret: &Secret) {
        self.scrubber.add(secret);
    }

    /// Saves text evidence (scrubbed).
    pub fn text(
        &mut self,
        name: &str,
        media_type: &str,
        description: &str,
        text: &str,
    ) -> Result<(), EvidenceError> {
        let clean = self.scrubber.scrub_text(text);
        self.bytes(name, media_type, description, clean.into_bytes())
    }

    /// Saves binary evidence (scrubbed byte-wise).
    pub fn bytes(
        &mut self,
        name: &str,
        media_type: &str,
        description: &str,
        mut data: Vec<u8>,
    ) -> Result<(), EvidenceError> {
        if name.contains('/') || name.contains("..") || name.is_empty() {
            return Err(EvidenceError::Name(name.to_string()));
        }
        self.scrubber.mask_bytes(&mut data);
        std::fs::create_dir_all(&self.dir).map_err(|source| EvidenceError::Folder {
            dir: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join(name);
        std::fs::write(&path, &data).map_err(|source| EvidenceError::Write {
            path: path.clone(),
            source,
        })?;
        let relative = path
            .strip_prefix(&self.run_dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        self.records.retain(|r| r.path != relative);
        self.records.push(EvidenceRecord {
            path: relative,
            sha256: hex::encode(Sha256::digest(&data)),
            bytes: data.len() as u64,
            media_type: media_type.to_string(),
            description: description.to_string(),
            locator: self.locators.get(name).map(Locator::to_string),
        });
        Ok(())
    }

    /// Says where in the evidence file `name` (kept already, or to be
    /// kept later in this trial) the check's observation is. The last
    /// locator given for a file wins.
    pub fn locate(&mut self, name: &str, locator: Locator) {
        self.locators.insert(name.to_string(), locator);
        let path = self.dir.join(name);
        let relative = path.strip_prefix(&self.run_dir).unwrap_or(&path);
        let relative = relative.to_string_lossy();
        if let Some(record) = self.records.iter_mut().find(|r| r.path == relative) {
            record.locator = Some(locator.to_string());
        }
    }

    pub fn into_records(self) -> Vec<EvidenceRecord> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_render_once_and_reach_kept_and_later_files() {
        assert_eq!(Locator::Line(40).to_string(), "line 40");
        assert_eq!(Locator::Frame(12).to_string(), "frame 12");
        assert_eq!(Locator::Byte(0).to_string(), "byte 0");
        let run = tempfile::tempdir().expect("tempdir");
        let mut sink = EvidenceSink::new(run.path(), "b", "x::y", Vec::new());
        sink.text("kept.log", "text/plain", "kept", "a\nb\n")
            .expect("kept");
        sink.locate("kept.log", Locator::Line(2));
        sink.locate("later.pcap", Locator::Frame(3));
        sink.bytes(
            "later.pcap",
            "application/vnd.tcpdump.pcap",
            "later",
            vec![1],
        )
        .expect("later");
        sink.text("plain.txt", "text/plain", "no locator", "z")
            .expect("plain");
        let records = sink.into_records();
        let locator = |suffix: &str| {
            records
                .iter()
                .find(|r| r.path.ends_with(suffix))
                .and_then(|r| r.locator.clone())
        };
        assert_eq!(locator("kept.log").as_deref(), Some("line 2"));
        assert_eq!(locator("later.pcap").as_deref(), Some("frame 3"));
        assert_eq!(locator("plain.txt"), None);
    }

    #[test]
    fn bytes_are_scrubbed_in_place() {
        let secrets = [crate::board::SecretRef::Env("HILT_TEST_SCRUB".into())];
        std::env::set_var("HILT_TEST_SCRUB", "s3cret");
        let secrets: Vec<Secret> = secrets
            .iter()
            .filter_map(|s| s.resolve(Path::new(".")).ok())
            .collect();
        let mut data = b"xx s3cret yy s3cret".to_vec();
        scrub_bytes(&mut data, &secrets);
        assert_eq!(&data, b"xx ****** yy ******");
        // HTTP Basic: base64("admin:s3cret") = YWRtaW46czNjcmV0.
        let mut basic = b"Authorization: Basic YWRtaW46czNjcmV0\r\n".to_vec();
        scrub_bytes(&mut basic, &secrets);
        let shown = String::from_utf8_lossy(&basic).into_owned();
        assert!(!shown.contains("czNjcmV0"), "{shown}");
        assert!(
            shown.starts_with("Authorization: Basic YWRtaW46"),
            "{shown}"
        );
        // Every alignment: what is left never decodes to the secret.
        use base64::Engine as _;
        for prefix in ["", "a", "ab", "abc", "user:", "root:x"] {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{prefix}s3cret!"));
            let mut bytes = encoded.clone().into_bytes();
            scrub_bytes(&mut bytes, &secrets);
            assert_ne!(bytes, encoded.as_bytes(), "prefix {prefix:?} left unmasked");
            let kept: Vec<u8> = bytes
                .iter()
                .map(|&b| if b == b'*' { b'A' } else { b })
                .collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&kept)
                .unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&decoded).contains("s3cret"),
                "prefix {prefix:?}"
            );
        }
        assert_eq!(scrub("a s3cret b", &secrets), "a <redacted> b");
    }
}
