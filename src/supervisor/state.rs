//! What the supervisor knows: the multipath maps, their paths and each
//! path's check, and the view `mpboot status` reads. Maps follow the
//! kernel (refresh here) and sysfs (`reconcile`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path as FsPath;
use std::time::{Duration, Instant};

use crate::dm::Control;
use crate::error::Result;
use crate::log;
use crate::maps::{self, MapView};
use crate::nodes::Nodes;
use crate::sgio::AsyncCmd;
use crate::sysfs::Sysfs;

use super::reconcile::Answers;
use super::Options;

/// Milliseconds since boot, suspend included (CLOCK_BOOTTIME): the state
/// file's clock, which no settimeofday steps back or forth.
pub fn boottime_ms() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_BOOTTIME).map_or(0, |t| {
        (t.tv_sec() as u64) * 1000 + (t.tv_nsec() as u64) / 1_000_000
    })
}

/// How old the view in a state file is, by `boottime_ms` now.
pub fn view_age_ms(state: &str, now: u64) -> Option<u64> {
    state
        .lines()
        .find_map(|l| l.strip_prefix("boottime "))
        .and_then(parse_millis)
        .map(|w| now.saturating_sub(w))
}

/// `S.mmm` seconds as milliseconds (no floats: their formatting code
/// costs the binary kilobytes).
pub fn parse_millis(t: &str) -> Option<u64> {
    let (s, ms) = t.split_once('.').unwrap_or((t, "0"));
    let ms = format!("{ms:0<3}");
    Some(s.parse::<u64>().ok()? * 1000 + ms.get(..3)?.parse::<u64>().ok()?)
}

/// What we know of one path of one map.
pub struct PathState {
    /// Kernel name (`sdc`).
    pub name: String,
    pub next_check: Instant,
    /// The check in flight on the path's sg node, if any.
    pub check: Option<AsyncCmd>,
    /// When the loop stops waiting for it: the device's command timeout.
    pub deadline: Instant,
    /// Its deadline passed (the path was failed); the command is still in
    /// the kernel, and no other is sent until it returns.
    pub stalled: bool,
    /// Answers asked again (unit attention...) in this check.
    pub retries: u8,
    /// The path's sg node, once found.
    pub sg: Option<crate::sgio::Route>,
    /// Its handler's passive NOT READY qualifier (`sgio::passive_ascq`),
    /// read when the sg node is found.
    pub passive: Option<u8>,
}

pub struct Map {
    pub name: String,
    /// Paths by maj:min, as the table names them.
    pub paths: BTreeMap<String, PathState>,
    /// Paths of this round of checks not answered yet: when none are
    /// left, the map's policy runs once.
    pub round: BTreeSet<String>,
    pub all_down_checks: u32,
    pub queueing_off: bool,
    /// The map's DM event counter when last looked at.
    pub event_nr: u32,
    /// Its LUN's WWID (from its DM UUID).
    pub wwid: String,
    /// What its paths' ALUA attributes said at the last periodic look.
    pub seen: Option<String>,
}

impl Map {
    /// Has the map had an event since it was last looked at? Remembers
    /// `nr` for the next time.
    pub fn had_event(&mut self, nr: u32) -> bool {
        std::mem::replace(&mut self.event_nr, nr) != nr
    }

    /// Check every path of the map at the fast interval from now.
    pub fn check_soon(&mut self, soon: Instant) {
        for p in self.paths.values_mut() {
            p.next_check = p.next_check.min(soon);
        }
    }
}

/// The next moment a path is due for a check. A path with a check in
/// flight is not due: its answer wakes the loop through its fd, its
/// deadline through `next_deadline`. Counting its past due time made the
/// loop poll with a zero timeout, again and again, for as long as a hung
/// path's command was in the kernel. A stalled check (deadline passed) is
/// looked at again at its due time.
pub fn next_due(maps: &BTreeMap<String, Map>) -> Option<Instant> {
    maps.values()
        .flat_map(|m| m.paths.values())
        .filter(|p| p.check.is_none() || p.stalled)
        .map(|p| p.next_check)
        .min()
}

pub struct Supervisor<'a> {
    pub sys: &'a Sysfs,
    pub dev_root: &'a FsPath,
    pub ctl: Control,
    pub nodes: Nodes,
    pub opts: Options,
    pub maps: BTreeMap<String, Map>,
    /// Map views as last read: answers for 1024 paths must not cost two
    /// ioctls each. Forgotten when we change a map, when the kernel
    /// signals a DM event (it changed one), and at every reconcile.
    pub views: std::cell::RefCell<BTreeMap<String, MapView>>,
    /// When the status file was last written.
    pub state_written: Option<Instant>,
    /// What the arrays (or sysfs) last said of each path. A reconcile for
    /// a uevent asks only about paths not in here; the periodic one asks
    /// again.
    pub said: Answers,
    /// The DM devices settled at the last refresh: multipath maps, and
    /// other devices with a live table (one being made is not settled).
    pub dm_devices: Vec<String>,
    /// Periodic looks so far (`reconcile::periodic` takes turns by it).
    pub ticks: usize,
    /// Disks read once and found to be of no supervised LUN.
    pub others: BTreeSet<String>,
}

