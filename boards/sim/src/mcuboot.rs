//! The board's own MCUboot image parser and verifier, written from the
//! format description (header, protected and unprotected TLV areas, image
//! hash, signature over the hash, key hash, security counter). It never
//! panics on hostile input: every length is checked before use.

use sha2::{Digest, Sha256};

pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
pub const HEADER_SIZE: usize = 32;
pub const TLV_INFO_MAGIC: u16 = 0x6907;
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;

pub const TLV_KEYHASH: u16 = 0x01;
pub const TLV_PUBKEY: u16 = 0x02;
pub const TLV_SHA256: u16 = 0x10;
pub const TLV_ECDSA_SIG: u16 = 0x22;
pub const TLV_ED25519: u16 = 0x24;
pub const TLV_SEC_CNT: u16 = 0x50;

/// Header flags this board cannot run.
pub const UNSUPPORTED_FLAGS: u32 = 0x1 | 0x4 | 0x8 | 0x10 | 0x200 | 0x400 | 0x800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub revision: u16,
    pub build: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)?;
        if self.build != 0 {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl Version {
    /// Parses `X.Y.Z` or `X.Y.Z+B`.
    pub fn parse(text: &str) -> Option<Version> {
        let (main, build) = match text.split_once('+') {
            Some((m, b)) => (m, b.parse().ok()?),
            None => (text, 0),
        };
        let mut it = main.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().unwrap_or("0").parse().ok()?;
        let revision = it.next().unwrap_or("0").parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            revision,
            build,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub kind: u16,
    pub protected: bool,
    pub value: Vec<u8>,
}

/// A structurally valid image (nothing about its hash or signature yet).
#[derive(Debug, Clone)]
pub struct Image {
    pub load_addr: u32,
    pub hdr_size: usize,
    pub protect_tlv_size: usize,
    pub img_size: usize,
    pub flags: u32,
    pub version: Version,
    pub tlvs: Vec<Tlv>,
    /// Total length: header + payload + TLV areas.
    pub total_len: usize,
    /// SHA-256 over header + payload + protected TLV area.
    pub computed_hash: [u8; 32],
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses the TLV entries between `start` and `end` (after the info header).
fn parse_tlvs(b: &[u8], mut off: usize, end: usize, protected: bool) -> Result<Vec<Tlv>, String> {
    let mut out = Vec::new();
    while off < end {
        if out.len() > 64 {
            return Err("too many TLVs".into());
        }
        let kind = u16_at(b, off).ok_or("truncated TLV header")?;
        let len = usize::from(u16_at(b, off + 2).ok_or("truncated TLV header")?);
        let vstart = off + 4;
        let vend = vstart.checked_add(len).ok_or("TLV length overflow")?;
        if vend > end {
            return Err(format!("TLV 0x{kind:02x} runs past its area"));
        }
        let value = b.get(vstart..vend).ok_or("truncated TLV")?.to_vec();
        out.push(Tlv {
            kind,
            protected,
            value,
        });
        off = vend;
    }
    Ok(out)
}

/// Parses an image at the start of `b` (a slot may continue past the image).
pub fn parse(b: &[u8]) -> Result<Image, String> {
    let magic = u32_at(b, 0).ok_or("shorter than an image header")?;
    if magic != IMAGE_MAGIC {
        return Err(format!("bad magic 0x{magic:08x}"));
    }
    let load_addr = u32_at(b, 4).ok_or("short header")?;
    let hdr_size = usize::from(u16_at(b, 8).ok_or("short header")?);
    let protect_tlv_size = usize::from(u16_at(b, 10).ok_or("short header")?);
    let img_size = u32_at(b, 12).ok_or("short header")? as usize;
    let flags = u32_at(b, 16).ok_or("short header")?;
    let version = Version {
        major: *b.get(20).ok_or("short header")?,
        minor: *b.get(21).ok_or("short header")?,
        revision: u16_at(b, 22).ok_or("short header")?,
        build: u32_at(b, 24).ok_or("short header")?,
    };
    if hdr_size < HEADER_SIZE {
        return Err(format!("header size {hdr_size} below {HEADER_SIZE}"));
    }
    let payload_end = hdr_size
        .checked_add(img_size)
        .ok_or("image size overflow")?;
    if payload_end > b.len() {
        return Err(format!(
            "image size {img_size} runs past the end ({} bytes available)",
            b.len()
        ));
    }
    let mut off = payload_end;
    let mut tlvs = Vec::new();
    let mut prot_end = payload_end;
    if protect_tlv_size > 0 {
        let m = u16_at(b, off).ok_or("missing protected TLV area")?;
        let tot = usize::from(u16_at(b, off + 2).ok_or("missing protected TLV area")?);
        if m != TLV_PROT_INFO_MAGIC {
            return Err("protected TLV area magic missing".into());
        }
        if tot != protect_tlv_size {
            return Err(format!(
                "protected TLV size mismatch: header says {protect_tlv_size}, area says {tot}"
            ));
        }
        prot_end = off.checked_add(tot).ok_or("overflow")?;
        if prot_end > b.len() || tot < 4 {
            return Err("protected TLV area runs past the end".into());
        }
        tlvs.extend(parse_tlvs(b, off + 4, prot_end, true)?);
        off = prot_end;
    } else if u16_at(b, off) == Some(TLV_PROT_INFO_MAGIC) {
        return Err("protected TLV area present but header says none".into());
    }
    let m = u16_at(b, off).ok_or("missing TLV info")?;
    if m != TLV_INFO_MAGIC {
        return Err(format!("TLV info magic missing (found 0x{m:04x})"));
    }
    let tot = usize::from(u16_at(b, off + 2).ok_or("missing TLV info")?);
    let end = off.checked_add(tot).ok_or("overflow")?;
    if end > b.len() || tot < 4 {
        return Err("TLV area runs past the end".into());
    }
    tlvs.extend(parse_tlvs(b, off + 4, end, false)?);
    let computed_hash: [u8; 32] = Sha256::digest(&b[..prot_end]).into();
    Ok(Image {
        load_addr,
        hdr_size,
        protect_tlv_size,
        img_size,
        flags,
        version,
        tlvs,
        total_len: end,
        computed_hash,
    })
}

/// What the header alone says about an image, for a slot whose header is
/// well-formed (magic, header size) even if the rest is not.
#[derive(Debug, Clone)]
pub struct HeaderInfo {
    pub version: Version,
    /// Header + payload + protected TLVs, as the header states them.
    pub declared_len: usize,
    /// SHA-256 over that range (as far as `b` reaches): MCUboot's image
    /// hash when the image is whole, and a name for it when it is not.
    pub declared_hash: [u8; 32],
}

/// Reads the header of the image at the start of `b` without checking
/// anything past it (as MCUmgr's upload does: the TLVs are the
/// bootloader's business).
pub fn header_info(b: &[u8]) -> Option<HeaderInfo> {
    if u32_at(b, 0)? != IMAGE_MAGIC {
        return None;
    }
    let hdr_size = usize::from(u16_at(b, 8)?);
    if hdr_size < HEADER_SIZE {
        return None;
    }
    let protect_tlv_size = usize::from(u16_at(b, 10)?);
    let img_size = u32_at(b, 12)? as usize;
    let version = Version {
        major: *b.get(20)?,
        minor: *b.get(21)?,
        revision: u16_at(b, 22)?,
        build: u32_at(b, 24)?,
    };
    let declared_len = hdr_size
        .saturating_add(img_size)
        .saturating_add(protect_tlv_size);
    let declared_hash: [u8; 32] = Sha256::digest(&b[..declared_len.min(b.len())]).into();
    Some(HeaderInfo {
        version,
        declared_len,
        declared_hash,
    })
}

/// For a slot whose header is genuine in form (magic, header size) but
/// whose declared extent does not hold up: the header claims more payload
/// than the slot holds, or no TLV area starts where the header's sizes put
/// it (the image was truncated or its size field lies). `None` when the
/// extent is consistent or the slot holds no image header at all.
pub fn extent_fault(b: &[u8]) -> Option<String> {
    if u32_at(b, 0)? != IMAGE_MAGIC {
        return None;
    }
    let hdr_size = usize::from(u16_at(b, 8)?);
    let protect_tlv_size = usize::from(u16_at(b, 10)?);
    let img_size = u32_at(b, 12)? as usize;
    if hdr_size < HEADER_SIZE {
        return None;
    }
    let payload_end = hdr_size.checked_add(img_size)?;
    if payload_end > b.len() {
        return Some(format!(
            "header claims {img_size} bytes of payload; the slot holds {}",
            b.len().saturating_sub(hdr_size)
        ));
    }
    let mut at = payload_end;
    if protect_tlv_size > 0 {
        if u16_at(b, at) != Some(TLV_PROT_INFO_MAGIC) {
            return Some(format!(
                "no protected TLV area at 0x{at:x}, where ih_img_size {img_size} puts it"
            ));
        }
        at = at.checked_add(protect_tlv_size)?;
    }
    if u16_at(b, at) != Some(TLV_INFO_MAGIC) {
        return Some(format!(
            "no TLV area at 0x{at:x}, where the header's sizes put it"
        ));
    }
    None
}

impl Image {
    pub fn tlv(&self, kind: u16) -> Option<&Tlv> {
        self.tlvs.iter().find(|t| t.kind == kind)
    }

    /// The security counter from a protected SEC_CNT TLV (an unprotected one
    /// is ignored: anyone could edit it).
    pub fn security_counter(&self) -> Option<u32> {
        let t = self
            .tlvs
            .iter()
            .find(|t| t.kind == TLV_SEC_CNT && t.protected)?;
        let v: [u8; 4] = t.value.as_slice().try_into().ok()?;
        Some(u32::from_le_bytes(v))
    }

    pub fn payload<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        b.get(self.hdr_size..self.hdr_size + self.img_size)
            .unwrap_or(&[])
    }

    /// The hash recorded in the SHA256 TLV, if any.
    pub fn recorded_hash(&self) -> Option<&[u8]> {
        self.tlv(TLV_SHA256).map(|t| t.value.as_slice())
    }
}

/// A key the bootloader trusts (SubjectPublicKeyInfo DER, as imgtool hashes it).
#[derive(Debug, Clone)]
pub enum TrustedKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl TrustedKey {
    pub fn from_spki_der(der: &[u8]) -> Result<TrustedKey, String> {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(TrustedKey::Ed25519(k));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(TrustedKey::P256(k));
        }
        Err("not an Ed25519 or P-256 public key".into())
    }

    pub fn from_pem(pem: &str) -> Result<TrustedKey, String> {
        TrustedKey::from_spki_der(&pem_to_der(pem)?)
    }
}

/// Decodes the first PEM block's base64 body.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("bad PEM: {e}"))
}

