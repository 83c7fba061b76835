//! `mpboot config --root`, run on the installed system when an initramfs is
//! built: which multipath maps do root, /boot, /usr, swap and the resume
//! device sit on? Walks sysfs `slaves/` down from each mounted device
//! (through partitions, LVM, dm-crypt) to maps with UUID `mpath-<WWID>`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};

use crate::bootcfg::{format_mpboot_conf, KnownMap};
use crate::error::{errno_of, Error, Result};
use crate::sysfs::Sysfs;
use crate::topology::DevT;

/// One line of /proc/self/mountinfo: (device, mount point, source).
pub fn parse_mountinfo(text: &str) -> Vec<(DevT, String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let devt = f.get(2)?.parse().ok()?;
            let source = f.get(dash + 2)?.to_string();
            Some((devt, unescape_octal(f.get(4)?), source))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    crate::text::unescape(s, "\\", 3, 8)
}

/// Block devices the boot needs: root (`dir`), and `dir/boot`, `dir/usr`
/// when separately mounted, active swap, the configured resume device.
fn needed_devices(sys: &Sysfs, dir: &str, proc_root: &FsPath) -> Vec<(String, DevT)> {
    let mountinfo = std::fs::read_to_string(proc_root.join("self/mountinfo")).unwrap_or_default();
    let mounts = parse_mountinfo(&mountinfo);
    let mut out = Vec::new();
    let base = dir.trim_end_matches('/');
    for mp in [
        base.to_string(),
        format!("{base}/boot"),
        format!("{base}/usr"),
    ] {
        let mp = if mp.is_empty() { "/".to_string() } else { mp };
        // The last mount on a point is the visible one.
        if let Some((devt, _, source)) = mounts.iter().rev().find(|(_, m, _)| *m == mp) {
            // btrfs and friends report an anonymous 0:N; the source has the disk.
            let devt = if devt.major == 0 {
                devt_of(source)
            } else {
                Some(*devt)
            };
            if let Some(d) = devt {
                out.push((mp, d));
            }
        }
    }
    let swaps = std::fs::read_to_string(proc_root.join("swaps")).unwrap_or_default();
    for dev in swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
    {
        if let Some(d) = devt_of(dev) {
            out.push((format!("swap {dev}"), d));
        }
    }
    if let Ok(Some(r)) = sys.read_attr("power/resume") {
        if let Ok(d) = r.parse::<DevT>() {
            if d.major != 0 {
                out.push(("resume".into(), d));
            }
        }
    }
    out
}

fn devt_of(dev: &str) -> Option<DevT> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dev).ok()?;
    if !m.file_type().is_block_device() {
        return None;
    }
    let r = m.rdev();
    Some(DevT {
        major: libc::major(r),
        minor: libc::minor(r),
    })
}

/// Multipath maps under `devt`: (WWID, map name, paths).
fn maps_under(sys: &Sysfs, devt: DevT, depth: u32, out: &mut Vec<KnownMap>) -> Result<()> {
    if depth > 16 {
        return Ok(());
    }
    let mut dir = format!("dev/block/{devt}");
    // A partition: its disk is the parent directory.
    if sys.read_attr(&format!("{dir}/partition"))?.is_some() {
        dir.push_str("/..");
    }
    if let Some(uuid) = sys.read_attr(&format!("{dir}/dm/uuid"))? {
        if let Some(wwid) = uuid.strip_prefix("mpath-") {
            let name = sys
                .read_attr(&format!("{dir}/dm/name"))?
                .unwrap_or_default();
            let paths = sys.list(&format!("{dir}/slaves"))?.len() as u32;
            if !out.iter().any(|m| m.wwid == wwid) {
                out.push(KnownMap {
                    wwid: wwid.to_string(),
                    name: (name != wwid && !name.is_empty()).then_some(name),
                    paths: (paths > 0).then_some(paths),
                });
            }
            return Ok(());
        }
    }
    for s in sys.list(&format!("{dir}/slaves"))? {
        if let Some(d) = sys.read_attr(&format!("{dir}/slaves/{s}/dev"))? {
            if let Ok(d) = d.parse() {
                maps_under(sys, d, depth + 1, out)?;
            }
        }
    }
    Ok(())
}

pub struct Found {
    pub maps: Vec<KnownMap>,
    /// What each needed device was, for the report.
    pub devices: Vec<(String, DevT)>,
}

pub fn find(sys: &Sysfs, dir: &str, proc_root: &FsPath) -> Result<Found> {
    let devices = needed_devices(sys, dir, proc_root);
    let mut maps = Vec::new();
    for (_, d) in &devices {
        maps_under(sys, *d, 0, &mut maps)?;
    }
    Ok(Found { maps, devices })
}

