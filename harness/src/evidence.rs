//! Evidence files: what a check leaves behind, hashed as it is written.
//!
//! Every file lives under the run folder (`evidence/<board>/<check>/`), is
//! scrubbed of the board's secret values when it is text, and is entered
//! in the record with its SHA-256, size and media type.

use std::path::{Path, PathBuf};

use hilt_reports::EvidenceRecord;
use sha2::{Digest, Sha256};

use crate::board::Secret;
use crate::check::CheckError;

/// Replaces every occurrence of a secret value with `<redacted>`.
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose();
        // A very short value would redact ordinary text; such passwords are
        // a finding in themselves, but their evidence is still scrubbed.
        if !value.is_empty() {
            out = out.replace(value, "<redacted>");
        }
    }
    out
}

/// Byte-level scrub for binary evidence: overwrites each occurrence of a
/// secret value with `*` of the same length, keeping offsets (and so pcap
/// framing) intact. Base64 forms are masked too (HTTP Basic carries
/// `user:password` in base64), at each of the three byte alignments.
pub fn scrub_bytes(data: &mut [u8], secrets: &[Secret]) {
    for secret in secrets {
        let value = secret.expose().as_bytes();
        mask(data, value);
        for core in base64_cores(value) {
            mask(data, &core);
        }
    }
}

fn mask(data: &mut [u8], needle: &[u8]) {
    if needle.is_empty() || needle.len() > data.len() {
        return;
    }
    let mut at = 0;
    while at + needle.len() <= data.len() {
        if &data[at..at + needle.len()] == needle {
            data[at..at + needle.len()].fill(b'*');
            at += needle.len();
        } else {
            at += 1;
        }
    }
}

/// The base64 characters determined by `secret` alone when it starts at
/// byte offset 0, 1 or 2 of a base64 group (the characters around it also
/// depend on its neighbours). Cores shorter than 4 characters are skipped:
/// they would mask ordinary text.
fn base64_cores(secret: &[u8]) -> Vec<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut cores = Vec::new();
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        // Plain base64 without padding: one character per 6 bits.
        let bits = bytes.len() * 8;
        let chars: Vec<u8> = (0..bits / 6)
            .map(|i| {
                let bit = i * 6;
                let (byte, shift) = (bit / 8, bit % 8);
                let word =
                    (u16::from(bytes[byte]) << 8) | u16::from(*bytes.get(byte + 1).unwrap_or(&0));
                ALPHABET[usize::from((word >> (10 - shift)) & 0x3f)]
            })
            .collect();
        let first = (offset * 8).div_ceil(6);
        let last = (offset + secret.len()) * 8 / 6;
        if last > first && last - first >= 4 {
            cores.push(chars[first..last].to_vec());
        }
    }
    cores
}

/// Where one trial writes its evidence.
#[derive(Debug)]
pub struct EvidenceSink {
    run_dir: PathBuf,
    dir: PathBuf,
    secrets: Vec<Secret>,
    records: Vec<EvidenceRecord>,
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
            secrets,
            records: Vec::new(),
        }
    }

    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Saves text evidence (scrubbed).
    pub fn text(
        &mut self,
        name: &str,
        media_type: &str,
        description: &str,
        text: &str,
    ) -> Result<(), CheckError> {
        let clean = scrub(text, &self.secrets);
        self.bytes(name, media_type, description, clean.into_bytes())
    }

    /// Saves binary evidence (scrubbed byte-wise).
    pub fn bytes(
        &mut self,
        name: &str,
        media_type: &str,
        description: &str,
        mut data: Vec<u8>,
    ) -> Result<(), CheckError> {
        if name.contains('/') || name.contains("..") || name.is_empty() {
            return Err(CheckError::Harness(format!(
                "evidence name {name:?} must be a plain file name"
            )));
        }
        scrub_bytes(&mut data, &self.secrets);
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            CheckError::Harness(format!(
                "cannot create evidence folder {}: {e}",
                self.dir.display()
            ))
        })?;
        let path = self.dir.join(name);
        std::fs::write(&path, &data).map_err(|e| {
            CheckError::Harness(format!("cannot write evidence {}: {e}", path.display()))
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
        });
        Ok(())
    }

    pub fn into_records(self) -> Vec<EvidenceRecord> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
