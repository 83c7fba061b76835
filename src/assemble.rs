//! Assembling a chosen set of LUNs: plan every map first, then create or
//! reload them and their partition maps, reporting each action on stdout
//! and in the kernel log. Shared by `mpboot assemble` and the boot path.

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use crate::blockdev::{self, BlockDev};
use crate::dm::{Control, DeviceInfo};
use crate::error::{chain, Error, Result};
use crate::log;
use crate::maps;
use crate::nodes::{NodePolicy, Nodes};
use crate::sysfs::Sysfs;
use crate::topology::{self, DevT, MapSpec, Path, Policy, Transport};

#[derive(Debug, Clone)]
pub struct Options {
    pub policy: Policy,
    pub nodes: NodePolicy,
    pub partitions: bool,
    pub part_sep: String,
    pub dry_run: bool,
    /// Transport timeouts set on the paths of every map made or kept.
    pub fast_fail: crate::transport::FastFail,
}

/// One LUN to assemble.
#[derive(Debug, Clone)]
pub struct Want {
    pub wwid: String,
    /// Map name when not the WWID (binding, alias).
    pub name: Option<String>,
    /// Asked for by name: no usable path is an error, not a skip.
    pub required: bool,
}

/// A line for people (stdout) that also goes to the kernel log.
fn say(msg: &str) {
    crate::out!("{msg}");
    log::kmsg_only(log::Level::Notice, msg.trim_start());
}