fn write_atomic(path: &FsPath, text: &str) -> Result<()> {
    let err = |e: std::io::Error| Error::Node {
        path: path.to_path_buf(),
        source: errno_of(&e),
    };
    if let Some(d) = path.parent() {
        crate::nodes::make_dirs(d).map_err(err)?;
    }
    let tmp = PathBuf::from(format!("{}.mpboot-tmp", path.display()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Write `<etc>/mpboot.conf`; add missing WWIDs to multipath-tools' wwids
/// file (as `multipath -a` would) when multipath-tools is configured there.
/// Returns the WWIDs added to that file.
pub fn write(etc: &FsPath, maps: &[KnownMap]) -> Result<Vec<String>> {
    write_atomic(&etc.join("mpboot.conf"), &format_mpboot_conf(maps))?;
    let mp_dir = etc.join("multipath");
    let installed = mp_dir.is_dir() || etc.join("multipath.conf").exists();
    if !installed {
        return Ok(Vec::new());
    }
    let wwids = mp_dir.join("wwids");
    // An empty file gets multipath's header. Never a blank line: its
    // reader takes a line that does not start with '/' for one to skip,
    // and on a bare newline that skips the entry after it.
    let old = match std::fs::read_to_string(&wwids) {
        Ok(s) if !s.trim().is_empty() => s,
        _ => "# Multipath wwids, Version : 1.0\n\
              # NOTE: This file is automatically maintained by multipath and multipathd.\n\
              # You should not need to edit this file in normal circumstances.\n\
              #\n# Valid WWIDs:\n"
            .to_string(),
    };
    let have: BTreeSet<&str> = old
        .lines()
        .filter_map(|l| l.trim().strip_prefix('/')?.strip_suffix('/'))
        .collect();
    let added: Vec<String> = maps
        .iter()
        .filter(|m| !have.contains(m.wwid.as_str()))
        .map(|m| m.wwid.clone())
        .collect();
    if !added.is_empty() {
        let mut text = old.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        for w in &added {
            text.push_str(&format!("/{w}/\n"));
        }
        write_atomic(&wwids, &text)?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "22 1 254:2 / / rw,relatime shared:1 - ext4 /dev/mapper/mpatha-part2 rw\n\
                 30 22 0:33 / /mnt/my\\040disk rw - btrfs /dev/sdz1 rw\n\
                 garbage\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].0,
            DevT {
                major: 254,
                minor: 2
            }
        );
        assert_eq!(m[0].1, "/");
        assert_eq!(m[0].2, "/dev/mapper/mpatha-part2");
        assert_eq!(m[1].1, "/mnt/my disk");
    }

    #[test]
    fn walks_partition_to_multipath_map() {
        let t = crate::sysfs::scsi::tests::Tree::new("hostcfg");
        // dm-1 is a partition map on dm-0 (the multipath map on sda, sdb).
        t.file("devices/virtual/block/dm-0/dm/uuid", b"mpath-3600a\n");
        t.file("devices/virtual/block/dm-0/dm/name", b"mpatha\n");
        t.file("devices/virtual/block/dm-0/slaves/sda/dev", b"8:0\n");
        t.file("devices/virtual/block/dm-0/slaves/sdb/dev", b"8:16\n");
        t.file("devices/virtual/block/dm-1/dm/uuid", b"part2-mpath-3600a\n");
        t.file("devices/virtual/block/dm-1/slaves/dm-0/dev", b"254:0\n");
        std::fs::create_dir_all(t.root.join("dev/block")).unwrap();
        for (n, d) in [("dm-0", "254:0"), ("dm-1", "254:1")] {
            std::os::unix::fs::symlink(
                t.root.join(format!("devices/virtual/block/{n}")),
                t.root.join(format!("dev/block/{d}")),
            )
            .unwrap();
        }
        let mut out = Vec::new();
        maps_under(
            &t.sysfs(),
            DevT {
                major: 254,
                minor: 1,
            },
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![KnownMap {
                wwid: "3600a".into(),
                name: Some("mpatha".into()),
                paths: Some(2)
            }]
        );
    }

    #[test]
    fn writes_conf_and_wwids_once() {
        let dir = std::env::temp_dir().join(format!("mpboot-etc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("multipath")).unwrap();
        std::fs::write(dir.join("multipath/wwids"), "# x\n/3old/\n").unwrap();
        let maps = vec![
            KnownMap {
                wwid: "3old".into(),
                name: None,
                paths: Some(2),
            },
            KnownMap {
                wwid: "3new".into(),
                name: Some("mpatha".into()),
                paths: Some(4),
            },
        ];
        assert_eq!(write(&dir, &maps).unwrap(), vec!["3new"]);
        assert_eq!(write(&dir, &maps).unwrap(), Vec::<String>::new());
        assert_eq!(
            std::fs::read_to_string(dir.join("multipath/wwids")).unwrap(),
            "# x\n/3old/\n/3new/\n"
        );
        let conf = std::fs::read_to_string(dir.join("mpboot.conf")).unwrap();
        assert!(conf.contains("\n3new name=mpatha paths=4\n"), "{conf}");
        // An empty wwids file (multipath-tools writes its header into one
        // too) must not end up with a blank line before our entry.
        std::fs::write(dir.join("multipath/wwids"), "").unwrap();
        write(&dir, &maps[..1]).unwrap();
        let text = std::fs::read_to_string(dir.join("multipath/wwids")).unwrap();
        assert!(text.starts_with("# Multipath wwids"), "{text}");
        assert!(
            !text.contains("\n\n") && text.ends_with("\n/3old/\n"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
