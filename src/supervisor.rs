//! The supervisor (`mpboot supervise`, running as `@mpboot`): one thread,
//! one `poll` loop that owns all state, keeping the multipath maps healthy
//! through early boot until the real system's multipathd takes over.
//!
//! Event sources: DM events (`DM_DEV_ARM_POLL` on the control fd), kernel
//! uevents (paths added, removed, ALUA state changes), SIGTERM/SIGINT (a
//! signalfd), and the path checker's timers (TEST UNIT READY over SG_IO).

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::assemble::misc_devt;
use crate::dm::{Control, DevId};
use crate::error::{chain, Result};
use crate::log;
use crate::maps::{self, MapView};
use crate::nodes::{NodePolicy, Nodes};
use crate::sgio::{self, Tur};
use crate::sysfs::{scsi, Sysfs};
use crate::table::GroupState;
use crate::topology::{self, Policy};
use crate::uevent::Listener;

#[derive(Debug, Clone)]
pub struct Options {
    /// Check interval for paths the kernel has failed.
    pub failed_interval: Duration,
    /// Check interval for healthy paths.
    pub ok_interval: Duration,
    /// Checks with every path down before queueing stops; None: forever.
    pub no_path_retry: Option<u32>,
    pub failback: bool,
    pub policy: Policy,
    /// Where the state file for `mpboot status` goes.
    pub run_dir: PathBuf,
}

const MULTIPATHD_SOCKET: &[u8] = b"/org/kernel/linux/storage/multipathd";

/// Is the full system's multipathd answering on its control socket?
pub fn multipathd_running() -> bool {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let Ok(addr) = UnixAddr::new_abstract(MULTIPATHD_SOCKET) else {
        return false;
    };
    let Ok(fd) = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).is_ok()
}

/// What we know of one path of one map.
#[derive(Debug)]
struct PathState {
    name: String,
    next_check: Instant,
}

struct Map {
    name: String,
    /// Paths by maj:min, as the table names them.
    paths: BTreeMap<String, PathState>,
    all_down_checks: u32,
    queueing_off: bool,
}

struct Supervisor<'a> {
    sys: &'a Sysfs,
    dev_root: &'a FsPath,
    ctl: Control,
    nodes: Nodes,
    opts: Options,
    maps: BTreeMap<String, Map>,
}

