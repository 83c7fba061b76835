//! Devices stacked on a path rather than on the map: LVM activated a
//! volume group during udev's coldplug, before boot mode made the map
//! (initramfs-tools runs its local-top scripts after the coldplug), so the
//! logical volume sits on one path, bypassing multipath, and the map
//! shares that path with it. device-mapper lets both claim it. A logical
//! volume nobody has opened yet (root is not mounted) is moved onto the
//! map: its linear segments are reloaded to point at the map (or the map's
//! partition map) at the same offsets, as LVM would have made them had it
//! looked after the map existed. LVM's metadata names PVs by UUID, not by
//! device, so nothing of LVM's changes. One that is open is left alone,
//! with a warning.

use crate::dm::{Control, DevId, TableView, Target};
use crate::error::{chain, Result};
use crate::log;
use crate::sysfs::Sysfs;
use crate::topology::Path;

/// The segments of a table with each linear target's device moved by
/// `moves` (maj:min to maj:min). None when a target is not linear, or none
/// of them uses a moved device.
pub fn rewrite(targets: &[Target], moves: &[(String, String)]) -> Option<Vec<Target>> {
    let mut changed = false;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        if t.target_type != "linear" {
            return None;
        }
        let mut words = t.params.split_whitespace();
        let (dev, offset) = (words.next()?, words.next()?);
        if words.next().is_some() {
            return None;
        }
        let dev = match moves.iter().find(|(from, _)| from == dev) {
            Some((_, to)) => {
                changed = true;
                to.as_str()
            }
            None => dev,
        };
        out.push(Target {
            params: format!("{dev} {offset}"),
            ..t.clone()
        });
    }
    changed.then_some(out)
}

/// What is stacked on the paths or their partitions, other than our own
/// maps, and where each path device should be used from instead: a path's
/// maj:min to the map's, a partition's to its partition map's.
fn survey(
    ctl: &Control,
    sys: &Sysfs,
    map: &crate::dm::DeviceInfo,
    paths: &[&Path],
    part_sep: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut holders: Vec<String> = Vec::new();
    let mut moves = Vec::new();
    for p in paths {
        let base = format!("block/{}", p.name);
        let mut devs = vec![(base.clone(), map.devt.to_string())];
        for part in sys.list(&base).unwrap_or_default() {
            let dir = format!("{base}/{part}");
            if let (true, Ok(Some(n))) = (
                part.starts_with(&p.name),
                sys.read_attr(&format!("{dir}/partition")),
            ) {
                let name = format!("{}{part_sep}{n}", map.name);
                if let Ok(Some(info)) = ctl.dev_status(DevId::Name(&name)) {
                    devs.push((dir, info.devt.to_string()));
                }
            }
        }
        for (dir, to) in devs {
            if let Ok(Some(devt)) = sys.read_attr(&format!("{dir}/dev")) {
                moves.push((devt, to));
            }
            for h in sys.list(&format!("{dir}/holders")).unwrap_or_default() {
                let uuid = sys.read_attr(&format!("block/{h}/dm/uuid")).ok().flatten();
                // Ours: mpath-WWID, and partition maps' partN-mpath-WWID.
                let ours = uuid.as_deref().is_some_and(|u| {
                    u.split_once('-')
                        .is_some_and(|(a, b)| a == "mpath" || b.starts_with("mpath-"))
                });
                if !ours && !holders.contains(&h) {
                    holders.push(h);
                }
            }
        }
    }
    (holders, moves)
}

/// Move what is stacked on `paths` onto the map `map`, now that it exists.
pub fn adopt(
    ctl: &Control,
    sys: &Sysfs,
    map: &crate::dm::DeviceInfo,
    paths: &[&Path],
    part_sep: &str,
) {
    let (holders, moves) = survey(ctl, sys, map, paths, part_sep);
    for h in holders {
        let Ok(Some(name)) = sys.read_attr(&format!("block/{h}/dm/name")) else {
            continue;
        };
        if let Err(e) = adopt_one(ctl, &name, &map.name, &moves) {
            log::warn(&format!("{name}: {}", chain(&e)));
        }
    }
}

fn adopt_one(ctl: &Control, name: &str, map: &str, moves: &[(String, String)]) -> Result<()> {
    let id = DevId::Name(name);
    let (info, targets) = ctl.table_status(id, TableView::Table)?;
    let new = rewrite(&targets, moves).filter(|_| info.open_count == 0);
    let Some(new) = new else {
        log::warn(&format!(
            "{name} uses a path of {map} directly, bypassing multipath, and is open or not a \
             plain linear device: left alone"
        ));
        return Ok(());
    };
    ctl.table_load(id, &new)?;
    ctl.dev_resume(id, false, false)?;
    log::notice(&format!(
        "{name} was activated on a path of {map} (LVM during udev's coldplug?): moved onto the \
         map, same offsets"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(start: u64, len: u64, params: &str) -> Target {
        Target {
            start,
            length: len,
            target_type: "linear".into(),
            params: params.into(),
        }
    }

    #[test]
    fn linear_segments_move_to_the_map() {
        let moves: Vec<(String, String)> = [("8:0", "254:2"), ("8:33", "254:3")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let t = [linear(0, 100, "8:0 2048"), linear(100, 50, "8:16 2048")];
        let got = rewrite(&t, &moves).unwrap();
        assert_eq!(got[0].params, "254:2 2048");
        assert_eq!(got[1].params, "8:16 2048");
        assert_eq!((got[1].start, got[1].length), (100, 50));
        assert_eq!(
            rewrite(&[linear(0, 8, "8:33 0")], &moves).unwrap()[0].params,
            "254:3 0"
        );
        // Nothing on a moved device, another target type, odd params: none.
        assert!(rewrite(&[linear(0, 8, "8:16 0")], &moves).is_none());
        let striped = Target {
            target_type: "striped".into(),
            ..linear(0, 8, "2 128 8:0 0 8:16 0")
        };
        assert!(rewrite(&[striped], &moves).is_none());
        assert!(rewrite(&[linear(0, 8, "8:0")], &moves).is_none());
        assert!(rewrite(&[linear(0, 8, "8:0 0 extra")], &moves).is_none());
    }
}
