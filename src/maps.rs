//! Making the kernel's maps match map specifications: create, reload in
//! place, leave alone, remove. Never removes or reloads a map that is fine.

use crate::dm::uapi::Target;
use crate::dm::{Control, DevId, DeviceInfo, TableView};
use crate::error::{Error, Result};
use crate::nodes::Nodes;
use crate::partitions::Table;
use crate::sysfs::Sysfs;
use crate::table::{MultipathStatus, MultipathTable};
use crate::topology::MapSpec;

pub const UUID_PREFIX: &str = "mpath-";

#[derive(Debug)]
pub enum Outcome {
    Created(DeviceInfo),
    Unchanged(DeviceInfo),
    Reloaded(DeviceInfo),
}

impl Outcome {
    pub fn info(&self) -> &DeviceInfo {
        match self {
            Outcome::Created(i) | Outcome::Unchanged(i) | Outcome::Reloaded(i) => i,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Outcome::Created(_) => "created",
            Outcome::Unchanged(_) => "unchanged",
            Outcome::Reloaded(_) => "reloaded",
        }
    }
}

fn target(spec: &MapSpec) -> Target {
    Target {
        start: 0,
        length: spec.size,
        target_type: "multipath".into(),
        params: spec.table.to_string(),
    }
}

/// A map's single multipath target, parsed; an error for anything else.
fn multipath_target(name: &str, targets: &[Target]) -> Result<(u64, String)> {
    match targets {
        [t] if t.target_type == "multipath" && t.start == 0 => Ok((t.length, t.params.clone())),
        _ => Err(Error::Table {
            target: name.into(),
            what: format!(
                "not a single multipath target: {:?}",
                targets.iter().map(|t| &t.target_type).collect::<Vec<_>>()
            ),
        }),
    }
}

fn parse<T: std::str::FromStr<Err = String>>(name: &str, params: &str) -> Result<T> {
    params.parse().map_err(|what| Error::Table {
        target: name.into(),
        what: format!("{what} in {params:?}"),
    })
}

/// Make the kernel hold a map `name`/`uuid` with `targets`. An existing map
/// with that UUID is left alone when `same` says its live table is already
/// right, else reloaded in place (noflush: queued I/O stays queued).
fn ensure(
    ctl: &Control,
    nodes: &Nodes,
    name: &str,
    uuid: &str,
    targets: &[Target],
    same: &dyn Fn(&DeviceInfo, &[Target]) -> Result<bool>,
) -> Result<Outcome> {
    let by_uuid = DevId::Uuid(uuid);
    // One ioctl answers both "does it exist" and "what is its table".
    if let Some((info, live)) = ctl.find_table(by_uuid, TableView::Table)? {
        if info.live_table && same(&info, &live)? {
            nodes.ensure(&info.name, info.devt)?;
            return Ok(Outcome::Unchanged(info));
        }
        ctl.table_load(by_uuid, targets)?;
        let info = match ctl.dev_resume(by_uuid, true, false) {
            Ok(i) => i,
            Err(e) => {
                let _ = ctl.table_clear(by_uuid);
                return Err(e);
            }
        };
        nodes.ensure(&info.name, info.devt)?;
        return Ok(Outcome::Reloaded(info));
    }
    let by_name = DevId::Name(name);
    if let Some(other) = ctl.dev_status(by_name)? {
        return Err(Error::NameTaken {
            name: name.into(),
            uuid: other.uuid,
        });
    }
    nodes.check_free(name)?;
    ctl.dev_create(name, uuid)?;
    let made = ctl
        .table_load(by_name, targets)
        .and_then(|_| ctl.dev_resume(by_name, false, true))
        .and_then(|info| nodes.ensure(name, info.devt).map(|()| info));
    let info = match made {
        Ok(i) => i,
        Err(e) => {
            // Leave nothing half-made behind.
            let _ = ctl.dev_remove(by_name);
            return Err(e);
        }
    };
    Ok(Outcome::Created(info))
}

/// Make the kernel hold the multipath map `spec` describes. A map with our
/// UUID (ours, or multipathd's) keeps its name; same paths and groups mean
/// it is left alone.
pub fn apply(ctl: &Control, nodes: &Nodes, spec: &MapSpec) -> Result<Outcome> {
    ensure(
        ctl,
        nodes,
        &spec.name,
        &spec.uuid,
        &[target(spec)],
        &|info, live| {
            let (size, params) = multipath_target(&info.name, live)?;
            let live: MultipathTable = parse(&info.name, &params)?;
            Ok(size == spec.size && live.same_layout(&spec.table))
        },
    )
}

