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
use crate::sysfs::Sysfs;
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
    let Ok(Some(path)) = crate::sysfs::read_path(sys, name) else {
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

/// What one look at the disks decided.
enum Step {
    /// Nothing yet: look again by this moment, or at the next event.
    Wait(Instant),
    /// Now wait for these LUNs (root was found on them, or inside them).
    Assemble(Vec<String>),
    /// Done: the maps made (if any) and whether any of them queues.
    Done(Made),
}

/// What boot mode left behind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    /// A map that queues I/O with no path left: somebody must check its
    /// paths, or an outage of every path queues for ever.
    pub queueing: bool,
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

/// Is a SAN transport up whose LUNs may still be on their way (an iSCSI
/// session or FC remote port with no disk seen yet)?
fn san_transport_up(sys: &Sysfs) -> bool {
    ["class/iscsi_session", "class/fc_remote_ports"]
        .iter()
        .any(|d| sys.list(d).is_ok_and(|l| !l.is_empty()))
}

/// Returns whether to start the supervisor: asked for with
/// `mpboot.supervise=yes`, or by default whenever boot mode left a map
/// that queues (dm-multipath never reinstates a path by itself), unless
/// `mpboot.supervise=no`.
pub fn run(sys: &Sysfs, dev_root: &FsPath, opts: &Options) -> Result<bool> {
    let line = read_small(&opts.cmdline).unwrap_or_default();
    let args = bootcfg::parse_cmdline(&line);
    log::set_debug(args.debug);
    let made = Boot::new(sys, dev_root, opts, &args).run()?;
    let supervise = !args.off
        && match args.supervise {
            Some(yes) => yes,
            None => made.queueing && !opts.map.dry_run,
        };
    if made.queueing && args.supervise == Some(false) {
        log::notice(
            "mpboot.supervise=no: no path checker runs until multipathd starts; an outage \
             of every path until then queues I/O for good",
        );
    }
    Ok(supervise)
}

/// The WWID a /dev/mapper name stands for: a binding, an alias from
/// mpboot.conf, or the name itself when it may be a WWID. None: not a name
/// of ours (LVM, dm-crypt).
fn name_to_wwid(known: &Known, bindings: &[(String, String)], n: &str) -> Option<String> {
    if let Some((w, _)) = bindings.iter().find(|(_, a)| a == n) {
        return Some(w.clone());
    }
    if let Some(m) = known.maps.iter().find(|m| m.name.as_deref() == Some(n)) {
        return Some(m.wwid.clone());
    }
    (crate::vpd::looks_like_wwid(n) || known.get(n).is_some()).then(|| n.to_string())
}

/// One boot: what it was told, and what it has seen so far.
struct Boot<'a> {
    sys: &'a Sysfs,
    dev_root: &'a FsPath,
    opts: &'a Options,
    args: &'a BootArgs,
    known: Known,
    bindings: Vec<(String, String)>,
    map: assemble::Options,
    start: Instant,
    deadline: Instant,
    times: PathTimes,
    /// Where root= was found: (WWID, partition).
    root_at: Option<(String, Option<u32>)>,
    reader: rootdev::Bounded,
}

impl<'a> Boot<'a> {
    fn new(sys: &'a Sysfs, dev_root: &'a FsPath, opts: &'a Options, args: &'a BootArgs) -> Self {
        let (known, bindings) = read_known(&opts.etc);
        let mut map = opts.map.clone();
        if let Some(q) = args.queue {
            map.policy.queue_if_no_path = q;
        }
        let (flag_fail, flag_loss) = opts.fast_fail_flags;
        map.fast_fail = bootcfg::fast_fail(Some(args), flag_fail, flag_loss, &known);
        let start = Instant::now();
        let deadline = start + args.wait();
        Boot {
            sys,
            dev_root,
            opts,
            args,
            known,
            bindings,
            map,
            start,
            deadline,
            times: PathTimes {
                seen: BTreeMap::new(),
            },
            root_at: None,
            reader: rootdev::Bounded {
                sysfs: sys.path(""),
                dev: dev_root.to_path_buf(),
                root: args.root.clone().unwrap_or_default(),
                deadline,
                known: Vec::new(),
            },
        }
    }

