//! `mpboot status`: the maps as the kernel has them, and the supervisor's view.

use std::path::Path as FsPath;

use crate::assemble::misc_devt;
use crate::dm::Control;
use crate::error::{Error, Result};
use crate::maps::{self, MapView};
use crate::sysfs::{scsi, Sysfs};
use crate::table::GroupState;
use crate::topology::Path;

/// Kernel name and sysfs view of the path with numbers `dev`.
pub fn path_by_devt(sys: &Sysfs, dev: &str) -> Option<Path> {
    let name = sys.link_name(&format!("dev/block/{dev}")).ok()??;
    let mut p = crate::sysfs::read_path(sys, &name).ok()??;
    scsi::read_alua(sys, &mut p);
    Some(p)
}

pub fn print_map(sys: &Sysfs, v: &MapView) {
    let t = &v.table;
    crate::out!(
        "{} ({}) dm-{} size={} features='{}' hwhandler='{}' open={}{}",
        v.info.name,
        v.info.devt,
        v.info.devt.minor,
        v.size,
        t.features.join(" "),
        t.hw_handler.join(" "),
        v.info.open_count,
        if v.info.suspended { " SUSPENDED" } else { "" }
    );
    for (i, g) in t.groups.iter().enumerate() {
        let gs = v.status.groups.get(i);
        let state = match gs.map(|g| g.state) {
            Some(GroupState::Active) => "active",
            Some(GroupState::Enabled) => "enabled",
            Some(GroupState::Disabled) => "disabled",
            None => "?",
        };
        crate::out!("  group {} {state} {}", i + 1, g.selector);
        for p in &g.paths {
            let ps = gs.and_then(|g| g.paths.iter().find(|s| s.dev == p.dev));
            let dm_state = match ps {
                Some(s) if s.active => "active".to_string(),
                Some(s) => format!("failed({})", s.fail_count),
                None => "?".into(),
            };
            let (name, scsi, alua) = match path_by_devt(sys, &p.dev) {
                Some(sp) => {
                    let a = sp.alua_word();
                    (sp.name, sp.state, a)
                }
                None => ("?".into(), "gone".into(), "-".into()),
            };
            crate::out!(
                "    {:<6} {:<7} {:<10} {:<8} {alua}",
                name,
                p.dev,
                dm_state,
                scsi
            );
        }
    }
}

/// Every DM device's name, sorted (mpath9 before mpath10).
pub fn device_names(ctl: &Control) -> Result<Vec<String>> {
    let mut names: Vec<String> = ctl.list_devices()?.into_iter().map(|(n, _)| n).collect();
    crate::sysfs::sort_names(&mut names);
    Ok(names)
}

/// The running supervisor's view, when there is one.
pub fn supervisor_view(run_dir: &FsPath) {
    let Ok(state) = std::fs::read_to_string(run_dir.join("state")) else {
        return;
    };
    let pid = state
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .unwrap_or("");
    if pid.is_empty() || !FsPath::new(&format!("/proc/{pid}")).exists() {
        return;
    }
    for l in describe_supervisor(&state, crate::supervisor::boottime_ms()) {
        crate::out!("{l}");
    }
}

/// The supervisor loop wakes at least every second and rewrites its
/// view each time: older than this (ms), the view is stale.
pub const STATE_STALE_MS: u64 = 5000;

/// The supervisor's state file for people, with the view's age (`now` in
/// ms since boot, `supervisor::boottime_ms`): a view that has not been
/// rewritten lately is said to be stale, never shown as if it were current.
pub fn describe_supervisor(state: &str, now: u64) -> Vec<String> {
    let mut lines = state.lines();
    let pid = lines
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .unwrap_or("?");
    let head = match crate::supervisor::view_age_ms(state, now) {
        Some(age) if age > STATE_STALE_MS => format!(
            "supervisor @mpboot (pid {pid}): STALE view from {} s ago \
             (the supervisor has not updated it since; it may be stuck):",
            age / 1000
        ),
        Some(age) => format!(
            "supervisor @mpboot (pid {pid}), view from {}.{} s ago:",
            age / 1000,
            age % 1000 / 100
        ),
        None => format!("supervisor @mpboot (pid {pid}), view of unknown age:"),
    };
    std::iter::once(head)
        .chain(
            lines
                .filter(|l| !l.starts_with("boottime "))
                .map(|l| format!("  {l}")),
        )
        .collect()
}

pub fn status(sys: &Sysfs, dev_root: &FsPath, names: &[String], run_dir: &FsPath) -> Result<()> {
    supervisor_view(run_dir);
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    let (names, all) = if names.is_empty() {
        (device_names(&ctl)?, true)
    } else {
        (names.to_vec(), false)
    };
    let mut missing = Vec::new();
    for name in &names {
        match maps::view(&ctl, name)? {
            Some(v) => print_map(sys, &v),
            // Listing everything: other DM devices are simply not ours to show.
            None if all => {}
            None => missing.push(name.clone()),
        }
    }
    match missing.first() {
        Some(name) => Err(Error::NoSuchMap { name: name.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_supervisor_view_says_so() {
        let state = "pid 42\nboottime 1000.500\nmap m 254:0\n  group 1 sda 8:0 active\n";
        let fresh = describe_supervisor(state, 1_001_000);
        assert_eq!(
            fresh[0],
            "supervisor @mpboot (pid 42), view from 0.5 s ago:"
        );
        assert_eq!(fresh[1..], ["  map m 254:0", "    group 1 sda 8:0 active"]);
        let stale = describe_supervisor(state, 1_143_000);
        assert!(
            stale[0].contains("STALE view from 142 s ago"),
            "{}",
            stale[0]
        );
        let old = describe_supervisor("pid 42\nmap m 254:0\n", 5000);
        assert!(old[0].contains("unknown age"), "{}", old[0]);
    }
}
