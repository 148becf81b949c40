//! Flash at rest: reading and writing the board's flash contents while it
//! is powered off (a clip-on programmer's image file; for the simulated
//! board, its flash file). Checks power the board off before writing and
//! restore what they changed.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::board::{FlashRegion, FlashWiring, MAX_FLASH_REGION as MAX_REGION};

/// Why the flash image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The region asked for is empty or larger than any slot hilt targets.
    #[error("flash region of {size} bytes is out of range (1 to {MAX_REGION})")]
    RegionSize { size: u64 },
    /// The region asked for does not lie inside the image file.
    #[error("flash region {offset:#x}+{size:#x} lies outside {} ({len} bytes)", .path.display())]
    OutsideImage {
        offset: u64,
        size: u64,
        path: PathBuf,
        len: u64,
    },
    /// More bytes than the region holds.
    #[error("{len} bytes do not fit a region of {size}")]
    TooLarge { len: usize, size: u64 },
    /// The image file could not be reached, read or written (`what`:
    /// `flash image`, `reading flash image`, `writing flash image`).
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FlashError {
    /// A fault of the board's wiring (its image file unreachable or
    /// unreadable), as opposed to a request hilt should not have made.
    pub fn is_board_fault(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

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

    fn io(&self, what: &'static str) -> impl Fn(std::io::Error) -> FlashError + '_ {
        move |source| FlashError::Io {
            what,
            path: self.path.clone(),
            source,
        }
    }

    fn check_region(&self, region: FlashRegion) -> Result<(), FlashError> {
        if region.size == 0 || region.size > MAX_REGION {
            return Err(FlashError::RegionSize { size: region.size });
        }
        let len = std::fs::metadata(&self.path)
            .map_err(self.io("flash image"))?
            .len();
        match region.offset.checked_add(region.size) {
            Some(end) if end <= len => Ok(()),
            _ => Err(FlashError::OutsideImage {
                offset: region.offset,
                size: region.size,
                path: self.path.clone(),
                len,
            }),
        }
    }

    /// Reads a region of the flash image.
    pub fn read(&self, region: FlashRegion) -> Result<Vec<u8>, FlashError> {
        self.check_region(region)?;
        let fault = self.io("reading flash image");
        let mut f = std::fs::File::open(&self.path).map_err(&fault)?;
        f.seek(SeekFrom::Start(region.offset)).map_err(&fault)?;
        let mut buf = vec![0u8; region.size as usize];
        f.read_exact(&mut buf).map_err(&fault)?;
        Ok(buf)
    }

    /// Writes `data` at the start of `region` (it must fit) and syncs it.
    pub fn write(&self, region: FlashRegion, data: &[u8]) -> Result<(), FlashError> {
        self.check_region(region)?;
        if data.len() as u64 > region.size {
            return Err(FlashError::TooLarge {
                len: data.len(),
                size: region.size,
            });
        }
        let fault = self.io("writing flash image");
        let mut f = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(&fault)?;
        f.seek(SeekFrom::Start(region.offset)).map_err(&fault)?;
        f.write_all(data).map_err(&fault)?;
        f.sync_all().map_err(&fault)
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
        let err = flash.read(outside).expect_err("outside the image");
        assert!(matches!(err, FlashError::OutsideImage { .. }), "{err}");
        assert!(!err.is_board_fault(), "a bad region is hilt's fault: {err}");
        let err = flash.write(region, &[0u8; 17]).expect_err("too large");
        assert!(matches!(err, FlashError::TooLarge { .. }), "{err}");
        let missing = OfflineFlash::new(
            &FlashWiring {
                file: "absent.bin".into(),
            },
            dir.path(),
        );
        let err = missing.read(region).expect_err("no image file");
        assert!(
            err.is_board_fault(),
            "an unreachable image is the board's: {err}"
        );
        assert!(err.to_string().starts_with("flash image "), "{err}");
    }
}
