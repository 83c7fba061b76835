//! `/dev/mapper/<name>` block nodes, for initramfs images without udev.
//!
//! With udev running, udev owns these (as symlinks to `../dm-N`) and we leave
//! them alone. Without it, we make real block nodes with the map's numbers,
//! replacing a stale entry (never writing through a symlink).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

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

impl NodePolicy {
    /// The word that names it on the command line.
    pub fn arg(self) -> &'static str {
        match self {
            NodePolicy::Auto => "auto",
            NodePolicy::Always => "always",
            NodePolicy::Never => "never",
        }
    }
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

/// Where nodes go and who makes them.
#[derive(Debug, Clone)]
pub struct Nodes {
    dir: PathBuf,
    mode: Maker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maker {
    Make,
    Leave,
    /// udevd runs with device-mapper's rules: it makes `mapper/NAME`; wait
    /// for it (the scripts after us open the node), and make the node
    /// only if it has not come within `UDEV_WAIT`.
    AwaitUdev,
}

/// How long a new map's `/dev/mapper` link may take udev.
const UDEV_WAIT: Duration = Duration::from_secs(10);

/// Does udevd answer on its control socket? The socket file alone says
/// little: it outlives udevd after an initramfs hands /run to the real
/// root, and systemd makes it before udevd starts (then it queues).
fn udev_running(run_root: &Path) -> bool {
    use nix::sys::socket::{SockType, UnixAddr};
    UnixAddr::new(&run_root.join("udev/control"))
        .is_ok_and(|a| crate::uevent::root_daemon_answers(&a, SockType::SeqPacket))
}

/// device-mapper's udev rules, as upstream (10-dm) and Debian (55-dm) name
/// them: without them udev makes no `/dev/mapper` links.
fn dm_rules_installed() -> bool {
    [
        "/usr/lib/udev/rules.d",
        "/lib/udev/rules.d",
        "/etc/udev/rules.d",
    ]
    .iter()
    .any(|d| {
        ["10-dm.rules", "55-dm.rules"]
            .iter()
            .any(|r| Path::new(d).join(r).exists())
    })
}

impl Nodes {
    /// `auto`: udev makes the nodes when udevd runs (its control socket
    /// under `run_root`) and has device-mapper's rules; else we do. Never
    /// both: udev logs an error for every node it finds made by another.
    pub fn new(dev_root: &Path, run_root: &Path, policy: NodePolicy) -> Nodes {
        let mode = match policy {
            NodePolicy::Always => Maker::Make,
            NodePolicy::Never => Maker::Leave,
            NodePolicy::Auto if udev_running(run_root) && dm_rules_installed() => Maker::AwaitUdev,
            NodePolicy::Auto => Maker::Make,
        };
        Nodes {
            dir: dev_root.join("mapper"),
            mode,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Is `<dir>/<name>` free for a new map's node (nothing there, or a
    /// block node or link `ensure` may replace)? Asked before a map is
    /// created, so that nothing is left half-made when it is not.
    pub fn check_free(&self, name: &str) -> Result<()> {
        if self.mode == Maker::Leave {
            return Ok(());
        }
        let path = self.path(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_block_device() && !m.file_type().is_symlink() => {
                Err(Error::NodeInTheWay {
                    path,
                    what: kind_of(&m),
                })
            }
            _ => Ok(()),
        }
    }

    /// Make sure `<dir>/<name>` is a block node for `devt`. What may be
    /// replaced: a symlink (udev's, or stale), and a block node of
    /// device-mapper's major (a map's that is gone). Anything else (a file,
    /// a directory, device-mapper's control node, another driver's device)
    /// is not ours and is never unlinked.
    pub fn ensure(&self, name: &str, devt: DevT) -> Result<()> {
        let path = self.path(name);
        match self.mode {
            Maker::Leave => return Ok(()),
            Maker::AwaitUdev if udev_made(&path, devt) => return Ok(()),
            Maker::AwaitUdev => crate::log::warn(&format!(
                "{}: udev made no link within {} s: making the node",
                path.display(),
                UDEV_WAIT.as_secs()
            )),
            Maker::Make => {}
        }
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
                Ok(m)
                    if m.file_type().is_block_device()
                        && nix::sys::stat::major(m.rdev()) == u64::from(devt.major) =>
                {
                    fs::remove_file(&path).map_err(|e| err(errno_of(&e)))?
                }
                Ok(m) => {
                    return Err(Error::NodeInTheWay {
                        path,
                        what: kind_of(&m),
                    })
                }
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
    /// (Under udev, its own link goes with the map's remove event.)
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == "control" {
            return Ok(());
        }
        let path = self.path(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_block_device() || m.file_type().is_symlink() => {
                if self.mode == Maker::Make || m.file_type().is_block_device() {
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

/// What is in the way, for the message.
fn kind_of(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device of another driver"
    } else {
        "special file"
    }
}

/// Wait until `path` resolves to the block device `devt` (udev's link),
/// up to `UDEV_WAIT`.
fn udev_made(path: &Path, devt: DevT) -> bool {
    let want = makedev(devt.major.into(), devt.minor.into());
    let until = Instant::now() + UDEV_WAIT;
    loop {
        if fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == want) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `mkdir -p`, for the few directories mpboot makes (/run/mpboot, an
/// /etc/multipath): std's `create_dir_all` costs 2.7 KB of the binary.
pub fn make_dirs(d: &Path) -> std::io::Result<()> {
    match fs::create_dir(d) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = d.parent() {
                make_dirs(parent)?;
            }
            fs::create_dir(d)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is not a node of ours is never unlinked, and says what it is.
    #[test]
    fn only_our_nodes_and_links_are_replaced() {
        let dev = std::env::temp_dir().join(format!("mpboot-nodes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dev);
        make_dirs(&dev.join("mapper/adir")).unwrap();
        make_dirs(&dev.join("mapper/adir")).unwrap();
        assert!(make_dirs(&dev.join("mapper/adir/x")).is_ok());
        fs::write(dev.join("mapper/afile"), "keep").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dev.join("mapper/alink")).unwrap();
        let n = Nodes::new(&dev, &dev, NodePolicy::Always);
        let devt = DevT {
            major: 254,
            minor: 3,
        };
        for name in ["afile", "adir"] {
            assert!(matches!(
                n.check_free(name),
                Err(Error::NodeInTheWay { .. })
            ));
            assert!(matches!(
                n.ensure(name, devt),
                Err(Error::NodeInTheWay { .. })
            ));
        }
        assert_eq!(
            fs::read_to_string(dev.join("mapper/afile")).unwrap(),
            "keep"
        );
        assert!(dev.join("mapper/adir").is_dir());
        // A link and an empty place are free; remove leaves files alone.
        assert!(n.check_free("alink").is_ok() && n.check_free("nothing").is_ok());
        n.remove("afile").unwrap();
        n.remove("control").unwrap();
        assert!(dev.join("mapper/afile").exists());
        let _ = fs::remove_dir_all(&dev);
    }
}
