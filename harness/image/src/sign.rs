//! Building and signing images, laid out byte for byte as `imgtool sign` does.
//!
//! Layout: header (padded with the erased value to the header size, like
//! `imgtool sign --pad-header`), payload, protected TLVs (SEC_CNT, UUID_VID,
//! UUID_CID, then custom TLVs, in imgtool's order), then the unprotected
//! TLVs SHA256, KEYHASH and the signature. With [`SlotPadding`] the image is
//! padded to the slot and the trailer magic written at its end, like
//! `imgtool sign --pad [--confirm]`.

use sha2::{Digest as _, Sha256};

use crate::errors::{SignError, TlvAreaKind};
use crate::image::{
    Header, Version, BOOT_MAGIC, BOOT_MAGIC_ALIGNED_TAIL, IMAGE_HEADER_SIZE, IMAGE_MAGIC, TLV_HDR,
    TLV_INFO_MAGIC, TLV_PROT_INFO_MAGIC,
};
use crate::keys::SigningKey;
use crate::tlv;

/// The header size imgtool users usually pass (`-H 0x200`).
pub const DEFAULT_HEADER_SIZE: u16 = 0x200;

/// What to put into a new image besides the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// `ih_ver` (imgtool `-v`).
    pub version: Version,
    /// Protected SEC_CNT TLV (imgtool `-s N`; `-s auto` is
    /// [`Version::auto_security_counter`]). `None` writes no SEC_CNT.
    pub security_counter: Option<u32>,
    /// `ih_hdr_size`, at least 32 (imgtool `-H`; default 0x200).
    pub header_size: u16,
    /// `ih_load_addr`; non-zero also sets the RAM_LOAD flag (imgtool `-L`).
    pub load_addr: u32,
    /// Extra `ih_flags` bits to set.
    pub flags: u32,
    /// Protected UUID_VID TLV (imgtool `--vid`, as raw bytes).
    pub uuid_vid: Option<[u8; 16]>,
    /// Protected UUID_CID TLV (imgtool `--cid`, as raw bytes).
    pub uuid_cid: Option<[u8; 16]>,
    /// Further protected TLVs (type, data), after the UUIDs (imgtool `--custom-tlv`).
    pub protected_tlvs: Vec<(u16, Vec<u8>)>,
    /// The value erased flash reads as: header padding and slot padding (imgtool `-R`, default 0xff).
    pub erased_val: u8,
    /// Pad to the slot and write the trailer (imgtool `--pad`).
    pub pad: Option<SlotPadding>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            version: Version::default(),
            security_counter: None,
            header_size: DEFAULT_HEADER_SIZE,
            load_addr: 0,
            flags: 0,
            uuid_vid: None,
            uuid_cid: None,
            protected_tlvs: Vec::new(),
            erased_val: 0xff,
            pad: None,
        }
    }
}

/// Slot padding and trailer, as `imgtool sign --pad -S SLOT --align A [-M N] [--confirm]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPadding {
    /// Slot size in bytes (imgtool `-S`).
    pub slot_size: usize,
    /// Flash write alignment: 1, 2, 4, 8, 16 or 32 (imgtool `--align`, default 1).
    pub align: u32,
    /// Sectors the swap status area must cover (imgtool `-M`, default 128).
    pub max_sectors: u32,
    /// Set image_ok in the trailer (imgtool `--confirm`).
    pub confirm: bool,
    /// Overwrite-only upgrades: a smaller trailer (imgtool `--overwrite-only`).
    pub overwrite_only: bool,
}

impl SlotPadding {
    /// Padding for a slot with imgtool's defaults (align 1, 128 sectors, not confirmed).
    pub fn new(slot_size: usize) -> SlotPadding {
        SlotPadding {
            slot_size,
            align: 1,
            max_sectors: 128,
            confirm: false,
            overwrite_only: false,
        }
    }
}