impl Supervisor<'_> {
    fn view(&self, name: &str) -> Option<MapView> {
        maps::view(&self.ctl, name).ok().flatten()
    }

    /// Pick up every multipath map and its paths.
    fn refresh(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut seen = Vec::new();
        for (name, _) in self.ctl.list_devices()? {
            let Some(v) = self.view(&name) else { continue };
            seen.push(name.clone());
            let m = self.maps.entry(name.clone()).or_insert_with(|| {
                log::info(&format!("supervising {name}"));
                Map {
                    name: name.clone(),
                    paths: BTreeMap::new(),
                    all_down_checks: 0,
                    queueing_off: false,
                }
            });
            let devs = v.table.devices();
            m.paths.retain(|d, _| devs.contains(d));
            for d in devs {
                m.paths.entry(d.clone()).or_insert_with(|| PathState {
                    name: self
                        .sys
                        .link_name(&format!("dev/block/{d}"))
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| d.clone()),
                    next_check: now,
                });
            }
        }
        self.maps.retain(|n, _| seen.contains(n));
        Ok(())
    }

    /// Make each map's table match sysfs: paths added or removed, ALUA
    /// groups changed. `ensure` leaves a map alone when nothing changed.
    fn reconcile(&mut self) -> Result<()> {
        let scan = scsi::scan(self.sys)?;
        let luns = topology::by_wwid(&scan.paths);
        for name in self.maps.keys().cloned().collect::<Vec<_>>() {
            let Some(v) = self.view(&name) else { continue };
            let Some(wwid) = v.info.uuid.strip_prefix(maps::UUID_PREFIX) else {
                continue;
            };
            let Some(paths) = luns.get(wwid) else {
                continue;
            };
            let mut policy = self.opts.policy;
            policy.queue_if_no_path = v.table.features.iter().any(|f| f == "queue_if_no_path");
            let Some(mut spec) = topology::map_spec(wwid, paths, policy, &v.table.devices()) else {
                continue;
            };
            spec.name = name.clone();
            // Keep what the map has for selector: only paths and groups follow sysfs.
            if let Some(g) = v.table.groups.first() {
                for sg in &mut spec.table.groups {
                    sg.selector = g.selector.clone();
                }
            }
            let before = v.table.groups_devices();
            crate::assemble::drop_path_partitions(self.sys, self.dev_root, paths);
            match maps::apply(&self.ctl, &self.nodes, &spec) {
                Ok(maps::Outcome::Reloaded(_)) => {
                    let after = spec.table.groups_devices();
                    log::notice(&format!("{name}: reloaded, groups {before:?} -> {after:?}"));
                }
                Ok(_) => {}
                Err(e) => log::err(&format!("{name}: reload failed: {}", chain(&e))),
            }
        }
        self.refresh()
    }

    /// Check the paths that are due; fail, reinstate, fail back.
    fn check_paths(&mut self) {
        let now = Instant::now();
        for name in self.maps.keys().cloned().collect::<Vec<_>>() {
            // Nothing due on this map: no ioctl for it this round.
            let due = self
                .maps
                .get(&name)
                .is_some_and(|m| m.paths.values().any(|p| p.next_check <= now));
            if !due {
                continue;
            }
            let Some(v) = self.view(&name) else { continue };
            let dm_active: BTreeMap<&str, bool> = v
                .status
                .groups
                .iter()
                .flat_map(|g| g.paths.iter().map(|p| (p.dev.as_str(), p.active)))
                .collect();
            let Some(m) = self.maps.get_mut(&name) else {
                continue;
            };
            let mut acted = false;
            for (dev, p) in m.paths.iter_mut() {
                if p.next_check > now {
                    continue;
                }
                let active = dm_active.get(dev.as_str()).copied().unwrap_or(false);
                let state = self
                    .sys
                    .read_attr(&format!("block/{}/device/state", p.name))
                    .ok()
                    .flatten();
                let tur = match state_verdict(state.as_deref()) {
                    StateVerdict::Check => sgio::check_path(&self.dev_root.join(&p.name), 3000),
                    StateVerdict::Down => Tur::Down,
                    StateVerdict::Pending => {
                        p.next_check = now + self.opts.failed_interval;
                        continue;
                    }
                };
                let up = tur != Tur::Down;
                acted |= up != active;
                if up && !active {
                    match self.ctl.target_msg(
                        DevId::Name(&name),
                        0,
                        &format!("reinstate_path {dev}"),
                    ) {
                        Ok(_) => {
                            log::notice(&format!("{name}: path {} ({dev}) reinstated", p.name))
                        }
                        Err(e) => log::warn(&format!("{name}: reinstate {dev}: {}", chain(&e))),
                    }
                } else if !up && active {
                    match self
                        .ctl
                        .target_msg(DevId::Name(&name), 0, &format!("fail_path {dev}"))
                    {
                        Ok(_) => log::notice(&format!(
                            "{name}: path {} ({dev}) failed by checker",
                            p.name
                        )),
                        Err(e) => log::warn(&format!("{name}: fail {dev}: {}", chain(&e))),
                    }
                }
                let interval = if up {
                    self.opts.ok_interval
                } else {
                    self.opts.failed_interval
                };
                p.next_check = now + interval;
            }
            // The status after what the checker did, read once for both.
            let v = if acted {
                match self.view(&name) {
                    Some(v) => v,
                    None => continue,
                }
            } else {
                v
            };
            self.no_path_policy(&name, &v);
            if self.opts.failback {
                self.failback(&name, &v);
            }
        }
    }

    /// Queueing with no path left: forever, or `no_path_retry` checks.
    fn no_path_policy(&mut self, name: &str, v: &MapView) {
        let any_active = v.status.first_usable_group().is_some();
        let Some(m) = self.maps.get_mut(name) else {
            return;
        };
        if any_active {
            if m.queueing_off {
                let _ = self
                    .ctl
                    .target_msg(DevId::Name(name), 0, "queue_if_no_path");
                log::notice(&format!("{name}: a path is back, queueing restored"));
                m.queueing_off = false;
            }
            m.all_down_checks = 0;
            return;
        }
        m.all_down_checks += 1;
        if m.all_down_checks == 1 {
            log::warn(&format!(
                "{name}: all paths down; I/O is {}",
                match self.opts.no_path_retry {
                    None => "queued until one returns".to_string(),
                    Some(n) => format!("queued for {n} more checks"),
                }
            ));
        }
        if let Some(n) = self.opts.no_path_retry {
            if m.all_down_checks > n && !m.queueing_off {
                let _ = self.ctl.target_msg(DevId::Name(name), 0, "fail_if_no_path");
                log::err(&format!(
                    "{name}: no path for {n} checks: failing queued I/O"
                ));
                m.queueing_off = true;
            }
        }
    }

    /// Back to the best group (the first with a usable path) when I/O runs
    /// on a worse one.
    fn failback(&mut self, name: &str, v: &MapView) {
        let best = v.status.first_usable_group();
        let current = v
            .status
            .groups
            .iter()
            .position(|g| g.state == GroupState::Active);
        if let (Some(b), Some(c)) = (best, current) {
            if b < c {
                match self
                    .ctl
                    .target_msg(DevId::Name(name), 0, &format!("switch_group {}", b + 1))
                {
                    Ok(_) => log::notice(&format!(
                        "{name}: failed back to group {} from {}",
                        b + 1,
                        c + 1
                    )),
                    Err(e) => log::warn(&format!("{name}: switch_group: {}", chain(&e))),
                }
            }
        }
    }

    fn next_due(&self) -> Instant {
        self.maps
            .values()
            .flat_map(|m| m.paths.values().map(|p| p.next_check))
            .min()
            .unwrap_or_else(|| Instant::now() + self.opts.ok_interval)
    }

    fn write_state(&self) {
        let mut s = format!("pid {}\n", std::process::id());
        for m in self.maps.values() {
            let Some(v) = self.view(&m.name) else {
                continue;
            };
            s.push_str(&format!("map {} {}\n", m.name, v.info.devt));
            for (i, g) in v.status.groups.iter().enumerate() {
                for p in &g.paths {
                    let n = m.paths.get(&p.dev).map_or("?", |x| x.name.as_str());
                    let st = if p.active { "active" } else { "failed" };
                    s.push_str(&format!("  group {} {n} {} {st}\n", i + 1, p.dev));
                }
            }
        }
        let _ = std::fs::create_dir_all(&self.opts.run_dir);
        let tmp = self.opts.run_dir.join("state.tmp");
        if std::fs::write(&tmp, s).is_ok() {
            let _ = std::fs::rename(tmp, self.opts.run_dir.join("state"));
        }
    }
}

