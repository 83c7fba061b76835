//! Making the maps follow sysfs and the arrays: a reconcile reads the
//! paths of some maps (those a uevent names, or all of them), asks the
//! arrays about the ones it has no answer for, and reloads a map only when
//! its paths or groups changed (`maps::apply`, shared with `assemble`).

use std::collections::BTreeMap;

use crate::error::{chain, Result};
use crate::log;
use crate::maps::{self, MapView};
use crate::sysfs::scsi;
use crate::topology::{self, AluaState, Path, Transport};

use super::state::Supervisor;

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
}

impl Supervisor<'_> {
    /// The attributes of the supervised paths that a regroup depends on
    /// and that the kernel changes without a uevent (`access_state`,
    /// `preferred_path`): two small reads a path, every tick, the
    /// periodic pass's main cost at 1024 paths. A path's `state` is the
    /// checker's business (read before each check); a table keeps its
    /// paths whatever their state.
    pub fn fingerprint(&self) -> String {
        let mut f = String::new();
        for p in self.maps.values().flat_map(|m| m.paths.values()) {
            for a in ["access_state", "preferred_path"] {
                let v = self.sys.read_attr(&format!("block/{}/device/{a}", p.name));
                f.push_str(v.ok().flatten().as_deref().unwrap_or("-"));
                f.push(' ');
            }
        }
        f
    }

    /// The periodic look at sysfs: a full reconcile only when what the
    /// paths say changed since the last one (uevents reconcile at once).
    /// With 1024 paths a full scan costs tens of thousands of syscalls.
    pub fn reconcile_if_changed(&mut self) -> Result<()> {
        // A full one every 12 ticks regardless, for what sends no uevent
        // and leaves the three attributes alone.
        self.quiet_ticks += 1;
        if self.quiet_ticks < 12 && self.fingerprint() == self.last_seen {
            return Ok(());
        }
        self.reconcile_asking(true)
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
        let scan = scsi::scan(self.sys)?;
        self.said.keep_only(&scan.paths);
        let names: Vec<String> = self.maps.keys().cloned().collect();
        self.reconcile_maps(scan.paths, &names, all)?;
        self.last_seen = self.fingerprint();
        self.quiet_ticks = 0;
        Ok(())
    }

    /// Reconcile after uevents that name these disks (removed, added or
    /// changed): only the maps that have them or their LUN, each disk read
    /// once; at 1024 paths a full scan costs seconds. The maps looked at.
    pub fn reconcile_disks(&mut self, disks: &[String]) -> Result<Vec<String>> {
        let mut paths: Vec<Path> = disks
            .iter()
            .filter_map(|d| scsi::read_path(self.sys, d).ok().flatten())
            .collect();
        let wwids: Vec<String> = paths.iter().map(|p| p.wwid.clone()).collect();
        let mut touched = Vec::new();
        for (name, m) in &self.maps {
            let wwid = self.cached_view(name).and_then(|v| {
                v.info
                    .uuid
                    .strip_prefix(maps::UUID_PREFIX)
                    .map(str::to_string)
            });
            let has_disk = m.paths.values().any(|p| disks.contains(&p.name));
            if has_disk || wwid.is_some_and(|w| wwids.contains(&w)) {
                touched.push(name.clone());
            }
        }
        if touched.is_empty() {
            return Ok(touched);
        }
        for name in &touched {
            // The rest of the map's paths, as they are now; a name now
            // held by another disk (its numbers differ) is that disk's.
            for (dev, p) in &self.maps[name].paths {
                if disks.contains(&p.name) {
                    continue;
                }
                if let Ok(Some(now)) = scsi::read_path(self.sys, &p.name) {
                    if now.devt.to_string() == *dev {
                        paths.push(now);
                    }
                }
            }
        }
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
