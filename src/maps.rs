//! Making the kernel's maps match map specifications: create, reload in
//! place, leave alone, remove. Never removes or reloads a map that is fine.

use crate::dm::uapi::Target;
use crate::dm::{Control, DevId, DeviceInfo, TableView};
use crate::error::{Error, Result};
use crate::nodes::Nodes;
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

/// Make the kernel hold the map `spec` describes.
pub fn apply(ctl: &Control, nodes: &Nodes, spec: &MapSpec) -> Result<Outcome> {
    let by_uuid = DevId::Uuid(&spec.uuid);
    // One ioctl answers both "does it exist" and "what is its table".
    if let Some((info, targets)) = ctl.find_table(by_uuid, TableView::Table)? {
        // Ours (or multipathd's): same UUID. Keep it if it is already right.
        if info.live_table {
            let (size, params) = multipath_target(&info.name, &targets)?;
            let live: MultipathTable = parse(&info.name, &params)?;
            if size == spec.size && live.same_layout(&spec.table) {
                nodes.ensure(&info.name, info.devt)?;
                return Ok(Outcome::Unchanged(info));
            }
        }
        // Different paths or groups: swap the table under running I/O.
        ctl.table_load(by_uuid, &[target(spec)])?;
        let info = match ctl.dev_resume(by_uuid, true) {
            Ok(i) => i,
            Err(e) => {
                let _ = ctl.table_clear(by_uuid);
                return Err(e);
            }
        };
        nodes.ensure(&info.name, info.devt)?;
        return Ok(Outcome::Reloaded(info));
    }
    let by_name = DevId::Name(&spec.name);
    if let Some(other) = ctl.dev_status(by_name)? {
        return Err(Error::NameTaken {
            name: spec.name.clone(),
            uuid: other.uuid,
        });
    }
    ctl.dev_create(&spec.name, &spec.uuid)?;
    let made = ctl
        .table_load(by_name, &[target(spec)])
        .and_then(|_| ctl.dev_resume(by_name, false));
    let info = match made {
        Ok(i) => i,
        Err(e) => {
            // Leave nothing half-made behind.
            let _ = ctl.dev_remove(by_name);
            return Err(e);
        }
    };
    nodes.ensure(&spec.name, info.devt)?;
    Ok(Outcome::Created(info))
}

/// A multipath map as the kernel has it.
#[derive(Debug)]
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

/// Remove one multipath map and its node. Refuses open maps.
pub fn remove(ctl: &Control, nodes: &Nodes, name: &str) -> Result<DeviceInfo> {
    let id = DevId::Name(name);
    let info = ctl
        .dev_status(id)?
        .filter(|i| is_multipath_uuid(&i.uuid))
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