/// What the bootloader's policy allows (the flaws live here).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// `bootloader-accepts-unsigned`: an image with a correct hash but no
    /// signature boots.
    pub accept_unsigned: bool,
    /// `bootloader-accepts-any-key`: a signature by any key (taken from the
    /// image's PUBKEY TLV, or any signature at all) is accepted.
    pub accept_any_key: bool,
    /// `bootloader-skips-hash`: the SHA256 TLV is not compared with a hash
    /// computed over the image; the signature is checked over the TLV.
    pub skip_hash: bool,
}

/// Why an image failed verification.
pub type Verdict = Result<(), String>;

/// Checks hash and signature (not the security counter) in the order the
/// MCUboot design describes: magic and TLVs (done by `parse`), hash, then a
/// signature whose key hash names a trusted key.
pub fn verify(img: &Image, keys: &[(Vec<u8>, TrustedKey)], policy: Policy) -> Verdict {
    if img.flags & UNSUPPORTED_FLAGS != 0 {
        return Err(format!("unsupported image flags 0x{:x}", img.flags));
    }
    let recorded = img.recorded_hash().ok_or("no SHA256 TLV")?;
    if recorded != img.computed_hash && !policy.skip_hash {
        return Err("image hash mismatch".into());
    }
    // The signature signs the recorded hash (equal to the computed one
    // unless the policy skipped that comparison).
    let signed: [u8; 32] = recorded
        .try_into()
        .map_err(|_| "SHA256 TLV is not 32 bytes".to_string())?;
    let sig_tlvs: Vec<&Tlv> = img
        .tlvs
        .iter()
        .filter(|t| !t.protected && (t.kind == TLV_ED25519 || t.kind == TLV_ECDSA_SIG))
        .collect();
    if sig_tlvs.is_empty() {
        return if policy.accept_unsigned {
            Ok(())
        } else {
            Err("no signature".into())
        };
    }
    if policy.accept_any_key {
        // The flaw: any well-formed signature is taken at face value.
        return Ok(());
    }
    // Walk the TLVs in order: a KEYHASH selects the key for the signature
    // that follows it (as MCUboot does).
    let mut selected: Option<&TrustedKey> = None;
    let mut seen_keyhash = false;
    for t in img.tlvs.iter().filter(|t| !t.protected) {
        match t.kind {
            TLV_KEYHASH => {
                seen_keyhash = true;
                selected = keys
                    .iter()
                    .find(|(hash, _)| hash.as_slice() == t.value.as_slice())
                    .map(|(_, k)| k);
            }
            TLV_ED25519 | TLV_ECDSA_SIG => {
                let Some(key) = selected else { continue };
                if check_sig(key, t, &signed) {
                    return Ok(());
                }
                return Err("bad signature".into());
            }
            _ => {}
        }
    }
    if seen_keyhash {
        Err("signed by an untrusted key".into())
    } else {
        Err("no key hash".into())
    }
}

