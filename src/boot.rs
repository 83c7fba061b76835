//! The initramfs path (`mpboot assemble --root`, and bare `mpboot`): decide
//! which LUNs root needs, wait for their paths, driven by kernel uevents,
//! the right amount of time, assemble them, and never hang the boot.
//!
//! Which LUNs, first source that applies wins:
//! 1. kernel command line `mpboot.wwid=` (and `mpboot=off`/`rd.multipath=0`);
//! 2. files in the image: multipath-tools' wwids and bindings, mpboot.conf;
//! 3. `root=`, resolved by name or by probing the multipath disks;
//! 4. every WWID with two or more paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use crate::assemble::{self, Want};
use crate::bootcfg::{self, BootArgs, Known};
use crate::error::{Error, Result};
use crate::log;
use crate::rootdev::{self, Found, RootSpec};
use crate::sysfs::{scsi, Sysfs};
use crate::topology::{self, Path, Transport};
use crate::uevent::Listener;

#[derive(Debug, Clone)]
pub struct Options {
    pub cmdline: PathBuf,
    pub etc: PathBuf,
    /// Where the root device is recorded for the initramfs (`root`).
    pub run_dir: PathBuf,
    /// `--fast-io-fail`, `--dev-loss` as given, if given.
    pub fast_fail_flags: (Option<Option<u32>>, Option<u32>),
    pub map: assemble::Options,
}

/// Longest we read of /proc/cmdline and config files.
const FILE_MAX: u64 = 256 * 1024;

fn read_small(path: &FsPath) -> Option<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(FILE_MAX)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Everything the image's files say, with a warning logged for each line
/// that made no sense. Bindings name maps even for WWIDs chosen otherwise.
pub fn read_known(etc: &FsPath) -> (Known, Vec<(String, String)>) {
    let mut k = Known::default();
    let wwids = etc.join("multipath/wwids");
    if let Some(t) = read_small(&wwids) {
        k.add_wwids(&wwids.display().to_string(), &t);
    }
    let mut bindings = Vec::new();
    let bpath = etc.join("multipath/bindings");
    if let Some(t) = read_small(&bpath) {
        bindings = k.add_bindings(&bpath.display().to_string(), &t);
    }
    let conf = etc.join("mpboot.conf");
    if let Some(t) = read_small(&conf) {
        k.add_mpboot_conf(&conf.display().to_string(), &t);
    }
    for w in &k.warnings {
        log::warn(w);
    }
    (k, bindings)
}

/// Is disk `name` a path of a WWID this boot is configured to assemble?
/// Only named WWIDs count (command line, then the image's files): with
/// neither, boot mode decides by path count, which a udev rule seeing one
/// disk at a time cannot know.
pub fn claims(sys: &Sysfs, cmdline: &FsPath, etc: &FsPath, name: &str) -> bool {
    let args = bootcfg::parse_cmdline(&read_small(cmdline).unwrap_or_default());
    if args.off || name.contains('/') {
        return false;
    }
    let Ok(Some(path)) = scsi::read_path(sys, name) else {
        return false;
    };
    if !args.wwids.is_empty() {
        return args.wwids.contains(&path.wwid);
    }
    read_known(etc).0.get(&path.wwid).is_some()
}

/// What we are waiting for.
enum Goal {
    /// These WWIDs, from the named source.
    Wwids(Vec<String>),
    Root(RootSpec),
    AllMultipath,
}

struct PathTimes {
    /// When each path name was first seen.
    seen: BTreeMap<String, Instant>,
}

impl PathTimes {
    fn update(&mut self, paths: &[Path], now: Instant) {
        for p in paths {
            self.seen.entry(p.name.clone()).or_insert(now);
        }
    }

    /// When the newest path of `wwid` (or of any LUN) appeared.
    fn newest(&self, paths: &[&Path]) -> Option<Instant> {
        paths
            .iter()
            .filter_map(|p| self.seen.get(&p.name))
            .max()
            .copied()
    }
}

/// Which LUNs root may be on as a multipath map, when nothing names them:
/// those with two paths or more, and an array's LUN (`Path::san_like`)
/// with one path so far, whose other paths may still be on their way. The
/// latter gets the settle window from its path's arrival for more paths,
/// then a map with the paths it has, which later paths join (the
/// supervisor, or multipathd, adds them): root is never mounted from a
/// path's own partition that multipathd could not claim later. A local
/// disk with one path costs no wait at all.
fn may_be_multipath(_wwid: &str, paths: &[&Path]) -> bool {
    paths.len() >= 2 || paths.iter().any(|p| p.san_like())
}