    /// Which LUNs, first source that applies wins, said in one line.
    fn goal(&self) -> Goal {
        if !self.args.wwids.is_empty() {
            log::info(&format!(
                "assembling {} (kernel command line mpboot.wwid=)",
                self.args.wwids.join(", ")
            ));
            Goal::Wwids(self.args.wwids.clone())
        } else if !self.known.maps.is_empty() {
            let w: Vec<String> = self.known.maps.iter().map(|m| m.wwid.clone()).collect();
            log::info(&format!(
                "assembling {} (from {})",
                w.join(", "),
                self.opts.etc.display()
            ));
            Goal::Wwids(w)
        } else if let Some(r) = &self.args.root {
            log::info(&format!("looking for root={r} on multipath disks"));
            Goal::Root(rootdev::parse_root(r))
        } else {
            log::info("no root= and no configured WWIDs: assembling every LUN with 2+ paths");
            Goal::AllMultipath
        }
    }

    fn name_of(&self, w: &str) -> Option<String> {
        self.known.get(w).and_then(|m| m.name.clone()).or_else(|| {
            self.bindings
                .iter()
                .find(|(bw, _)| bw == w)
                .map(|(_, a)| a.clone())
        })
    }

    fn settle(&self, paths: &[&Path]) -> Duration {
        self.args
            .settle_for(paths.iter().any(|p| p.transport == Transport::Iscsi))
    }

    /// When these paths will have been quiet for their settle window.
    fn settled_at(&self, paths: &[&Path]) -> Instant {
        self.times
            .newest(paths)
            .unwrap_or(self.start)
            .max(self.start)
            + self.settle(paths)
    }

    fn run(mut self) -> Result<Made> {
        for w in &self.args.warnings {
            log::warn(&format!("{}: {w}", self.opts.cmdline.display()));
        }
        if self.args.off {
            log::notice("disabled on the kernel command line (mpboot=off or rd.multipath=0)");
            return Ok(Made::default());
        }
        let mut goal = self.goal();
        // Subscribe before the first scan, so no path appears unnoticed;
        // SIGTERM (a unit's stop) is taken only while waiting, so that a
        // map is never left half-made.
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
        let stop = StopSignals::block();
        loop {
            let now = Instant::now();
            let scan = crate::sysfs::scan(self.sys)?;
            self.times.update(&scan.paths, now);
            let luns = topology::by_wwid(&scan.paths);
            let step = match &goal {
                Goal::Root(spec) => self.step_root(spec, &luns, now)?,
                Goal::Wwids(wwids) => self.step_wwids(wwids, &luns, now)?,
                Goal::AllMultipath => self.step_all(&luns, now)?,
            };
            match step {
                Step::Done(made) => return Ok(made),
                Step::Assemble(wwids) => goal = Goal::Wwids(wwids),
                Step::Wait(until) => {
                    if let Some(sig) = wait(listener.as_ref(), stop.as_ref(), until)? {
                        return Err(Error::Stopped { signal: sig });
                    }
                }
            }
        }
    }

    /// `root=` with nothing configured: found on a multipath LUN, on a
    /// local disk, inside LVM2/LUKS on multipath LUNs, or not ours at all.
    fn step_root(
        &mut self,
        spec: &RootSpec,
        luns: &BTreeMap<&str, Vec<&Path>>,
        now: Instant,
    ) -> Result<Step> {
        let (known, bindings) = (&self.known, &self.bindings);
        let to_wwid = |n: &str| name_to_wwid(known, bindings, n);
        let found = rootdev::resolve(
            spec,
            luns,
            &to_wwid,
            &may_be_multipath,
            self.sys,
            &mut self.reader,
        )?;
        let (stacked, local_stack) = match found {
            Found::Multipath { wwid, part } => {
                log::info(&format!("root is on multipath LUN {wwid}"));
                self.root_at = Some((wwid.clone(), part));
                return Ok(Step::Assemble(vec![wwid]));
            }
            Found::Elsewhere(dev) if crate::sysfs::nvme::on_native_head(self.sys, &dev) => {
                log::notice(&format!(
                    "root is on {dev}, under native NVMe multipath: the kernel's, nothing to do"
                ));
                return Ok(Step::Done(Made::default()));
            }
            Found::Elsewhere(dev) => {
                log::notice(&format!(
                    "root is on {dev}, not a multipath disk: nothing to do"
                ));
                return Ok(Step::Done(Made::default()));
            }
            Found::NotYet {
                stacked,
                local_stack,
            } => (stacked, local_stack),
        };
        let candidates: Vec<&Path> = luns
            .iter()
            .filter(|(w, p)| may_be_multipath(w, p))
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        let settled_at = self.settled_at(&candidates);
        let foreign = rootdev::foreign(spec, &to_wwid);
        let what = || {
            if foreign {
                format!("root={spec} is not a multipath map name")
            } else {
                format!("root={spec} is on no disk read")
            }
        };
        if !stacked.is_empty() && (now >= settled_at || now >= self.deadline) {
            log::notice(&format!(
                "{}; LVM2/LUKS on multipath LUN(s) {}: assembling those (root lives on top)",
                what(),
                stacked.join(", ")
            ));
            return Ok(Step::Assemble(stacked));
        }
        // Not ours, or plausibly a local LVM/LUKS root: wait only while a
        // multipath LUN may still be on its way.
        if foreign || local_stack {
            if candidates.is_empty() && !(san_transport_up(self.sys) && now < settled_at) {
                log::notice(&format!(
                    "{}, and no multipath disk is here: nothing to do",
                    what()
                ));
                return Ok(Step::Done(Made::default()));
            }
            if !candidates.is_empty() && now >= settled_at {
                log::notice(&format!(
                    "{}, and no LVM2/LUKS on the multipath disks: nothing to do",
                    what()
                ));
                return Ok(Step::Done(Made::default()));
            }
            return Ok(Step::Wait(settled_at.min(self.deadline)));
        }
        if now >= self.deadline {
            return Err(Error::NotFound {
                what: format!("root ({spec}) on any disk"),
                secs: self.args.wait().as_secs(),
            });
        }
        Ok(Step::Wait(self.deadline))
    }

