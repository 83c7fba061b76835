//! `root=` → which multipath LUN (if any) root lives on.
//!
//! Names that carry the WWID (`/dev/disk/by-id/…`, `/dev/mapper/…`) are
//! resolved by name; `UUID=`, `PARTUUID=`, `LABEL=`, `PARTLABEL=` by probing
//! disks: partition tables, then superblocks, each LUN through its
//! best-ranked readable path (`read`: never without a deadline). Names
//! that are not ours (LVM's `vg-lv`, dm-crypt's, `/dev/nfs`) look for
//! LVM2 and LUKS on the multipath disks instead.

mod read;

#[cfg(test)]
pub use read::InProcess;
pub use read::{Bounded, Probe, Reader, READ_MAX};

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use crate::blockdev::BlockDev;
use crate::error::{Error, Result};
use crate::probe;
use crate::sysfs::Sysfs;
use crate::topology::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSpec {
    Uuid(String),
    PartUuid(String),
    Label(String),
    PartLabel(String),
    /// The WWID itself (by-id dm-uuid, wwn-, scsi- names), and a partition.
    Wwid(String, Option<u32>),
    /// A /dev/mapper name, possibly with a partition suffix.
    MapName(String),
    /// A kernel disk or partition name (`sda2`).
    Kernel(String),
    Other(String),
}

impl std::fmt::Display for RootSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootSpec::Uuid(v) => write!(f, "UUID={v}"),
            RootSpec::PartUuid(v) => write!(f, "PARTUUID={v}"),
            RootSpec::Label(v) => write!(f, "LABEL={v}"),
            RootSpec::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            RootSpec::Wwid(w, Some(p)) => write!(f, "WWID {w} partition {p}"),
            RootSpec::Wwid(w, None) => write!(f, "WWID {w}"),
            RootSpec::MapName(n) => write!(f, "/dev/mapper/{n}"),
            RootSpec::Kernel(n) => write!(f, "/dev/{n}"),
            RootSpec::Other(o) => write!(f, "{o}"),
        }
    }
}

/// Undo udev's `\xHH` escapes in /dev/disk/by-label names.
fn unescape(s: &str) -> String {
    crate::text::unescape(s, "\\x", 2, 16)
}

/// The partition number a `-partN` (…) suffix names, if any.
pub fn part_number(name: &str) -> Option<u32> {
    let base = strip_part(name);
    (base.len() < name.len())
        .then(|| {
            name[base.len()..]
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .flatten()
}

/// Drop a `-partN` / `-pN` / `pN` / `N` partition suffix from a name.
pub fn strip_part(name: &str) -> &str {
    let digits = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits.len() == name.len() {
        return name;
    }
    for sep in ["-part", "-p", "_part", "p"] {
        if let Some(base) = digits.strip_suffix(sep) {
            return base;
        }
    }
    name
}

pub fn parse_root(s: &str) -> RootSpec {
    let pick = |p: &str| s.strip_prefix(p).map(str::to_string);
    if let Some(v) = pick("UUID=").or_else(|| pick("/dev/disk/by-uuid/")) {
        return RootSpec::Uuid(unescape(&v).to_ascii_lowercase());
    }
    if let Some(v) = pick("PARTUUID=").or_else(|| pick("/dev/disk/by-partuuid/")) {
        // PARTUUID=…/PARTNROFF=n is not supported; take the UUID part.
        let v = v.split('/').next().unwrap_or_default().to_ascii_lowercase();
        return RootSpec::PartUuid(v);
    }
    if let Some(v) = pick("LABEL=").or_else(|| pick("/dev/disk/by-label/")) {
        return RootSpec::Label(unescape(&v));
    }
    if let Some(v) = pick("PARTLABEL=").or_else(|| pick("/dev/disk/by-partlabel/")) {
        return RootSpec::PartLabel(unescape(&v));
    }
    if let Some(id) = s.strip_prefix("/dev/disk/by-id/") {
        if let Some(rest) = id.strip_prefix("dm-uuid-") {
            // dm-uuid-mpath-WWID, or dm-uuid-partN-mpath-WWID.
            if let Some((p, w)) = rest.split_once("mpath-") {
                let part = p
                    .strip_prefix("part")
                    .and_then(|n| n.trim_end_matches('-').parse().ok());
                return RootSpec::Wwid(w.to_string(), part);
            }
        }
        if let Some(hex) = id.strip_prefix("wwn-0x") {
            return RootSpec::Wwid(
                format!("3{}", strip_part(hex).to_ascii_lowercase()),
                part_number(hex),
            );
        }
        if let Some(serial) = id.strip_prefix("scsi-") {
            return RootSpec::Wwid(strip_part(serial).to_string(), part_number(serial));
        }
        if let Some(name) = id.strip_prefix("dm-name-") {
            return RootSpec::MapName(name.to_string());
        }
    }
    if let Some(name) = s.strip_prefix("/dev/mapper/") {
        return RootSpec::MapName(name.to_string());
    }
    if let Some(name) = s.strip_prefix("/dev/") {
        if !name.contains('/') && !name.is_empty() {
            return RootSpec::Kernel(name.to_string());
        }
    }
    RootSpec::Other(s.to_string())
}

/// Where the search for root ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// On this multipath LUN; on its partition `part`, if one.
    Multipath { wwid: String, part: Option<u32> },
    /// On a disk that is not multipath: nothing for us to do.
    Elsewhere(String),
    /// Not seen (yet).
    NotYet {
        /// Multipath LUNs with LUKS or LVM2 on them: root may be inside.
        stacked: Vec<String>,
        /// LUKS or LVM2 on a disk that is not multipath: root may be there.
        local_stack: bool,
    },
}

/// What a disk holds that `spec` may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskScan {
    /// Some(None): the whole disk; Some(Some(n)): partition n.
    pub matched: Option<Option<u32>>,
    pub container: bool,
}

