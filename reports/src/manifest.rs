//! The evidence manifest: the SHA-256 and size of every file of a run
//! folder (`record.json`, `junit.xml`, every evidence file), optionally
//! signed with a lab's Ed25519 key, and its verification.
//!
//! `manifest.json` sits in the run folder and lists every other file in
//! it. What is signed are the manifest's *canonical bytes*: the compact
//! JSON (no spaces, fields in this order) of `{"format":1,"files":[...]}`,
//! each file as `{"path":...,"sha256":...,"bytes":...}`, sorted by path
//! bytewise, paths relative to the run folder with `/` separators. Anyone
//! can rebuild them from `manifest.json` without hilt.
//!
//! Verification ([`verify`]) recomputes every hash: a changed byte, a
//! missing file or an added one is a problem naming the file; so is a
//! record whose own evidence hashes disagree with the manifest, and a
//! signature that does not hold (or was made with another key than the one
//! the verifier trusts).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::record::RunRecord;

/// Bumped when the manifest's fields or its canonical bytes change.
pub const MANIFEST_FORMAT: u32 = 1;
/// The manifest's file name in the run folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// A manifest larger than this is refused (a run has thousands of files at most).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// A record larger than this is not read for the cross-check (it is still hashed).
const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;
/// Folders nested deeper than this are refused rather than followed.
const MAX_DEPTH: usize = 32;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Every file of the run folder but the manifest, sorted by path.
    pub files: Vec<ManifestEntry>,
    /// Present when the run was given `--sign-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ManifestSignature>,
}

/// One file of the run folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative to the run folder, `/`-separated.
    pub path: String,
    /// Lower-case hex.
    pub sha256: String,
    pub bytes: u64,
}

/// An Ed25519 signature over the manifest's canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSignature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, SubjectPublicKeyInfo `PUBLIC KEY` PEM (as
    /// `openssl pkey -pubout` writes it).
    pub public_key: String,
    /// `SHA256:` and the hex SHA-256 of the public key's SubjectPublicKeyInfo
    /// DER (`openssl pkey -pubin -outform DER | sha256sum`).
    pub key_fingerprint: String,
    /// The 64-byte signature, lower-case hex.
    pub value: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    format: u32,
    files: &'a [ManifestEntry],
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("signing key: {0}")]
    Key(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ManifestError + '_ {
    move |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A lab's signing key (Ed25519). Its `Debug` never shows the key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", fingerprint(&self.0.verifying_key()))
    }
}

impl SigningKey {
    /// Reads a PKCS#8 `PRIVATE KEY` PEM Ed25519 key, as
    /// `openssl genpkey -algorithm ed25519` writes it. The error never
    /// contains the key text.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, ManifestError> {
        let pem = pem.trim();
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(ManifestError::Key(
                "encrypted private keys are not supported; decrypt it first (`openssl pkey -in KEY -out PLAIN`)".into(),
            ));
        }
        if !pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            return Err(ManifestError::Key(
                "expected a PKCS#8 `PRIVATE KEY` PEM Ed25519 key (`openssl genpkey -algorithm ed25519 -out KEY`)".into(),
            ));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(Self)
            .map_err(|_| {
                ManifestError::Key(
                    "not an Ed25519 PKCS#8 private key (`openssl genpkey -algorithm ed25519` writes one)".into(),
                )
            })
    }

    /// `SHA256:<hex>` of the public key's SubjectPublicKeyInfo DER.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0.verifying_key())
    }
}

/// A public key a manifest's signature is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Reads a SubjectPublicKeyInfo `PUBLIC KEY` PEM Ed25519 key (as
    /// `openssl pkey -in KEY -pubout` writes it).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, ManifestError> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|_| {
                ManifestError::Key(
                    "not an Ed25519 `PUBLIC KEY` PEM (`openssl pkey -in KEY -pubout` writes one)"
                        .into(),
                )
            })
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.fingerprint())
    }
}