    /// Named LUNs: assembled once each has its expected paths, or has been
    /// quiet for its settle window, or at the deadline.
    fn step_wwids(
        &mut self,
        wwids: &[String],
        luns: &BTreeMap<&str, Vec<&Path>>,
        now: Instant,
    ) -> Result<Step> {
        let mut next = self.deadline;
        let mut ready = true;
        for w in wwids {
            let Some(paths) = luns.get(w.as_str()) else {
                ready = false;
                continue;
            };
            let expected = self.known.get(w).and_then(|m| m.paths);
            let enough = expected.is_some_and(|n| paths.len() as u32 >= n);
            let settled_at = self.settled_at(paths);
            if !enough && now < settled_at {
                ready = false;
                next = next.min(settled_at);
            }
        }
        if !ready && now < self.deadline {
            return Ok(Step::Wait(next));
        }
        let done = self.finish(luns, wwids);
        self.record_root_if_made(luns, wwids, &done);
        done.map(Step::Done)
    }

    /// Nothing named: every LUN with 2+ paths once all have been quiet.
    fn step_all(&mut self, luns: &BTreeMap<&str, Vec<&Path>>, now: Instant) -> Result<Step> {
        let all: Vec<&Path> = luns.values().flatten().copied().collect();
        let settled_at = self.settled_at(&all);
        if now < settled_at && now < self.deadline {
            return Ok(Step::Wait(settled_at));
        }
        let wwids: Vec<String> = luns
            .iter()
            .filter(|(_, p)| p.len() >= 2)
            .map(|(w, _)| w.to_string())
            .collect();
        if wwids.is_empty() {
            log::notice("no LUN with two or more paths: nothing to do");
            return Ok(Step::Done(Made::default()));
        }
        self.finish(luns, &wwids).map(Step::Done)
    }

    /// Where root= is among WWIDs named by the command line or files, and
    /// its record once root's own map is made (other LUNs missing or not).
    fn record_root_if_made(
        &mut self,
        luns: &BTreeMap<&str, Vec<&Path>>,
        wwids: &[String],
        done: &Result<Made>,
    ) {
        if self.root_at.is_none() {
            // Looked for after assembly, perhaps past the wait's deadline:
            // these reads get their own.
            self.reader.deadline = Instant::now() + rootdev::READ_MAX;
            if let Some(r) = &self.args.root {
                let spec = rootdev::parse_root(r);
                let assembled = |w: &str, _: &[&Path]| wwids.iter().any(|x| x == w);
                let (known, bindings) = (&self.known, &self.bindings);
                let to_wwid = |n: &str| name_to_wwid(known, bindings, n);
                if let Ok(Found::Multipath { wwid, part }) = rootdev::resolve(
                    &spec,
                    luns,
                    &to_wwid,
                    &assembled,
                    self.sys,
                    &mut self.reader,
                ) {
                    self.root_at = Some((wwid, part));
                }
            }
        }
        let Some((w, part)) = &self.root_at else {
            return;
        };
        let name = self.name_of(w).unwrap_or_else(|| w.clone());
        let made = match done {
            Ok(_) => true,
            // Another LUN failed: root's own map may still be there.
            Err(_) => self.map_exists(&name),
        };
        if made {
            record_root(self.dev_root, &self.opts.run_dir, &name, *part, &self.map);
        }
    }