impl Supervisor<'_> {
    /// The map's table and status, as the kernel has them now.
    pub fn view(&self, name: &str) -> Option<MapView> {
        maps::view(&self.ctl, name).ok().flatten()
    }

    /// The map's view, read once until something changes it.
    pub fn cached_view(&self, name: &str) -> Option<MapView> {
        if let Some(v) = self.views.borrow().get(name) {
            return Some(v.clone());
        }
        let v = self.view(name)?;
        self.views.borrow_mut().insert(name.to_string(), v.clone());
        Some(v)
    }

    /// A DM event woke us: which maps had one? Their cached views are
    /// forgotten and their paths checked soon; the others are left alone
    /// (one flapping path must not keep 1024 at the fast interval, nor
    /// must the events of our own messages).
    pub fn maps_with_events(&mut self) -> Vec<String> {
        let mut changed = Vec::new();
        for (name, m) in self.maps.iter_mut() {
            let nr = match self.ctl.dev_status(crate::dm::DevId::Name(name)) {
                Ok(Some(info)) => info.event_nr,
                // Gone or unreadable: the next refresh or reconcile says.
                _ => continue,
            };
            if m.had_event(nr) {
                self.views.borrow_mut().remove(name);
                changed.push(name.clone());
            }
        }
        changed
    }

    /// We changed the map (a message): its cached view is stale.
    pub fn forget_view(&self, name: &str) {
        self.views.borrow_mut().remove(name);
    }

    /// A DM device came or went (a map made by boot mode for a later
    /// mount, one removed): pick the maps up again. One ioctl otherwise.
    pub fn refresh_if_new(&mut self) -> Result<()> {
        let names: Vec<String> = self
            .ctl
            .list_devices()?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if names != self.dm_devices {
            self.refresh()?;
        }
        Ok(())
    }

    /// Pick up every multipath map and its paths.
    pub fn refresh(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut seen = Vec::new();
        self.dm_devices.clear();
        for (name, _) in self.ctl.list_devices()? {
            let Some(v) = self.view(&name) else {
                // Not a multipath map, or not loaded yet (a map is created,
                // then loaded and resumed, each with an event): only one
                // with a live table is settled; another is looked at again.
                let id = crate::dm::DevId::Name(&name);
                if let Ok(Some(info)) = self.ctl.dev_status(id) {
                    if info.live_table {
                        self.dm_devices.push(name);
                    }
                }
                continue;
            };
            self.dm_devices.push(name.clone());
            seen.push(name.clone());
            let m = self.maps.entry(name.clone()).or_insert_with(|| {
                log::info(&format!("supervising {name}"));
                Map {
                    name: name.clone(),
                    paths: BTreeMap::new(),
                    round: BTreeSet::new(),
                    all_down_checks: 0,
                    queueing_off: false,
                    event_nr: v.info.event_nr,
                    wwid: v
                        .info
                        .uuid
                        .strip_prefix(maps::UUID_PREFIX)
                        .unwrap_or_default()
                        .to_string(),
                    seen: None,
                }
            });
            let devs = v.table.devices();
            m.paths.retain(|d, _| devs.contains(d));
            m.round.retain(|d| devs.contains(d));
            for d in devs {
                m.paths.entry(d.clone()).or_insert_with(|| PathState {
                    name: self
                        .sys
                        .link_name(&format!("dev/block/{d}"))
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| d.clone()),
                    next_check: now,
                    check: None,
                    deadline: now,
                    stalled: false,
                    retries: 0,
                    sg: None,
                    passive: None,
                });
            }
        }
        self.maps.retain(|n, _| seen.contains(n));
        Ok(())
    }

    /// The next moment a path is due for a check.
    pub fn next_due(&self) -> Instant {
        next_due(&self.maps).unwrap_or_else(|| Instant::now() + self.opts.ok_interval)
    }

    /// Where `mpboot status` reads the supervisor's view: written after
    /// every round, with the time it was written, so that a reader can
    /// tell a stale view (a supervisor that stopped or hangs) from a
    /// current one.
    pub fn write_state(&mut self) {
        // The loop may turn many times a second under load; readers
        // call a view older than 5 s stale.
        let now = Instant::now();
        if self
            .state_written
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(500))
        {
            return;
        }
        self.state_written = Some(now);
        let written = boottime_ms();
        let mut s = format!(
            "pid {}\nboottime {}.{:03}\n",
            std::process::id(),
            written / 1000,
            written % 1000
        );
        for m in self.maps.values() {
            let Some(v) = self.cached_view(&m.name) else {
                continue;
            };
            s.push_str(&format!("map {} {}\n", m.name, v.info.devt));
            for (i, g) in v.status.groups.iter().enumerate() {
                for p in &g.paths {
                    let path = m.paths.get(&p.dev);
                    let n = path.map_or("?", |x| x.name.as_str());
                    let st = match (p.active, path.is_some_and(|x| x.stalled)) {
                        (_, true) => "failed,check-stalled",
                        (true, false) => "active",
                        (false, false) => "failed",
                    };
                    s.push_str(&format!("  group {} {n} {} {st}\n", i + 1, p.dev));
                }
            }
        }
        let _ = crate::nodes::make_dirs(&self.opts.run_dir);
        let tmp = self.opts.run_dir.join("state.tmp");
        if std::fs::write(&tmp, s).is_ok() {
            let _ = std::fs::rename(tmp, self.opts.run_dir.join("state"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Map;

    /// Only a map whose event counter moved is looked at again.
    #[test]
    fn a_map_without_events_is_left_alone() {
        let mut m = Map {
            name: "m".into(),
            paths: Default::default(),
            round: Default::default(),
            all_down_checks: 0,
            queueing_off: false,
            event_nr: 7,
            wwid: "w".into(),
            seen: None,
        };
        assert!(!m.had_event(7));
        assert!(m.had_event(8));
        assert!(!m.had_event(8), "seen once, then remembered");
        assert!(m.had_event(0), "a counter that went back is news too");
    }
}