/// What a path's sysfs `state` says before any command is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateVerdict {
    /// Running: ask the device.
    Check,
    /// Offline, transport-offline, being deleted...: fail it.
    Down,
    /// Keep whatever state the path has and look again soon: `blocked`
    /// and `quiesce` (a transport recovering, as multipathd treats them),
    /// and no state at all, which in an initramfs means our view of sysfs
    /// is stale (a switch_root not followed yet); a disk that is really
    /// gone leaves through its remove uevent and the reconcile.
    Pending,
}

fn state_verdict(state: Option<&str>) -> StateVerdict {
    match state {
        Some("running") => StateVerdict::Check,
        Some("blocked" | "quiesce") | None => StateVerdict::Pending,
        Some(_) => StateVerdict::Down,
    }
}

/// Has the system switched root? Then follow it; true when we did. A
/// failure to follow is logged once and following stops.
fn follow_root(follower: &mut Option<crate::switchroot::RootFollower>) -> bool {
    match follower.as_ref().and_then(|f| f.follow()) {
        None => false,
        Some(Ok(())) => {
            log::notice("the system switched root: following it");
            true
        }
        Some(Err(e)) => {
            log::warn(&format!("the system switched root, cannot follow: {e}"));
            *follower = None;
            false
        }
    }
}

