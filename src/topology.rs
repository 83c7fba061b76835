//! Pure functions from discovered paths and a policy to map specifications.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::sysfs::natural_cmp;
use crate::table::{MultipathTable, PathGroup, TablePath};

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevT {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for DevT {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for DevT {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, b) = s.trim().split_once(':').ok_or(())?;
        Ok(DevT {
            major: a.parse().map_err(|_| ())?,
            minor: b.parse().map_err(|_| ())?,
        })
    }
}

/// ALUA asymmetric access state, as the kernel's `alua` handler names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AluaState {
    Optimized,
    NonOptimized,
    LbaDependent,
    Standby,
    Unavailable,
    Transitioning,
    Offline,
}

impl AluaState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active/optimized" => AluaState::Optimized,
            "active/non-optimized" => AluaState::NonOptimized,
            "lba-dependent" => AluaState::LbaDependent,
            "standby" => AluaState::Standby,
            "unavailable" => AluaState::Unavailable,
            "transitioning" => AluaState::Transitioning,
            "offline" => AluaState::Offline,
            _ => return None,
        })
    }

    pub fn short(self) -> &'static str {
        match self {
            AluaState::Optimized => "A/O",
            AluaState::NonOptimized => "A/N",
            AluaState::LbaDependent => "LBA",
            AluaState::Standby => "S",
            AluaState::Unavailable => "U",
            AluaState::Transitioning => "T",
            AluaState::Offline => "O",
        }
    }
}

/// A path's priority as multipath-tools computes it for an ALUA state
/// (prioritizers `alua` and `sysfs`): 50 active/optimized, 10
/// active/non-optimized, 5 LBA-dependent, 1 standby, 0 otherwise; a port
/// group with the PREF bit gets 80 more unless it is already optimized.
/// So a preferred A/N group (90) and even a preferred standby one (81)
/// rank above a plain A/O one (50), and a preferred A/O group (50) is
/// one group with a plain A/O one.
pub fn alua_prio(state: AluaState, preferred: bool) -> u32 {
    let base = match state {
        AluaState::Optimized => 50,
        AluaState::NonOptimized => 10,
        AluaState::LbaDependent => 5,
        AluaState::Standby => 1,
        AluaState::Unavailable | AluaState::Transitioning | AluaState::Offline => 0,
    };
    if preferred && state != AluaState::Optimized {
        base + 80
    } else {
        base
    }
}

/// One SCSI path to a LUN, as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub name: String,
    pub devt: DevT,
    pub hctl: String,
    /// SCSI device state: running, offline, blocked, ...
    pub state: String,
    pub size: u64,
    pub wwid: String,
    /// Device handler attached (`alua`, `emc`, ...), if any.
    pub handler: Option<String>,
    pub alua: Option<AluaState>,
    pub preferred: bool,
    /// TPGS field of the standard INQUIRY data: 0 no ALUA, 1 implicit,
    /// 2 explicit, 3 both.
    pub tpgs: u8,
    /// The target port group this path's port belongs to (VPD 0x83).
    pub port_group: Option<u16>,
    /// Its relative target port identifier (VPD 0x83).
    pub rel_port: Option<u16>,
    /// Priority as multipath-tools computes it (higher is better); None
    /// when nothing says (no ALUA, no handler, the array did not answer).
    pub prio: Option<u32>,
    /// How the disk is reached, from its place in the device tree.
    pub transport: Transport,
}

/// How a path's disk is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    Iscsi,
    Fc,
    Sas,
    /// An NVMe namespace through one controller (native multipath off).
    Nvme(Fabric),
    /// Parallel SCSI, virtio, USB, emulation: nothing that says SAN.
    #[default]
    Other,
}

/// An NVMe controller's transport (its sysfs `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fabric {
    Tcp,
    Fc,
    Rdma,
    Pcie,
    Loop,
    Other,
}

impl Path {
    /// ALUA state (A/O, A/N, S, ...), else the handler, else "-".
    pub fn alua_word(&self) -> String {
        match (&self.handler, self.alua, self.prio) {
            (_, Some(a), _) => {
                format!("{}{}", a.short(), if self.preferred { ",pref" } else { "" })
            }
            (Some(h), None, Some(p)) => format!("{h}:{p}"),
            (Some(h), None, None) => h.clone(),
            (None, None, _) => "-".into(),
        }
    }