/// Builds an image from `payload`, signed with `key` (or, with `None`, with
/// only a SHA256 TLV, like `imgtool sign` without `-k`).
pub fn sign(
    payload: &[u8],
    opts: &SignOptions,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, SignError> {
    let mut protected = Vec::new();
    if let Some(c) = opts.security_counter {
        protected.push((tlv::SEC_CNT, c.to_le_bytes().to_vec()));
    }
    if let Some(v) = opts.uuid_vid {
        protected.push((tlv::UUID_VID, v.to_vec()));
    }
    if let Some(c) = opts.uuid_cid {
        protected.push((tlv::UUID_CID, c.to_vec()));
    }
    protected.extend(opts.protected_tlvs.iter().cloned());
    let mut flags = opts.flags;
    if opts.load_addr != 0 {
        flags |= tlv::F_RAM_LOAD;
    }
    let fill =
        vec![opts.erased_val; usize::from(opts.header_size).saturating_sub(IMAGE_HEADER_SIZE)];
    let parts = Parts {
        load_addr: opts.load_addr,
        header_size: opts.header_size,
        flags,
        version: opts.version,
        pad1: 0,
        header_fill: fill,
        payload: payload.to_vec(),
        protected,
        unprotected_extra: Vec::new(),
    };
    let mut image = assemble(&parts, key, None)?;
    if let Some(pad) = &opts.pad {
        pad_to_slot(&mut image, pad, opts.erased_val)?;
    }
    Ok(image)
}

/// Everything an image is made of, for [`assemble`].
#[derive(Debug, Clone)]
pub(crate) struct Parts {
    pub load_addr: u32,
    pub header_size: u16,
    pub flags: u32,
    pub version: Version,
    pub pad1: u32,
    /// Bytes between the 32-byte header and `header_size`.
    pub header_fill: Vec<u8>,
    pub payload: Vec<u8>,
    pub protected: Vec<(u16, Vec<u8>)>,
    /// Unprotected TLVs kept after the signature (e.g. encryption keys).
    pub unprotected_extra: Vec<(u16, Vec<u8>)>,
}

/// Lays out `parts`, hashes, and signs. `keyhash` overrides the KEYHASH value.
pub(crate) fn assemble(
    parts: &Parts,
    key: Option<&SigningKey>,
    keyhash: Option<&[u8]>,
) -> Result<Vec<u8>, SignError> {
    if usize::from(parts.header_size) < IMAGE_HEADER_SIZE {
        return Err(SignError::HeaderSize(parts.header_size));
    }
    let img_size = u32::try_from(parts.payload.len())
        .map_err(|_| SignError::PayloadTooLarge(parts.payload.len()))?;
    let prot = if parts.protected.is_empty() {
        Vec::new()
    } else {
        tlv_area(
            TLV_PROT_INFO_MAGIC,
            &parts.protected,
            TlvAreaKind::Protected,
        )?
    };
    let protect_tlv_size = u16::try_from(prot.len()).map_err(|_| SignError::TlvAreaTooLarge {
        area: TlvAreaKind::Protected,
        size: prot.len(),
    })?;
    let header = Header {
        magic: IMAGE_MAGIC,
        load_addr: parts.load_addr,
        hdr_size: parts.header_size,
        protect_tlv_size,
        img_size,
        flags: parts.flags,
        version: parts.version,
        pad1: parts.pad1,
    };
    let mut out =
        Vec::with_capacity(usize::from(parts.header_size) + parts.payload.len() + prot.len() + 256);
    out.extend_from_slice(&header.encode());
    let fill_len = usize::from(parts.header_size) - IMAGE_HEADER_SIZE;
    out.extend(
        parts
            .header_fill
            .iter()
            .copied()
            .chain(std::iter::repeat(0xff))
            .take(fill_len),
    );
    out.extend_from_slice(&parts.payload);
    out.extend_from_slice(&prot);

    let digest: [u8; 32] = Sha256::digest(&out).into();
    let mut unprot = vec![(tlv::SHA256, digest.to_vec())];
    if let Some(key) = key {
        let kh = match keyhash {
            Some(kh) => kh.to_vec(),
            None => key.trusted_key().key_hash().to_vec(),
        };
        unprot.push((tlv::KEYHASH, kh));
        let sig = key.sign_digest(&digest).map_err(SignError::Crypto)?;
        unprot.push((key.kind().sig_tlv(), sig));
    }
    unprot.extend(parts.unprotected_extra.iter().cloned());
    out.extend_from_slice(&tlv_area(
        TLV_INFO_MAGIC,
        &unprot,
        TlvAreaKind::Unprotected,
    )?);
    Ok(out)
}

/// Encodes a TLV area: info header `{magic, it_tlv_tot}` then `{it_type, it_len, data}` entries.
pub(crate) fn tlv_area(
    magic: u16,
    entries: &[(u16, Vec<u8>)],
    area: TlvAreaKind,
) -> Result<Vec<u8>, SignError> {
    let size = TLV_HDR
        + entries
            .iter()
            .map(|(_, d)| TLV_HDR + d.len())
            .sum::<usize>();
    let too_large = SignError::TlvAreaTooLarge { area, size };
    let tot = u16::try_from(size).map_err(|_| too_large.clone())?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&tot.to_le_bytes());
    for (kind, data) in entries {
        let len = u16::try_from(data.len()).map_err(|_| too_large.clone())?;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data);
    }
    Ok(out)
}

/// Pads `image` to the slot with `erased_val` and writes the trailer at the
/// end of the slot, as imgtool does (no encryption key slots).
pub(crate) fn pad_to_slot(
    image: &mut Vec<u8>,
    pad: &SlotPadding,
    erased_val: u8,
) -> Result<(), SignError> {
    if !matches!(pad.align, 1 | 2 | 4 | 8 | 16 | 32) {
        return Err(SignError::Align(pad.align));
    }
    let align = pad.align as usize;
    let max_align = align.max(8);
    let magic: Vec<u8> = if max_align == 8 {
        BOOT_MAGIC.to_vec()
    } else {
        (max_align as u16)
            .to_le_bytes()
            .iter()
            .chain(BOOT_MAGIC_ALIGNED_TAIL.iter())
            .copied()
            .collect()
    };
    let magic_align = magic.len().div_ceil(max_align) * max_align;
    let trailer = if pad.overwrite_only {
        max_align * 2 + magic_align
    } else {
        (pad.max_sectors as usize)
            .saturating_mul(3)
            .saturating_mul(align)
            .saturating_add(max_align * 4)
            .saturating_add(magic_align)
    };
    let too_small = SignError::SlotTooSmall {
        image: image.len(),
        trailer,
        slot: pad.slot_size,
    };
    let fill = pad
        .slot_size
        .checked_sub(image.len())
        .and_then(|rest| rest.checked_sub(trailer))
        .ok_or(too_small)?;
    image.resize(image.len() + fill + trailer - magic.len(), erased_val);
    image.extend_from_slice(&magic);
    if pad.confirm && !pad.overwrite_only {
        // image_ok sits one max_align unit before the (aligned) magic.
        let idx = image.len() - magic_align - max_align;
        if let Some(b) = image.get_mut(idx) {
            *b = 0x01;
        }
    }
    Ok(())
}
