//! The MCUboot image layout and its parser.
//!
//! An image is a 32-byte header (padded to `ih_hdr_size`), the payload
//! (`ih_img_size` bytes), an optional protected TLV area (info magic 0x6908,
//! covered by the image hash) and the unprotected TLV area (info magic
//! 0x6907: hash, key hash, signature). Everything is little-endian.
//!
//! The parser treats its input as hostile: every offset is computed with
//! checked arithmetic and every read is bounds-checked; it never panics.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::errors::{ParseError, TlvAreaKind, VersionError};
use crate::tlv;

/// `IMAGE_MAGIC`, the value of `ih_magic` in every current image.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// `IMAGE_MAGIC_V1`, an obsolete header magic.
pub const IMAGE_MAGIC_V1: u32 = 0x96f3_b83c;
/// Size of the fixed header structure.
pub const IMAGE_HEADER_SIZE: usize = 32;
/// Magic of the unprotected TLV info header.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// Magic of the protected TLV info header.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// Size of a TLV info header and of a TLV header.
pub(crate) const TLV_HDR: usize = 4;

/// `iv_major.iv_minor.iv_revision+iv_build_num`, ordered as MCUboot compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// `iv_major`.
    pub major: u8,
    /// `iv_minor`.
    pub minor: u8,
    /// `iv_revision`.
    pub revision: u16,
    /// `iv_build_num`.
    pub build: u32,
}

impl Version {
    /// A version from its four parts.
    pub const fn new(major: u8, minor: u8, revision: u16, build: u32) -> Self {
        Version {
            major,
            minor,
            revision,
            build,
        }
    }

    /// The security counter `imgtool sign -s auto` derives from this version:
    /// `(major << 24) + (minor << 16) + revision`.
    pub fn auto_security_counter(&self) -> u32 {
        (u32::from(self.major) << 24) | (u32::from(self.minor) << 16) | u32::from(self.revision)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}+{}",
            self.major, self.minor, self.revision, self.build
        )
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// Parses `major[.minor[.revision[+build]]]`, as imgtool's `--version` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_string());
        let (main, build) = match s.split_once('+') {
            Some((m, b)) => (m, Some(b)),
            None => (s, None),
        };
        let mut parts = main.split('.');
        let num = |p: Option<&str>| -> Result<Option<u64>, VersionError> {
            match p {
                None => Ok(None),
                Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                    t.parse::<u64>().map(Some).map_err(|_| err())
                }
                Some(_) => Err(err()),
            }
        };
        let major = num(parts.next())?.ok_or_else(err)?;
        let minor = num(parts.next())?;
        let revision = num(parts.next())?;
        if parts.next().is_some() || (build.is_some() && revision.is_none()) {
            return Err(err());
        }
        let build = num(build)?;
        Ok(Version {
            major: u8::try_from(major).map_err(|_| err())?,
            minor: u8::try_from(minor.unwrap_or(0)).map_err(|_| err())?,
            revision: u16::try_from(revision.unwrap_or(0)).map_err(|_| err())?,
            build: u32::try_from(build.unwrap_or(0)).map_err(|_| err())?,
        })
    }
}

/// The 32-byte image header, field for field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// `ih_magic` (offset 0x00).
    pub magic: u32,
    /// `ih_load_addr` (0x04).
    pub load_addr: u32,
    /// `ih_hdr_size` (0x08): offset of the payload.
    pub hdr_size: u16,
    /// `ih_protect_tlv_size` (0x0a): size of the protected TLV area incl. its info header.
    pub protect_tlv_size: u16,
    /// `ih_img_size` (0x0c): payload size.
    pub img_size: u32,
    /// `ih_flags` (0x10); see the `F_*` constants in [`crate::tlv`].
    pub flags: u32,
    /// `ih_ver` (0x14..0x1c).
    pub version: Version,
    /// `_pad1` (0x1c).
    pub pad1: u32,
}

impl Header {
    /// Decodes the first 32 bytes, checking nothing but their presence.
    pub fn decode(bytes: &[u8]) -> Result<Header, ParseError> {
        let too_short = || ParseError::TooShort { len: bytes.len() };
        let u32_at = |o: usize| read_u32(bytes, o).ok_or_else(too_short);
        let u16_at = |o: usize| read_u16(bytes, o).ok_or_else(too_short);
        Ok(Header {
            magic: u32_at(0x00)?,
            load_addr: u32_at(0x04)?,
            hdr_size: u16_at(0x08)?,
            protect_tlv_size: u16_at(0x0a)?,
            img_size: u32_at(0x0c)?,
            flags: u32_at(0x10)?,
            version: Version {
                major: *bytes.get(0x14).ok_or_else(too_short)?,
                minor: *bytes.get(0x15).ok_or_else(too_short)?,
                revision: u16_at(0x16)?,
                build: u32_at(0x18)?,
            },
            pad1: u32_at(0x1c)?,
        })
    }

