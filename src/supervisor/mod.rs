//! The supervisor (`mpboot supervise`, running as `@mpboot`): one thread,
//! one `poll` loop that owns all state, keeping the multipath maps healthy
//! through early boot until the real system's multipathd takes over.
//!
//! Event sources: DM events (`DM_DEV_ARM_POLL` on the control fd), kernel
//! uevents (paths added, removed, ALUA state changes), SIGTERM/SIGINT (a
//! signalfd), path checks in flight (their sg fds) and the timers of the
//! checks and the reconcile. Nothing in the loop waits on a device.
//!
//! - `state`: the maps, their paths, refresh from the kernel, the status
//!   file;
//! - `reconcile`: the maps follow sysfs and the arrays;
//! - `checker`: path checks, sent and collected without blocking;
//! - `policy`: queueing, failback, what is left behind on exit.

mod checker;
mod policy;
mod reconcile;
mod state;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::assemble::misc_devt;
use crate::dm::Control;
use crate::error::{chain, Result};
use crate::log;
use crate::nodes::{NodePolicy, Nodes};
use crate::switchroot::RootFollower;
use crate::sysfs::Sysfs;
use crate::topology::Policy;
use crate::uevent::Listener;

use state::Supervisor;
pub use state::{boottime_ms, view_age_ms};

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
    /// Who makes `/dev/mapper` nodes for maps the supervisor changes.
    pub nodes: NodePolicy,
    /// Where the state file for `mpboot status` goes.
    pub run_dir: PathBuf,
    /// On exit with nobody taking over, leave queueing on.
    pub queue_without_daemon: bool,
    /// Transport timeouts for every path of a supervised map, new ones too.
    pub fast_fail: crate::transport::FastFail,
}

const MULTIPATHD_SOCKET: &[u8] = b"/org/kernel/linux/storage/multipathd";

/// Is the full system's multipathd answering on its control socket? Only
/// a root process counts: anyone may bind the abstract name, and the
/// supervisor would step aside for good.
pub fn multipathd_running() -> bool {
    use nix::sys::socket::{SockType, UnixAddr};
    UnixAddr::new_abstract(MULTIPATHD_SOCKET)
        .is_ok_and(|a| crate::uevent::root_daemon_answers(&a, SockType::Stream))
}

/// Has the system switched root? Then follow it; true when we did. A
/// failure to follow is logged once and following stops.
fn follow_root(follower: &mut Option<RootFollower>) -> bool {
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

/// Each path check holds an fd while in flight: allow as many as the hard
/// limit lets us (256 LUNs × 4 paths pass the usual soft limit of 1024).
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// What a signal asks of the supervisor.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// Stop, leaving the maps as `leave` says.
    Stop,
    /// A hang-up (its terminal went away, or an admin's `kill -HUP`): not
    /// a reason to stop, whose default action would kill us with queueing
    /// left on; look at every path again, as multipathd reconfigures.
    LookAgain,
}

fn asked(signo: u32) -> Asked {
    if signo == Signal::SIGHUP as u32 {
        Asked::LookAgain
    } else {
        Asked::Stop
    }
}

fn signal_fd() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGHUP);
    let _ = mask.thread_block();
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(|source| {
        crate::error::Error::Ioctl {
            cmd: "signalfd",
            target: "SIGTERM".into(),
            source,
        }
    })
}

/// What woke the loop.
struct Woken {
    dm: bool,
    uevent: bool,
    signal: bool,
    /// Checks to look at: (map, path, hung up with no answer to read).
    checks: Vec<(String, String, bool)>,
}

/// Sleep in `poll` until an event, an answer or `until`. The DM control
/// fd is left out where it cannot be armed (kernels before 4.13): it
/// would poll readable at once, for ever.
fn wait(s: &Supervisor, listener: &Listener, sfd: &SignalFd, dm: bool, until: Instant) -> Woken {
    let ms = until
        .saturating_duration_since(Instant::now())
        .as_millis()
        .min(60_000) as u16;
    let checks = s.check_fds();
    let mut fds = vec![
        PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
    ];
    if dm {
        fds.push(PollFd::new(s.ctl.as_fd(), PollFlags::POLLIN));
    }
    let first_check = fds.len();
    fds.extend(
        checks
            .iter()
            .map(|(_, _, fd)| PollFd::new(*fd, PollFlags::POLLIN)),
    );
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => log::warn(&format!("poll: {e}")),
    }
    let ready = |f: &PollFd| crate::sgio::woke(f.revents()) == Some(false);
    Woken {
        uevent: ready(&fds[0]),
        signal: ready(&fds[1]),
        dm: dm && ready(&fds[2]),
        checks: checks
            .iter()
            .zip(&fds[first_check..])
            .filter_map(|((m, d, _), f)| {
                Some((m.clone(), d.clone(), crate::sgio::woke(f.revents())?))
            })
            .collect(),
    }
}

