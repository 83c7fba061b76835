//! The path checker. Checks never block the loop: TEST UNIT READY goes
//! out through the sg driver's asynchronous interface on the path's
//! `/dev/sgN`, or without sg through SG_IO on the disk's node in a helper
//! process (`sgio::Route`); either way an fd joins the loop's `poll`; the loop owns each
//! check's deadline (the device's own command timeout, `device/timeout`,
//! as multipathd's checker_timeout). A path with a check in flight is
//! pending: neither checked again nor failed before its deadline. Past
//! it, the path is failed and its command left to the kernel; no other
//! is sent until that one returns, so a hung path holds one command, not
//! a pile. Answers are judged as multipathd judges them (sysfs state
//! first, then the TUR outcome; see `state_verdict` and `sgio::classify`).

use std::os::fd::BorrowedFd;
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::dm::DevId;
use crate::error::chain;
use crate::log;
use nix::errno::Errno;

use crate::sgio::{self, Route, Tur};
use crate::sysfs::Sysfs;

use super::state::{PathState, Supervisor};

/// What a path's sysfs `state` says before any command is sent: the SCSI
/// device's, or the NVMe controller's (`block/X/device` is the controller
/// for an NVMe namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateVerdict {
    /// Running: ask the device.
    Check,
    /// An NVMe controller `live`: up, with no command sent, as
    /// multipath-tools' checker `none` for NVMe judges it.
    Up,
    /// Offline, transport-offline, being deleted...: fail it.
    Down,
    /// Keep whatever state the path has and look again soon: `blocked`
    /// and `quiesce` (a transport recovering, as multipathd treats them),
    /// and no state at all, which in an initramfs means our view of sysfs
    /// is stale (a switch_root not followed yet); a disk that is really
    /// gone leaves through its remove uevent and the reconcile.
    /// NVMe: `new` and `deleting` (a controller coming or going), as
    /// multipath-tools' path_offline has them.
    Pending,
}

pub fn state_verdict(state: Option<&str>) -> StateVerdict {
    match state {
        Some("running") => StateVerdict::Check,
        Some("live") => StateVerdict::Up,
        Some("blocked" | "quiesce" | "new" | "deleting" | "deleting (no IO)") | None => {
            StateVerdict::Pending
        }
        // SCSI offline, transport-offline...; NVMe resetting, connecting, dead.
        Some(_) => StateVerdict::Down,
    }
}

/// Most checks in flight at once: bounds open fds and kernel commands.
/// More due paths wait for the next turn of the loop.
const MAX_IN_FLIGHT: usize = 256;
/// How long a due path waits for a place among those in flight.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

static HELPERS_SAID: AtomicBool = AtomicBool::new(false);

/// Send a check to `p`. `Ok(None)`: in flight, its answer comes through
/// `poll`. `Ok(Some)`: answered at once, because the command could not be
/// sent. `Err`: not sent for want of something of ours (fds, helper
/// processes), which says nothing of the path: ask again soon.
fn submit(
    sys: &Sysfs,
    dev_root: &FsPath,
    p: &mut PathState,
    now: Instant,
) -> Result<Option<Tur>, Errno> {
    let timeout = sgio::command_timeout(sys, &p.name);
    let ms = timeout.as_millis().min(u128::from(u32::MAX)) as u32;
    // An sg node, once found, is kept; without one (no `sg` module yet),
    // look again at every check, and meanwhile use the disk's node.
    let route = match &p.sg {
        Some(r) => r.clone(),
        None => {
            let r = Route::of(sys, dev_root, &p.name, true);
            let handler = sys.read_attr(&format!("block/{}/device/dh_state", p.name));
            p.passive = sgio::passive_ascq(handler.ok().flatten().as_deref());
            match &r {
                Route::Sg(_) => p.sg = Some(r.clone()),
                Route::Disk(_) if !HELPERS_SAID.swap(true, Ordering::Relaxed) => {
                    log::notice(&format!(
                        "{}: no sg device (the sg module is not loaded): path checks run \
                         on the disks' own nodes, in helper processes",
                        p.name
                    ))
                }
                Route::Disk(_) => {}
            }
            r
        }
    };
    match route
        .open(0)
        .and_then(|mut a| a.submit(&sgio::TUR, ms).map(|()| a))
    {
        Ok(a) => {
            p.check = Some(a);
            p.deadline = now + timeout;
            Ok(None)
        }
        Err(e) if sgio::ours(e) => {
            log::detail(&format!("{}: check not sent: {e}", p.name));
            Err(e)
        }
        Err(e) => {
            log::info(&format!(
                "{}: cannot send a check on {}: {e}",
                p.name,
                route.node().display()
            ));
            Ok(Some(Tur::Down))
        }
    }
}