fn scan_disk(dev: &BlockDev, spec: &RootSpec) -> DiskScan {
    // A disk with an unreadable table is not the root disk; the boot goes on.
    let table = dev.partition_table().ok().flatten();
    // The whole disk holds a file system only when it has no partition
    // table: a GPT partition name could otherwise forge a superblock
    // (ext's magic sits at byte 1080, inside GPT's entry array).
    let mut regions = Vec::new();
    if table.is_none() {
        regions.push((None, 0u64, dev.sectors));
    }
    let mut matched = None;
    if let Some(t) = &table {
        for p in t.partitions.iter().filter(|p| !p.extended) {
            regions.push((Some(p.number), p.start, p.size));
            let hit = match spec {
                RootSpec::PartUuid(u) => p.partuuid.eq_ignore_ascii_case(u),
                RootSpec::PartLabel(l) => p.label.as_deref() == Some(l.as_str()),
                _ => false,
            };
            if hit {
                matched = Some(Some(p.number));
            }
        }
    }
    let mut container = false;
    for (number, start, size) in regions {
        let base = start * 512;
        let info = probe::probe(&mut |off, len| {
            (off + len <= size * 512)
                .then(|| dev.read_at(base + off, len))
                .flatten()
        });
        if let Some(fs) = info {
            container |= fs.kind.is_container();
            let hit = match spec {
                RootSpec::Uuid(u) => fs.uuid.as_deref() == Some(u.as_str()),
                RootSpec::Label(l) => fs.label.as_deref() == Some(l.as_str()),
                _ => false,
            };
            if hit {
                matched = Some(number);
            }
        }
    }
    DiskScan { matched, container }
}

/// Whole disks that are not multipath paths and not device-mapper or
/// virtual: where root may be when it is not on multipath.
fn other_disks(sys: &Sysfs, mp_paths: &[&str]) -> Result<Vec<String>> {
    Ok(sys
        .list("block")?
        .into_iter()
        .filter(|n| {
            !mp_paths.contains(&n.as_str())
                && !["dm-", "loop", "ram", "sr", "zram", "md", "nbd"]
                    .iter()
                    .any(|p| n.starts_with(p))
        })
        .collect())
}

/// argv[0] of boot mode's reader children: `@mpboot-probe SYSFS DEV DISK
/// ROOT` prints `probe_line`.
pub const PROBE_ARGV0: &str = "@mpboot-probe";

/// What a reader child of boot mode prints for one disk.
pub fn probe_line(sys: &Sysfs, dev_root: &FsPath, disk: &str, root: &str) -> String {
    read::format(&read::probe_here(sys, dev_root, disk, &parse_root(root)))
}