    fn map_exists(&self, name: &str) -> bool {
        !self.map.dry_run && self.dev_root.join("mapper").join(name).exists()
            || crate::dm::Control::open(self.dev_root, crate::assemble::misc_devt(self.sys))
                .and_then(|c| crate::maps::view(&c, name))
                .is_ok_and(|v| v.is_some())
    }

    /// Assemble what is there of `wwids`; say what is missing or degraded.
    fn finish(&self, luns: &BTreeMap<&str, Vec<&Path>>, wwids: &[String]) -> Result<Made> {
        let mut missing = BTreeSet::new();
        let mut wants = Vec::new();
        for w in wwids {
            let Some(paths) = luns.get(w.as_str()) else {
                log::err(&format!(
                    "{w}: no path appeared within {} s",
                    self.args.wait().as_secs()
                ));
                missing.insert(w.clone());
                continue;
            };
            self.say_path_count(w, paths);
            wants.push(Want {
                wwid: w.clone(),
                name: self.name_of(w),
                required: true,
            });
        }
        let assembled = if wants.is_empty() {
            Ok(())
        } else {
            assemble::run(self.sys, self.dev_root, luns, &wants, &self.map)
        };
        let made = Made {
            queueing: !wants.is_empty() && self.map.policy.queue_if_no_path,
        };
        match missing.into_iter().next() {
            Some(w) => Err(Error::NotFound {
                what: format!("a path of WWID {w}"),
                secs: self.args.wait().as_secs(),
            }),
            None => assembled.map(|()| made),
        }
    }

    fn say_path_count(&self, w: &str, paths: &[&Path]) {
        let expected = self.known.get(w).and_then(|m| m.paths);
        if let ([p], None) = (paths, expected) {
            log::notice(&format!(
                "{w}: one path so far ({}, {}); assembled with it, later paths join the map",
                p.name,
                p.transport_word()
            ));
        }
        if let Some(n) = expected.filter(|&n| (paths.len() as u32) < n) {
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
}

/// SIGTERM and SIGINT, blocked for boot mode and read from a signalfd
/// while it waits: a unit stopped (its start timeout, a shutdown) ends the
/// wait with nothing made, and never interrupts an assembly.
struct StopSignals(nix::sys::signalfd::SignalFd);

impl StopSignals {
    fn block() -> Option<StopSignals> {
        use nix::sys::signal::{SigSet, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGINT);
        mask.thread_block().ok()?;
        SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .ok()
            .map(StopSignals)
    }
}

/// Sleep until `until`, a uevent or a stop signal (returned).
fn wait(
    listener: Option<&Listener>,
    stop: Option<&StopSignals>,
    until: Instant,
) -> Result<Option<i32>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let timeout = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(10));
    // Without uevents, sysfs is looked at four times a second.
    let timeout = match listener {
        Some(_) => timeout,
        None => timeout.min(Duration::from_millis(250)),
    };
    let mut fds: Vec<PollFd> = Vec::new();
    if let Some(s) = stop {
        fds.push(PollFd::new(s.0.as_fd(), PollFlags::POLLIN));
    }
    if let Some(l) = listener {
        fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
    }
    let ms = timeout.as_millis().min(60_000) as u16;
    let _ = poll(&mut fds, PollTimeout::from(ms));
    drop(fds);
    if let Some(s) = stop {
        if let Ok(Some(si)) = s.0.read_signal() {
            log::notice(&format!(
                "signal {} while waiting for paths: stopping, nothing made",
                si.ssi_signo
            ));
            return Ok(Some(si.ssi_signo as i32));
        }
    }
    // Any event may be a path; a rescan is cheap next to a boot.
    if let Some(l) = listener {
        l.wait(Duration::ZERO)?;
    }
    Ok(None)
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
    let written = crate::nodes::make_dirs(dir)
        .and_then(|()| std::fs::write(dir.join("root"), format!("{}\n", dev.display())));
    match written {
        Ok(()) => log::info(&format!("root device: {}", dev.display())),
        Err(e) => log::warn(&format!(
            "cannot record the root device in {}: {e}",
            dir.display()
        )),
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