    /// Encodes the header as its 32 little-endian bytes.
    pub fn encode(&self) -> [u8; IMAGE_HEADER_SIZE] {
        let mut b = [0u8; IMAGE_HEADER_SIZE];
        b[0x00..0x04].copy_from_slice(&self.magic.to_le_bytes());
        b[0x04..0x08].copy_from_slice(&self.load_addr.to_le_bytes());
        b[0x08..0x0a].copy_from_slice(&self.hdr_size.to_le_bytes());
        b[0x0a..0x0c].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        b[0x0c..0x10].copy_from_slice(&self.img_size.to_le_bytes());
        b[0x10..0x14].copy_from_slice(&self.flags.to_le_bytes());
        b[0x14] = self.version.major;
        b[0x15] = self.version.minor;
        b[0x16..0x18].copy_from_slice(&self.version.revision.to_le_bytes());
        b[0x18..0x1c].copy_from_slice(&self.version.build.to_le_bytes());
        b[0x1c..0x20].copy_from_slice(&self.pad1.to_le_bytes());
        b
    }

    /// Decodes the header and checks what MCUboot checks before it looks at
    /// TLVs: the magic, and that header and payload lie within `bytes`.
    /// Returns the header and the payload range.
    pub(crate) fn check(bytes: &[u8]) -> Result<(Header, Range<usize>), ParseError> {
        let header = Header::decode(bytes)?;
        if header.magic != IMAGE_MAGIC {
            return Err(ParseError::BadMagic {
                found: header.magic,
            });
        }
        let hdr = usize::from(header.hdr_size);
        if hdr < IMAGE_HEADER_SIZE {
            return Err(ParseError::HeaderTooSmall {
                hdr_size: header.hdr_size,
            });
        }
        if hdr > bytes.len() {
            return Err(ParseError::HeaderPastEnd {
                hdr_size: header.hdr_size,
                len: bytes.len(),
            });
        }
        let end = u64::from(header.hdr_size) + u64::from(header.img_size);
        let payload_end = usize::try_from(end)
            .ok()
            .filter(|e| *e <= bytes.len())
            .ok_or(ParseError::ImageSizePastEnd {
                img_size: header.img_size,
                end,
                len: bytes.len(),
            })?;
        Ok((header, hdr..payload_end))
    }
}

/// One TLV entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// `it_type`.
    pub kind: u16,
    /// Offset of the TLV's 4-byte header in the image.
    pub offset: usize,
    /// The TLV's data (`it_len` bytes).
    pub data: Vec<u8>,
}

impl Tlv {
    /// Where the data lies in the image.
    pub fn data_range(&self) -> Range<usize> {
        let start = self.offset.saturating_add(TLV_HDR);
        start..start.saturating_add(self.data.len())
    }

    /// The type's MCUboot name, if known.
    pub fn name(&self) -> Option<&'static str> {
        tlv::name(self.kind)
    }
}

/// One TLV area: its info header and entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlvArea {
    /// Offset of the 4-byte info header.
    pub offset: usize,
    /// `it_magic` (0x6908 protected, 0x6907 unprotected).
    pub magic: u16,
    /// `it_tlv_tot`: size of the area including the info header.
    pub tlv_tot: u16,
    /// The entries, in file order.
    pub tlvs: Vec<Tlv>,
}

impl TlvArea {
    /// Offset just past the area.
    pub fn end(&self) -> usize {
        self.offset.saturating_add(usize::from(self.tlv_tot))
    }

    /// The first entry of a type.
    pub fn find(&self, kind: u16) -> Option<&Tlv> {
        self.tlvs.iter().find(|t| t.kind == kind)
    }
}

/// A parsed MCUboot image. Offsets and ranges index the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image {
    /// The header.
    pub header: Header,
    /// Where the payload lies (`ih_hdr_size .. ih_hdr_size + ih_img_size`).
    pub payload: Range<usize>,
    /// The protected TLV area, if the image has one.
    pub protected: Option<TlvArea>,
    /// The unprotected TLV area.
    pub unprotected: TlvArea,
    /// Bytes after the TLV area (slot padding and trailer from `imgtool --pad`), if any.
    pub trailing: Range<usize>,
}