pub fn run(sys: &Sysfs, dev_root: &FsPath, opts: Options) -> Result<()> {
    log::to_kmsg(dev_root);
    raise_fd_limit();
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    let listener = Listener::open()?;
    let sfd = signal_fd()?;
    let nodes = Nodes::new(dev_root, FsPath::new("/run"), opts.nodes);
    let mut s = Supervisor {
        sys,
        dev_root,
        ctl,
        nodes,
        opts,
        maps: BTreeMap::new(),
        views: Default::default(),
        state_written: None,
        said: Default::default(),
        dm_devices: Vec::new(),
        ticks: 0,
        others: Default::default(),
    };
    s.refresh()?;
    // The maps were just assembled from sysfs: the periodic look only
    // needs to reconcile one once what its paths say changes.
    s.baseline();
    log::notice(&format!(
        "supervisor started, pid {}, {} map(s)",
        std::process::id(),
        s.maps.len()
    ));
    let dm_events = s.ctl.arm_poll().is_ok();
    if !dm_events {
        log::warn("DM_DEV_ARM_POLL not supported: reading map status on the checker's timer");
    }
    s.write_state();
    let state_file = s.opts.run_dir.join("state");
    let mut follower = RootFollower::new(FsPath::new("/proc"));
    let mut next_reconcile = Instant::now() + s.opts.ok_interval;
    loop {
        if follow_root(&mut follower) {
            next_reconcile = Instant::now();
        }
        if multipathd_running() {
            log::notice("multipathd is running: stepping aside, maps left as they are");
            let _ = std::fs::remove_file(&state_file);
            return Ok(());
        }
        s.start_checks();
        // Wake for the next check or deadline, and at least every second
        // to look for multipathd.
        let now = Instant::now();
        let mut until = s
            .next_due()
            .min(next_reconcile)
            .min(now + Duration::from_secs(1));
        if let Some(d) = s.next_deadline() {
            until = until.min(d);
        }
        let woken = wait(&s, &listener, &sfd, dm_events, until);
        if woken.signal {
            let signo = sfd
                .read_signal()
                .ok()
                .flatten()
                .map_or(0, |si| si.ssi_signo);
            if asked(signo) == Asked::Stop {
                log::notice(&format!("signal {signo}: exiting"));
                return stop(&mut s, &state_file, Ok(()));
            }
            log::notice(&format!("signal {signo}: looking at every path again"));
            if let Err(e) = s.reconcile_asking(true) {
                log::warn(&format!("reconcile: {}", chain(&e)));
            }
        }
        // The root may have switched while we slept: follow it before
        // anything reads sysfs or /dev, or every path would look gone.
        if follow_root(&mut follower) {
            next_reconcile = Instant::now();
        }
        for (map, dev, hup) in &woken.checks {
            s.collect(map, dev, *hup);
        }
        s.expire(Instant::now());
        if woken.uevent {
            // A broken socket would poll readable again at once, for ever.
            if let Err(e) = handle_uevents(&mut s, &listener) {
                log::err(&format!("kernel uevents: {}: exiting", chain(&e)));
                return stop(&mut s, &state_file, Err(e));
            }
        }
        if woken.dm {
            // Some map changed (a path failed): look at its paths soon.
            let _ = s.ctl.arm_poll();
            let soon = Instant::now() + s.opts.failed_interval;
            if let Err(e) = s.refresh_if_new() {
                log::warn(&format!("DM devices: {}", chain(&e)));
            }
            for name in s.maps_with_events() {
                if let Some(m) = s.maps.get_mut(&name) {
                    m.check_soon(soon);
                }
            }
        }
        if Instant::now() >= next_reconcile {
            if let Err(e) = s.periodic() {
                log::warn(&format!("reconcile: {}", chain(&e)));
            }
            next_reconcile = Instant::now() + s.opts.ok_interval;
        }
        s.write_state();
    }
}

/// Stop: leave the maps as the options say, remove the state file.
fn stop(s: &mut Supervisor, state_file: &FsPath, why: Result<()>) -> Result<()> {
    s.leave();
    let _ = std::fs::remove_file(state_file);
    why
}

/// Path uevents change the maps: reconcile the maps of the disks they
/// name, now (everything when events were lost), and check those maps'
/// paths soon.
fn handle_uevents(s: &mut Supervisor, listener: &Listener) -> Result<()> {
    let events = listener.wait(Duration::ZERO)?;
    let touched = match disks_named(s.sys, &events) {
        Named::Nothing => return Ok(()),
        Named::Disks(disks) => s.reconcile_disks(&disks),
        Named::Lost => s.reconcile().map(|()| s.maps.keys().cloned().collect()),
    };
    match touched {
        Ok(names) => {
            let soon = Instant::now() + s.opts.failed_interval;
            for n in names {
                if let Some(m) = s.maps.get_mut(&n) {
                    m.check_soon(soon);
                }
            }
        }
        Err(e) => log::warn(&format!("reconcile: {}", chain(&e))),
    }
    Ok(())
}

