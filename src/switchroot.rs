//! Following the initrd's switch to the real root.
//!
//! A supervisor started in the initrd keeps running after `switch_root`
//! (systemd spares `@` processes; initramfs-tools' run-init and busybox's
//! switch_root kill nobody), but its root directory stays the old, emptied
//! initramfs: `/sys`, `/dev`, `/proc` and `/run` have been moved under the
//! new root, which path lookups from the old root never reach. We hold the
//! proc mount open from the start; the handle stays valid when the mount
//! moves, and `1/root` under it is PID 1's new root, which we make ours.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::fstatat;

pub struct RootFollower {
    proc_dir: File,
}

fn open_dir(p: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_PATH | OFlag::O_DIRECTORY).bits())
        .open(p)
}

fn id_of_root() -> Option<(u64, u64)> {
    let m = std::fs::metadata("/").ok()?;
    Some((m.dev(), m.ino()))
}

impl RootFollower {
    /// Some when `proc` is procfs and PID 1 shares our root now: only then
    /// is a later difference a switch to follow (a supervisor started by
    /// hand inside a chroot stays where it was put).
    pub fn new(proc: &Path) -> Option<RootFollower> {
        let f = RootFollower {
            proc_dir: open_dir(proc).ok()?,
        };
        (f.pid1_root()? == id_of_root()?).then_some(f)
    }

    fn pid1_root(&self) -> Option<(u64, u64)> {
        let st = fstatat(Some(self.proc_dir.as_raw_fd()), "1/root", AtFlags::empty()).ok()?;
        Some((st.st_dev, st.st_ino))
    }

    /// Has PID 1 moved to another root? Then move there too. None when
    /// nothing changed, else whether following worked.
    pub fn follow(&self) -> Option<Result<(), String>> {
        if self.pid1_root()? == id_of_root()? {
            return None;
        }
        Some(self.enter())
    }

    fn enter(&self) -> Result<(), String> {
        nix::unistd::fchdir(self.proc_dir.as_raw_fd()).map_err(|e| format!("fchdir proc: {e}"))?;
        let root = open_dir(Path::new("1/root")).map_err(|e| format!("open /proc/1/root: {e}"))?;
        nix::unistd::fchdir(root.as_raw_fd()).map_err(|e| format!("fchdir root: {e}"))?;
        std::os::unix::fs::chroot(".").map_err(|e| format!("chroot: {e}"))?;
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_nothing_without_procfs_or_a_switch() {
        // Not procfs: no PID 1 to follow.
        assert!(RootFollower::new(Path::new("/nonexistent")).is_none());
        assert!(RootFollower::new(&std::env::temp_dir()).is_none());
        // Real procfs: when PID 1 shares our root, nothing to follow yet.
        if let Some(f) = RootFollower::new(Path::new("/proc")) {
            assert!(f.follow().is_none());
        }
    }
}