    /// Its device takes I/O: a SCSI device `running`, an NVMe controller
    /// `live`.
    pub fn usable(&self) -> bool {
        matches!(self.state.as_str(), "running" | "live")
    }

    /// Why this path is never part of a map, if it is not: a LUN of size
    /// 0 is a placeholder (EMC's LUNZ, a LUN the array has not mapped
    /// yet), with no data to reach.
    pub fn never_assembled(&self) -> Option<&'static str> {
        (self.size == 0).then_some("size 0: a placeholder LUN (such as LUNZ) or one not mapped yet")
    }
}

/// Why no map can be made of a LUN's paths (`map_spec` gave none).
pub fn why_no_map(paths: &[&Path]) -> &'static str {
    match paths.iter().find_map(|p| p.never_assembled()) {
        Some(why) if paths.iter().all(|p| p.never_assembled().is_some()) => why,
        _ => "no path in state running",
    }
}

impl Path {
    /// Why a one-path disk counts as an array's, for the log.
    pub fn transport_word(&self) -> &'static str {
        match self.transport {
            Transport::Iscsi => "iSCSI",
            Transport::Fc => "FC",
            Transport::Nvme(Fabric::Tcp) => "NVMe/TCP",
            Transport::Nvme(Fabric::Fc) => "NVMe/FC",
            Transport::Nvme(Fabric::Rdma) => "NVMe/RDMA",
            Transport::Nvme(_) => "NVMe",
            Transport::Sas if self.handler.is_some() => "SAS array LUN",
            _ if self.handler.is_some() || self.alua.is_some() => "array LUN",
            Transport::Sas => "SAS",
            Transport::Other => "local",
        }
    }

    /// Does this disk look like an array's LUN, which may have more paths
    /// than have appeared so far? iSCSI, FC and NVMe over fabrics are SAN
    /// transports; any LUN
    /// with a device handler (the kernel attaches one for ALUA/TPGS and for
    /// the arrays in its rdac/emc/hp_sw lists) is an array's. SAS alone is
    /// not: local disks hang off SAS HBAs too, and SAS array LUNs report
    /// ALUA.
    pub fn san_like(&self) -> bool {
        matches!(
            self.transport,
            Transport::Iscsi
                | Transport::Fc
                | Transport::Nvme(Fabric::Tcp | Fabric::Fc | Fabric::Rdma)
        ) || self.handler.is_some()
            || self.alua.is_some()
    }

    /// Sort key within the map: highest priority first (unknown last),
    /// preferred first, then host:channel:target:lun (multipath-tools'
    /// discovery order), then name.
    fn order_key(&self) -> (std::cmp::Reverse<i64>, bool, Vec<u64>, usize, &str) {
        let hctl = self
            .hctl
            .split(':')
            .map(|n| n.parse().unwrap_or(u64::MAX))
            .collect();
        (
            std::cmp::Reverse(self.prio.map_or(-1, i64::from)),
            !self.preferred,
            hctl,
            self.name.len(),
            &self.name,
        )
    }
}

/// How paths are spread over priority groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grouping {
    /// One group per priority, highest first; paths whose priority is
    /// unknown form one group of their own, last.
    #[default]
    GroupByPrio,
    /// One path per group, best first (multipath-tools' default).
    Failover,
    /// All paths in one group.
    Multibus,
}

impl Grouping {
    /// The word that names it on the command line.
    pub fn arg(self) -> &'static str {
        match self {
            Grouping::GroupByPrio => "group-by-prio",
            Grouping::Failover => "failover",
            Grouping::Multibus => "multibus",
        }
    }
}

impl FromStr for Grouping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "group-by-prio" | "group_by_prio" => Ok(Grouping::GroupByPrio),
            "failover" => Ok(Grouping::Failover),
            "multibus" => Ok(Grouping::Multibus),
            _ => Err(format!(
                "unknown grouping {s:?}: group-by-prio, failover or multibus"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selector {
    #[default]
    ServiceTime,
    RoundRobin,
    QueueLength,
}

impl Selector {
    pub fn target_name(self) -> &'static str {
        match self {
            Selector::ServiceTime => "service-time",
            Selector::RoundRobin => "round-robin",
            Selector::QueueLength => "queue-length",
        }
    }
}

impl FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "service-time" => Ok(Selector::ServiceTime),
            "round-robin" => Ok(Selector::RoundRobin),
            "queue-length" => Ok(Selector::QueueLength),
            _ => Err(format!(
                "unknown path selector {s:?}: service-time, round-robin or queue-length"
            )),
        }
    }
}

