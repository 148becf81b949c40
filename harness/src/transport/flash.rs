//! Flash at rest: reading and writing the board's flash contents while it
//! is powered off (a clip-on programmer's image file; for the simulated
//! board, its flash file). Checks power the board off before writing and
//! restore what they changed.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::board::{FlashRegion, FlashWiring};
use crate::check::CheckError;

/// Larger regions are refused: no slot of a device hilt targets is bigger,
/// and a typo in a board file must not make hilt read gigabytes.
pub const MAX_REGION: u64 = 64 * 1024 * 1024;

/// Offline access to one board's flash image.
#[derive(Debug, Clone)]
pub struct OfflineFlash {
    path: PathBuf,
}

impl OfflineFlash {
    pub fn new(wiring: &FlashWiring, base_dir: &Path) -> Self {
        OfflineFlash {
            path: base_dir.join(&wiring.file),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_region(&self, region: FlashRegion) -> Result<(), CheckError> {
        if region.size == 0 || region.size > MAX_REGION {
            return Err(CheckError::Harness(format!(
                "flash region of {} bytes is out of range (1 to {MAX_REGION})",
                region.size
            )));
        }
        let len = std::fs::metadata(&self.path)
            .map_err(|e| CheckError::Board(format!("flash image {}: {e}", self.path.display())))?
            .len();
        match region.offset.checked_add(region.size) {
            Some(end) if end <= len => Ok(()),
            _ => Err(CheckError::Harness(format!(
                "flash region {:#x}+{:#x} lies outside {} ({len} bytes)",
                region.offset,
                region.size,
                self.path.display()
            ))),
        }
    }

    /// Reads a region of the flash image.
    pub fn read(&self, region: FlashRegion) -> Result<Vec<u8>, CheckError> {
        self.check_region(region)?;
        let fault = |e: std::io::Error| {
            CheckError::Board(format!("reading flash image {}: {e}", self.path.display()))
        };
        let mut f = std::fs::File::open(&self.path).map_err(fault)?;
        f.seek(SeekFrom::Start(region.offset)).map_err(fault)?;
        let mut buf = vec![0u8; region.size as usize];
        f.read_exact(&mut buf).map_err(fault)?;
        Ok(buf)
    }

    /// Writes `data` at the start of `region` (it must fit) and syncs it.
    pub fn write(&self, region: FlashRegion, data: &[u8]) -> Result<(), CheckError> {
        self.check_region(region)?;
        if data.len() as u64 > region.size {
            return Err(CheckError::Harness(format!(
                "{} bytes do not fit a region of {}",
                data.len(),
                region.size
            )));
        }
        let fault = |e: std::io::Error| {
            CheckError::Board(format!("writing flash image {}: {e}", self.path.display()))
        };
        let mut f = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(fault)?;
        f.seek(SeekFrom::Start(region.offset)).map_err(fault)?;
        f.write_all(data).map_err(fault)?;
        f.sync_all().map_err(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_wrote_and_refuses_regions_outside_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flash.bin");
        std::fs::write(&path, vec![0xffu8; 4096]).expect("write");
        let flash = OfflineFlash::new(
            &FlashWiring {
                file: "flash.bin".into(),
            },
            dir.path(),
        );
        let region = FlashRegion {
            offset: 1024,
            size: 16,
        };
        flash.write(region, b"hello").expect("write region");
        let back = flash.read(region).expect("read region");
        assert_eq!(&back[..5], b"hello");
        assert_eq!(back[5], 0xff);
        let outside = FlashRegion {
            offset: 4090,
            size: 16,
        };
        assert!(matches!(flash.read(outside), Err(CheckError::Harness(_))));
        assert!(flash.write(region, &[0u8; 17]).is_err());
    }
}