/// Partition maps the way Debian's kpartx makes them (`kpartx -p -part`):
/// `<map><sep><N>`, DM UUID `part<N>-<map uuid>`, a linear target on the map.
pub fn partition_targets(
    parent: &DeviceInfo,
    table: &Table,
    sep: &str,
) -> Vec<(String, String, Target)> {
    table
        .partitions
        .iter()
        .map(|p| {
            (
                format!("{}{sep}{}", parent.name, p.number),
                format!("part{}-{}", p.number, parent.uuid),
                Target {
                    start: 0,
                    length: p.size,
                    target_type: "linear".into(),
                    params: format!("{} {}", parent.devt, p.start),
                },
            )
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct PartSync {
    pub made: Vec<(String, Outcome)>,
    pub removed: Vec<String>,
}

/// Make the partition maps on `parent` match `table` (None: no table, so
/// none): create or reload what it lists, remove what it no longer does.
pub fn sync_partitions(
    ctl: &Control,
    sys: &Sysfs,
    nodes: &Nodes,
    parent: &DeviceInfo,
    table: Option<&Table>,
    sep: &str,
) -> Result<PartSync> {
    let wanted = table.map_or_else(Vec::new, |t| partition_targets(parent, t, sep));
    let mut sync = PartSync::default();
    for (name, uuid) in partition_children(sys, parent)? {
        if !wanted.iter().any(|(_, u, _)| *u == uuid) {
            remove_one(ctl, nodes, &name)?;
            sync.removed.push(name);
        }
    }
    for (name, uuid, t) in &wanted {
        let want = std::slice::from_ref(t);
        let out = ensure(ctl, nodes, name, uuid, want, &|_, live| Ok(live == want))?;
        sync.made.push((name.clone(), out));
    }
    Ok(sync)
}

/// DM devices stacked on `parent` (its sysfs `holders/`): (name, uuid).
fn holders(sys: &Sysfs, parent: &DeviceInfo) -> Result<Vec<(String, String)>> {
    let dir = format!("dev/block/{}/holders", parent.devt);
    let mut out = Vec::new();
    for h in sys.list(&dir)? {
        let attr = |a: &str| sys.read_attr(&format!("{dir}/{h}/dm/{a}"));
        if let (Some(name), uuid) = (attr("name")?, attr("uuid")?) {
            out.push((name, uuid.unwrap_or_default()));
        }
    }
    Ok(out)
}

/// Partition maps (ours or kpartx's) on `parent`: (name, uuid).
fn partition_children(sys: &Sysfs, parent: &DeviceInfo) -> Result<Vec<(String, String)>> {
    let suffix = format!("-{}", parent.uuid);
    Ok(holders(sys, parent)?
        .into_iter()
        .filter(|(_, u)| {
            u.strip_suffix(&suffix)
                .and_then(|p| p.strip_prefix("part"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect())
}

/// A multipath map as the kernel has it.
#[derive(Debug, Clone)]
pub struct MapView {
    pub info: DeviceInfo,
    pub size: u64,
    pub table: MultipathTable,
    pub status: MultipathStatus,
}

pub fn is_multipath_uuid(uuid: &str) -> bool {
    uuid.starts_with(UUID_PREFIX)
}

/// One map by name, with table and status; None if absent or not multipath.
pub fn view(ctl: &Control, name: &str) -> Result<Option<MapView>> {
    let id = DevId::Name(name);
    let Some((info, t)) = ctl.find_table(id, TableView::Table)? else {
        return Ok(None);
    };
    if !is_multipath_uuid(&info.uuid) || !info.live_table {
        return Ok(None);
    }
    let (size, params) = multipath_target(name, &t)?;
    let table = parse(name, &params)?;
    let (_, s) = ctl.table_status(id, TableView::Status)?;
    let (_, params) = multipath_target(name, &s)?;
    let status = parse(name, &params)?;
    Ok(Some(MapView {
        info,
        size,
        table,
        status,
    }))
}

/// Remove one multipath map, its partition maps first, and their nodes.
/// Refuses maps that are open, or held by anything but partition maps.
pub fn remove(ctl: &Control, sys: &Sysfs, nodes: &Nodes, name: &str) -> Result<DeviceInfo> {
    let info = ctl
        .dev_status(DevId::Name(name))?
        .filter(|i| is_multipath_uuid(&i.uuid))
        .ok_or_else(|| Error::NoSuchMap { name: name.into() })?;
    let parts = partition_children(sys, &info)?;
    // Check everything before removing anything: a map held by something
    // other than its partition maps, or with a partition in use, stays whole.
    let in_use = |name: &str, open_count| Error::MapInUse {
        name: name.into(),
        open_count,
    };
    if holders(sys, &info)?.len() > parts.len() || info.open_count > parts.len() as i32 {
        return Err(in_use(name, info.open_count));
    }
    for (part, _) in &parts {
        if let Some(p) = ctl.dev_status(DevId::Name(part))? {
            if p.open_count > 0 {
                return Err(in_use(part, p.open_count));
            }
        }
    }
    for (part, _) in &parts {
        remove_one(ctl, nodes, part)?;
    }
    remove_one(ctl, nodes, name)
}

/// Remove one DM device and its node, unless it is open.
fn remove_one(ctl: &Control, nodes: &Nodes, name: &str) -> Result<DeviceInfo> {
    let id = DevId::Name(name);
    let info = ctl
        .dev_status(id)?
        .ok_or_else(|| Error::NoSuchMap { name: name.into() })?;
    if info.open_count > 0 {
        return Err(Error::MapInUse {
            name: name.into(),
            open_count: info.open_count,
        });
    }
    let info = ctl.dev_remove(id)?;
    nodes.remove(name)?;
    Ok(info)
}