impl Supervisor<'_> {
    fn in_flight(&self) -> usize {
        self.maps
            .values()
            .flat_map(|m| m.paths.values())
            .filter(|p| p.check.is_some())
            .count()
    }

    /// Start the checks that are due. Paths judged without a command
    /// (sysfs state, a stalled check, no sg device) are judged at once.
    pub fn start_checks(&mut self) {
        let now = Instant::now();
        let mut budget = MAX_IN_FLIGHT.saturating_sub(self.in_flight());
        let mut answers = Vec::new();
        for (name, m) in self.maps.iter_mut() {
            for (dev, p) in m.paths.iter_mut() {
                if p.next_check > now || m.round.contains(dev) {
                    continue;
                }
                if p.check.is_some() {
                    // Stalled and still in the kernel: no second command.
                    m.round.insert(dev.clone());
                    answers.push((name.clone(), dev.clone(), Tur::Down));
                    continue;
                }
                let state = self
                    .sys
                    .read_attr(&format!("block/{}/device/state", p.name))
                    .ok()
                    .flatten();
                let answer = match state_verdict(state.as_deref()) {
                    StateVerdict::Pending => {
                        p.next_check = now + self.opts.failed_interval;
                        continue;
                    }
                    StateVerdict::Down => Some(Tur::Down),
                    StateVerdict::Up => Some(Tur::Up),
                    StateVerdict::Check if budget == 0 => {
                        // Sent when an answer frees a place; until then not
                        // due, or the loop would not sleep.
                        p.next_check = now + BUDGET_WAIT;
                        continue;
                    }
                    StateVerdict::Check => {
                        budget -= 1;
                        match submit(self.sys, self.dev_root, p, now) {
                            Ok(answer) => answer,
                            Err(_) => {
                                p.next_check = now + BUDGET_WAIT;
                                continue;
                            }
                        }
                    }
                };
                m.round.insert(dev.clone());
                if let Some(t) = answer {
                    answers.push((name.clone(), dev.clone(), t));
                }
            }
        }
        for (name, dev, t) in answers {
            self.judge(&name, &dev, t);
        }
    }

    /// The fds of the checks in flight, for `poll`, with their map and path.
    pub fn check_fds(&self) -> Vec<(String, String, BorrowedFd<'_>)> {
        let mut out = Vec::new();
        for (name, m) in &self.maps {
            for (dev, p) in &m.paths {
                if let Some(c) = &p.check {
                    out.push((name.clone(), dev.clone(), c.fd()));
                }
            }
        }
        out
    }

    /// When the loop must wake for a check's deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.maps
            .values()
            .flat_map(|m| m.paths.values())
            .filter(|p| p.check.is_some() && !p.stalled)
            .map(|p| p.deadline)
            .min()
    }

    /// Collect the answer of a check whose fd polled readable, or hung up
    /// (`hup`: the device is being removed, and the sg driver reports only
    /// POLLHUP until the command ends, `read` saying EAGAIN). A hung-up
    /// check with no answer is dropped, its fd closed (the command ends in
    /// the kernel; nothing reads into our buffers after that), and the path
    /// judged down: polling it again would return at once, for ever.
    pub fn collect(&mut self, name: &str, dev: &str, hup: bool) {
        let Some(p) = self.maps.get_mut(name).and_then(|m| m.paths.get_mut(dev)) else {
            return;
        };
        let Some(c) = p.check.as_mut() else { return };
        let answer = match c.collect() {
            Ok(None) if hup => {
                log::detail(&format!(
                    "{}: its device hung up with a check in flight",
                    p.name
                ));
                p.check = None;
                if std::mem::take(&mut p.stalled) {
                    // Judged down already, at its deadline.
                    p.next_check = Instant::now();
                    return;
                }
                Tur::Down
            }
            Ok(None) => return,
            Ok(Some(d)) => sgio::classify(d.status, d.host, d.driver, c.sense(&d), p.passive),
            Err(e) => {
                log::info(&format!("{}: reading the check's answer: {e}", p.name));
                Tur::Down
            }
        };
        p.check = None;
        if p.stalled {
            p.stalled = false;
            log::notice(&format!(
                "{name}: path {} answered again after a stalled check",
                p.name
            ));
            // Not part of a round any more: judge it on its own.
            p.next_check = Instant::now();
            return;
        }
        self.judge(name, dev, answer);
    }

    /// Checks whose deadline passed: the path is down; its command stays.
    pub fn expire(&mut self, now: Instant) {
        let mut late = Vec::new();
        for (name, m) in self.maps.iter_mut() {
            for (dev, p) in m.paths.iter_mut() {
                if p.check.is_some() && !p.stalled && p.deadline <= now {
                    p.stalled = true;
                    log::warn(&format!(
                        "{name}: path {} ({dev}) did not answer within its {} s command timeout",
                        p.name,
                        sgio::command_timeout(self.sys, &p.name).as_secs()
                    ));
                    late.push((name.clone(), dev.clone()));
                }
            }
        }
        for (name, dev) in late {
            self.judge(&name, &dev, Tur::Down);
        }
    }

    /// Act on one answer: ask again, keep, reinstate or fail; when the
    /// map's round is complete, run its policy.
    fn judge(&mut self, name: &str, dev: &str, answer: Tur) {
        let now = Instant::now();
        let Some(m) = self.maps.get_mut(name) else {
            return;
        };
        let Some(p) = m.paths.get_mut(dev) else {
            return;
        };
        let answer = match answer {
            Tur::Retry if p.retries < sgio::RETRIES => {
                p.retries += 1;
                match submit(self.sys, self.dev_root, p, now) {
                    Ok(None) => return,
                    Ok(Some(t)) => t,
                    // Not sent, for want of something of ours: no verdict.
                    Err(_) => Tur::Pending,
                }
            }
            Tur::Retry => Tur::Down,
            t => t,
        };
        p.retries = 0;
        let up = match answer {
            Tur::Up | Tur::Ghost => true,
            Tur::Down | Tur::Retry => false,
            Tur::Pending => {
                p.next_check = now + self.opts.failed_interval;
                self.round_done(name, dev);
                return;
            }
        };
        p.next_check = now
            + if up {
                self.opts.ok_interval
            } else {
                self.opts.failed_interval
            };
        let path = p.name.clone();
        self.act(name, dev, &path, up);
        self.round_done(name, dev);
    }

    /// Make the kernel's view of the path match the checker's.
    fn act(&mut self, name: &str, dev: &str, path: &str, up: bool) {
        let Some(v) = self.cached_view(name) else {
            return;
        };
        let active = v
            .status
            .groups
            .iter()
            .flat_map(|g| &g.paths)
            .find(|p| p.dev == dev)
            .is_some_and(|p| p.active);
        let (msg, done) = match (up, active) {
            (true, false) => ("reinstate_path", "reinstated"),
            (false, true) => ("fail_path", "failed by checker"),
            _ => return,
        };
        self.forget_view(name);
        match self
            .ctl
            .target_msg(DevId::Name(name), 0, &format!("{msg} {dev}"))
        {
            Ok(_) => log::notice(&format!("{name}: path {path} ({dev}) {done}")),
            Err(e) => log::warn(&format!("{name}: {msg} {dev}: {}", chain(&e))),
        }
    }

    fn round_done(&mut self, name: &str, dev: &str) {
        let Some(m) = self.maps.get_mut(name) else {
            return;
        };
        if m.round.remove(dev) && m.round.is_empty() {
            self.policy(name);
        }
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
            // NVMe controllers, as multipath-tools' path_offline.
            (Some("live"), Up),
            (Some("new"), Pending),
            (Some("deleting"), Pending),
            (Some("deleting (no IO)"), Pending),
            (Some("resetting"), Down),
            (Some("connecting"), Down),
            (Some("dead"), Down),
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

/// The loop's own functions against check fds that never answer (a FIFO
/// nobody writes to, as a hung path's sg fd) and that only hang up.
#[cfg(test)]
mod spin_tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    use super::super::state::{next_due, Map, PathState};
    use crate::sgio::{woke, AsyncCmd};

    fn fifo(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("mpboot-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        p
    }

    /// One map, one path with a check in flight that never answers, due
    /// (as `submit` leaves it) a second ago.
    fn in_flight(cmd: AsyncCmd) -> BTreeMap<String, Map> {
        let now = Instant::now();
        let p = PathState {
            name: "sda".into(),
            next_check: now - Duration::from_secs(1),
            check: Some(cmd),
            deadline: now + Duration::from_secs(30),
            stalled: false,
            retries: 0,
            sg: None,
            passive: None,
        };
        let m = Map {
            name: "m".into(),
            paths: BTreeMap::from([("8:0".to_string(), p)]),
            round: BTreeSet::from(["8:0".to_string()]),
            all_down_checks: 0,
            queueing_off: false,
            event_nr: 0,
            wwid: "w".into(),
            seen: None,
        };
        BTreeMap::from([("m".to_string(), m)])
    }

    /// The loop sleeps while a check is in flight: a handful of turns in
    /// 500 ms (its 1 s tick), where it once turned 89,667 times.
    #[test]
    fn a_check_in_flight_is_not_due() {
        let f = fifo("inflight");
        let maps = in_flight(AsyncCmd::open(&f, 0).unwrap());
        let _ = std::fs::remove_file(&f);
        let start = Instant::now();
        let mut turns = 0;
        while start.elapsed() < Duration::from_millis(500) {
            let now = Instant::now();
            let until = next_due(&maps)
                .unwrap_or(now + Duration::from_secs(1))
                .min(now + Duration::from_secs(1))
                .min(start + Duration::from_millis(500));
            let fd = maps["m"].paths["8:0"].check.as_ref().unwrap().fd();
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            // Rounded up, as the loop's own wait never asks for 0 ms
            // unless something is due.
            let ms = until
                .saturating_duration_since(now)
                .as_micros()
                .div_ceil(1000) as u16;
            poll(&mut fds, PollTimeout::from(ms)).unwrap();
            assert_eq!(woke(fds[0].revents()), None);
            turns += 1;
        }
        assert!(turns <= 5, "{turns} turns in 500 ms");
        // Stalled (its deadline passed): due again at its time.
        let mut maps = maps;
        let p = maps.get_mut("m").unwrap().paths.get_mut("8:0").unwrap();
        p.stalled = true;
        assert_eq!(next_due(&maps), Some(p_next(&maps)));
    }

    fn p_next(maps: &BTreeMap<String, Map>) -> Instant {
        maps["m"].paths["8:0"].next_check
    }

    /// A device being removed: its fd reports only POLLHUP, which is a
    /// wake-up to act on, not an answer to wait for.
    #[test]
    fn a_hang_up_is_told_apart() {
        use std::os::unix::fs::OpenOptionsExt;
        let f = fifo("hup");
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&f)
            .unwrap();
        drop(std::fs::OpenOptions::new().write(true).open(&f).unwrap());
        let _ = std::fs::remove_file(&f);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&reader),
            PollFlags::POLLIN,
        )];
        poll(&mut fds, PollTimeout::from(100u16)).unwrap();
        assert_eq!(woke(fds[0].revents()), Some(true));
        assert_eq!(
            woke(Some(PollFlags::POLLIN | PollFlags::POLLHUP)),
            Some(false)
        );
        assert_eq!(woke(Some(PollFlags::POLLERR)), Some(false));
        assert_eq!(woke(Some(PollFlags::POLLNVAL)), Some(true));
        assert_eq!(woke(Some(PollFlags::empty())), None);
        assert_eq!(woke(None), None);
    }
}
