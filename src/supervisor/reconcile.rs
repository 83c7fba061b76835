//! Making the maps follow sysfs and the arrays: a reconcile reads the
//! paths of some maps (those a uevent names, or all of them), asks the
//! arrays about the ones it has no answer for, and reloads a map only when
//! its paths or groups changed (`maps::apply`, shared with `assemble`).

use std::collections::BTreeMap;

use crate::error::{chain, Result};
use crate::log;
use crate::maps::{self, MapView};
use crate::topology::{self, AluaState, Path, Transport};

use super::state::{Map, Supervisor};

/// What the arrays (or sysfs) last said of each path: its ALUA state, PREF
/// bit and priority, by the path's identity (maj:min, H:C:T:L and WWID: a
/// new disk that reuses a removed one's numbers is not that disk).
#[derive(Default)]
pub struct Answers(BTreeMap<String, (Option<AluaState>, bool, Option<u32>)>);

impl Answers {
    fn key(p: &Path) -> String {
        format!("{} {} {}", p.devt, p.hctl, p.wwid)
    }

    /// Give `p` what was said of it; false when nothing was.
    pub fn recall(&self, p: &mut Path) -> bool {
        let Some(&(alua, preferred, prio)) = self.0.get(&Self::key(p)) else {
            return false;
        };
        (p.alua, p.preferred, p.prio) = (alua, preferred, prio);
        true
    }

    pub fn remember(&mut self, p: &Path) {
        self.0.insert(Self::key(p), (p.alua, p.preferred, p.prio));
    }

    /// Forget the paths that are gone.
    pub fn keep_only(&mut self, paths: &[Path]) {
        self.0
            .retain(|k, _| paths.iter().any(|p| Self::key(p) == *k));
    }

    /// Forget the paths whose numbers (maj:min) `live` does not know.
    pub fn keep(&mut self, live: impl Fn(&str) -> bool) {
        self.0
            .retain(|k, _| live(k.split(' ').next().unwrap_or_default()));
    }
}

/// The periodic look takes every map in full once in this many ticks (a
/// minute at the 5 s check interval).
const FULL_EVERY: usize = 12;

/// A map's paths' attributes that a regroup depends on and that the
/// kernel changes without a uevent (`access_state`, `preferred_path`): two
/// small reads a path, the periodic look's main cost at 1024 paths. A
/// path's `state` is the checker's business (read before each check); a
/// table keeps its paths whatever their state.
fn fingerprint(sys: &crate::sysfs::Sysfs, m: &Map) -> String {
    let mut f = String::new();
    for p in m.paths.values() {
        for a in ["access_state", "preferred_path"] {
            let v = sys.read_attr(&format!("block/{}/device/{a}", p.name));
            f.push_str(v.ok().flatten().as_deref().unwrap_or("-"));
            f.push(' ');
        }
    }
    f
}

