//! `/dev/mapper/<name>` block nodes, for initramfs images without udev.
//!
//! With udev running, udev owns these (as symlinks to `../dm-N`) and we leave
//! them alone. Without it, we make real block nodes with the map's numbers,
//! replacing a stale entry (never writing through a symlink).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{errno_of, Error, Result};
use crate::topology::DevT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodePolicy {
    /// Make nodes unless udevd runs (its control socket exists).
    #[default]
    Auto,
    Always,
    Never,
}

impl FromStr for NodePolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(NodePolicy::Auto),
            "always" => Ok(NodePolicy::Always),
            "never" => Ok(NodePolicy::Never),
            _ => Err(format!("unknown node policy {s:?}: auto, always or never")),
        }
    }
}

/// Where nodes go and whether we make them.
#[derive(Debug, Clone)]
pub struct Nodes {
    dir: PathBuf,
    active: bool,
}

impl Nodes {
    pub fn new(dev_root: &Path, run_root: &Path, policy: NodePolicy) -> Nodes {
        let active = match policy {
            NodePolicy::Always => true,
            NodePolicy::Never => false,
            NodePolicy::Auto => !run_root.join("udev/control").exists(),
        };
        Nodes {
            dir: dev_root.join("mapper"),
            active,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Make sure `<dir>/<name>` is a block node for `devt`.
    pub fn ensure(&self, name: &str, devt: DevT) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        let path = self.path(name);
        let err = |source| Error::Node {
            path: path.clone(),
            source,
        };
        let want = makedev(devt.major.into(), devt.minor.into());
        // Twice at most: udev may make its link between our look and mknod.
        for _ in 0..2 {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_block_device() && m.rdev() == want => return Ok(()),
                // A link (udev's) that resolves to the right device is fine too.
                Ok(m) if m.file_type().is_symlink() => {
                    if fs::metadata(&path)
                        .is_ok_and(|t| t.file_type().is_block_device() && t.rdev() == want)
                    {
                        return Ok(());
                    }
                    fs::remove_file(&path).map_err(|e| err(errno_of(&e)))?;
                }
                Ok(m) if m.is_dir() => return Err(err(Errno::EISDIR)),
                Ok(_) => fs::remove_file(&path).map_err(|e| err(errno_of(&e)))?,
                // Nothing there. `mapper/` itself exists: Control::open made it.
                Err(_) => {}
            }
            match mknod(&path, SFlag::S_IFBLK, Mode::from_bits_truncate(0o600), want) {
                Err(Errno::EEXIST) => continue,
                r => return r.map_err(err),
            }
        }
        Err(err(Errno::EEXIST))
    }

    /// Remove `<dir>/<name>` if it is a node or link we would have made.
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_block_device() || m.file_type().is_symlink() => {
                if self.active || m.file_type().is_block_device() {
                    fs::remove_file(&path).map_err(|e| Error::Node {
                        path: path.clone(),
                        source: errno_of(&e),
                    })?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