/// Returns whether the kernel command line asked for the supervisor.
pub fn run(sys: &Sysfs, dev_root: &FsPath, opts: &Options) -> Result<bool> {
    let line = read_small(&opts.cmdline).unwrap_or_default();
    let args = bootcfg::parse_cmdline(&line);
    log::set_debug(args.debug);
    let supervise = args.supervise == Some(true) && !args.off;
    if supervise && !sys.path("class/scsi_generic").is_dir() {
        log::warn(
            "the sg module is not loaded: the supervisor's path checks fall back to \
             synchronous TEST UNIT READY, which a hung path can stall (put sg in the image)",
        );
    }
    wait_and_assemble(sys, dev_root, opts, &args).map(|()| supervise)
}

fn wait_and_assemble(
    sys: &Sysfs,
    dev_root: &FsPath,
    opts: &Options,
    args: &BootArgs,
) -> Result<()> {
    for w in &args.warnings {
        log::warn(&format!("{}: {w}", opts.cmdline.display()));
    }
    if args.off {
        log::notice("disabled on the kernel command line (mpboot=off or rd.multipath=0)");
        return Ok(());
    }
    let (known, bindings) = read_known(&opts.etc);
    let goal = if !args.wwids.is_empty() {
        log::info(&format!(
            "assembling {} (kernel command line mpboot.wwid=)",
            args.wwids.join(", ")
        ));
        Goal::Wwids(args.wwids.clone())
    } else if !known.maps.is_empty() {
        let w: Vec<String> = known.maps.iter().map(|m| m.wwid.clone()).collect();
        log::info(&format!(
            "assembling {} (from {})",
            w.join(", "),
            opts.etc.display()
        ));
        Goal::Wwids(w)
    } else if let Some(r) = &args.root {
        log::info(&format!("looking for root={r} on multipath disks"));
        Goal::Root(rootdev::parse_root(r))
    } else {
        log::info("no root= and no configured WWIDs: assembling every LUN with 2+ paths");
        Goal::AllMultipath
    };
    let name_of = |w: &str| {
        known.get(w).and_then(|m| m.name.clone()).or_else(|| {
            bindings
                .iter()
                .find(|(bw, _)| bw == w)
                .map(|(_, a)| a.clone())
        })
    };
    let name_to_wwid = |n: &str| -> Option<String> {
        if let Some((w, _)) = bindings.iter().find(|(_, a)| a == n) {
            return Some(w.clone());
        }
        if let Some(m) = known.maps.iter().find(|m| m.name.as_deref() == Some(n)) {
            return Some(m.wwid.clone());
        }
        Some(n.to_string())
    };
    let mut map = opts.map.clone();
    if let Some(q) = args.queue {
        map.policy.queue_if_no_path = q;
    }
    let (flag_fail, flag_loss) = opts.fast_fail_flags;
    map.fast_fail = bootcfg::fast_fail(Some(args), flag_fail, flag_loss, &known);

    // Subscribe before the first scan, so no path appears unnoticed.
    let listener = match Listener::open() {
        Ok(l) => Some(l),
        Err(e) => {
            log::warn(&format!(
                "no uevents ({}); polling sysfs instead",
                crate::error::chain(&e)
            ));
            None
        }
    };
    let start = Instant::now();
    let deadline = start + args.wait();
    // Per LUN: iSCSI paths come portal by portal, seconds apart.
    let settle =
        |paths: &[&Path]| args.settle_for(paths.iter().any(|p| p.transport == Transport::Iscsi));
    let mut times = PathTimes {
        seen: BTreeMap::new(),
    };
    let mut goal = goal;
    // Where root= was found: (WWID, partition).
    let mut root_at: Option<(String, Option<u32>)> = None;
    loop {
        let now = Instant::now();
        let scan = scsi::scan(sys)?;
        times.update(&scan.paths, now);
        let luns = topology::by_wwid(&scan.paths);
        let settled = |paths: &[&Path]| {
            times
                .newest(paths)
                .is_some_and(|t| now.duration_since(t) >= settle(paths))
        };
        // The next moment worth looking again if no event comes first.
        let mut next = deadline;

        match &goal {
            Goal::Root(spec) => {
                match rootdev::resolve(
                    spec,
                    &luns,
                    &name_to_wwid,
                    &may_be_multipath,
                    sys,
                    dev_root,
                )? {
                    Found::Multipath { wwid, part } => {
                        log::info(&format!("root is on multipath LUN {wwid}"));
                        root_at = Some((wwid.clone(), part));
                        goal = Goal::Wwids(vec![wwid]);
                        continue;
                    }
                    Found::Elsewhere(dev) => {
                        log::notice(&format!(
                            "root is on {dev}, not a multipath disk: nothing to do"
                        ));
                        return Ok(());
                    }
                    Found::NotYet { stacked } if now >= deadline => {
                        if stacked.is_empty() {
                            return Err(Error::NotFound {
                                what: format!(
                                    "root ({:?}) on any disk",
                                    args.root.clone().unwrap_or_default()
                                ),
                                secs: args.wait().as_secs(),
                            });
                        }
                        log::notice(&format!(
                            "root not seen directly; LUKS/LVM on {}: assembling those",
                            stacked.join(", ")
                        ));
                        goal = Goal::Wwids(stacked);
                        continue;
                    }
                    Found::NotYet { .. } => {}
                }
            }
            Goal::Wwids(wwids) => {
                let mut ready = true;
                for w in wwids {
                    match luns.get(w.as_str()) {
                        None => ready = false,
                        Some(paths) => {
                            let expected = known.get(w).and_then(|m| m.paths);
                            let enough = expected.is_some_and(|n| paths.len() as u32 >= n);
                            if !enough && !settled(paths) {
                                ready = false;
                                if let Some(t) = times.newest(paths) {
                                    next = next.min(t + settle(paths));
                                }
                            }
                        }
                    }
                }
                if ready || now >= deadline {
                    let done = finish(sys, dev_root, &luns, wwids, &known, &name_of, &map, args);
                    // WWIDs from the command line or files: where is root= among them?
                    if root_at.is_none() {
                        if let Some(r) = &args.root {
                            let spec = rootdev::parse_root(r);
                            let assembled = |w: &str, _: &[&Path]| wwids.iter().any(|x| x == w);
                            if let Ok(Found::Multipath { wwid, part }) = rootdev::resolve(
                                &spec,
                                &luns,
                                &name_to_wwid,
                                &assembled,
                                sys,
                                dev_root,
                            ) {
                                root_at = Some((wwid, part));
                            }
                        }
                    }
                    if let (Ok(()), Some((w, part))) = (&done, &root_at) {
                        record_root(
                            dev_root,
                            &opts.run_dir,
                            &name_of(w).unwrap_or_else(|| w.clone()),
                            *part,
                            &map,
                        );
                    }
                    return done;
                }
            }
            Goal::AllMultipath => {
                let all: Vec<&Path> = luns.values().flatten().copied().collect();
                let quiet_since = times.newest(&all).unwrap_or(start).max(start);
                if now.duration_since(quiet_since) >= settle(&all) || now >= deadline {
                    let wwids: Vec<String> = luns
                        .iter()
                        .filter(|(_, p)| p.len() >= 2)
                        .map(|(w, _)| w.to_string())
                        .collect();
                    if wwids.is_empty() {
                        log::notice("no LUN with two or more paths: nothing to do");
                        return Ok(());
                    }
                    return finish(sys, dev_root, &luns, &wwids, &known, &name_of, &map, args);
                }
                next = next.min(quiet_since + settle(&all));
            }
        }
        let timeout = next
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        match &listener {
            // Any event may be a path; a rescan is cheap next to a boot.
            Some(l) => {
                l.wait(timeout)?;
            }
            None => std::thread::sleep(timeout.min(Duration::from_millis(250))),
        }
    }
}

