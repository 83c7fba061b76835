//! mpboot's one error type: every variant names the device or file it is about,
//! so the single line the user sees says what failed and where.

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::partitions::PartError;
use crate::vpd::VpdError;

#[derive(Debug)]
pub enum Error {
    /// A sysfs (or /proc) file or directory could not be read.
    Read { path: PathBuf, source: io::Error },
    /// A partition table that cannot be trusted.
    Partitions { path: PathBuf, source: PartError },
    /// A sysfs attribute could not be written.
    Write { path: PathBuf, source: io::Error },
    /// The sysfs root given has no `block/`: not a sysfs tree.
    NotSysfs { path: PathBuf },
    /// A sysfs attribute held something we cannot make sense of.
    Parse { path: PathBuf, what: String },
    /// VPD page 0x83 of a path held no usable designator.
    Vpd { path: PathBuf, source: VpdError },
    /// The DM control node could not be opened or created.
    ControlOpen { path: PathBuf, source: Errno },
    /// A device-mapper ioctl failed.
    Ioctl {
        cmd: &'static str,
        target: String,
        source: Errno,
    },
    /// The kernel's DM interface is not version 4.
    DmVersion { found: [u32; 3] },
    /// The kernel answered a DM ioctl with something malformed.
    DmReply { cmd: &'static str, what: String },
    /// A DM table or status line could not be parsed.
    Table { target: String, what: String },
    /// A /dev node could not be made or removed.
    Node { path: PathBuf, source: Errno },
    /// Something that is not a node of ours sits where a map's node goes.
    NodeInTheWay { path: PathBuf, what: &'static str },
    /// A name or UUID that device-mapper would refuse.
    InvalidName { what: &'static str, value: String },
    /// `assemble` was asked for WWIDs that no path has.
    UnknownWwid { wwids: Vec<String> },
    /// A WWID has paths, but none that may carry I/O.
    NoUsablePath { wwid: String, why: &'static str },
    /// A map of that name exists and is not the map we would build.
    NameTaken { name: String, uuid: String },
    /// The map is open (mounted, or held by something above it).
    MapInUse { name: String, open_count: i32 },
    /// Waited for something that never came (a path, the root device).
    NotFound { what: String, secs: u64 },
    /// root= names a file system or partition found on several LUNs.
    AmbiguousRoot { root: String, luns: Vec<String> },
    /// No map of that name.
    NoSuchMap { name: String },
    /// Boot mode stopped by a signal while it waited: nothing made.
    Stopped { signal: i32 },
    /// A map with every path down: a read through it would queue.
    NoLivePath { map: String },
    /// Several maps failed; each was reported already.
    Several { failed: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            Error::Write { path, .. } => write!(f, "cannot write {}", path.display()),
            Error::Parse { path, what } => write!(f, "{}: {what}", path.display()),
            Error::NotSysfs { path } => write!(
                f,
                "{} is not a sysfs tree (it has no block/ directory)",
                path.display()
            ),
            Error::Partitions { path, .. } => {
                write!(f, "{}: bad partition table", path.display())
            }
            Error::Vpd { path, .. } => write!(f, "{}: no usable WWID", path.display()),
            Error::ControlOpen { path, .. } => {
                write!(f, "cannot open device-mapper control {}", path.display())
            }
            Error::Ioctl { cmd, target, .. } => write!(f, "{cmd} {target} failed"),
            Error::DmVersion { found } => write!(
                f,
                "kernel device-mapper interface is {}.{}.{}, need 4.x",
                found[0], found[1], found[2]
            ),
            Error::DmReply { cmd, what } => write!(f, "{cmd}: malformed kernel reply: {what}"),
            Error::Table { target, what } => write!(f, "{target}: bad table: {what}"),
            Error::Node { path, .. } => write!(f, "cannot make device node {}", path.display()),
            Error::NodeInTheWay { path, what } => write!(
                f,
                "{} is a {what}, not a device node of ours: left alone, map not made",
                path.display()
            ),
            Error::InvalidName { what, value } if value.len() >= crate::dm::DM_NAME_LEN => write!(
                f,
                "refusing device-mapper {what} of {} bytes: longer than device-mapper allows",
                value.len()
            ),
            Error::InvalidName { what, value } => write!(
                f,
                "refusing device-mapper {what} {value:?}: a map name or WWID holds only {}, \
                 and a map is never called \"control\"",
                crate::text::SAFE_SET
            ),
            Error::UnknownWwid { wwids } => {
                write!(
                    f,
                    "no path has WWID {}; nothing assembled",
                    wwids.join(", ")
                )
            }
            Error::NoUsablePath { wwid, why } => write!(f, "{wwid}: {why}"),
            Error::NameTaken { name, uuid } => write!(
                f,
                "map {name} exists with UUID {uuid:?}, not ours; left alone"
            ),
            Error::MapInUse { name, open_count } => {
                write!(f, "map {name} is open ({open_count} openers); not removed")
            }
            Error::NoSuchMap { name } => write!(f, "no multipath map {name}"),
            Error::Stopped { signal } => {
                write!(
                    f,
                    "stopped by signal {signal} while waiting for paths; nothing made"
                )
            }
            Error::NoLivePath { map } => write!(
                f,
                "map {map} has no live path: its partition table is not read (the read would \
                 queue until a path returns)"
            ),
            Error::AmbiguousRoot { root, luns } => write!(
                f,
                "root {root} is on {} disks: {} (SAN clones, a copy of a local root?); refusing to \
                 guess, nothing assembled",
                luns.len(),
                luns.join(" and ")
            ),
            Error::NotFound { what, secs } => {
                write!(f, "gave up after {secs} s waiting for {what}")
            }
            Error::Several { failed } => write!(f, "{failed} map(s) failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } | Error::Write { source, .. } => Some(source),
            Error::Vpd { source, .. } => Some(source),
            Error::Partitions { source, .. } => Some(source),
            Error::ControlOpen { source, .. }
            | Error::Ioctl { source, .. }
            | Error::Node { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The error and its causes on one line: `a: b: c`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        line.push_str(": ");
        line.push_str(&e.to_string());
        cur = e.source();
    }
    line
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The errno behind an I/O error (EIO when there is none).
pub fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