impl Supervisor<'_> {
    /// The periodic look (every check interval), cheap at any scale: the
    /// maps whose paths' ALUA attributes changed, NVMe maps (their ANA
    /// state), a twelfth of the others in turn (each map in full once a
    /// minute, its array asked again),
    /// and the maps of disks nobody told us about (names never seen are
    /// read once). A full scan of 1024 disks here paused the loop 2.7 s
    /// under TCG.
    pub fn periodic(&mut self) -> Result<()> {
        // A map made or removed by someone else, should its DM event have
        // been missed (or the kernel has none to arm: before 4.13).
        self.refresh_if_new()?;
        self.ticks = self.ticks.wrapping_add(1);
        let turn = self.ticks % FULL_EVERY;
        let mut names = Vec::new();
        for (i, (name, m)) in self.maps.iter_mut().enumerate() {
            let now = Some(fingerprint(self.sys, m));
            let changed = m.seen.is_some() && m.seen != now;
            m.seen = now;
            // An NVMe namespace's ANA state is in no sysfs attribute (with
            // native multipath off) and no uevent tells of a change: read
            // it every tick, as multipathd reads a path's priority after
            // each check.
            let nvme = m.paths.values().any(|p| p.name.starts_with("nvme"));
            if changed || nvme || i % FULL_EVERY == turn {
                names.push(name.clone());
            }
        }
        if turn == 0 {
            self.forget_gone_paths();
        }
        let unseen = self.unseen_disks();
        for p in &unseen {
            if let Some((n, _)) = self.maps.iter().find(|(_, m)| m.wwid == p.wwid) {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let mut paths = self.paths_of(&names, &[]);
        paths.extend(unseen);
        self.reconcile_maps(paths, &names, true)
    }

    /// Forget what the arrays said of paths no map has any more (once a
    /// minute: the answers are keyed by the path's identity, so a stale
    /// one is never used, only kept).
    fn forget_gone_paths(&mut self) {
        let mut live = std::collections::BTreeSet::new();
        for d in self.maps.values().flat_map(|m| m.paths.keys()) {
            live.insert(d.clone());
        }
        self.said.keep(|d| live.contains(d));
    }

    /// What the paths' attributes say now, for the first periodic look
    /// to compare with (the maps were just assembled from sysfs).
    pub fn baseline(&mut self) {
        for m in self.maps.values_mut() {
            m.seen = Some(fingerprint(self.sys, m));
        }
    }

    /// Disks of supervised LUNs that no map has, without reading every
    /// disk: a name not seen before is read once, and remembered when it
    /// is another LUN's or no path (until a uevent names it or it goes).
    fn unseen_disks(&mut self) -> Vec<Path> {
        let Ok(names) = self.sys.list("block") else {
            return Vec::new();
        };
        // `list` sorts its names: look them up by halves, not one by one.
        let listed = |n: &String| {
            names
                .binary_search_by(|x| crate::sysfs::natural_cmp(x, n))
                .is_ok()
        };
        self.others.retain(listed);
        // Inserted one by one: collecting sorts first, with a sort of its
        // own in the binary.
        let mut ours = std::collections::BTreeSet::new();
        for p in self.maps.values().flat_map(|m| m.paths.values()) {
            ours.insert(p.name.clone());
        }
        let mut found = Vec::new();
        for n in names.iter().filter(|n| crate::sysfs::may_be_path(n)) {
            if self.others.contains(n) || ours.contains(n) {
                continue;
            }
            match crate::sysfs::read_path(self.sys, n) {
                Ok(Some(p)) if self.maps.values().any(|m| m.wwid == p.wwid) => found.push(p),
                // Another LUN's, or no path at all (a native NVMe head).
                Ok(_) => {
                    self.others.insert(n.clone());
                }
                Err(_) => {}
            }
        }
        found
    }

    /// The paths these maps have now, read from sysfs, except `skip`
    /// (disks read by the caller); a name now held by another disk (its
    /// numbers differ) is that disk's, not the map's.
    fn paths_of(&self, names: &[String], skip: &[String]) -> Vec<Path> {
        let mut paths = Vec::new();
        for m in names.iter().filter_map(|n| self.maps.get(n)) {
            for (dev, p) in &m.paths {
                if skip.contains(&p.name) {
                    continue;
                }
                if let Ok(Some(now)) = crate::sysfs::read_path(self.sys, &p.name) {
                    if now.devt.to_string() == *dev {
                        paths.push(now);
                    }
                }
            }
        }
        paths
    }

    /// Make each map's table match sysfs after a uevent: paths added or
    /// removed. Only new paths are asked about: a path that hung since the
    /// last look would hold the removal of another map's path.
    pub fn reconcile(&mut self) -> Result<()> {
        self.reconcile_asking(false)
    }

    /// Paths' priorities: remembered ones unless `all`, the arrays' answers
    /// for the rest (not through failed paths or those with a check in
    /// flight), sysfs where they do not answer.
    fn prioritize(&mut self, paths: Vec<Path>, all: bool, skip: &[String]) -> Vec<Path> {
        let (mut known, mut asked) = (Vec::new(), Vec::new());
        for mut p in paths {
            if !all && self.said.recall(&mut p) {
                known.push(p);
            } else {
                asked.push(p);
            }
        }
        let wait = crate::array::SUPERVISOR_WAIT;
        crate::array::ask(self.sys, self.dev_root, &mut asked, true, skip, wait);
        for p in &asked {
            self.said.remember(p);
        }
        known.append(&mut asked);
        known
    }

    /// Make each map's table match sysfs, every disk read: paths added or
    /// removed, ALUA groups changed (asking the arrays about every path
    /// when `all`).
    pub fn reconcile_asking(&mut self, all: bool) -> Result<()> {
        let scan = crate::sysfs::scan(self.sys)?;
        self.said.keep_only(&scan.paths);
        let names: Vec<String> = self.maps.keys().cloned().collect();
        self.reconcile_maps(scan.paths, &names, all)
    }

    /// Reconcile after uevents that name these disks (removed, added or
    /// changed): only the maps that have them or their LUN, each disk read
    /// once; at 1024 paths a full scan costs seconds. The maps looked at.
    pub fn reconcile_disks(&mut self, disks: &[String]) -> Result<Vec<String>> {
        let mut paths: Vec<Path> = disks
            .iter()
            .filter_map(|d| crate::sysfs::read_path(self.sys, d).ok().flatten())
            .collect();
        for d in disks {
            self.others.remove(d);
        }
        let mut touched = Vec::new();
        for (name, m) in &self.maps {
            let has_disk = m.paths.values().any(|p| disks.contains(&p.name));
            if has_disk || paths.iter().any(|p| p.wwid == m.wwid) {
                touched.push(name.clone());
            }
        }
        if touched.is_empty() {
            return Ok(touched);
        }
        paths.extend(self.paths_of(&touched, disks));
        self.reconcile_maps(paths, &touched, false)?;
        Ok(touched)
    }

    /// Make these maps' tables match `paths` (the paths their LUNs have).
    fn reconcile_maps(&mut self, mut paths: Vec<Path>, names: &[String], all: bool) -> Result<()> {
        for n in names {
            self.forget_view(n);
        }
        // Only the supervised LUNs' paths are worth asking their arrays;
        // not through paths the maps have failed, nor through those with
        // a check still in flight (hung, maybe): the loop would wait.
        let views: Vec<MapView> = names.iter().filter_map(|n| self.view(n)).collect();
        let wwids: Vec<&str> = views
            .iter()
            .filter_map(|v| v.info.uuid.strip_prefix(maps::UUID_PREFIX))
            .collect();
        let mut failed: Vec<String> = views
            .iter()
            .flat_map(|v| v.status.groups.iter().flat_map(|g| &g.paths))
            .filter(|p| !p.active)
            .map(|p| p.dev.clone())
            .collect();
        for m in self.maps.values() {
            failed.extend(
                m.paths
                    .iter()
                    .filter(|(_, p)| p.check.is_some())
                    .map(|(d, _)| d.clone()),
            );
        }
        paths.retain(|p| wwids.contains(&p.wwid.as_str()));
        let paths = self.prioritize(paths, all, &failed);
        let luns = topology::by_wwid(&paths);
        for name in names {
            // Read again: asking the arrays may have taken a while.
            let Some(v) = self.view(name) else { continue };
            let Some(wwid) = v.info.uuid.strip_prefix(maps::UUID_PREFIX) else {
                continue;
            };
            let Some(paths) = luns.get(wwid) else {
                continue;
            };
            let mut policy = self.opts.policy;
            policy.queue_if_no_path = v.table.features.iter().any(|f| f == "queue_if_no_path");
            let devices = v.table.devices();
            let live = topology::Live {
                devices: &devices,
                size: Some(v.size),
                bio: topology::is_bio(&v.table.features),
            };
            let Some(mut spec) = topology::map_spec(wwid, paths, policy, live) else {
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
            // Only iSCSI and FC have timeouts to set: skip the device-path
            // walk for the others (1024 of them in a reconcile at scale).
            let names: Vec<&str> = paths
                .iter()
                .filter(|p| matches!(p.transport, Transport::Iscsi | Transport::Fc))
                .map(|p| p.name.as_str())
                .collect();
            crate::transport::tune(self.sys, &names, &self.opts.fast_fail);
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
        self.refresh()?;
        for n in names {
            self.forget_view(n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Answers;
    use crate::topology::{tests::path, AluaState};

    /// A disk that reuses a removed one's maj:min does not inherit what
    /// the array said of the removed one, and gone paths are forgotten.
    #[test]
    fn answers_belong_to_the_path_not_its_numbers() {
        let mut said = Answers::default();
        let mut old = path("sdc", 32, Some(AluaState::Standby), "running");
        old.prio = Some(1);
        said.remember(&old);
        let mut same = path("sdc", 32, None, "running");
        assert!(said.recall(&mut same));
        assert_eq!((same.alua, same.prio), (Some(AluaState::Standby), Some(1)));
        // Same numbers, another LUN behind another port.
        let mut reused = path("sdc", 32, None, "running");
        reused.hctl = "7:0:0:3".into();
        reused.wwid = "3600a0b80000000000000000000000001".into();
        assert!(!said.recall(&mut reused));
        assert_eq!(reused.alua, None);
        said.keep_only(&[reused.clone()]);
        assert!(!said.recall(&mut same), "gone paths are pruned");
    }
}