fn spki_der(key: &ed25519_dalek::VerifyingKey) -> Vec<u8> {
    // Encoding a valid in-memory key cannot fail; an empty result would only
    // make the fingerprint match nothing.
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default()
}

fn fingerprint(key: &ed25519_dalek::VerifyingKey) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(spki_der(key))))
}

impl Manifest {
    /// The bytes the signature covers (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let canonical = Canonical {
            format: self.format,
            files: &self.files,
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }

    /// Hashes every file under `dir` (but `manifest.json`) and signs the
    /// result with `key` when one is given.
    pub fn build(dir: &Path, key: Option<&SigningKey>) -> Result<Self, ManifestError> {
        let files = scan(dir)?
            .into_iter()
            .map(|(path, (sha256, bytes))| ManifestEntry {
                path,
                sha256,
                bytes,
            })
            .collect();
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT,
            files,
            signature: None,
        };
        if let Some(key) = key {
            let signature = key.0.sign(&manifest.canonical_bytes());
            let public = key.0.verifying_key();
            let pem = public
                .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|e| ManifestError::Key(e.to_string()))?;
            manifest.signature = Some(ManifestSignature {
                algorithm: "ed25519".into(),
                public_key: pem,
                key_fingerprint: fingerprint(&public),
                value: hex::encode(signature.to_bytes()),
            });
        }
        Ok(manifest)
    }

    /// Builds the manifest of `dir` and writes it to `dir/manifest.json`
    /// (atomically: a temporary file outside the listing, then a rename).
    pub fn write(dir: &Path, key: Option<&SigningKey>) -> Result<Self, ManifestError> {
        let manifest = Self::build(dir, key)?;
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ManifestError::Invalid(e.to_string()))?;
        let path = dir.join(MANIFEST_FILE);
        // The temporary file sits next to the run folder, so a scan never sees it.
        let tmp = match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => {
                parent.join(format!(".{}.manifest.tmp", name.to_string_lossy()))
            }
            _ => dir.join(".manifest.json.tmp"),
        };
        std::fs::write(&tmp, json).map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        Ok(manifest)
    }

    /// Reads `dir/manifest.json` (bounded), checking its format and paths.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = read_bounded(&path, MAX_MANIFEST_BYTES)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ManifestError::Invalid(format!("{}: {e}", path.display())))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::Invalid(format!(
                "{}: manifest format {} (this hilt reads format {MANIFEST_FORMAT})",
                path.display(),
                manifest.format
            )));
        }
        for entry in &manifest.files {
            if !is_plain_relative(&entry.path) {
                return Err(ManifestError::Invalid(format!(
                    "{}: entry {:?} is not a path inside the run folder",
                    path.display(),
                    entry.path
                )));
            }
        }
        Ok(manifest)
    }
}