/// Is `spec` a name boot mode cannot own: a /dev/mapper name that is no
/// binding, alias or WWID (LVM's `vg-lv`, dm-crypt's), or a form it does
/// not know (`/dev/vg/lv`, `/dev/nfs`, `ZFS=…`)? `name_to_wwid` answers for
/// the names the image knows and those that look like WWIDs.
pub fn foreign(spec: &RootSpec, name_to_wwid: &dyn Fn(&str) -> Option<String>) -> bool {
    match spec {
        RootSpec::MapName(n) => name_to_wwid(n)
            .or_else(|| name_to_wwid(strip_part(n)))
            .is_none(),
        RootSpec::Other(_) => true,
        // NFS, RAID, device-mapper, loop, RAM and network block devices.
        RootSpec::Kernel(n) => {
            n == "nfs"
                || ["md", "dm-", "loop", "ram", "nbd", "zram"]
                    .iter()
                    .any(|p| n.starts_with(p))
        }
        _ => false,
    }
}

fn open_disk(sys: &Sysfs, dev_root: &FsPath, name: &str) -> Option<BlockDev> {
    let size = sys.read_num(&format!("block/{name}/size")).ok()??;
    let block = sys
        .read_num(&format!("block/{name}/queue/logical_block_size"))
        .ok()?
        .unwrap_or(512);
    BlockDev::open(&dev_root.join(name), size, block).ok()
}

/// The disk a kernel name (`sda`, `sda2`, `nvme0n1p2`) is, or is a
/// partition of, among `disks`, and the partition number. Exact names
/// only: `sdaa2` is not on `sda`.
fn disk_of<'a>(name: &str, disks: &'a [String]) -> Option<(&'a str, Option<u32>)> {
    if let Some(d) = disks.iter().find(|d| *d == name) {
        return Some((d, None));
    }
    disks.iter().find_map(|d| {
        let rest = name.strip_prefix(d.as_str())?;
        // A name ending in a digit separates its partitions with 'p'.
        let rest = if d.ends_with(|c: char| c.is_ascii_digit()) {
            rest.strip_prefix('p')?
        } else {
            rest
        };
        let digits = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| (d.as_str(), rest.parse().ok()))
    })
}

/// Look for root among the LUNs seen so far. `name_to_wwid` maps a
/// /dev/mapper name (WWID, binding or alias) to its WWID; `is_multipath`
/// says which LUNs (WWID, paths so far) are, or will be, multipath maps.
pub fn resolve(
    spec: &RootSpec,
    luns: &BTreeMap<&str, Vec<&Path>>,
    name_to_wwid: &dyn Fn(&str) -> Option<String>,
    is_multipath: &dyn Fn(&str, &[&Path]) -> bool,
    sys: &Sysfs,
    reader: &mut dyn Reader,
) -> Result<Found> {
    let multipath: Vec<(&str, &Vec<&Path>)> = luns
        .iter()
        .filter(|(w, p)| is_multipath(w, p))
        .map(|(w, p)| (*w, p))
        .collect();
    match by_name(spec, luns, name_to_wwid, &multipath, sys)? {
        Some(found) => Ok(found),
        None => by_content(spec, &multipath, sys, reader),
    }
}

fn not_yet() -> Found {
    Found::NotYet {
        stacked: vec![],
        local_stack: false,
    }
}

