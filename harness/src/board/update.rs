//! `declares.update`: how the device takes a new image (every update path
//! it offers) and how hilt reads back which image runs. Each path gets the
//! whole forgery family; the read-back proves what each attempt did.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::api::ApiRef;

/// The update mechanism (IXIT UpdMech, SecBoot).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDecl {
    /// `none`: the device cannot be updated (nothing else is needed then).
    /// Older board files name their one path here (`smp-serial`, `smp-udp`
    /// on port 1337, `http` with the `http` field); `paths` says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<UpdateMechanism>,
    #[serde(default)]
    pub format: ImageFormat,
    /// The manufacturer's public signing key (PEM), relative to the board
    /// file; required unless the device cannot be updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_key: Option<PathBuf>,
    /// The genuine signed image the board shipped with; destructive checks
    /// restore it, and forged test images are derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<PathBuf>,
    /// A genuine signed newer image (positive control: it must install).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<PathBuf>,
    /// An archived genuine image with a lower security counter (rollback test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older: Option<PathBuf>,
    /// Whether the device refuses images with a lower security counter.
    #[serde(default = "yes")]
    pub rollback_protection: bool,
    /// Every way the device takes an image. Each update check runs over
    /// every path listed (a forgery installed through any one FAILs it).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "yaml_serde::with::singleton_map_recursive::serialize",
        deserialize_with = "yaml_serde::with::singleton_map_recursive::deserialize"
    )]
    pub paths: Vec<UpdatePath>,
    /// Where hilt reads which image runs (version and SHA-256), first one
    /// first. Default: MCUmgr `image state` when an SMP path is declared.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "yaml_serde::with::singleton_map_recursive::serialize",
        deserialize_with = "yaml_serde::with::singleton_map_recursive::deserialize"
    )]
    pub read_back: Vec<ReadBack>,
    /// Older board files' HTTPS path (same as an `http` entry in `paths`
    /// with `path: <upload>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpUpdateDecl>,
    /// The user setting that enables or disables updating (SU-14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<UpdateSettingDecl>,
    /// Where the running image lives in flash (SU-15 modifies it at rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_slot: Option<FlashRegion>,
}

impl UpdateDecl {
    /// Whether the declaration says the device cannot be updated.
    pub fn not_updatable(&self) -> bool {
        self.mechanism == Some(UpdateMechanism::None)
    }

    /// Every update path, the older single-mechanism fields included, in
    /// the order they are declared.
    pub fn all_paths(&self) -> Vec<UpdatePath> {
        let mut paths = Vec::new();
        match self.mechanism {
            Some(UpdateMechanism::SmpSerial) => paths.push(UpdatePath::SmpSerial),
            Some(UpdateMechanism::SmpUdp) => paths.push(UpdatePath::SmpUdp(SmpUdpPath::default())),
            _ => {}
        }
        if let Some(http) = &self.http {
            paths.push(UpdatePath::Http(http.as_path()));
        }
        for path in &self.paths {
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        paths
    }

    /// The read-back sources: the declared ones, else MCUmgr `image state`
    /// over the first SMP path.
    pub fn read_back_sources(&self) -> Vec<ReadBack> {
        if !self.read_back.is_empty() {
            return self.read_back.clone();
        }
        if self.all_paths().iter().any(UpdatePath::is_smp) {
            vec![ReadBack::Smp]
        } else {
            Vec::new()
        }
    }
}

/// One way the device takes an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdatePath {
    /// MCUmgr SMP over the serial console (Zephyr's console framing), with
    /// the console's login as authentication.
    SmpSerial,
    /// MCUmgr SMP over UDP: one raw SMP message per datagram.
    SmpUdp(SmpUdpPath),
    /// An HTTP(S) upload of the image.
    Http(HttpUploadPath),
    /// A console command that takes the image encoded, in chunks.
    Console(ConsoleUploadPath),
    /// The image written into the update slot through the debug probe.
    Probe(ProbeUploadPath),
}

impl UpdatePath {
    pub fn is_smp(&self) -> bool {
        matches!(self, UpdatePath::SmpSerial | UpdatePath::SmpUdp(_))
    }