/// The knobs of a multipath table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub grouping: Grouping,
    pub selector: Selector,
    pub queue_if_no_path: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grouping: Grouping::default(),
            selector: Selector::default(),
            queue_if_no_path: true,
        }
    }
}

/// What one multipath map should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub uuid: String,
    pub wwid: String,
    pub size: u64,
    pub table: MultipathTable,
    /// Paths of the LUN left out of the table, and why.
    pub left_out: Vec<(String, String)>,
}

pub fn uuid_for(wwid: &str) -> String {
    format!("mpath-{wwid}")
}

/// All paths grouped by WWID, WWIDs in order of their first path.
pub fn by_wwid(paths: &[Path]) -> BTreeMap<&str, Vec<&Path>> {
    let mut m: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for p in paths {
        m.entry(p.wwid.as_str()).or_default().push(p);
    }
    for v in m.values_mut() {
        crate::sysfs::sort_short(v, |a, b| natural_cmp(&a.name, &b.name).is_lt());
    }
    m
}

/// All paths of one LUN have one size, except while it is resized online
/// (its paths rescanned one by one). A new map takes the first usable
/// path's size; a live map keeps its own until every path agrees on
/// another. A path of another size is left out, unless the live map has
/// it already: dropping it for a resize in progress would fail its I/O.
fn map_size(usable: &[&Path], live: Option<u64>) -> Option<u64> {
    let first = usable.first()?.size;
    match live {
        Some(l) if usable.iter().any(|p| p.size != first) => Some(l),
        _ => Some(first),
    }
}

/// What a live map has, for `map_spec` to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live<'a> {
    /// Paths (maj:min) in its table.
    pub devices: &'a [String],
    /// Its size (sectors), none for a map not made yet.
    pub size: Option<u64>,
    /// It is bio-based (`queue_mode bio`): a live map's queue mode cannot
    /// change by a reload.
    pub bio: bool,
}

/// Is this table bio-based (`queue_mode bio` among its features)?
pub fn is_bio(features: &[String]) -> bool {
    features
        .windows(2)
        .any(|w| w[0] == "queue_mode" && w[1] == "bio")
}