fn describe_groups(spec: &MapSpec, paths: &[&Path]) -> String {
    let name_of = |dev: &str| {
        paths
            .iter()
            .find(|p| p.devt.to_string() == dev)
            .map_or(dev.to_string(), |p| format!("{} {}", p.name, p.alua_word()))
    };
    spec.table
        .groups
        .iter()
        .map(|g| {
            let names: Vec<String> = g.paths.iter().map(|p| name_of(&p.dev)).collect();
            format!("[{}]", names.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `device-mapper`'s misc numbers from sysfs, for making the control node.
pub fn misc_devt(sys: &Sysfs) -> Option<DevT> {
    sys.read_attr("class/misc/device-mapper/dev")
        .ok()
        .flatten()
        .and_then(|d| d.parse().ok())
}

pub fn run(
    sys: &Sysfs,
    dev_root: &FsPath,
    luns: &BTreeMap<&str, Vec<&Path>>,
    wants: &[Want],
    opts: &Options,
) -> Result<()> {
    let unknown: Vec<String> = wants
        .iter()
        .filter(|w| !luns.contains_key(w.wwid.as_str()))
        .map(|w| w.wwid.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownWwid { wwids: unknown });
    }
    // The arrays' own view of the paths' priorities, before planning.
    let mut asked: Vec<Path> = wants
        .iter()
        .flat_map(|w| &luns[w.wwid.as_str()])
        .map(|p| (*p).clone())
        .collect();
    crate::array::ask(
        sys,
        dev_root,
        &mut asked,
        !opts.dry_run,
        &[],
        crate::array::WAIT,
    );
    let luns = topology::by_wwid(&asked);
    // Plan everything before touching anything.
    let mut plans = Vec::new();
    for w in wants {
        let paths = &luns[w.wwid.as_str()];
        match topology::map_spec(&w.wwid, paths, opts.policy, Default::default()) {
            Some(mut spec) => {
                if let Some(n) = &w.name {
                    spec.name = n.clone();
                }
                plans.push((spec, paths));
            }
            None if w.required => {
                return Err(Error::NoUsablePath {
                    wwid: w.wwid.clone(),
                    why: topology::why_no_map(paths),
                })
            }
            None => log::warn(&format!(
                "{}: {}; skipped",
                w.wwid,
                topology::why_no_map(paths)
            )),
        }
    }
    if opts.dry_run {
        for (spec, _) in &plans {
            crate::out!("{}: 0 {} multipath {}", spec.name, spec.size, spec.table);
        }
        return Ok(());
    }
    if plans.is_empty() {
        crate::out!("nothing to assemble");
        return Ok(());
    }

    let ctl = Control::open(dev_root, misc_devt(sys))?;
    let nodes = Nodes::new(dev_root, FsPath::new("/run"), opts.nodes);
    let mut failed = 0;
    for (spec, paths) in &plans {
        let out = match maps::apply(&ctl, &nodes, spec) {
            Ok(out) => out,
            Err(e) => {
                log::err(&format!("{}: {}", spec.name, chain(&e)));
                failed += 1;
                continue;
            }
        };
        let info = out.info();
        say(&format!(
            "{} {} ({}) {} sectors, {} paths in {} groups: {}",
            out.verb(),
            info.name,
            info.devt,
            spec.size,
            spec.table
                .groups
                .iter()
                .map(|g| g.paths.len())
                .sum::<usize>(),
            spec.table.groups.len(),
            describe_groups(spec, paths)
        ));
        for (p, why) in &spec.left_out {
            say(&format!("  left out {p}: {why}"));
        }
        let names: Vec<&str> = paths
            .iter()
            .filter(|p| matches!(p.transport, Transport::Iscsi | Transport::Fc))
            .map(|p| p.name.as_str())
            .collect();
        crate::transport::tune(sys, &names, &opts.fast_fail);
        if opts.partitions {
            let queueing = opts.policy.queue_if_no_path && matches!(out, maps::Outcome::Created(_));
            let read = without_queueing(&ctl, info, queueing, || {
                partitions(sys, dev_root, &ctl, &nodes, info, &opts.part_sep)
            });
            if let Err(e) = read {
                log::err(&format!("{}: partitions: {}", info.name, chain(&e)));
                failed += 1;
            }
        }
        // Partition maps first: what LVM stacked on a path's partition
        // moves onto them, then the paths' own partitions can go.
        crate::stacked::adopt(&ctl, sys, info, paths, &opts.part_sep);
        drop_path_partitions(sys, dev_root, paths);
    }
    if failed > 0 {
        return Err(Error::Several { failed });
    }
    Ok(())
}

/// Delete the kernel's own partitions of these paths (`sda1` …): the map's
/// partition maps replace them, and using them would bypass multipath. One
/// in use (mounted directly) is left, with a warning. One line says which
/// went, however many paths there are. A path whose device or SCSI host is
/// not running is left for a later look: opening its disk would wait,
/// uninterruptibly, for the host's error recovery.
pub fn drop_path_partitions(sys: &Sysfs, dev_root: &FsPath, paths: &[&Path]) {
    let mut removed = Vec::new();
    for p in paths {
        let Ok(entries) = sys.list(&format!("block/{}", p.name)) else {
            continue;
        };
        let mut parts = entries.iter().filter(|e| e.starts_with(&p.name)).peekable();
        if parts.peek().is_none() {
            continue;
        }
        if !opens_at_once(sys, p) {
            log::detail(&format!(
                "{}: its device or host is recovering: its partitions are left for a later look",
                p.name
            ));
            continue;
        }
        for part in parts {
            let Ok(Some(pno)) = sys.read_num::<u32>(&format!("block/{}/{part}/partition", p.name))
            else {
                continue;
            };
            match crate::blkpg::del_partition(&dev_root.join(&p.name), pno) {
                Ok(()) => removed.push(part.clone()),
                Err(nix::errno::Errno::EBUSY) => log::warn(&format!(
                    "{part} is in use directly, bypassing multipath; left alone"
                )),
                Err(e) => log::warn(&format!("cannot remove {part}: {e}")),
            }
        }
    }
    if !removed.is_empty() {
        say(&format!(
            "  removed the paths' own partitions (the map's are used): {}",
            crate::text::first_few(&removed, 8)
        ));
    }
}

/// Would opening the path's disk return at once? Not while its device or
/// its SCSI host is anything but running (`sd_open` waits for the host's
/// error recovery), as far as sysfs tells now.
fn opens_at_once(sys: &Sysfs, p: &Path) -> bool {
    let state = |attr: &str| sys.read_attr(attr).ok().flatten();
    let device = state(&format!("block/{}/device/state", p.name));
    if let crate::topology::Transport::Nvme(_) = p.transport {
        // The controller: resetting or connecting, an open waits.
        return device.as_deref() == Some("live");
    }
    let host = p.hctl.split(':').next().unwrap_or_default();
    device.as_deref() == Some("running")
        && state(&format!("class/scsi_host/host{host}/state")).as_deref() == Some("running")
}

/// mpboot's own read through a map must never queue for ever: a map with
/// no live path is not read at all, and on a map just made (nobody else
/// uses it yet) queueing is off while `read` runs, so a path lost
/// meanwhile fails the read instead of hanging the boot.
fn without_queueing(
    ctl: &Control,
    map: &DeviceInfo,
    queueing: bool,
    read: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let live = maps::view(ctl, &map.name)?.is_some_and(|v| v.status.first_usable_group().is_some());
    if !live {
        return Err(Error::NoLivePath {
            map: map.name.clone(),
        });
    }
    let id = crate::dm::DevId::Name(&map.name);
    if queueing {
        ctl.target_msg(id, 0, "fail_if_no_path")?;
    }
    let done = read();
    if queueing {
        ctl.target_msg(id, 0, "queue_if_no_path")?;
    }
    done
}

/// Map the partitions of an assembled map. A table that cannot be read is
/// reported and leaves existing partition maps alone.
fn partitions(
    sys: &Sysfs,
    dev_root: &FsPath,
    ctl: &Control,
    nodes: &Nodes,
    map: &DeviceInfo,
    sep: &str,
) -> Result<()> {
    let size = sys
        .read_num(&format!("dev/block/{}/size", map.devt))?
        .unwrap_or(0);
    let block = sys
        .read_num(&format!("dev/block/{}/queue/logical_block_size", map.devt))?
        .unwrap_or(512);
    let node = blockdev::node_for(dev_root, &nodes.path(&map.name), map.devt);
    let table = BlockDev::open(&node, size, block)?.partition_table()?;
    for note in table.iter().flat_map(|t| &t.notes) {
        log::warn(&format!("{}: {note}", map.name));
    }
    let sync = maps::sync_partitions(ctl, sys, nodes, map, table.as_ref(), sep)?;
    for (name, out) in &sync.made {
        let p = table.as_ref().and_then(|t| {
            t.partitions
                .iter()
                .find(|p| name.ends_with(&format!("{sep}{}", p.number)))
        });
        say(&format!(
            "  {} {name} ({}){}",
            out.verb(),
            out.info().devt,
            p.map_or(String::new(), |p| format!(
                " start {} size {}",
                p.start, p.size
            ))
        ));
    }
    for name in &sync.removed {
        say(&format!(
            "  removed {name}: no longer in the partition table"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::sysfs::scan;
    use crate::sysfs::scsi::tests::{captured, Tree};

    /// A disk is opened (for its partitions) only while its device and its
    /// host run: `sd_open` waits for a recovering host's error handling.
    #[test]
    fn a_recovering_host_is_not_opened() {
        let t = Tree::new("recovering");
        t.disk("sda", "8:0", "3:0:0:1", &captured("scsi_debug.pg83"), None);
        let host = "class/scsi_host/host3/state";
        let path = || scan(&t.sysfs()).unwrap().paths.remove(0);
        assert!(!super::opens_at_once(&t.sysfs(), &path()), "no host state");
        t.file(host, b"running\n");
        assert!(super::opens_at_once(&t.sysfs(), &path()));
        t.file(host, b"recovery\n");
        assert!(!super::opens_at_once(&t.sysfs(), &path()));
        t.file(host, b"running\n");
        t.file("devices/platform/host/3:0:0:1/state", b"blocked\n");
        assert!(!super::opens_at_once(&t.sysfs(), &path()));
    }
}
