//! `hilt image inspect|verify|sign|forge`: the MCUboot toolkit (crate
//! hilt-image) from the command line, for labs preparing update attacks
//! by hand and for checking what the software-update checks send.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use hilt_image::{
    forge, sign, verify, ForgeKeys, Forgery, Image, SignOptions, SigningKey, TrustedKey, Version,
};

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Print an image's header, TLVs and hashes.
    Inspect { image: PathBuf },
    /// Verify an image against a trusted public key (PEM), in MCUboot's order.
    Verify {
        image: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Sign a payload into an MCUboot image.
    Sign {
        /// Raw payload (the firmware binary).
        payload: PathBuf,
        /// Signing key (PKCS#8 PEM, as `imgtool keygen` writes it).
        #[arg(long)]
        key: PathBuf,
        /// Image version, `MAJOR.MINOR.REVISION[+BUILD]`.
        #[arg(long, default_value = "0.0.0")]
        version: String,
        /// Security counter (protected SEC_CNT TLV); `auto` derives it from the version.
        #[arg(long)]
        security_counter: Option<String>,
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Forge a negative test image from a genuine one.
    Forge {
        /// The genuine signed image.
        image: PathBuf,
        /// Recipe: zeroed-hash, tampered-payload, bad-signature, wrong-key,
        /// wrong-key-keep-keyhash, unsigned, truncated, lying-img-size,
        /// rollback, edited-security-counter, encrypted-flag,
        /// inconsistent-protect-tlv-size, wrong-class-uuid.
        #[arg(long)]
        recipe: String,
        /// Genuine signing key, for recipes that re-sign (rollback,
        /// encrypted-flag, wrong-class-uuid).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Version for `rollback` (must be lower than the original's).
        #[arg(long)]
        version: Option<String>,
        /// Security counter for `rollback` (lower than the original's).
        #[arg(long)]
        security_counter: Option<u32>,
        #[arg(long, short)]
        out: PathBuf,
    },
}

pub fn run(command: ImageCommand) -> Result<i32, String> {
    match command {
        ImageCommand::Inspect { image } => inspect(&image),
        ImageCommand::Verify { image, key } => {
            let bytes = read(&image)?;
            let key = trusted(&key)?;
            match verify(&bytes, &key) {
                Ok(report) => {
                    println!(
                        "ok: {} verifies; version {:?}, {} signature, image sha256 {}",
                        image.display(),
                        report.version,
                        report.signature.name(),
                        hex(&report.image_hash)
                    );
                    Ok(0)
                }
                Err(e) => {
                    println!("rejected: {}: {e}", image.display());
                    Ok(1)
                }
            }
        }
        ImageCommand::Sign {
            payload,
            key,
            version,
            security_counter,
            out,
        } => {
            let payload = read(&payload)?;
            let key = signing(&key)?;
            let version: Version = version
                .parse()
                .map_err(|e| format!("--version {version:?}: {e}"))?;
            let security_counter = match security_counter.as_deref() {
                None => None,
                Some("auto") => Some(version.auto_security_counter()),
                Some(n) => Some(n.parse::<u32>().map_err(|_| {
                    format!("--security-counter {n:?}: expected a number or `auto`")
                })?),
            };
            let options = SignOptions {
                version,
                security_counter,
                ..SignOptions::default()
            };
            let image = sign(&payload, &options, Some(&key)).map_err(|e| e.to_string())?;
            write(&out, &image)?;
            println!(
                "signed {} ({} bytes, {})",
                out.display(),
                image.len(),
                key.kind().name()
            );
            Ok(0)
        }
        ImageCommand::Forge {
            image,
            recipe,
            key,
            version,
            security_counter,
            out,
        } => {
            let original = read(&image)?;
            let recipe = parse_recipe(&recipe, version.as_deref(), security_counter)?;
            let genuine = key.as_deref().map(signing).transpose()?;
            if recipe.needs_genuine_key() && genuine.is_none() {
                return Err(format!(
                    "recipe {} re-signs with the genuine key: pass --key",
                    recipe.name()
                ));
            }
            let keys = ForgeKeys {
                genuine: genuine.as_ref(),
                fresh: None,
            };
            let forged = forge(&original, &recipe, &keys).map_err(|e| e.to_string())?;
            write(&out, &forged)?;
            println!(
                "forged {} with recipe {} ({}) from {}",
                out.display(),
                recipe.name(),
                recipe.recipe(),
                image.display()
            );
            Ok(0)
        }
    }
}

fn parse_recipe(
    name: &str,
    version: Option<&str>,
    security_counter: Option<u32>,
) -> Result<Forgery, String> {
    Ok(match name {
        "zeroed-hash" => Forgery::ZeroedHash,
        "tampered-payload" => Forgery::TamperedPayload,
        "bad-signature" => Forgery::BadSignature,
        "wrong-key" => Forgery::WrongKey,
        "wrong-key-keep-keyhash" => Forgery::WrongKeyKeepKeyHash,
        "unsigned" => Forgery::Unsigned,
        "truncated" => Forgery::Truncated,
        "lying-img-size" => Forgery::LyingImgSize,
        "edited-security-counter" => Forgery::EditedSecurityCounter,
        "encrypted-flag" => Forgery::EncryptedFlag,
        "inconsistent-protect-tlv-size" => Forgery::InconsistentProtectTlvSize,
        "wrong-class-uuid" => Forgery::WrongClassUuid { cid: None },
        "rollback" => {
            let version =
                version.ok_or("recipe rollback needs --version (lower than the original's)")?;
            Forgery::Rollback {
                version: version
                    .parse()
                    .map_err(|e| format!("--version {version:?}: {e}"))?,
                security_counter,
            }
        }
        other => {
            return Err(format!(
                "unknown recipe {other:?}; `hilt image forge --help` lists them"
            ))
        }
    })
}

fn inspect(path: &Path) -> Result<i32, String> {
    let bytes = read(path)?;
    let image = Image::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = &image.header;
    println!("file           {} ({} bytes)", path.display(), bytes.len());
    println!("magic          0x{:08x}", h.magic);
    println!("load_addr      0x{:08x}", h.load_addr);
    println!("hdr_size       0x{:x}", h.hdr_size);
    println!("protect_tlv    0x{:x}", h.protect_tlv_size);
    println!("img_size       0x{:x} ({} bytes)", h.img_size, h.img_size);
    println!("flags          0x{:08x}", h.flags);
    println!(
        "version        {}.{}.{}+{}",
        h.version.major, h.version.minor, h.version.revision, h.version.build
    );
    if let Some(counter) = image.security_counter() {
        println!("security_cnt   {counter}");
    }
    for tlv in image.tlvs() {
        let name = tlv.name().unwrap_or("unknown");
        let shown = if tlv.data.len() <= 64 {
            hex(&tlv.data)
        } else {
            format!("{}… ({} bytes)", hex(&tlv.data[..32]), tlv.data.len())
        };
        println!(
            "tlv 0x{:02x} {:<12} @0x{:05x} {}",
            tlv.kind, name, tlv.offset, shown
        );
    }
    Ok(0)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn signing(path: &Path) -> Result<SigningKey, String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

fn trusted(path: &Path) -> Result<TrustedKey, String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    TrustedKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