/// What a batch of uevents says about SCSI disks.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    Nothing,
    /// These disks came, went or changed (a partition's event names its
    /// disk; a SCSI device's change, such as an ALUA state change, the
    /// disk on it).
    Disks(Vec<String>),
    /// Events were lost (the socket's buffer overran): look at everything.
    Lost,
}

fn disks_named(sys: &Sysfs, events: &[crate::uevent::Uevent]) -> Named {
    let mut disks: Vec<String> = Vec::new();
    for e in events {
        let disk = match (e.subsystem.as_str(), e.devname.as_deref()) {
            _ if e.action == "rescan" => return Named::Lost,
            ("block", Some(n)) if crate::sysfs::may_be_path(n) => {
                if e.devtype.as_deref() == Some("partition") {
                    // `…/sdd/sdd1`, `…/nvme2n1/nvme2n1p1`: its disk's folder.
                    match e.devpath.rsplit('/').nth(1) {
                        Some(d) => d.to_string(),
                        None => continue,
                    }
                } else {
                    n.to_string()
                }
            }
            // A SCSI device's add and remove come with their disk's own.
            ("scsi", _) if e.action == "change" => {
                match sys.list(&format!("{}/block", e.devpath.trim_start_matches('/'))) {
                    Ok(names) => {
                        disks.extend(names);
                        continue;
                    }
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        if !disks.contains(&disk) {
            disks.push(disk);
        }
    }
    if disks.is_empty() {
        Named::Nothing
    } else {
        Named::Disks(disks)
    }
}

#[cfg(test)]
mod tests {
    use super::{asked, disks_named, Asked, Named};
    use crate::uevent::Uevent;
    use nix::sys::signal::Signal;

    fn ev(
        action: &str,
        subsystem: &str,
        devpath: &str,
        devname: Option<&str>,
        devtype: &str,
    ) -> Uevent {
        Uevent {
            action: action.into(),
            devpath: devpath.into(),
            subsystem: subsystem.into(),
            devname: devname.map(str::to_string),
            devtype: Some(devtype.to_string()),
        }
    }

    /// A uevent names the disks whose maps are looked at again, and only
    /// those: at 1024 paths a full scan per event costs seconds.
    #[test]
    fn uevents_name_their_disks() {
        let t = crate::sysfs::scsi::tests::Tree::new("uevnames");
        t.file("devices/platform/host/2:0:0:0/block/sde/dev", b"8:64\n");
        let sys = t.sysfs();
        let events = [
            ev("add", "block", "/devices/x/block/sdc", Some("sdc"), "disk"),
            ev(
                "change",
                "block",
                "/devices/x/block/sdd/sdd1",
                Some("sdd1"),
                "partition",
            ),
            ev(
                "remove",
                "block",
                "/devices/x/block/sdc",
                Some("sdc"),
                "disk",
            ),
            ev(
                "change",
                "scsi",
                "/devices/platform/host/2:0:0:0",
                None,
                "scsi_device",
            ),
            ev(
                "remove",
                "scsi",
                "/devices/platform/host/3:0:0:0",
                None,
                "scsi_device",
            ),
            ev(
                "change",
                "block",
                "/devices/virtual/block/dm-3",
                Some("dm-3"),
                "disk",
            ),
            ev(
                "add",
                "block",
                "/devices/virtual/nvme-fabrics/ctl/nvme2/nvme2n1/nvme2n1p1",
                Some("nvme2n1p1"),
                "partition",
            ),
        ];
        let want = ["sdc", "sdd", "sde", "nvme2n1"].map(String::from).to_vec();
        assert_eq!(disks_named(&sys, &events), Named::Disks(want));
        assert_eq!(
            disks_named(&sys, &events[3..5]),
            Named::Disks(vec!["sde".into()])
        );
        assert_eq!(disks_named(&sys, &events[4..6]), Named::Nothing);
        let lost = [Uevent {
            action: "rescan".into(),
            ..Uevent::default()
        }];
        assert_eq!(disks_named(&sys, &lost), Named::Lost);
    }

    /// A hang-up is no reason to stop (its default action killed the
    /// supervisor with queueing left on); SIGTERM and SIGINT are.
    #[test]
    fn a_hang_up_does_not_stop_it() {
        assert_eq!(asked(Signal::SIGHUP as u32), Asked::LookAgain);
        assert_eq!(asked(Signal::SIGTERM as u32), Asked::Stop);
        assert_eq!(asked(Signal::SIGINT as u32), Asked::Stop);
        let mask = super::signal_fd().map(|_| nix::sys::signal::SigSet::thread_get_mask().unwrap());
        assert!(
            mask.unwrap().contains(Signal::SIGHUP),
            "SIGHUP is read, not delivered"
        );
    }
}