impl Image {
    /// Parses an image. Bytes after the unprotected TLV area are allowed
    /// (reported in [`Image::trailing`]).
    ///
    /// Checks, in MCUboot's order: the header fits; `ih_magic`; `ih_hdr_size`
    /// and `ih_img_size` lie within the input; the TLV info header after the
    /// payload; `ih_protect_tlv_size` equals the protected area's
    /// `it_tlv_tot` (or is 0 when there is none); every TLV lies within its
    /// area and the areas tile exactly.
    pub fn parse(bytes: &[u8]) -> Result<Image, ParseError> {
        let (header, payload) = Header::check(bytes)?;
        let first = payload.end;
        let (magic, tot) = read_info(bytes, first, TlvAreaKind::Protected)?;
        let (protected, unprot_off) = if magic == TLV_PROT_INFO_MAGIC {
            if header.protect_tlv_size != tot {
                return Err(ParseError::ProtectSizeMismatch {
                    header: header.protect_tlv_size,
                    area: tot,
                    offset: first,
                });
            }
            let area = read_area(bytes, first, magic, tot, TlvAreaKind::Protected)?;
            let end = area.end();
            (Some(area), end)
        } else if magic == TLV_INFO_MAGIC {
            if header.protect_tlv_size != 0 {
                return Err(ParseError::ProtectSizeWithoutArea {
                    header: header.protect_tlv_size,
                    offset: first,
                });
            }
            (None, first)
        } else {
            return Err(ParseError::TlvInfoMagic {
                offset: first,
                found: magic,
            });
        };
        let (magic, tot) = read_info(bytes, unprot_off, TlvAreaKind::Unprotected)?;
        if magic != TLV_INFO_MAGIC {
            return Err(ParseError::UnprotectedTlvInfoMagic {
                offset: unprot_off,
                found: magic,
            });
        }
        let unprotected = read_area(bytes, unprot_off, magic, tot, TlvAreaKind::Unprotected)?;
        let trailing = unprotected.end()..bytes.len();
        Ok(Image {
            header,
            payload,
            protected,
            unprotected,
            trailing,
        })
    }

    /// The range the image hash covers: header, payload and protected TLV area.
    pub fn hashed_range(&self) -> Range<usize> {
        0..self.unprotected.offset
    }

    /// Offset just past the image (end of the unprotected TLV area).
    pub fn end(&self) -> usize {
        self.unprotected.end()
    }

    /// All TLVs, protected first, in file order.
    pub fn tlvs(&self) -> impl Iterator<Item = &Tlv> {
        self.protected
            .iter()
            .flat_map(|a| a.tlvs.iter())
            .chain(self.unprotected.tlvs.iter())
    }

    /// The first protected TLV of a type.
    pub fn protected_tlv(&self, kind: u16) -> Option<&Tlv> {
        self.protected.as_ref().and_then(|a| a.find(kind))
    }

    /// The protected SEC_CNT value, if present and 4 bytes long. A SEC_CNT
    /// outside the protected area is not counted: it is not covered by the hash.
    pub fn security_counter(&self) -> Option<u32> {
        let t = self.protected_tlv(tlv::SEC_CNT)?;
        Some(u32::from_le_bytes(t.data.as_slice().try_into().ok()?))
    }

    /// The protected UUID_VID, if present and 16 bytes long.
    pub fn uuid_vid(&self) -> Option<[u8; 16]> {
        self.protected_tlv(tlv::UUID_VID)?
            .data
            .as_slice()
            .try_into()
            .ok()
    }

    /// The protected UUID_CID, if present and 16 bytes long.
    pub fn uuid_cid(&self) -> Option<[u8; 16]> {
        self.protected_tlv(tlv::UUID_CID)?
            .data
            .as_slice()
            .try_into()
            .ok()
    }

    /// The data of the first SHA256 TLV.
    pub fn image_hash(&self) -> Option<&[u8]> {
        self.tlvs()
            .find(|t| t.kind == tlv::SHA256)
            .map(|t| t.data.as_slice())
    }

    /// The data of the first KEYHASH TLV.
    pub fn key_hash(&self) -> Option<&[u8]> {
        self.tlvs()
            .find(|t| t.kind == tlv::KEYHASH)
            .map(|t| t.data.as_slice())
    }

    /// The first signature TLV.
    pub fn signature(&self) -> Option<&Tlv> {
        self.tlvs().find(|t| tlv::is_signature(t.kind))
    }