/// Tell the initramfs which device root is (`/run/mpboot/root`): the
/// partition map, so that nothing mounts a path's own partition instead.
/// Initramfs scripts read it into shell variables, so only a name of
/// `text::is_safe` bytes is written; a dry run writes nothing.
fn record_root(
    dev_root: &FsPath,
    dir: &FsPath,
    map: &str,
    part: Option<u32>,
    opts: &assemble::Options,
) {
    let name = match part {
        Some(n) => format!("{map}{}{n}", opts.part_sep),
        None => map.to_string(),
    };
    let dev = dev_root.join("mapper").join(&name);
    if !crate::text::is_safe(&name) {
        log::warn(&format!(
            "root device name {name:?} holds more than {}: not recorded",
            crate::text::SAFE_SET
        ));
        return;
    }
    if opts.dry_run {
        log::info(&format!("dry run: root device would be {}", dev.display()));
        return;
    }
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join("root"), format!("{}\n", dev.display())));
    match written {
        Ok(()) => log::info(&format!("root device: {}", dev.display())),
        Err(e) => log::warn(&format!(
            "cannot record the root device in {}: {e}",
            dir.display()
        )),
    }
}

/// Assemble what is there of `wwids`; say what is missing or degraded.
#[allow(clippy::too_many_arguments)]
fn finish(
    sys: &Sysfs,
    dev_root: &FsPath,
    luns: &BTreeMap<&str, Vec<&Path>>,
    wwids: &[String],
    known: &Known,
    name_of: &dyn Fn(&str) -> Option<String>,
    map: &assemble::Options,
    args: &BootArgs,
) -> Result<()> {
    let mut missing = BTreeSet::new();
    let mut wants = Vec::new();
    for w in wwids {
        let Some(paths) = luns.get(w.as_str()) else {
            log::err(&format!(
                "{w}: no path appeared within {} s",
                args.wait().as_secs()
            ));
            missing.insert(w.clone());
            continue;
        };
        let expected = known.get(w).and_then(|m| m.paths);
        if let ([p], None) = (paths.as_slice(), expected) {
            log::notice(&format!(
                "{w}: one path so far ({}, {}); assembled with it, later paths join the map",
                p.name,
                p.transport_word()
            ));
        }
        if let Some(n) = expected {
            if (paths.len() as u32) < n {
                log::warn(&format!(
                    "{w}: {} of {n} expected paths ({}); assembling degraded",
                    paths.len(),
                    paths
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        wants.push(Want {
            wwid: w.clone(),
            name: name_of(w),
            required: true,
        });
    }
    let assembled = if wants.is_empty() {
        Ok(())
    } else {
        assemble::run(sys, dev_root, luns, &wants, map)
    };
    match missing.into_iter().next() {
        Some(w) => Err(Error::NotFound {
            what: format!("a path of WWID {w}"),
            secs: args.wait().as_secs(),
        }),
        None => assembled,
    }
}

#[cfg(test)]
mod tests {
    use crate::sysfs::scsi::tests::{captured, Tree};

    fn map_options(dry_run: bool) -> crate::assemble::Options {
        crate::assemble::Options {
            policy: crate::topology::Policy::default(),
            nodes: crate::nodes::NodePolicy::Never,
            partitions: true,
            part_sep: "-part".into(),
            dry_run,
            fast_fail: Default::default(),
        }
    }

    /// A dry run changes nothing, not even the record of the root device;
    /// a name a shell would read specially is never recorded.
    #[test]
    fn root_record_only_for_real_and_safe() {
        let t = Tree::new("record");
        let run = t.root.join("run");
        let dev = std::path::Path::new("/dev");
        super::record_root(dev, &run, "3600a", Some(1), &map_options(true));
        assert!(!run.join("root").exists());
        super::record_root(dev, &run, "db(1)", Some(1), &map_options(false));
        assert!(!run.join("root").exists());
        super::record_root(dev, &run, "3600a", Some(1), &map_options(false));
        let got = std::fs::read_to_string(run.join("root")).unwrap();
        assert_eq!(got, "/dev/mapper/3600a-part1\n");
    }

    #[test]
    fn claims_only_configured_paths() {
        let t = Tree::new("claims");
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, Some("active/optimized"));
        t.file("block/sdb/dev", b"8:16\n");
        let etc = t.root.join("etc");
        let cmd = t.root.join("cmdline");
        std::fs::create_dir_all(&etc).unwrap();
        let sys = t.sysfs();
        let claims = |name: &str, line: &str| {
            std::fs::write(&cmd, line).unwrap();
            super::claims(&sys, &cmd, &etc, name)
        };
        // Nothing configured: boot mode decides by path count, not udev.
        assert!(!claims("sda", "root=/dev/sda1"));
        std::fs::write(etc.join("mpboot.conf"), "1Linux_scsi_debug_2000 paths=2\n").unwrap();
        assert!(claims("sda", "root=/dev/sda1"));
        // Not a SCSI disk with a WWID; no such disk; a path, not a name.
        assert!(!claims("sdb", ""));
        assert!(!claims("sdz", ""));
        assert!(!claims("../sda", ""));
        // Off switches, and the command line's WWIDs win over the files.
        assert!(!claims("sda", "mpboot=off"));
        assert!(!claims("sda", "rd.multipath=0"));
        assert!(!claims("sda", "mpboot.wwid=3600a"));
        assert!(claims("sda", "mpboot.wwid=1Linux_scsi_debug_2000"));
    }
}