fn check_sig(key: &TrustedKey, t: &Tlv, hash: &[u8; 32]) -> bool {
    match (key, t.kind) {
        (TrustedKey::Ed25519(k), TLV_ED25519) => {
            let Ok(bytes) = <[u8; 64]>::try_from(t.value.as_slice()) else {
                return false;
            };
            let sig = ed25519_dalek::Signature::from_bytes(&bytes);
            k.verify_strict(hash, &sig).is_ok()
        }
        (TrustedKey::P256(k), TLV_ECDSA_SIG) => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let Ok(sig) = p256::ecdsa::Signature::from_der(&t.value) else {
                return false;
            };
            k.verify_prehash(hash, &sig).is_ok()
        }
        _ => false,
    }
}

/// SHA-256 of a key's SubjectPublicKeyInfo DER (the KEYHASH imgtool writes).
pub fn key_hash(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

// ------------------------------------------------------------------ building

/// Builds a signed image around `payload` (used by `hilt-sim firmware`),
/// laid out as imgtool lays it out: 0x200-byte header padded with 0xff,
/// protected SEC_CNT, then SHA256 (over header, payload and protected
/// TLVs, as MCUboot defines it), KEYHASH and the signature.
pub fn build_signed(
    payload: &[u8],
    version: Version,
    security_counter: u32,
    key: &ed25519_dalek::SigningKey,
) -> Vec<u8> {
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use ed25519_dalek::Signer as _;
    let hdr_size: usize = 0x200;
    let mut b = Vec::with_capacity(hdr_size + payload.len() + 256);
    b.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(hdr_size as u16).to_le_bytes());
    b.extend_from_slice(&12u16.to_le_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.push(version.major);
    b.push(version.minor);
    b.extend_from_slice(&version.revision.to_le_bytes());
    b.extend_from_slice(&version.build.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.resize(hdr_size, 0xff);
    b.extend_from_slice(payload);
    b.extend_from_slice(&TLV_PROT_INFO_MAGIC.to_le_bytes());
    b.extend_from_slice(&12u16.to_le_bytes());
    b.extend_from_slice(&TLV_SEC_CNT.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&security_counter.to_le_bytes());
    let hash: [u8; 32] = Sha256::digest(&b).into();
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let khash = key_hash(&spki);
    let sig = key.sign(&hash).to_bytes();
    let tlv_tot = 4 + (4 + 32) + (4 + 32) + (4 + 64);
    b.extend_from_slice(&TLV_INFO_MAGIC.to_le_bytes());
    b.extend_from_slice(&(tlv_tot as u16).to_le_bytes());
    for (kind, val) in [
        (TLV_SHA256, &hash[..]),
        (TLV_KEYHASH, &khash[..]),
        (TLV_ED25519, &sig[..]),
    ] {
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&(val.len() as u16).to_le_bytes());
        b.extend_from_slice(val);
    }
    b
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<(Vec<u8>, TrustedKey)> {
        crate::firmware::trusted_keys_der()
            .into_iter()
            .map(|d| {
                let k = TrustedKey::from_spki_der(&d).expect("key");
                (key_hash(&d).to_vec(), k)
            })
            .collect()
    }

    fn image() -> Vec<u8> {
        crate::firmware::build(&[], "1.2.3", 7).expect("build")
    }

    /// A small deterministic generator (xorshift) for mutations.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn own_image_verifies_and_reports_its_fields() {
        let img = parse(&image()).expect("parse");
        assert_eq!(img.version.to_string(), "1.2.3");
        assert_eq!(img.security_counter(), Some(7));
        verify(&img, &keys(), Policy::default()).expect("verifies");
    }

    #[test]
    fn every_single_byte_change_outside_the_padding_is_caught_and_nothing_panics() {
        let good = image();
        let keys = keys();
        for i in 0..good.len() {
            // Header padding (0x20..0x200) is covered by the hash too.
            let mut b = good.clone();
            b[i] ^= 0x5a;
            if let Ok(img) = parse(&b) {
                assert!(
                    verify(&img, &keys, Policy::default()).is_err(),
                    "byte {i} changed yet the image verifies"
                );
            }
        }
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let good = image();
        let keys = keys();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..(rng.next() % 8 + 1) {
                let at = (rng.next() as usize) % b.len();
                b[at] = rng.next() as u8;
            }
            // Also stress the size fields directly.
            if rng.next() % 4 == 0 {
                let f = [8usize, 10, 12][(rng.next() % 3) as usize];
                b[f] = rng.next() as u8;
                b[f + 1] = rng.next() as u8;
            }
            if let Ok(img) = parse(&b) {
                let _ = verify(&img, &keys, Policy::default());
                let _ = verify(
                    &img,
                    &keys,
                    Policy {
                        accept_unsigned: true,
                        accept_any_key: true,
                        skip_hash: true,
                    },
                );
            }
        }
        let garbage: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        assert!(parse(&garbage).is_err());
    }

    #[test]
    fn unprotected_security_counter_is_ignored() {
        let good = image();
        let img = parse(&good).expect("parse");
        assert!(img
            .tlvs
            .iter()
            .any(|t| t.kind == TLV_SEC_CNT && t.protected));
        let mut fake = img.clone();
        for t in fake.tlvs.iter_mut() {
            t.protected = false;
        }
        assert_eq!(fake.security_counter(), None);
    }

    fn flip_payload_middle(img: &[u8]) -> Vec<u8> {
        let parsed = parse(img).expect("parse");
        let mut b = img.to_vec();
        b[parsed.hdr_size + parsed.img_size / 2] ^= 0x01;
        b
    }

    /// The protected SEC_CNT changed by `delta`, hash and signature kept.
    fn edit_counter(img: &[u8], delta: i64) -> Vec<u8> {
        let parsed = parse(img).expect("parse");
        let mut b = img.to_vec();
        // The SEC_CNT value sits 8 bytes into the protected TLV area.
        let at = parsed.hdr_size + parsed.img_size + 8;
        let v = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let v = u32::try_from(i64::from(v) + delta).expect("counter");
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        b
    }

    #[test]
    fn skip_hash_policy_boots_a_tampered_payload_only() {
        let keys = keys();
        let skip = Policy {
            skip_hash: true,
            ..Policy::default()
        };
        let tampered = parse(&flip_payload_middle(&image())).expect("parse");
        assert!(verify(&tampered, &keys, Policy::default()).is_err());
        verify(&tampered, &keys, skip).expect("signature over the stored hash");
        // The protected TLVs are covered by the hash, which is not
        // recomputed: a counter edited either way goes unnoticed here (the
        // rollback check against the NV counter is the bootloader's).
        for delta in [1, -1] {
            let edited = parse(&edit_counter(&image(), delta)).expect("parse");
            assert_eq!(
                edited.security_counter(),
                Some(u32::try_from(7 + delta).expect("counter"))
            );
            assert_eq!(
                verify(&edited, &keys, Policy::default()),
                Err("image hash mismatch".to_string())
            );
            verify(&edited, &keys, skip).expect("edited counter, stored hash");
        }
        // A changed hash TLV still fails: the signature no longer fits it.
        let mut b = image();
        let p = parse(&b).expect("parse");
        // SHA256 value: before KEYHASH (4 + 32) and ED25519 (4 + 64).
        let tlv_at = p.total_len - (4 + 64) - (4 + 32) - 32;
        b[tlv_at] ^= 0xff;
        let bad = parse(&b).expect("parse");
        assert!(verify(&bad, &keys, skip).is_err());
    }

    #[test]
    fn extent_faults_are_told_apart_from_other_damage() {
        let good = image();
        let mut slot = good.clone();
        slot.resize(0x20000, 0xff);
        assert_eq!(extent_fault(&slot), None);
        let mut lying = slot.clone();
        let size = u32::from_le_bytes([lying[12], lying[13], lying[14], lying[15]]) + 4096;
        lying[12..16].copy_from_slice(&size.to_le_bytes());
        assert!(extent_fault(&lying).is_some());
        let mut past = slot.clone();
        past[12..16].copy_from_slice(&0x0010_0000u32.to_le_bytes());
        assert!(extent_fault(&past).is_some());
        let tampered = flip_payload_middle(&slot);
        assert_eq!(extent_fault(&tampered), None);
        assert_eq!(extent_fault(&[0xff; 64]), None);
    }
}