/// Forms that name the LUN or disk: answered without reading a disk.
/// None for the forms that need the disks' contents.
fn by_name(
    spec: &RootSpec,
    luns: &BTreeMap<&str, Vec<&Path>>,
    name_to_wwid: &dyn Fn(&str) -> Option<String>,
    multipath: &[(&str, &Vec<&Path>)],
    sys: &Sysfs,
) -> Result<Option<Found>> {
    let on = |wwid: String, part| Found::Multipath { wwid, part };
    Ok(Some(match spec {
        RootSpec::Wwid(w, part) if luns.contains_key(w.as_str()) => on(w.clone(), *part),
        RootSpec::Wwid(..) => not_yet(),
        // Not ours: what LVM2 or LUKS on the multipath disks may hold.
        _ if foreign(spec, name_to_wwid) => return Ok(None),
        RootSpec::MapName(n) => {
            // A name that is a map's is that map (an alias `disk_p1` is
            // not partition 1 of `disk_`); else a partition suffix.
            let known = |name: &str| name_to_wwid(name).filter(|w| luns.contains_key(w.as_str()));
            let found = match known(n) {
                Some(wwid) => Some((wwid, None)),
                None if strip_part(n) != n => known(strip_part(n)).map(|w| (w, part_number(n))),
                None => None,
            };
            found.map_or_else(not_yet, |(wwid, part)| on(wwid, part))
        }
        RootSpec::Kernel(n) => {
            let disks = sys.list("block")?;
            let Some((disk, part)) = disk_of(n, &disks) else {
                return Ok(Some(not_yet()));
            };
            let lun = multipath
                .iter()
                .find(|(_, paths)| paths.iter().any(|p| p.name == disk));
            match lun {
                Some((w, _)) => on(w.to_string(), part),
                None => Found::Elsewhere(n.clone()),
            }
        }
        _ => return Ok(None),
    }))
}

/// The usable paths of a LUN, best first: by the priority the kernel's
/// handler reads (active/optimized before non-optimized before standby;
/// no handler in between), then by name. A passive controller's path or a
/// standby port may refuse reads, so it is tried last.
fn ranked<'p>(sys: &Sysfs, paths: &[&'p Path]) -> Vec<&'p Path> {
    let mut v: Vec<(u32, &Path)> = paths
        .iter()
        .filter(|p| p.usable())
        .map(|p| {
            let mut seen = (*p).clone();
            crate::sysfs::scsi::read_alua(sys, &mut seen);
            (seen.prio.unwrap_or(5), *p)
        })
        .collect();
    // Higher priority first, then by name.
    crate::sysfs::sort_short(&mut v, |a, b| (b.0, &a.1.name) < (a.0, &b.1.name));
    v.into_iter().map(|(_, p)| p).collect()
}

/// What was read: (WWID or disk name, what it holds).
type Scans = Vec<(String, DiskScan)>;

/// Each multipath LUN through its paths, best-ranked first, until one
/// path reads (all LUNs at once, a round a path); and the other disks.
fn read_luns(
    spec: &RootSpec,
    multipath: &[(&str, &Vec<&Path>)],
    others: &[String],
    sys: &Sysfs,
    reader: &mut dyn Reader,
) -> (Scans, Scans) {
    let mut order: Vec<(&str, Vec<&Path>)> = multipath
        .iter()
        .map(|(w, paths)| (*w, ranked(sys, paths)))
        .collect();
    let mut luns = Vec::new();
    let mut local = Vec::new();
    let mut round = 0;
    loop {
        let mut disks: Vec<String> = Vec::new();
        let mut whose = Vec::new();
        for (w, paths) in &order {
            if let Some(p) = paths.get(round) {
                disks.push(p.name.clone());
                whose.push(Some(*w));
            }
        }
        if round == 0 {
            disks.extend(others.iter().cloned());
            whose.extend(others.iter().map(|_| None));
        }
        if disks.is_empty() {
            break;
        }
        for ((disk, w), got) in disks.iter().zip(&whose).zip(reader.read(&disks, spec)) {
            let Probe::Read(scan) = got else {
                if w.is_some() {
                    crate::log::detail(&format!("{disk}: not readable; trying the next path"));
                }
                continue;
            };
            match w {
                Some(w) => {
                    luns.push((w.to_string(), scan));
                    order.retain(|(x, _)| x != w);
                }
                None => local.push((disk.clone(), scan)),
            }
        }
        round += 1;
    }
    (luns, local)
}