    /// The path's kind as the board file names it.
    pub fn kind(&self) -> &'static str {
        match self {
            UpdatePath::SmpSerial => "smp-serial",
            UpdatePath::SmpUdp(_) => "smp-udp",
            UpdatePath::Http(_) => "http",
            UpdatePath::Console(_) => "console",
            UpdatePath::Probe(_) => "probe",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmpUdpPath {
    /// UDP port of the SMP server (MCUmgr's default is 1337).
    #[serde(default = "smp_udp_port")]
    pub port: u16,
}

impl Default for SmpUdpPath {
    fn default() -> Self {
        Self {
            port: smp_udp_port(),
        }
    }
}

fn smp_udp_port() -> u16 {
    1337
}

/// An HTTP(S) upload: the request that carries the image, the one that
/// restarts the device into it, and the one that confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpUploadPath {
    /// Method of the upload request.
    #[serde(default)]
    pub method: UploadMethod,
    /// Path of the upload request (may carry a query such as
    /// `?mode=test`): the uploaded image is to boot at the next restart,
    /// once (a test boot) unless confirmed.
    pub path: String,
    /// How the image travels in the request body.
    #[serde(default)]
    pub body: UploadBody,
    /// The API that serves the upload (port or name; its TLS,
    /// authentication and account). Unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
    /// Path POSTed (authenticated) to restart the device into the image.
    pub reboot: String,
    /// Path POSTed (authenticated) to confirm the running image after a
    /// test boot (restoring the golden image through this path needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum UploadMethod {
    #[default]
    Post,
    Put,
}

/// The upload request's body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UploadBody {
    /// The image bytes as the whole body (`application/octet-stream`).
    #[default]
    Raw,
    /// A `multipart/form-data` form with the image as one file field.
    Multipart(MultipartField),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultipartField {
    /// The form field's name.
    pub field: String,
    /// The file name sent with it.
    #[serde(default = "default_filename")]
    pub filename: String,
}

fn default_filename() -> String {
    "firmware.bin".into()
}

/// A console command that takes the image in encoded chunks (after login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUploadPath {
    /// One chunk's command: `{offset}` is the chunk's byte offset in the
    /// image, `{chunk}` its encoded bytes, `{size}` the image's size.
    pub command: String,
    /// How the bytes are written into `{chunk}`.
    #[serde(default)]
    pub encoding: ChunkEncoding,
    /// Image bytes per command.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Regular expression the device prints for a chunk it took (anchored
    /// to a line start); anything else is a refusal.
    pub success: String,
    /// Command after the last chunk that makes the image boot once at the
    /// next restart (`{size}` and `{sha256}`, lowercase hex, may be used).
    pub finish: String,
    /// Command that restarts the device.
    #[serde(default = "default_reboot")]
    pub reboot: String,
    /// Command that confirms the running image after a test boot
    /// (restoring the golden image through this path needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChunkEncoding {
    /// Lowercase hexadecimal, two characters a byte.
    Hex,
    /// Standard base64 with padding.
    #[default]
    Base64,
}

fn default_chunk_size() -> usize {
    64
}

fn default_reboot() -> String {
    "reboot".into()
}

/// The image written in place through the debug port (the GDB endpoint's
/// memory writes, `hardware.debug.gdb`) over the slot at `address`, then
/// the board power-cycled. Only an image that fits is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeUploadPath {
    /// Address of the slot in the target's memory map (where the image's
    /// header goes).
    pub address: u64,
    /// Size of the slot in bytes (larger images are not written).
    pub size: u64,
}

/// Where hilt reads which image runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReadBack {
    /// MCUmgr `image state` over the first declared SMP path (version,
    /// hash and whether the image is confirmed).
    Smp,
    /// Fields of an authenticated HTTP(S) GET (e.g. the status resource).
    Http(HttpReadBack),
    /// A console command (after login) and patterns for its output.
    Console(ConsoleReadBack),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpReadBack {
    /// Path of the resource (GET, with the interface's authentication).
    pub path: String,
    /// JSON field with the running firmware version (`X.Y.Z`).
    pub version_field: String,
    /// JSON field with the running image's SHA-256 (hex), as MCUboot
    /// hashes it (header, payload and protected TLVs).
    pub sha256_field: String,
    /// The API it is on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleReadBack {
    /// The command that prints what runs (e.g. `version`).
    pub command: String,
    /// Regular expression with one group: the version.
    pub version: String,
    /// Regular expression with one group: the image's SHA-256 in hex.
    pub sha256: String,
}