    /// The kind of the first signature TLV, if any.
    pub fn signature_kind(&self) -> Option<SignatureKind> {
        self.signature().map(|t| SignatureKind::from_tlv(t.kind))
    }
}

/// The trailer magic for a maximum write alignment of 8.
pub(crate) const BOOT_MAGIC: [u8; 16] = [
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
];
/// The last 14 bytes of the trailer magic for a maximum write alignment
/// above 8; the first two bytes are that alignment (little-endian u16).
pub(crate) const BOOT_MAGIC_ALIGNED_TAIL: [u8; 14] = [
    0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a,
];

/// The swap trailer at the end of a slot: written by `imgtool sign --pad`,
/// then by the bootloader and the device's update agent. The fields read
/// 0xff (erased) until set; `image_ok == 0x01` marks a confirmed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotTrailer {
    /// The maximum write alignment the magic encodes (8, 16 or 32 ...).
    pub max_align: usize,
    /// The 16 magic bytes at the very end.
    pub magic: [u8; 16],
    /// image_ok, one max_align unit before the (aligned) magic.
    pub image_ok: u8,
    /// copy_done, the unit before image_ok.
    pub copy_done: u8,
    /// swap_info, the unit before copy_done.
    pub swap_info: u8,
    /// swap_size (u32), the unit before swap_info.
    pub swap_size: u32,
}

impl SlotTrailer {
    /// Reads the trailer at the end of `slot` (a whole slot or a padded
    /// image). `None` if the last 16 bytes are no trailer magic, or the
    /// slot is too short to hold the fields the magic implies.
    pub fn read(slot: &[u8]) -> Option<SlotTrailer> {
        let magic_off = slot.len().checked_sub(16)?;
        let magic: [u8; 16] = slot.get(magic_off..)?.try_into().ok()?;
        let max_align = if magic == BOOT_MAGIC {
            8
        } else if magic.get(2..) == Some(BOOT_MAGIC_ALIGNED_TAIL.as_slice()) {
            usize::from(u16::from_le_bytes([magic[0], magic[1]]))
        } else {
            return None;
        };
        if max_align == 0 {
            return None;
        }
        // The magic is stored at the end of a max_align-aligned field.
        let field = slot.len().checked_sub(max_align.max(16))?;
        let unit = |n: usize| field.checked_sub(n.checked_mul(max_align)?);
        Some(SlotTrailer {
            max_align,
            magic,
            image_ok: *slot.get(unit(1)?)?,
            copy_done: *slot.get(unit(2)?)?,
            swap_info: *slot.get(unit(3)?)?,
            swap_size: read_u32(slot, unit(4)?)?,
        })
    }
}

/// What kind of signature an image carries, by TLV type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureKind {
    /// RSA-2048 PSS (0x20).
    Rsa2048Pss,
    /// ECDSA-224 (0x21), no longer supported by MCUboot.
    Ecdsa224,
    /// ECDSA P-256 or P-384 (0x22), DER.
    Ecdsa,
    /// RSA-3072 PSS (0x23).
    Rsa3072Pss,
    /// Ed25519 (0x24).
    Ed25519,
    /// Any other type.
    Other(u16),
}

impl SignatureKind {
    /// The kind of a signature TLV type.
    pub fn from_tlv(kind: u16) -> SignatureKind {
        match kind {
            tlv::RSA2048_PSS => SignatureKind::Rsa2048Pss,
            tlv::ECDSA224 => SignatureKind::Ecdsa224,
            tlv::ECDSA_SIG => SignatureKind::Ecdsa,
            tlv::RSA3072_PSS => SignatureKind::Rsa3072Pss,
            tlv::ED25519 => SignatureKind::Ed25519,
            other => SignatureKind::Other(other),
        }
    }
}

impl fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureKind::Rsa2048Pss => f.write_str("RSA2048_PSS"),
            SignatureKind::Ecdsa224 => f.write_str("ECDSA224"),
            SignatureKind::Ecdsa => f.write_str("ECDSA_SIG"),
            SignatureKind::Rsa3072Pss => f.write_str("RSA3072_PSS"),
            SignatureKind::Ed25519 => f.write_str("ED25519"),
            SignatureKind::Other(k) => write!(f, "0x{k:02x}"),
        }
    }
}

pub(crate) fn read_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let s = bytes.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let s = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn read_info(bytes: &[u8], off: usize, area: TlvAreaKind) -> Result<(u16, u16), ParseError> {
    let past_end = || ParseError::TlvInfoPastEnd {
        area,
        offset: off,
        len: bytes.len(),
    };
    let magic = read_u16(bytes, off).ok_or_else(past_end)?;
    let tot = read_u16(bytes, off.saturating_add(2)).ok_or_else(past_end)?;
    Ok((magic, tot))
}