/// A path such as `a/b.txt`: relative, no `.`/`..`, no empty components.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path != MANIFEST_FILE
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ManifestError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    if !meta.file_type().is_file() {
        return Err(ManifestError::Invalid(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if meta.len() > limit {
        return Err(ManifestError::Invalid(format!(
            "{}: larger than {limit} bytes",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(io_error(path))?;
    Ok(bytes)
}

/// `(sha256, bytes)` of every regular file under `dir` but the manifest,
/// by `/`-separated relative path. Anything else (a symlink, a FIFO, a
/// device, a name that is not UTF-8) is an error naming it: a run folder
/// holds plain files only.
fn scan(dir: &Path) -> Result<BTreeMap<String, (String, u64)>, ManifestError> {
    let mut out = BTreeMap::new();
    scan_into(dir, "", 0, &mut out)?;
    Ok(out)
}

fn scan_into(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut BTreeMap<String, (String, u64)>,
) -> Result<(), ManifestError> {
    if depth > MAX_DEPTH {
        return Err(ManifestError::Invalid(format!(
            "{}: folders nested deeper than {MAX_DEPTH}",
            dir.display()
        )));
    }
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let full = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(ManifestError::Invalid(format!(
                "{}: file name is not UTF-8",
                full.display()
            )));
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if rel == MANIFEST_FILE {
            continue;
        }
        let kind = entry.file_type().map_err(io_error(&full))?;
        if kind.is_dir() {
            scan_into(&full, &rel, depth + 1, out)?;
        } else if kind.is_file() {
            out.insert(rel, hash_file(&full)?);
        } else {
            return Err(ManifestError::Invalid(format!(
                "{rel}: not a regular file or folder (a run folder holds plain files only)"
            )));
        }
    }
    Ok(())
}

/// `(sha256 hex, size)` of one file, read in blocks.
pub fn hash_file(path: &Path) -> Result<(String, u64), ManifestError> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// What `verify` found wrong, each naming a file (or the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Listed, but gone.
    Missing(String),
    /// Present, but not listed.
    Added(String),
    /// Its bytes differ from the manifest's hash or size.
    Changed {
        path: String,
        expected: String,
        found: String,
    },
    /// A trial's evidence entry in `record.json` disagrees with the manifest.
    RecordDisagrees { path: String, detail: String },
    /// The signature does not hold, or not for the trusted key.
    Signature(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(
                f,
                "missing: {p} (listed in the manifest, not in the folder)"
            ),
            Self::Added(p) => write!(f, "added: {p} (in the folder, not in the manifest)"),
            Self::Changed {
                path,
                expected,
                found,
            } => write!(f, "changed: {path} (manifest {expected}, found {found})"),
            Self::RecordDisagrees { path, detail } => {
                write!(f, "record disagrees: {path}: {detail}")
            }
            Self::Signature(detail) => write!(f, "signature: {detail}"),
        }
    }
}

/// What the signature check established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No signature in the manifest (and no key asked for).
    Unsigned,
    /// Valid for the key embedded in the manifest; no trusted key given.
    SelfConsistent { fingerprint: String },
    /// Valid, and made by the trusted key given to `verify`.
    Trusted { fingerprint: String },
    /// Did not hold (the problem is among `Verification::problems`).
    Invalid,
}

/// The result of [`verify`].
#[derive(Debug, Clone)]
pub struct Verification {
    pub files: usize,
    pub signature: SignatureStatus,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the run folder `dir` against its `manifest.json`. `Err` means
/// the manifest could not be read at all (missing, not JSON, unknown
/// format); every other finding is a [`Problem`] naming its file.
pub fn verify(dir: &Path, trusted: Option<&VerifyingKey>) -> Result<Verification, ManifestError> {
    let manifest = Manifest::read(dir)?;
    let mut problems = Vec::new();

    // Files: changed, missing, added.
    let found = scan(dir)?;
    let mut listed = BTreeMap::new();
    for entry in &manifest.files {
        if listed.insert(entry.path.as_str(), entry).is_some() {
            return Err(ManifestError::Invalid(format!(
                "{MANIFEST_FILE}: {} is listed twice",
                entry.path
            )));
        }
        match found.get(&entry.path) {
            None => problems.push(Problem::Missing(entry.path.clone())),
            Some((sha256, bytes)) => {
                if *sha256 != entry.sha256 || *bytes != entry.bytes {
                    problems.push(Problem::Changed {
                        path: entry.path.clone(),
                        expected: format!("sha256 {} ({} bytes)", entry.sha256, entry.bytes),
                        found: format!("sha256 {sha256} ({bytes} bytes)"),
                    });
                }
            }
        }
    }
    for path in found.keys() {
        if !listed.contains_key(path.as_str()) {
            problems.push(Problem::Added(path.clone()));
        }
    }

    // The record's own evidence hashes must be the manifest's.
    problems.extend(record_agreement(dir, &listed));

    // The signature.
    let signature = check_signature(&manifest, trusted, &mut problems);
    Ok(Verification {
        files: manifest.files.len(),
        signature,
        problems,
    })
}

fn record_agreement(dir: &Path, listed: &BTreeMap<&str, &ManifestEntry>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !listed.contains_key("record.json") {
        problems.push(Problem::RecordDisagrees {
            path: "record.json".into(),
            detail: "the manifest does not list the run record".into(),
        });
        return problems;
    }
    let record: RunRecord = match read_bounded(&dir.join("record.json"), MAX_RECORD_BYTES)
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| ManifestError::Invalid(e.to_string())))
    {
        Ok(record) => record,
        Err(e) => {
            // A missing or changed record is already reported; say why it
            // could not be cross-checked too.
            problems.push(Problem::RecordDisagrees {
                path: "record.json".into(),
                detail: format!("not readable as a run record: {e}"),
            });
            return problems;
        }
    };
    for trial in &record.trials {
        for evidence in &trial.evidence {
            let detail = match listed.get(evidence.path.as_str()) {
                None => Some(format!(
                    "trial {} names evidence the manifest does not list",
                    trial.name
                )),
                Some(entry)
                    if !entry.sha256.eq_ignore_ascii_case(&evidence.sha256)
                        || entry.bytes != evidence.bytes =>
                {
                    Some(format!(
                        "trial {} records sha256 {} ({} bytes), the manifest {} ({} bytes)",
                        trial.name, evidence.sha256, evidence.bytes, entry.sha256, entry.bytes
                    ))
                }
                Some(_) => None,
            };
            if let Some(detail) = detail {
                problems.push(Problem::RecordDisagrees {
                    path: evidence.path.clone(),
                    detail,
                });
            }
        }
    }
    problems
}

fn check_signature(
    manifest: &Manifest,
    trusted: Option<&VerifyingKey>,
    problems: &mut Vec<Problem>,
) -> SignatureStatus {
    let Some(sig) = &manifest.signature else {
        if trusted.is_some() {
            problems.push(Problem::Signature(
                "the manifest is not signed, but a key to verify against was given".into(),
            ));
            return SignatureStatus::Invalid;
        }
        return SignatureStatus::Unsigned;
    };
    let mut invalid = |detail: String| {
        problems.push(Problem::Signature(detail));
        SignatureStatus::Invalid
    };
    if sig.algorithm != "ed25519" {
        return invalid(format!("unknown algorithm {:?}", sig.algorithm));
    }
    let embedded = match VerifyingKey::from_public_key_pem(&sig.public_key) {
        Ok(k) => k,
        Err(e) => return invalid(format!("embedded public key: {e}")),
    };
    let fingerprint = embedded.fingerprint();
    if sig.key_fingerprint != fingerprint {
        return invalid(format!(
            "the manifest names key {} but embeds key {fingerprint}",
            sig.key_fingerprint
        ));
    }
    let value = match hex::decode(&sig.value)
        .ok()
        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
    {
        Some(v) => v,
        None => return invalid("the signature value is not 64 bytes of hex".into()),
    };
    if embedded
        .0
        .verify_strict(&manifest.canonical_bytes(), &value)
        .is_err()
    {
        return invalid(format!(
            "does not verify for key {fingerprint}: the manifest was altered after signing"
        ));
    }
    if let Some(trusted) = trusted {
        if *trusted != embedded {
            return invalid(format!(
                "signed by key {fingerprint}, not by the trusted key {}",
                trusted.fingerprint()
            ));
        }
    }
    match trusted {
        Some(_) => SignatureStatus::Trusted { fingerprint },
        None => SignatureStatus::SelfConsistent { fingerprint },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    fn record_with(evidence: EvidenceRecord) -> RunRecord {
        sample_record(
            vec![],
            vec![TrialRecord {
                name: "b::c::t".into(),
                board: "b".into(),
                check: "c::t".into(),
                catalogue_id: "AU-01".into(),
                title: "t".into(),
                references: References::default(),
                verdict: Verdict::Pass,
                reason: "r".into(),
                expected: "e".into(),
                observed: "o".into(),
                measurements: BTreeMap::new(),
                started_at: String::new(),
                finished_at: String::new(),
                start_offset_ms: 0,
                end_offset_ms: 0,
                duration_ms: 0,
                evidence: vec![evidence],
                board_left: None,
                applicability: None,
            }],
        )
    }

    #[test]
    fn a_record_whose_evidence_hash_disagrees_is_named_even_when_the_files_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("b")).expect("mkdir");
        std::fs::write(d.join("b/t.txt"), b"transcript").expect("write");
        let (sha256, bytes) = hash_file(&d.join("b/t.txt")).expect("hash");
        let mut evidence = EvidenceRecord {
            path: "b/t.txt".into(),
            sha256,
            bytes,
            media_type: "text/plain".into(),
            description: "d".into(),
            locator: None,
        };
        record_with(evidence.clone())
            .write_atomically(&d.join("record.json"))
            .expect("record");
        Manifest::write(d, None).expect("manifest");
        let ok = verify(d, None).expect("verify");
        assert!(ok.ok(), "{:?}", ok.problems);
        assert_eq!(ok.files, 2);
        assert_eq!(ok.signature, SignatureStatus::Unsigned);

        // The record rewritten with another hash, and the (unsigned)
        // manifest rebuilt: every file matches, the record does not.
        evidence.sha256 = "00".repeat(32);
        record_with(evidence)
            .write_atomically(&d.join("record.json"))
            .expect("record");
        Manifest::write(d, None).expect("manifest");
        let bad = verify(d, None).expect("verify");
        assert!(
            matches!(&bad.problems[..], [Problem::RecordDisagrees { path, .. }] if path == "b/t.txt"),
            "{:?}",
            bad.problems
        );
    }

    #[test]
    fn manifest_paths_outside_the_run_folder_are_refused() {
        for bad in ["../x", "/etc/passwd", "a//b", "./a", "", "manifest.json"] {
            assert!(!is_plain_relative(bad), "{bad}");
        }
        assert!(is_plain_relative("sim-0/au_07/scan.xml"));
    }

    #[test]
    fn a_key_that_is_not_a_private_ed25519_key_is_refused_without_echoing_it() {
        let err = SigningKey::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .expect_err("garbage");
        assert!(!err.to_string().contains("c2VjcmV0"));
        assert!(SigningKey::from_pkcs8_pem("hunter2").is_err());
    }

    #[test]
    fn signatures_hold_only_for_their_key_and_their_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("record.json"), br#"{"not":"a record"}"#).expect("write");
        let a = SigningKey(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let b = SigningKey(ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
        let public = |k: &SigningKey| VerifyingKey(k.0.verifying_key());

        // Unsigned, but a key is required: a problem.
        Manifest::write(d, None).expect("manifest");
        let v = verify(d, Some(&public(&a))).expect("verify");
        assert_eq!(v.signature, SignatureStatus::Invalid);
        assert!(v
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Signature(_))));

        let signed = Manifest::write(d, Some(&a)).expect("manifest");
        let v = verify(d, Some(&public(&a))).expect("verify");
        assert_eq!(
            v.signature,
            SignatureStatus::Trusted {
                fingerprint: a.fingerprint()
            }
        );
        let v = verify(d, Some(&public(&b))).expect("verify");
        assert_eq!(v.signature, SignatureStatus::Invalid);

        // The fingerprint field swapped for B's: named as a lie.
        let mut lying = signed.clone();
        if let Some(sig) = lying.signature.as_mut() {
            sig.key_fingerprint = b.fingerprint();
        }
        std::fs::write(
            d.join(MANIFEST_FILE),
            serde_json::to_vec(&lying).expect("json"),
        )
        .expect("write");
        let v = verify(d, None).expect("verify");
        assert_eq!(v.signature, SignatureStatus::Invalid);

        // Re-signed by B with B's key embedded: self-consistent, and named B;
        // against A it fails.
        Manifest::write(d, Some(&b)).expect("manifest");
        let v = verify(d, None).expect("verify");
        assert_eq!(
            v.signature,
            SignatureStatus::SelfConsistent {
                fingerprint: b.fingerprint()
            }
        );
        let v = verify(d, Some(&public(&a))).expect("verify");
        assert_eq!(v.signature, SignatureStatus::Invalid);
    }
}
