//! Reading sysfs through a root, so tests run on fixture trees.
//!
//! A missing attribute is `None`, not an error: the kernel leaves attributes
//! out (or answers EINVAL, as `access_state` does with no device handler)
//! when they do not apply. Reads are bounded.

pub mod nvme;
pub mod scsi;

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// What a scan found: usable paths, plus disks skipped and why.
#[derive(Debug, Default)]
pub struct Scan {
    pub paths: Vec<crate::topology::Path>,
    pub skipped: Vec<(String, String)>,
    /// NVMe namespaces under native (kernel) multipath: left alone.
    pub native_nvme: Vec<String>,
}

/// Every disk that can be a path: SCSI disks (`sd*`) and NVMe namespaces
/// through one controller each (`nvme*` with native multipath off).
pub fn scan(sys: &Sysfs) -> Result<Scan> {
    let mut scan = Scan::default();
    for name in sys.list("block")? {
        if name.starts_with("nvme") {
            match nvme::read(sys, &name) {
                Ok(nvme::Disk::Path(p)) => scan.paths.push(p),
                Ok(nvme::Disk::NativeHead) => scan.native_nvme.push(name),
                Ok(nvme::Disk::NotAPath) => {}
                Err(e) => scan.skipped.push((name, crate::error::chain(&e))),
            }
        } else if name.starts_with("sd") {
            match scsi::read_path(sys, &name) {
                Ok(Some(p)) => scan.paths.push(p),
                // Vanished between listing and reading.
                Ok(None) => {}
                Err(e) => scan.skipped.push((name, crate::error::chain(&e))),
            }
        }
    }
    Ok(scan)
}

/// Could this disk name be a path (`scan` reads it)?
pub fn may_be_path(name: &str) -> bool {
    name.starts_with("sd") || name.starts_with("nvme")
}

/// One disk as a path; Ok(None) when it is not one (a native NVMe head,
/// another kind of disk) or vanished while we looked.
pub fn read_path(sys: &Sysfs, name: &str) -> Result<Option<crate::topology::Path>> {
    if name.starts_with("nvme") {
        return Ok(match nvme::read(sys, name)? {
            nvme::Disk::Path(p) => Some(p),
            _ => None,
        });
    }
    if name.starts_with("sd") {
        return scsi::read_path(sys, name);
    }
    Ok(None)
}

/// A path's vendor and product, for people (`list`): not part of a scan.
pub fn vendor_model(sys: &Sysfs, p: &crate::topology::Path) -> (String, String) {
    match p.transport {
        crate::topology::Transport::Nvme(_) => nvme::vendor_model(sys, &p.name),
        _ => scsi::vendor_model(sys, &p.name),
    }
}

/// Largest attribute we read; VPD pages are at most 4 KiB + header.
const READ_MAX: u64 = 8192;

#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

/// Errors that mean "this attribute does not apply here" or "the device is
/// gone", as opposed to a real failure.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::EINVAL | libc::ENXIO | libc::ENODEV | libc::ENOTDIR)
    ) || e.kind() == io::ErrorKind::NotFound
}

impl Sysfs {
    #[cfg(test)]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    /// A sysfs tree to read: one with a `block/` directory, as the
    /// kernel's always has, so that a wrong `--sysfs` is an error rather
    /// than an empty answer.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if root.join("block").is_dir() {
            Ok(Sysfs { root })
        } else {
            Err(Error::NotSysfs { path: root })
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Raw bytes of an attribute, or None when absent.
    pub fn read_bytes(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(rel);
        // One read of a page is the whole of any sysfs attribute that fits
        // (the kernel hands it over at once); a short read ends it. Fewer
        // syscalls than read_to_end's probing, and a scan makes a dozen
        // reads a disk.
        let read = fs::File::open(&path).and_then(|mut f| {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            loop {
                let n = f.read(&mut buf[len..])?;
                len += n;
                if n == 0 || len < buf.len() {
                    break;
                }
                if len as u64 >= READ_MAX {
                    break;
                }
                buf.resize((len * 2).min(READ_MAX as usize), 0);
            }
            buf.truncate(len);
            Ok(buf)
        });
        match read {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }

    /// An attribute as text, trailing newline and NULs removed.
    pub fn read_attr(&self, rel: &str) -> Result<Option<String>> {
        Ok(self.read_bytes(rel)?.map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches(['\n', '\0', ' '])
                .to_string()
        }))
    }

    /// Write an attribute (the kernel takes the value in one write).
    pub fn write_attr(&self, rel: &str, value: &str) -> Result<()> {
        let path = self.path(rel);
        fs::write(&path, value).map_err(|source| Error::Write { path, source })
    }

    /// An attribute parsed as a number.
    pub fn read_num<T: std::str::FromStr>(&self, rel: &str) -> Result<Option<T>> {
        match self.read_attr(rel)? {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| Error::Parse {
                path: self.path(rel),
                what: format!("not a number: {s:?}"),
            }),
        }
    }

    /// Entry names of a directory, sorted; empty when the directory is absent.
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        let path = self.path(rel);
        let rd = match fs::read_dir(&path) {
            Ok(rd) => rd,
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(source) => return Err(Error::Read { path, source }),
        };
        let mut names = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            names.push(ent.file_name().to_string_lossy().into_owned());
        }
        sort_names(&mut names);
        Ok(names)
    }

    /// Last component of a symlink's target (`device` → `0:0:0:0`).
    pub fn link_name(&self, rel: &str) -> Result<Option<String>> {
        let path = self.path(rel);
        match fs::read_link(&path) {
            Ok(t) => Ok(t.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if is_absent(&e) => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }
}

/// Kernel device names in discovery order: sdb < sdz < sdaa.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    (a.len(), a).cmp(&(b.len(), b))
}

/// Sort names in that order. Every list of names is sorted here: each
/// sort of a type of its own costs the binary kilobytes.
pub fn sort_names(names: &mut [String]) {
    names.sort_unstable_by(|a, b| natural_cmp(a, b));
}

/// Sort a short list (a LUN's paths) in place, stably, by `before`:
/// insertion sort, a few hundred bytes where a library sort of each type
/// costs kilobytes. Quadratic: never for lists that grow with the machine.
pub fn sort_short<T>(v: &mut [T], before: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && before(&v[j], &v[j - 1]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_block_is_not_sysfs() {
        let d = std::env::temp_dir().join(format!("mpboot-notsys-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        assert!(matches!(Sysfs::open(&d), Err(Error::NotSysfs { .. })));
        assert!(matches!(
            Sysfs::open("/nonexistent"),
            Err(Error::NotSysfs { .. })
        ));
        fs::create_dir_all(d.join("block")).unwrap();
        assert!(Sysfs::open(&d).is_ok());
        let _ = fs::remove_dir_all(&d);
    }
}