fn read_area(
    bytes: &[u8],
    offset: usize,
    magic: u16,
    tlv_tot: u16,
    area: TlvAreaKind,
) -> Result<TlvArea, ParseError> {
    if usize::from(tlv_tot) < TLV_HDR {
        return Err(ParseError::TlvTotTooSmall {
            area,
            tlv_tot,
            field_offset: offset.saturating_add(2),
        });
    }
    let area_end = offset
        .checked_add(usize::from(tlv_tot))
        .filter(|e| *e <= bytes.len())
        .ok_or(ParseError::TlvAreaPastEnd {
            area,
            offset,
            tlv_tot,
            len: bytes.len(),
        })?;
    // Every TLV is at least 4 bytes, so an area holds at most tlv_tot / 4 entries.
    let mut tlvs = Vec::with_capacity(usize::from(tlv_tot) / TLV_HDR);
    let mut off = offset.saturating_add(TLV_HDR);
    while off < area_end {
        let left = area_end - off;
        let entry = if left >= TLV_HDR {
            read_u16(bytes, off).zip(read_u16(bytes, off.saturating_add(2)))
        } else {
            None
        };
        let Some((kind, len)) = entry else {
            return Err(ParseError::TlvHeaderPastAreaEnd {
                area,
                offset: off,
                left,
                area_end,
            });
        };
        let data_start = off + TLV_HDR;
        let data_end = data_start.saturating_add(usize::from(len));
        let data = bytes
            .get(data_start..data_end)
            .filter(|_| data_end <= area_end)
            .ok_or(ParseError::TlvPastAreaEnd {
                area,
                offset: off,
                kind,
                len,
                area_end,
            })?;
        tlvs.push(Tlv {
            kind,
            offset: off,
            data: data.to_vec(),
        });
        off = data_end;
    }
    Ok(TlvArea {
        offset,
        magic,
        tlv_tot,
        tlvs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parses_like_imgtool() {
        assert_eq!("1.2.3".parse::<Version>(), Ok(Version::new(1, 2, 3, 0)));
        assert_eq!("1.2.3+4".parse::<Version>(), Ok(Version::new(1, 2, 3, 4)));
        assert_eq!("7".parse::<Version>(), Ok(Version::new(7, 0, 0, 0)));
        assert_eq!("1.2".parse::<Version>(), Ok(Version::new(1, 2, 0, 0)));
        for bad in [
            "",
            "1.",
            "1.2.3.4",
            "256.0.0",
            "1.2+3",
            "a.b",
            "1.2.65536",
            "-1",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(Version::new(1, 2, 3, 0).to_string(), "1.2.3+0");
        assert_eq!(
            Version::new(1, 2, 3, 0).auto_security_counter(),
            0x0102_0003
        );
        assert!(Version::new(1, 2, 3, 0) < Version::new(1, 3, 0, 0));
    }

    #[test]
    fn header_roundtrips() {
        let h = Header {
            magic: IMAGE_MAGIC,
            load_addr: 0x2000_0000,
            hdr_size: 0x200,
            protect_tlv_size: 0x3a,
            img_size: 0x400,
            flags: 0x20,
            version: Version::new(1, 2, 3, 4),
            pad1: 0,
        };
        assert_eq!(Header::decode(&h.encode()), Ok(h));
    }

    #[test]
    fn header_bytes_match_imgtool() {
        // From firmware-formats.md: version 1.2.3, payload 0x400, header 0x200.
        let expected = [
            0x3d, 0xb8, 0xf3, 0x96, 0, 0, 0, 0, 0x00, 0x02, 0, 0, 0x00, 0x04, 0, 0, 0, 0, 0, 0,
            0x01, 0x02, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let h = Header {
            magic: IMAGE_MAGIC,
            load_addr: 0,
            hdr_size: 0x200,
            protect_tlv_size: 0,
            img_size: 0x400,
            flags: 0,
            version: Version::new(1, 2, 3, 0),
            pad1: 0,
        };
        assert_eq!(h.encode(), expected);
    }

    #[test]
    fn short_and_bad_magic_name_the_field() {
        assert_eq!(
            Image::parse(&[0u8; 10]),
            Err(ParseError::TooShort { len: 10 })
        );
        let e = Image::parse(&[0xffu8; 64]).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|m| m.contains("offset 0x00") && m.contains("erased")),
            "{e:?}"
        );
    }
}