/// UUID=, LABEL= and the partition forms, and names that are not ours:
/// read each multipath LUN and the other disks. Root found on two disks
/// (SAN clones share UUIDs, and so does a LUN copied from a local root) is
/// an error naming both: guessing could mount the copy.
fn by_content(
    spec: &RootSpec,
    multipath: &[(&str, &Vec<&Path>)],
    sys: &Sysfs,
    reader: &mut dyn Reader,
) -> Result<Found> {
    let mp_paths: Vec<&str> = multipath
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.name.as_str()))
        .collect();
    let others = other_disks(sys, &mp_paths)?;
    let (luns, local) = read_luns(spec, multipath, &others, sys, reader);
    let mut hits: Vec<(String, Found)> = Vec::new();
    for (w, scan) in &luns {
        if let Some(part) = scan.matched {
            let found = Found::Multipath {
                wwid: w.clone(),
                part,
            };
            hits.push((format!("multipath LUN {w}"), found));
        }
    }
    for (disk, scan) in &local {
        if scan.matched.is_some() {
            hits.push((format!("local disk {disk}"), Found::Elsewhere(disk.clone())));
        }
    }
    match hits.len() {
        0 => Ok(Found::NotYet {
            stacked: luns
                .iter()
                .filter(|(_, s)| s.container)
                .map(|(w, _)| w.clone())
                .collect(),
            local_stack: local.iter().any(|(_, s)| s.container),
        }),
        1 => Ok(hits.remove(0).1),
        _ => Err(Error::AmbiguousRoot {
            root: spec.to_string(),
            luns: hits.into_iter().map(|(what, _)| what).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_forms() {
        use RootSpec::*;
        let cases = [
            ("UUID=ABCD-1234", Uuid("abcd-1234".into())),
            ("/dev/disk/by-uuid/abcd", Uuid("abcd".into())),
            ("PARTUUID=0A1B-02", PartUuid("0a1b-02".into())),
            ("PARTUUID=0a1b-02/PARTNROFF=1", PartUuid("0a1b-02".into())),
            ("LABEL=my\\x20root", Label("my root".into())),
            ("/dev/disk/by-partlabel/root", PartLabel("root".into())),
            (
                "/dev/disk/by-id/dm-uuid-mpath-36001405aa",
                Wwid("36001405aa".into(), None),
            ),
            (
                "/dev/disk/by-id/dm-uuid-part2-mpath-36001405aa",
                Wwid("36001405aa".into(), Some(2)),
            ),
            (
                "/dev/disk/by-id/wwn-0x6001405AA-part2",
                Wwid("36001405aa".into(), Some(2)),
            ),
            (
                "/dev/disk/by-id/scsi-1Linux_scsi_debug_2000-part1",
                Wwid("1Linux_scsi_debug_2000".into(), Some(1)),
            ),
            ("/dev/mapper/mpatha-part2", MapName("mpatha-part2".into())),
            ("/dev/disk/by-id/dm-name-mpatha", MapName("mpatha".into())),
            ("/dev/sda2", Kernel("sda2".into())),
            ("/dev/vg/root", Other("/dev/vg/root".into())),
            ("nfs:10.0.0.1:/x", Other("nfs:10.0.0.1:/x".into())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_root(s), want, "{s}");
        }
    }

    use crate::sysfs::scan;
    use crate::sysfs::scsi::tests::{captured, Tree};
    use crate::topology::by_wwid;

    const W: &str = "1Linux_scsi_debug_2000";

    /// `root=` forms resolved by name against a LUN with paths sda, sdb
    /// (and a local disk sdc), answering which LUN and which partition.
    fn resolved(root: &str, bindings: &[(&str, &str)]) -> Found {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Tree::new(&format!("resolve-{n}"));
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, Some("active/optimized"));
        t.disk("sdb", "8:16", "1:0:0:0", &pg, Some("active/optimized"));
        t.file("block/sdc/dev", b"8:32\n");
        let sys = t.sysfs();
        let s = scan(&sys).unwrap();
        let luns = by_wwid(&s.paths);
        let to_wwid = |n: &str| {
            let b = bindings.iter().find(|(a, _)| *a == n);
            Some(b.map_or(n, |(_, w)| *w).to_string())
        };
        let spec = parse_root(root);
        let mut reader = InProcess {
            sys: &sys,
            dev_root: &t.root,
        };
        resolve(
            &spec,
            &luns,
            &to_wwid,
            &|_, p| p.len() >= 2,
            &sys,
            &mut reader,
        )
        .unwrap()
    }

    fn on(part: Option<u32>) -> Found {
        Found::Multipath {
            wwid: W.into(),
            part,
        }
    }

    #[test]
    fn kernel_names_match_whole_disks_only() {
        assert_eq!(resolved("/dev/sda2", &[]), on(Some(2)));
        assert_eq!(resolved("/dev/sdb", &[]), on(None));
        assert_eq!(resolved("/dev/sdc1", &[]), Found::Elsewhere("sdc1".into()));
        // sdaa is not sda: not seen yet, so wait for it.
        assert_eq!(resolved("/dev/sdaa2", &[]), not_yet());
        assert_eq!(resolved("/dev/sdax", &[]), not_yet());
        let disks = ["nvme0n1".to_string(), "sda".to_string()];
        assert_eq!(disk_of("nvme0n1p3", &disks), Some(("nvme0n1", Some(3))));
        assert_eq!(disk_of("nvme0n13", &disks), None);
    }

    #[test]
    fn a_map_name_is_that_map_before_a_partition_suffix() {
        // Alias disk_p1 is the whole map, not partition 1 of "disk_".
        let b = [("disk_p1", W), ("disk_", "3other")];
        assert_eq!(resolved("/dev/mapper/disk_p1", &b), on(None));
        assert_eq!(resolved("/dev/mapper/disk_p1-part2", &b), on(Some(2)));
        assert_eq!(
            resolved(&format!("/dev/mapper/{W}-part1"), &[]),
            on(Some(1))
        );
        assert_eq!(resolved(&format!("/dev/mapper/{W}"), &[]), on(None));
    }

    /// A GPT partition name can spell an ext superblock at byte 1080 of
    /// the disk; root= must not match the whole disk of a partitioned LUN.
    #[test]
    fn a_partitioned_disk_is_never_probed_whole() {
        use crate::partitions::tests::{gpt_disk, Disk};
        let mut units = vec![0xef53u16];
        units.extend((1..24).map(|_| u16::from(b'x')));
        units.extend(
            b"abcdefghijklmnop"
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        );
        let name = String::from_utf16(&units).unwrap();
        let forged = "61626364-6566-6768-696a-6b6c6d6e6f70";
        let d = gpt_disk(4096, &[(2048, 4000, &name)]);
        // The forgery is real: probing the raw disk finds that UUID.
        let raw = crate::probe::probe(&mut |off, len| {
            d.0.get(off as usize..(off + len) as usize)
                .map(<[u8]>::to_vec)
        });
        assert_eq!(raw.and_then(|f| f.uuid).as_deref(), Some(forged));
        let scan = |d: &Disk, spec: &RootSpec| {
            let f = std::env::temp_dir().join(format!("mpboot-forge-{}", std::process::id()));
            std::fs::write(&f, &d.0).unwrap();
            let dev = BlockDev::open(&f, d.sectors(), 512).unwrap();
            let m = scan_disk(&dev, spec).matched;
            let _ = std::fs::remove_file(&f);
            m
        };
        assert_eq!(scan(&d, &RootSpec::Uuid(forged.into())), None);
        // Without a table the whole disk is still a file system's.
        let mut plain = Disk::new(4096);
        plain.0[1080..1082].copy_from_slice(&0xef53u16.to_le_bytes());
        plain.0[1128..1144].copy_from_slice(b"abcdefghijklmnop");
        assert_eq!(scan(&plain, &RootSpec::Uuid(forged.into())), Some(None));
    }

    /// SAN clones: the same file system UUID on two LUNs is refused with
    /// both named, never resolved to whichever sorts first.
    #[test]
    fn a_root_on_two_luns_is_refused() {
        let t = Tree::new("clones");
        t.disk("sda", "8:0", "0:0:0:0", &captured("scsi_debug.pg83"), None);
        t.disk("sdb", "8:16", "1:0:0:0", &captured("lio.pg83"), None);
        let sys = t.sysfs();
        let image = |name: &str, uuid: &[u8; 16]| {
            let mut d = vec![0u8; 8192];
            d[1080..1082].copy_from_slice(&0xef53u16.to_le_bytes());
            d[1128..1144].copy_from_slice(uuid);
            let f = std::fs::File::create(t.root.join(name)).unwrap();
            std::io::Write::write_all(&mut &f, &d).unwrap();
            f.set_len(16384 * 512).unwrap();
        };
        image("sda", b"abcdefghijklmnop");
        image("sdb", b"abcdefghijklmnop");
        let s = scan(&sys).unwrap();
        let luns = by_wwid(&s.paths);
        let spec = parse_root("UUID=61626364-6566-6768-696a-6b6c6d6e6f70");
        let any = |_: &str, _: &[&Path]| true;
        let to_wwid = |n: &str| Some(n.to_string());
        let mut reader = InProcess {
            sys: &sys,
            dev_root: &t.root,
        };
        match resolve(&spec, &luns, &to_wwid, &any, &sys, &mut reader) {
            Err(Error::AmbiguousRoot { luns, .. }) => assert_eq!(luns.len(), 2),
            other => panic!("{other:?}"),
        }
        // One clone changed: found on the other alone.
        image("sdb", b"ABCDEFGHIJKLMNOP");
        let found = resolve(&spec, &luns, &to_wwid, &any, &sys, &mut reader).unwrap();
        assert_eq!(found, on(None));
    }

    /// A disk image at `t.root/name`: an ext superblock with `uuid`, or
    /// an LVM2 label when `uuid` is None.
    fn image(t: &Tree, name: &str, uuid: Option<&[u8; 16]>) {
        let mut d = vec![0u8; 8192];
        match uuid {
            Some(u) => {
                d[1080..1082].copy_from_slice(&0xef53u16.to_le_bytes());
                d[1128..1144].copy_from_slice(u);
            }
            None => {
                d[512..520].copy_from_slice(b"LABELONE");
                d[536..544].copy_from_slice(b"LVM2 001");
            }
        }
        let f = std::fs::File::create(t.root.join(name)).unwrap();
        std::io::Write::write_all(&mut &f, &d).unwrap();
        f.set_len(16384 * 512).unwrap();
    }

    const ROOT_UUID: &str = "61626364-6566-6768-696a-6b6c6d6e6f70";

    /// Records which disks were read, in order, and reads them here.
    struct Recorder<'a>(InProcess<'a>, Vec<String>);
    impl Reader for Recorder<'_> {
        fn read(&mut self, disks: &[String], spec: &RootSpec) -> Vec<Probe> {
            self.1.extend(disks.iter().cloned());
            self.0.read(disks, spec)
        }
    }

    /// A path on the passive controller (or a standby port, or NOT READY)
    /// refuses reads: root is found through the LUN's other path, the
    /// better-ranked one first.
    #[test]
    fn a_passive_first_path_does_not_hide_root() {
        let t = Tree::new("passive");
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, Some("standby"));
        t.disk("sdb", "8:16", "1:0:0:0", &pg, Some("active/optimized"));
        t.disk("sdc", "8:32", "2:0:0:0", &pg, Some("active/non-optimized"));
        // sda has no readable node at all; sdb and sdc hold root.
        image(&t, "sdb", Some(b"abcdefghijklmnop"));
        image(&t, "sdc", Some(b"abcdefghijklmnop"));
        let sys = t.sysfs();
        let s = scan(&sys).unwrap();
        let luns = by_wwid(&s.paths);
        let spec = parse_root(&format!("UUID={ROOT_UUID}"));
        // What resolve finds, and which disks it read, in order.
        let look = || {
            let to_wwid = |n: &str| Some(n.to_string());
            let mp = |_: &str, p: &[&Path]| p.len() >= 2;
            let mut r = Recorder(
                InProcess {
                    sys: &sys,
                    dev_root: &t.root,
                },
                vec![],
            );
            let found = resolve(&spec, &luns, &to_wwid, &mp, &sys, &mut r).unwrap();
            (found, r.1)
        };
        // Best-ranked first: the optimized path, and no other was needed.
        assert_eq!(look(), (on(None), vec!["sdb".to_string()]));
        // With the good paths unreadable too, the standby one is tried
        // last; nothing readable: not found yet, never an error.
        std::fs::remove_file(t.root.join("sdb")).unwrap();
        assert_eq!(look(), (on(None), vec!["sdb".into(), "sdc".into()]));
        std::fs::remove_file(t.root.join("sdc")).unwrap();
        let (found, read) = look();
        assert_eq!(found, not_yet());
        assert_eq!(read, vec!["sdb", "sdc", "sda"]);
    }

    /// The same file system UUID on a local disk and on a LUN (a SAN copy
    /// of a local root, a P2V copy): refused, both named.
    #[test]
    fn root_on_a_local_disk_and_a_lun_is_refused() {
        let t = Tree::new("p2v");
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, None);
        t.disk("sdb", "8:16", "1:0:0:0", &pg, None);
        t.file("block/vda/dev", b"254:0\n");
        t.file("block/vda/size", b"16384\n");
        image(&t, "sda", Some(b"abcdefghijklmnop"));
        image(&t, "sdb", Some(b"abcdefghijklmnop"));
        image(&t, "vda", Some(b"abcdefghijklmnop"));
        let sys = t.sysfs();
        let s = scan(&sys).unwrap();
        let luns = by_wwid(&s.paths);
        let spec = parse_root(&format!("UUID={ROOT_UUID}"));
        let to_wwid = |n: &str| Some(n.to_string());
        let mp = |_: &str, p: &[&Path]| p.len() >= 2;
        let mut r = InProcess {
            sys: &sys,
            dev_root: &t.root,
        };
        match resolve(&spec, &luns, &to_wwid, &mp, &sys, &mut r) {
            Err(Error::AmbiguousRoot { luns, .. }) => {
                assert_eq!(
                    luns,
                    vec![format!("multipath LUN {W}"), "local disk vda".into()]
                )
            }
            other => panic!("{other:?}"),
        }
        // The local copy changed: root is the LUN's.
        image(&t, "vda", Some(b"ABCDEFGHIJKLMNOP"));
        let found = resolve(&spec, &luns, &to_wwid, &mp, &sys, &mut r).unwrap();
        assert_eq!(found, on(None));
    }

    /// Names that are not ours (LVM's vg-lv, dm-crypt's, /dev/nfs) are
    /// answered from what the disks hold: LVM2 on the LUN makes it root's;
    /// LVM2 on a local disk only says root may be there.
    #[test]
    fn foreign_names_look_for_lvm_and_luks() {
        let t = Tree::new("foreign");
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, None);
        t.disk("sdb", "8:16", "1:0:0:0", &pg, None);
        t.file("block/vda/dev", b"254:0\n");
        t.file("block/vda/size", b"16384\n");
        image(&t, "sda", None);
        image(&t, "sdb", None);
        image(&t, "vda", Some(b"abcdefghijklmnop"));
        let sys = t.sysfs();
        let s = scan(&sys).unwrap();
        let luns = by_wwid(&s.paths);
        let to_wwid = |n: &str| crate::vpd::looks_like_wwid(n).then(|| n.to_string());
        let mp = |_: &str, p: &[&Path]| p.len() >= 2;
        let mut r = InProcess {
            sys: &sys,
            dev_root: &t.root,
        };
        for root in [
            "/dev/mapper/debian--vg-root",
            "/dev/vg/root",
            "/dev/nfs",
            "ZFS=rpool/root",
        ] {
            let spec = parse_root(root);
            assert!(foreign(&spec, &to_wwid), "{root}");
            let found = resolve(&spec, &luns, &to_wwid, &mp, &sys, &mut r).unwrap();
            assert_eq!(
                found,
                Found::NotYet {
                    stacked: vec![W.into()],
                    local_stack: false
                },
                "{root}"
            );
        }
        // A WWID's own name is ours, not foreign.
        let spec = parse_root(&format!("/dev/mapper/{W}-part1"));
        assert!(!foreign(&spec, &to_wwid));
        // LVM on the local disk, nothing on the LUN.
        image(&t, "sda", Some(b"ABCDEFGHIJKLMNOP"));
        image(&t, "vda", None);
        let spec = parse_root("/dev/mapper/debian--vg-root");
        let found = resolve(&spec, &luns, &to_wwid, &mp, &sys, &mut r).unwrap();
        assert_eq!(
            found,
            Found::NotYet {
                stacked: vec![],
                local_stack: true
            }
        );
    }

    #[test]
    fn partition_suffixes() {
        assert_eq!(strip_part("mpatha-part2"), "mpatha");
        assert_eq!(strip_part("mpatha2"), "mpatha2"); // no separator: a name
        assert_eq!(strip_part("36001405aap1"), "36001405aa");
        assert_eq!(strip_part("mpatha"), "mpatha");
        assert_eq!(strip_part("123"), "123");
        assert_eq!(part_number("mpatha-part12"), Some(12));
        assert_eq!(part_number("36001405aap1"), Some(1));
        assert_eq!(part_number("mpatha"), None);
    }
}
