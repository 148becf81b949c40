//! Which board indices are free on this machine.
//!
//! An index names a namespace, a /24 and a GDB port, so two boards with one
//! index collide whatever runtime folder they use. A running board holds
//! an exclusive `flock` on `<lock dir>/sim-<index>.lock`: `up` takes the
//! lock and the board process inherits it, so it is released exactly when
//! the board dies (killed, crashed or stopped). An index is also taken
//! while its namespace or host link exists (a board started by an older
//! hilt-sim, or one that died without `down`).

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::net;

/// Highest index the address plan allows (198.18.<index>.0/24).
pub const MAX_INDEX: u32 = 253;

/// Machine-wide folder of index locks (not the runtime folder: every run
/// may use a runtime folder of its own, and indices are machine-wide).
pub fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HILT_SIM_LOCK_DIR") {
        return PathBuf::from(dir);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        PathBuf::from("/run/lock/hilt-sim")
    } else {
        std::env::temp_dir().join(format!("hilt-sim-locks-{uid}"))
    }
}

/// An index this process holds; the board started for it inherits the lock.
pub struct Claim {
    pub index: u32,
    file: File,
}

impl Claim {
    /// The lock's descriptor, to be kept open across `exec` in the board.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Notes which board holds the lock, for the next `up` that finds it taken.
    pub fn record_holder(&self, pid: u32, runtime_dir: &Path) {
        use std::io::Write as _;
        let _ = self.file.set_len(0);
        let _ = (&self.file).write_all(format!("{pid} {}\n", runtime_dir.display()).as_bytes());
    }
}

/// Takes `index` if no running board holds it.
pub fn try_claim(index: u32) -> anyhow::Result<Option<Claim>> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("sim-{index}.lock"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(None);
    }
    Ok(Some(Claim { index, file }))
}

/// Whether `index`'s namespace or host link exists.
pub fn network_in_use(index: u32) -> bool {
    net::netns::ns_path(index).exists()
        || Path::new("/sys/class/net")
            .join(net::host_ifname(index))
            .exists()
}

/// Who holds `index`, as its lock file records it.
pub fn holder(index: u32) -> String {
    std::fs::read_to_string(lock_dir().join(format!("sim-{index}.lock")))
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
        .map_or_else(|| "another board".to_string(), |who| format!("pid {who}"))
}

/// Claims `count` free indices, lowest first.
pub fn claim_free(count: u32) -> anyhow::Result<Vec<Claim>> {
    let mut claims = Vec::new();
    for index in 0..=MAX_INDEX {
        if claims.len() as u32 == count {
            break;
        }
        if network_in_use(index) {
            continue;
        }
        if let Some(claim) = try_claim(index)? {
            claims.push(claim);
        }
    }
    if (claims.len() as u32) < count {
        bail!(
            "only {} of {count} board indices are free (0..={MAX_INDEX}; locks in {})",
            claims.len(),
            lock_dir().display()
        );
    }
    Ok(claims)
}

/// Claims `base..base + count` as asked (`--base-index`): an index held by
/// a running board is an error, not a second board on the same address.
pub fn claim_range(base: u32, count: u32) -> anyhow::Result<Vec<Claim>> {
    (base..base + count)
        .map(|index| {
            try_claim(index)?.with_context(|| {
                format!(
                    "sim-{index} is in use by a running board ({}); omit --base-index to pick free indices",
                    holder(index)
                )
            })
        })
        .collect()
}