pub fn run(sys: &Sysfs, dev_root: &FsPath, opts: Options) -> Result<()> {
    log::to_kmsg(dev_root);
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    let listener = Listener::open()?;
    // SIGTERM and SIGINT arrive through a signalfd in the same loop.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    let _ = mask.thread_block();
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(
        |source| crate::error::Error::Ioctl {
            cmd: "signalfd",
            target: "SIGTERM".into(),
            source,
        },
    )?;
    let nodes = Nodes::new(dev_root, FsPath::new("/run"), NodePolicy::Auto);
    let mut s = Supervisor {
        sys,
        dev_root,
        ctl,
        nodes,
        opts,
        maps: BTreeMap::new(),
    };
    s.refresh()?;
    log::notice(&format!(
        "supervisor started, pid {}, {} map(s)",
        std::process::id(),
        s.maps.len()
    ));
    let dm_poll = s.ctl.arm_poll().is_ok();
    if !dm_poll {
        log::warn("DM_DEV_ARM_POLL not supported: reading map status on the checker's timer");
    }
    s.write_state();
    let mut next_reconcile = Instant::now() + s.opts.ok_interval;
    let state_file = s.opts.run_dir.join("state");
    let mut follower = crate::switchroot::RootFollower::new(FsPath::new("/proc"));
    loop {
        if follow_root(&mut follower) {
            next_reconcile = Instant::now();
        }
        if multipathd_running() {
            log::notice("multipathd is running: stepping aside, maps left as they are");
            let _ = std::fs::remove_file(&state_file);
            return Ok(());
        }
        // Wake for the next check, and at least every second to look for multipathd.
        let now = Instant::now();
        let due = s
            .next_due()
            .min(next_reconcile)
            .min(now + Duration::from_secs(1));
        let ms = due.saturating_duration_since(now).as_millis().min(60_000) as u16;
        let (dm_ev, uev, sig) = {
            let mut fds = [
                PollFd::new(s.ctl.as_fd(), PollFlags::POLLIN),
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => log::warn(&format!("poll: {e}")),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN));
            (ready(&fds[0]), ready(&fds[1]), ready(&fds[2]))
        };
        if sig {
            if let Ok(Some(si)) = sfd.read_signal() {
                log::notice(&format!(
                    "signal {}: exiting, maps left as they are",
                    si.ssi_signo
                ));
            }
            let _ = std::fs::remove_file(&state_file);
            return Ok(());
        }
        // The root may have switched while we slept: follow it before
        // anything reads sysfs or /dev, or every path would look gone.
        if follow_root(&mut follower) {
            next_reconcile = Instant::now();
        }
        let mut force = false;
        if dm_ev {
            // Some map changed (a path failed): look at all of them now.
            let _ = s.ctl.arm_poll();
            force = true;
        }
        if uev {
            let events = listener.wait(Duration::ZERO)?;
            if events.iter().any(|e| {
                e.action == "rescan"
                    || (e.subsystem == "block"
                        && e.devname.as_deref().is_some_and(|n| n.starts_with("sd")))
                    || e.subsystem == "scsi"
            }) {
                if let Err(e) = s.reconcile() {
                    log::warn(&format!("reconcile: {}", chain(&e)));
                }
                force = true;
            }
        }
        if Instant::now() >= next_reconcile {
            if let Err(e) = s.reconcile() {
                log::warn(&format!("reconcile: {}", chain(&e)));
            }
            next_reconcile = Instant::now() + s.opts.ok_interval;
        }
        if force {
            // Kernel-failed paths are checked at the fast interval from now.
            let now = Instant::now();
            for m in s.maps.values_mut() {
                for p in m.paths.values_mut() {
                    p.next_check = p.next_check.min(now + s.opts.failed_interval);
                }
            }
        }
        s.check_paths();
        s.write_state();
    }
}

#[cfg(test)]
mod tests {
    use super::{state_verdict, StateVerdict::*};

    /// multipathd's discovery.c path_sysfs_state, but for a missing state.
    #[test]
    fn sysfs_states() {
        let cases = [
            (Some("running"), Check),
            (Some("blocked"), Pending),
            (Some("quiesce"), Pending),
            (None, Pending),
            (Some("offline"), Down),
            (Some("transport-offline"), Down),
            (Some("created-blocked"), Down),
            (Some("cancel"), Down),
            (Some("deleted"), Down),
            (Some(""), Down),
        ];
        for (state, want) in cases {
            assert_eq!(state_verdict(state), want, "{state:?}");
        }
    }
}