/// Older board files' update over the HTTPS API: upload, reboot into the
/// image, confirm it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpUpdateDecl {
    /// POST target for the image (may carry a query such as `?mode=test`).
    pub upload: String,
    /// POST target that reboots the device into the uploaded image.
    pub reboot: String,
    /// POST target that confirms the running image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// The API these paths are on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
}

impl HttpUpdateDecl {
    fn as_path(&self) -> HttpUploadPath {
        HttpUploadPath {
            method: UploadMethod::Post,
            path: self.upload.clone(),
            body: UploadBody::Raw,
            api: self.api.clone(),
            reboot: self.reboot.clone(),
            confirm: self.confirm.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettingDecl {
    pub parameter: String,
    pub enabled: String,
    pub disabled: String,
}

/// A byte range of the flash image.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashRegion {
    pub offset: u64,
    pub size: u64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateMechanism {
    /// MCUmgr SMP over the serial console.
    SmpSerial,
    /// MCUmgr SMP over UDP (port 1337).
    SmpUdp,
    /// HTTP(S) upload (described by the `http` field).
    Http,
    /// Written through the debug probe only (described under `paths`).
    Probe,
    /// The device has no update mechanism.
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    #[default]
    Mcuboot,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> UpdateDecl {
        yaml_serde::from_str(text).expect("parses")
    }

    #[test]
    fn paths_mix_bare_names_and_fields() {
        let decl = parse(
            "paths:\n  - smp-serial\n  - smp-udp: { port: 1400 }\n  - http: { path: /fw, body: { multipart: { field: firmware } }, reboot: /reboot }\n  - console: { command: 'fw {offset} {chunk}', encoding: hex, success: '^ok', finish: fw-install }\n  - probe: { address: 0x10000, size: 0x20000 }\nread_back:\n  - smp\n  - console: { command: version, version: 'version: (\\S+)', sha256: 'sha256: (\\w+)' }\n",
        );
        let paths = decl.all_paths();
        assert_eq!(paths.len(), 5);
        assert_eq!(
            paths[4],
            UpdatePath::Probe(ProbeUploadPath {
                address: 0x10000,
                size: 0x20000
            })
        );
        assert_eq!(paths[1], UpdatePath::SmpUdp(SmpUdpPath { port: 1400 }));
        let UpdatePath::Http(http) = &paths[2] else {
            panic!("{paths:?}")
        };
        assert_eq!(http.method, UploadMethod::Post);
        assert_eq!(
            http.body,
            UploadBody::Multipart(MultipartField {
                field: "firmware".into(),
                filename: "firmware.bin".into()
            })
        );
        let UpdatePath::Console(console) = &paths[3] else {
            panic!("{paths:?}")
        };
        assert_eq!(console.encoding, ChunkEncoding::Hex);
        assert_eq!(console.chunk_size, 64);
        assert_eq!(console.reboot, "reboot");
        assert_eq!(decl.read_back_sources().len(), 2);
    }

    #[test]
    fn the_older_fields_are_paths_too() {
        let decl = parse(
            "mechanism: smp-serial\nhttp: { upload: '/api/v1/firmware?mode=test', reboot: /api/v1/reboot }\n",
        );
        let paths = decl.all_paths();
        assert_eq!(paths[0], UpdatePath::SmpSerial);
        assert!(matches!(&paths[1], UpdatePath::Http(h) if h.path == "/api/v1/firmware?mode=test"));
        assert_eq!(decl.read_back_sources(), vec![ReadBack::Smp]);
        assert!(!decl.not_updatable());
        assert!(parse("mechanism: none\n").not_updatable());
    }
}
