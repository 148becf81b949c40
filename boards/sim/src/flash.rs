//! Flash and OTP: one file (`flash.bin`) holding the board's non-volatile
//! memory, kept in RAM and written through on every change, so a power cut
//! (SIGKILL) loses nothing that was written. The map is documented in
//! README.md; the constants here are its source of truth.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Base address of flash in the debug port's memory map.
pub const FLASH_BASE: u32 = 0x0000_0000;
pub const FLASH_SIZE: usize = 0x6_0000;

pub const BOOTLOADER_OFF: usize = 0x0_0000;
pub const BOOTLOADER_SIZE: usize = 0xC000;
pub const BOOT_CONFIG_OFF: usize = 0x0_C000;
pub const BOOT_CONFIG_SIZE: usize = 0x4000;
/// NV security counter: its own page inside the bootloader config area.
pub const SEC_COUNTER_OFF: usize = BOOT_CONFIG_OFF + 0x1000;
/// Factory data a factory reset does not erase: the generation of the
/// label password (`rotating-label` shape), as a record.
pub const FACTORY_DATA_OFF: usize = BOOT_CONFIG_OFF + 0x2000;
pub const FACTORY_DATA_SIZE: usize = 0x1000;
pub const SLOT0_OFF: usize = 0x1_0000;
pub const SLOT1_OFF: usize = 0x3_0000;
pub const SLOT_SIZE: usize = 0x2_0000;
pub const STORAGE_OFF: usize = 0x5_0000;
pub const STORAGE_SIZE: usize = 0x1_0000;
pub const CONFIG_OFF: usize = 0x5_0000;
pub const CONFIG_SIZE: usize = 0x1000;
pub const ACCOUNTS_OFF: usize = 0x5_1000;
pub const ACCOUNTS_SIZE: usize = 0x1000;
pub const EVENTS_OFF: usize = 0x5_2000;
pub const EVENTS_SIZE: usize = 0xE000;

/// OTP: in `flash.bin` after flash; at this address for the debug port.
pub const OTP_BASE: u32 = 0x1000_0000;
pub const OTP_FILE_OFF: usize = FLASH_SIZE;
pub const OTP_SIZE: usize = 0x400;
pub const OTP_MAGIC: &[u8; 4] = b"HOTP";
pub const OTP_FUSES: usize = 4;
pub const OTP_UID: usize = 8;
pub const OTP_SECRET: usize = 16;

/// Fuse bits (OTP: once set, only a mass erase clears them).
pub const FUSE_READOUT_PROTECTION: u32 = 1 << 0;

pub const FILE_SIZE: usize = FLASH_SIZE + OTP_SIZE;

/// MCUboot's slot trailer magic (with an 8-byte write alignment).
pub const TRAILER_MAGIC: [u8; 16] = [
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
];
/// Offsets from the slot's end.
pub const TRAILER_MAGIC_FROM_END: usize = 16;
pub const TRAILER_IMAGE_OK_FROM_END: usize = 24;
pub const TRAILER_COPY_DONE_FROM_END: usize = 32;

pub const BOOT_CONFIG_MAGIC: &[u8; 4] = b"HSBC";
pub const BOOT_FLAG_ACCEPT_UNSIGNED: u32 = 1 << 0;
pub const BOOT_FLAG_ACCEPT_ANY_KEY: u32 = 1 << 1;
pub const BOOT_FLAG_ROLLBACK_ALLOWED: u32 = 1 << 2;
/// `bootloader-skips-hash`: the stored hash is not recomputed.
pub const BOOT_FLAG_SKIP_HASH: u32 = 1 << 3;
// Bit 4 is unused.
/// `bootloader-hangs-on-truncated`: a pending image with a lying size hangs the boot.
pub const BOOT_FLAG_HANG_ON_TRUNCATED: u32 = 1 << 5;
/// `bootloader-no-boot-validation`: slot 0 is not validated at boot.
pub const BOOT_FLAG_NO_BOOT_VALIDATION: u32 = 1 << 6;

/// The bootloader flag each bootloader flaw sets.
pub fn boot_flag(flaw: &str) -> u32 {
    match flaw {
        "bootloader-accepts-unsigned" => BOOT_FLAG_ACCEPT_UNSIGNED,
        "bootloader-accepts-any-key" => BOOT_FLAG_ACCEPT_ANY_KEY,
        "rollback-allowed" => BOOT_FLAG_ROLLBACK_ALLOWED,
        "bootloader-skips-hash" => BOOT_FLAG_SKIP_HASH,
        "bootloader-hangs-on-truncated" => BOOT_FLAG_HANG_ON_TRUNCATED,
        "bootloader-no-boot-validation" => BOOT_FLAG_NO_BOOT_VALIDATION,
        _ => 0,
    }
}
pub const BOOT_MAX_KEYS: usize = 4;
pub const BOOT_KEY_ENTRY: usize = 0x80;