/// Build the map for one LUN from its paths. None when no path is usable.
/// Paths in the `live` map's table stay even when not running: a path
/// that is down but still present belongs in a live map's table, where the
/// kernel fails it and a checker reinstates it.
pub fn map_spec(wwid: &str, paths: &[&Path], policy: Policy, live: Live) -> Option<MapSpec> {
    let keep = live.devices;
    let mut left_out = Vec::new();
    let mut usable: Vec<&Path> = Vec::new();
    for p in paths {
        if !p.usable() && !keep.contains(&p.devt.to_string()) {
            left_out.push((p.name.clone(), format!("state {}", p.state)));
        } else if let Some(why) = p.never_assembled() {
            left_out.push((p.name.clone(), why.into()));
        } else {
            usable.push(p);
        }
    }
    let size = map_size(&usable, live.size)?;
    // Request-based dm cannot stack on nvme-tcp's blocking queue (the
    // kernel still loads such a table): a map with an NVMe/TCP path is
    // bio-based, as multipath-tools makes it. A live request-based map
    // keeps its mode; an NVMe/TCP path waits outside it.
    let tcp = |p: &Path| p.transport == Transport::Nvme(Fabric::Tcp);
    let bio = match live.size {
        Some(_) => live.bio,
        None => usable.iter().any(|p| tcp(p)),
    };
    usable.retain(|p| {
        let same = p.size == size || keep.contains(&p.devt.to_string());
        if !same {
            left_out.push((p.name.clone(), format!("size {} != {size}", p.size)));
        } else if !bio && tcp(p) {
            left_out.push((p.name.clone(), "NVMe/TCP path, request-based map".into()));
            return false;
        }
        same
    });
    if usable.is_empty() {
        return None;
    }
    crate::sysfs::sort_short(&mut usable, |a, b| a.order_key() < b.order_key());

    let groups: Vec<Vec<&Path>> = match policy.grouping {
        Grouping::Multibus => vec![usable],
        Grouping::Failover => usable.into_iter().map(|p| vec![p]).collect(),
        Grouping::GroupByPrio => {
            let mut groups: Vec<Vec<&Path>> = Vec::new();
            for p in usable {
                match groups.last_mut() {
                    Some(g) if g[0].prio == p.prio => g.push(p),
                    _ => groups.push(vec![p]),
                }
            }
            groups
        }
    };

    let handler = paths
        .iter()
        .find_map(|p| p.handler.clone())
        .map_or_else(Vec::new, |h| vec![h]);
    let mut features = Vec::new();
    if policy.queue_if_no_path {
        features.push("queue_if_no_path".to_string());
    }

    // Handlers that switch controllers (rdac, emc, hp_sw) answer "busy,
    // retry" while a LUN moves; the kernel's default of no retries fails
    // the path at the first one. multipath-tools' recipe for them: 50.
    if handler
        .iter()
        .any(|h| matches!(h.as_str(), "rdac" | "emc" | "hp_sw"))
    {
        features.extend(["pg_init_retries".to_string(), "50".to_string()]);
    }
    // Last, where the kernel puts it when it reads the table back.
    if bio {
        features.extend(["queue_mode".to_string(), "bio".to_string()]);
    }
    let table = MultipathTable {
        features,
        hw_handler: handler,
        initial_group: 1,
        groups: groups
            .into_iter()
            .map(|g| PathGroup {
                selector: policy.selector.target_name().to_string(),
                selector_args: Vec::new(),
                paths: g
                    .into_iter()
                    .map(|p| TablePath {
                        dev: p.devt.to_string(),
                        args: vec!["1".to_string()],
                    })
                    .collect(),
            })
            .collect(),
    };
    Some(MapSpec {
        name: wwid.to_string(),
        uuid: uuid_for(wwid),
        wwid: wwid.to_string(),
        size,
        table,
        left_out,
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn path(name: &str, minor: u32, alua: Option<AluaState>, state: &str) -> Path {
        Path {
            name: name.into(),
            devt: DevT { major: 8, minor },
            hctl: format!("{}:0:0:0", minor / 16),
            state: state.into(),
            size: 16384,
            wwid: "1Linux_scsi_debug_2000".into(),
            handler: alua.map(|_| "alua".into()),
            alua,
            preferred: false,
            tpgs: u8::from(alua.is_some()),
            port_group: None,
            rel_port: None,
            prio: alua.map(|a| alua_prio(a, false)),
            transport: Transport::Other,
        }
    }

    fn devs(spec: &MapSpec) -> Vec<Vec<String>> {
        spec.table
            .groups
            .iter()
            .map(|g| g.paths.iter().map(|p| p.dev.clone()).collect())
            .collect()
    }

    use AluaState::*;

    #[test]
    fn group_by_prio_orders_states() {
        let ps = [
            path("sdc", 32, Some(Standby), "running"),
            path("sda", 0, Some(Optimized), "running"),
            path("sdb", 16, Some(NonOptimized), "running"),
            path("sdd", 48, Some(Optimized), "running"),
        ];
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(
            devs(&spec),
            vec![vec!["8:0", "8:48"], vec!["8:16"], vec!["8:32"]]
        );
        assert_eq!(
            spec.table.to_string(),
            "1 queue_if_no_path 1 alua 3 1 service-time 0 2 1 8:0 1 8:48 1 \
             service-time 0 1 1 8:16 1 service-time 0 1 1 8:32 1"
        );
        assert_eq!(spec.uuid, "mpath-w");
    }

    #[test]
    fn priorities_are_multipath_tools() {
        // (state, PREF bit, priority): multipath-tools' alua and sysfs
        // prioritizers (prioritizers/alua.c, sysfs.c; multipath.conf(5)
        // "prio": optimized 50, non-optimized 10, lba-dependent 5,
        // standby 1, the rest 0; +80 for a preferred port group that is
        // not optimized).
        #[rustfmt::skip]
        let rows = [
            (Optimized, false, 50), (Optimized, true, 50),
            (NonOptimized, false, 10), (NonOptimized, true, 90),
            (LbaDependent, false, 5), (LbaDependent, true, 85),
            (Standby, false, 1), (Standby, true, 81),
            (Unavailable, false, 0), (Unavailable, true, 80),
            (Transitioning, false, 0), (Transitioning, true, 80),
            (Offline, false, 0), (Offline, true, 80),
        ];
        for (state, pref, want) in rows {
            assert_eq!(alua_prio(state, pref), want, "{state:?} pref={pref}");
        }
    }

    #[test]
    fn groups_follow_priorities() {
        let with = |name: &str, minor, st: Option<AluaState>, pref: bool| {
            let mut p = path(name, minor, st, "running");
            p.preferred = pref;
            p.prio = st.map(|s| alua_prio(s, pref));
            p
        };
        // (paths, expected groups): preferred A/N above plain A/O; LBA
        // before standby; preferred A/O merges with A/O; unknown last,
        // one group, never between known ones.
        #[rustfmt::skip]
        let rows: Vec<(Vec<Path>, Vec<Vec<&str>>)> = vec![
            (vec![with("sda", 0, Some(Optimized), false), with("sdb", 16, Some(NonOptimized), true)],
             vec![vec!["8:16"], vec!["8:0"]]),
            (vec![with("sda", 0, Some(Standby), false), with("sdb", 16, Some(LbaDependent), false)],
             vec![vec!["8:16"], vec!["8:0"]]),
            (vec![with("sda", 0, Some(Optimized), false), with("sdb", 16, Some(Optimized), true)],
             vec![vec!["8:16", "8:0"]]),
            (vec![with("sda", 0, None, false), with("sdb", 16, Some(Optimized), false),
                  with("sdc", 32, None, false), with("sdd", 48, Some(Standby), false)],
             vec![vec!["8:16"], vec!["8:48"], vec!["8:0", "8:32"]]),
            (vec![with("sda", 0, Some(Standby), true), with("sdb", 16, Some(Optimized), false),
                  with("sdc", 32, Some(Unavailable), false)],
             vec![vec!["8:0"], vec!["8:16"], vec!["8:32"]]),
        ];
        for (paths, want) in rows {
            let refs: Vec<&Path> = paths.iter().collect();
            let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
            assert_eq!(
                devs(&spec),
                want,
                "{:?}",
                paths.iter().map(Path::alua_word).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn switching_handlers_get_pg_init_retries() {
        let mut ps = [
            path("sda", 0, None, "running"),
            path("sdb", 16, None, "running"),
        ];
        for h in ["rdac", "emc", "hp_sw"] {
            ps[0].handler = Some(h.into());
            let refs: Vec<&Path> = ps.iter().collect();
            let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
            assert_eq!(
                spec.table.features,
                ["queue_if_no_path", "pg_init_retries", "50"]
            );
            assert_eq!(spec.table.hw_handler, [h]);
        }
        ps[0].handler = Some("alua".into());
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(spec.table.features, ["queue_if_no_path"]);
    }

    #[test]
    fn preferred_first_within_state() {
        let mut ps = [
            path("sda", 0, Some(Optimized), "running"),
            path("sdb", 16, Some(Optimized), "running"),
        ];
        ps[1].preferred = true;
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:16", "8:0"]]);
    }

    #[test]
    fn failover_and_multibus() {
        let ps = [
            path("sdb", 16, Some(NonOptimized), "running"),
            path("sda", 0, Some(Optimized), "running"),
        ];
        let refs: Vec<&Path> = ps.iter().collect();
        let fo = Policy {
            grouping: Grouping::Failover,
            ..Policy::default()
        };
        assert_eq!(
            devs(&map_spec("w", &refs, fo, Live::default()).unwrap()),
            vec![vec!["8:0"], vec!["8:16"]]
        );
        let mb = Policy {
            grouping: Grouping::Multibus,
            selector: Selector::RoundRobin,
            queue_if_no_path: false,
        };
        let spec = map_spec("w", &refs, mb, Live::default()).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:0", "8:16"]]);
        assert_eq!(
            spec.table.to_string(),
            "0 1 alua 1 1 round-robin 0 2 1 8:0 1 8:16 1"
        );
    }

    #[test]
    fn no_alua_is_one_group_and_no_handler() {
        let ps = [
            path("sdb", 16, None, "running"),
            path("sda", 0, None, "running"),
        ];
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:0", "8:16"]]);
        assert!(spec.table.hw_handler.is_empty());
    }

    #[test]
    fn offline_and_odd_sized_paths_left_out() {
        let mut ps = [
            path("sda", 0, Some(Optimized), "offline"),
            path("sdb", 16, Some(NonOptimized), "running"),
            path("sdc", 32, Some(NonOptimized), "running"),
        ];
        ps[2].size = 1;
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:16"]]);
        assert_eq!(spec.left_out.len(), 2);
        let all_off = [path("sda", 0, None, "offline")];
        let refs: Vec<&Path> = all_off.iter().collect();
        assert!(map_spec("w", &refs, Policy::default(), Live::default()).is_none());
        // Kept: a down path already in a live table stays.
        let keep = vec!["8:0".to_string()];
        assert!(map_spec(
            "w",
            &refs,
            Policy::default(),
            Live {
                devices: &keep,
                ..Live::default()
            }
        )
        .is_some());
    }

    /// An online resize: the LUN grows, its paths are rescanned one by
    /// one. The live map keeps its size and every path of its table until
    /// all paths agree on the new size; then it takes it. A new path of
    /// the other size meanwhile waits outside.
    #[test]
    fn a_live_map_is_resized_when_every_path_agrees() {
        let mut ps = [
            path("sda", 0, Some(Optimized), "running"),
            path("sdb", 16, Some(NonOptimized), "running"),
            path("sdc", 32, Some(NonOptimized), "running"),
        ];
        let old = ps[0].size;
        let table = vec!["8:0".to_string(), "8:16".to_string()];
        let live = Live {
            devices: &table,
            size: Some(old),
            bio: false,
        };
        ps[0].size = old * 2;
        let refs: Vec<&Path> = ps[..2].iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), live).unwrap();
        assert_eq!(spec.size, old, "the first path rescanned does not decide");
        assert_eq!(devs(&spec), vec![vec!["8:0"], vec!["8:16"]]);
        // A path new to the map, of the old size, joins; of the new, waits.
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), live).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:0"], vec!["8:16", "8:32"]]);
        ps[2].size = old * 2;
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), live).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:0"], vec!["8:16"]]);
        assert_eq!(spec.left_out.len(), 1);
        ps[1].size = old * 2;
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), live).unwrap();
        assert_eq!(spec.size, old * 2, "all agree: resized");
        assert_eq!(devs(&spec), vec![vec!["8:0"], vec!["8:16", "8:32"]]);
    }

    /// An NVMe/TCP path makes the map bio-based (request-based dm cannot
    /// stack on nvme-tcp); PCIe stays request-based; a live map keeps
    /// its mode, an NVMe/TCP path waiting outside a request-based one.
    #[test]
    fn nvme_tcp_maps_are_bio_based() {
        let mut ps = [
            path("nvme2n1", 0, None, "live"),
            path("nvme3n1", 16, None, "live"),
        ];
        for p in &mut ps {
            p.transport = Transport::Nvme(Fabric::Tcp);
        }
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(
            spec.table.features,
            ["queue_if_no_path", "queue_mode", "bio"]
        );
        assert!(is_bio(&spec.table.features));
        assert!(spec.table.hw_handler.is_empty());
        let table = vec!["8:0".to_string()];
        let request_based = Live {
            devices: &table,
            size: Some(ps[0].size),
            bio: false,
        };
        assert!(map_spec("w", &refs, Policy::default(), request_based).is_none());
        for p in &mut ps {
            p.transport = Transport::Nvme(Fabric::Pcie);
        }
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(spec.table.features, ["queue_if_no_path"]);
        assert_eq!(devs(&spec), vec![vec!["8:0", "8:16"]]);
    }

    #[test]
    fn zero_size_luns_are_never_assembled() {
        // An EMC LUNZ, a LUN not mapped yet: size 0 on every path.
        let mut ps = [
            path("sda", 0, None, "running"),
            path("sdb", 16, None, "running"),
        ];
        for p in &mut ps {
            p.size = 0;
        }
        let refs: Vec<&Path> = ps.iter().collect();
        assert!(map_spec("w", &refs, Policy::default(), Live::default()).is_none());
        assert!(why_no_map(&refs).starts_with("size 0: a placeholder LUN"));
        // One path of size 0 next to a real one: left out, and said why.
        ps[1].size = 16384;
        let refs: Vec<&Path> = ps.iter().collect();
        let spec = map_spec("w", &refs, Policy::default(), Live::default()).unwrap();
        assert_eq!(devs(&spec), vec![vec!["8:16"]]);
        assert!(spec.left_out[0].1.starts_with("size 0"));
        let down = [path("sda", 0, None, "offline")];
        let refs: Vec<&Path> = down.iter().collect();
        assert_eq!(why_no_map(&refs), "no path in state running");
    }

    #[test]
    fn devt_round_trip() {
        let d: DevT = "253:17".parse().unwrap();
        assert_eq!(
            d,
            DevT {
                major: 253,
                minor: 17
            }
        );
        assert_eq!(d.to_string(), "253:17");
        assert!("253".parse::<DevT>().is_err());
        assert!("a:b".parse::<DevT>().is_err());
    }
}