pub struct Flash {
    path: PathBuf,
    file: File,
    mem: Vec<u8>,
}

impl Flash {
    /// Opens `flash.bin`, creating it erased (all 0xff) if absent.
    pub fn open(path: &Path) -> std::io::Result<Flash> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut mem = std::fs::read(path)?;
        if mem.len() != FILE_SIZE {
            mem.resize(FILE_SIZE, 0xff);
            file.write_all_at(&mem, 0)?;
            file.set_len(FILE_SIZE as u64)?;
            file.flush()?;
        }
        Ok(Flash {
            path: path.to_path_buf(),
            file,
            mem,
        })
    }

    /// Reads `flash.bin` again, taking whatever another process wrote into
    /// it while the board was powered off (called at every power-on). The
    /// file is opened anew by name, so a replaced file (written elsewhere
    /// and renamed into place) counts as well as one edited in place.
    pub fn reload(&mut self) -> std::io::Result<()> {
        let fresh = Flash::open(&self.path)?;
        *self = fresh;
        Ok(())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.mem
    }

    pub fn read(&self, off: usize, len: usize) -> &[u8] {
        self.mem.get(off..off.saturating_add(len)).unwrap_or(&[])
    }

    /// Writes and persists. Out-of-range writes are clipped.
    pub fn write(&mut self, off: usize, data: &[u8]) {
        if off >= self.mem.len() {
            return;
        }
        let end = (off + data.len()).min(self.mem.len());
        let n = end - off;
        self.mem[off..end].copy_from_slice(&data[..n]);
        // A write error leaves RAM and file apart; the board cannot do
        // better than a real chip whose flash fails, so it reports on stderr.
        if let Err(e) = self.file.write_all_at(&self.mem[off..end], off as u64) {
            eprintln!("hilt-sim: flash write failed: {e}");
        }
    }

    pub fn erase(&mut self, off: usize, len: usize) {
        let end = off.saturating_add(len).min(self.mem.len());
        if off < end {
            let ff = vec![0xff; end - off];
            self.write(off, &ff);
        }
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        let b = self.read(off, 4);
        if b.len() == 4 {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            0xffff_ffff
        }
    }

    // ---------------------------------------------------------------- OTP

    pub fn otp_provisioned(&self) -> bool {
        self.read(OTP_FILE_OFF, 4) == OTP_MAGIC
    }

    pub fn otp_uid(&self) -> [u8; 8] {
        let mut u = [0u8; 8];
        u.copy_from_slice(self.read(OTP_FILE_OFF + OTP_UID, 8));
        u
    }

    pub fn otp_secret(&self) -> [u8; 32] {
        let mut s = [0u8; 32];
        s.copy_from_slice(self.read(OTP_FILE_OFF + OTP_SECRET, 32));
        s
    }

    /// Fuses as set bits (the stored word is inverted: erased OTP reads 0xff).
    pub fn fuses(&self) -> u32 {
        !self.u32_at(OTP_FILE_OFF + OTP_FUSES)
    }

    /// Sets fuse bits; OTP bits never clear except by mass erase.
    pub fn set_fuses(&mut self, bits: u32) {
        let now = self.fuses() | bits;
        self.write(OTP_FILE_OFF + OTP_FUSES, &(!now).to_le_bytes());
    }

    pub fn provision_otp(&mut self, uid: [u8; 8], secret: [u8; 32]) {
        let mut otp = vec![0xff; OTP_SIZE];
        otp[..4].copy_from_slice(OTP_MAGIC);
        otp[OTP_UID..OTP_UID + 8].copy_from_slice(&uid);
        otp[OTP_SECRET..OTP_SECRET + 32].copy_from_slice(&secret);
        self.write(OTP_FILE_OFF, &otp);
    }

    /// Mass erase: all of flash and OTP (keys, id, fuses) back to 0xff.
    pub fn mass_erase(&mut self) {
        self.erase(0, FILE_SIZE);
    }

    // ---------------------------------------------------------------- slots

    pub fn slot_off(slot: usize) -> usize {
        if slot == 0 {
            SLOT0_OFF
        } else {
            SLOT1_OFF
        }
    }

    pub fn slot(&self, slot: usize) -> &[u8] {
        self.read(Self::slot_off(slot), SLOT_SIZE)
    }

    pub fn trailer(&self, slot: usize) -> Trailer {
        let end = Self::slot_off(slot) + SLOT_SIZE;
        let magic = self.read(end - TRAILER_MAGIC_FROM_END, 16) == TRAILER_MAGIC;
        let image_ok = self.read(end - TRAILER_IMAGE_OK_FROM_END, 1) == [1];
        let copy_done = self.read(end - TRAILER_COPY_DONE_FROM_END, 1) == [1];
        Trailer {
            magic,
            image_ok,
            copy_done,
        }
    }

    pub fn write_trailer(&mut self, slot: usize, t: Trailer) {
        let end = Self::slot_off(slot) + SLOT_SIZE;
        let start = end - TRAILER_COPY_DONE_FROM_END;
        let mut area = vec![0xffu8; TRAILER_COPY_DONE_FROM_END];
        if t.magic {
            area[TRAILER_COPY_DONE_FROM_END - TRAILER_MAGIC_FROM_END..]
                .copy_from_slice(&TRAILER_MAGIC);
        }
        if t.image_ok {
            area[TRAILER_COPY_DONE_FROM_END - TRAILER_IMAGE_OK_FROM_END] = 1;
        }
        if t.copy_done {
            area[0] = 1;
        }
        self.write(start, &area);
    }

    /// Swaps the contents of slot 0 and slot 1 (trailers included; the
    /// caller rewrites them).
    pub fn swap_slots(&mut self) {
        let a = self.slot(0).to_vec();
        let b = self.slot(1).to_vec();
        self.write(SLOT0_OFF, &b);
        self.write(SLOT1_OFF, &a);
    }

    // ---------------------------------------------------------------- bootloader config

    pub fn boot_config_valid(&self) -> bool {
        self.read(BOOT_CONFIG_OFF, 4) == BOOT_CONFIG_MAGIC
    }

    pub fn boot_flags(&self) -> u32 {
        self.u32_at(BOOT_CONFIG_OFF + 8)
    }

    /// Trusted keys as SubjectPublicKeyInfo DER.
    pub fn boot_keys(&self) -> Vec<Vec<u8>> {
        let n = (self.u32_at(BOOT_CONFIG_OFF + 12) as usize).min(BOOT_MAX_KEYS);
        (0..n)
            .filter_map(|i| {
                let e = BOOT_CONFIG_OFF + 0x10 + i * BOOT_KEY_ENTRY;
                let len = usize::from(u16::from_le_bytes(self.read(e, 2).try_into().ok()?));
                (len <= BOOT_KEY_ENTRY - 2).then(|| self.read(e + 2, len).to_vec())
            })
            .collect()
    }

    pub fn write_boot_config(&mut self, flags: u32, keys: &[Vec<u8>]) {
        let mut area = vec![0xffu8; 0x1000];
        area[..4].copy_from_slice(BOOT_CONFIG_MAGIC);
        area[4..8].copy_from_slice(&1u32.to_le_bytes());
        area[8..12].copy_from_slice(&flags.to_le_bytes());
        let keys: Vec<&Vec<u8>> = keys
            .iter()
            .filter(|k| k.len() <= BOOT_KEY_ENTRY - 2)
            .take(BOOT_MAX_KEYS)
            .collect();
        area[12..16].copy_from_slice(&(keys.len() as u32).to_le_bytes());
        let hashes_off = 0x10 + BOOT_MAX_KEYS * BOOT_KEY_ENTRY;
        for (i, k) in keys.iter().enumerate() {
            let e = 0x10 + i * BOOT_KEY_ENTRY;
            area[e..e + 2].copy_from_slice(&(k.len() as u16).to_le_bytes());
            area[e + 2..e + 2 + k.len()].copy_from_slice(k);
            let h = crate::mcuboot::key_hash(k);
            area[hashes_off + i * 32..hashes_off + (i + 1) * 32].copy_from_slice(&h);
        }
        self.write(BOOT_CONFIG_OFF, &area);
    }

    /// The NV security counter (0 when never written).
    pub fn security_counter(&self) -> u32 {
        let v = self.u32_at(SEC_COUNTER_OFF);
        if v == 0xffff_ffff {
            0
        } else {
            v
        }
    }

    /// Raises the NV counter; it never goes down.
    pub fn raise_security_counter(&mut self, to: u32) {
        if to > self.security_counter() && to != 0xffff_ffff {
            self.write(SEC_COUNTER_OFF, &to.to_le_bytes());
        }
    }

    // ---------------------------------------------------------------- records

    /// Reads a length-prefixed, hash-checked record (`[len u32][sha256[..4]][body]`).
    pub fn read_record(&self, off: usize, size: usize) -> Option<Vec<u8>> {
        let len = self.u32_at(off) as usize;
        if len > size.saturating_sub(8) {
            return None;
        }
        let check = self.read(off + 4, 4);
        let body = self.read(off + 8, len);
        let h = <sha2::Sha256 as sha2::Digest>::digest(body);
        (h[..4] == *check).then(|| body.to_vec())
    }

    /// Writes a record; returns false when it does not fit.
    pub fn write_record(&mut self, off: usize, size: usize, body: &[u8]) -> bool {
        if body.len() > size.saturating_sub(8) {
            return false;
        }
        let h = <sha2::Sha256 as sha2::Digest>::digest(body);
        let mut rec = Vec::with_capacity(body.len() + 8);
        rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
        rec.extend_from_slice(&h[..4]);
        rec.extend_from_slice(body);
        self.write(off, &rec);
        true
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trailer {
    pub magic: bool,
    pub image_ok: bool,
    pub copy_done: bool,
}
