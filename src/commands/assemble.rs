//! `mpboot assemble` (by WWID, `--all`, `--root`) and `mpboot supervise`,
//! with the hand-over from one to the other.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::scan;
use crate::assemble::{self, Want};
use crate::boot;
use crate::cli::{AssembleCmd, SuperviseCmd, Top};
use crate::error::{Error, Result};
use crate::log;
use crate::supervisor;
use crate::sysfs::Sysfs;
use crate::topology::{self, Policy};

pub fn assemble(sys: &Sysfs, top: &Top, a: &AssembleCmd) -> Result<()> {
    let opts = assemble::Options {
        policy: Policy {
            grouping: a.policy,
            selector: a.selector,
            queue_if_no_path: !a.no_queue,
        },
        nodes: a.nodes,
        partitions: !a.no_partitions,
        part_sep: a.part_sep.clone(),
        dry_run: a.dry_run,
        fast_fail: Default::default(),
    };
    if !a.dry_run {
        log::to_kmsg(&top.dev);
    }
    if a.root {
        let boot = boot::Options {
            cmdline: top.cmdline.clone(),
            etc: top.etc.clone(),
            run_dir: PathBuf::from("/run/mpboot"),
            fast_fail_flags: (a.fast_io_fail, a.dev_loss),
            map: opts.clone(),
        };
        let supervise = boot::run(sys, &top.dev, &boot)?;
        if a.supervise {
            return supervise_exec(top, &told(a));
        }
        if supervise && !a.dry_run {
            // A queueing map was left (or mpboot.supervise=yes): the
            // initramfs script or unit that ran us must go on with the
            // boot, so the supervisor runs apart.
            return supervise_spawn(top, &told(a));
        }
        return Ok(());
    }
    let scan = scan(sys)?;
    if !scan.native_nvme.is_empty() {
        log::info(&format!(
            "native NVMe multipath, left to the kernel: {}",
            crate::text::first_few(&scan.native_nvme, 8)
        ));
    }
    let luns = topology::by_wwid(&scan.paths);
    let unknown: Vec<String> = a
        .wwids
        .iter()
        .filter(|w| !luns.contains_key(w.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownWwid { wwids: unknown });
    }
    let mut wanted: BTreeSet<&str> = a.wwids.iter().map(String::as_str).collect();
    if a.all {
        wanted.extend(luns.iter().filter(|(_, p)| p.len() >= 2).map(|(w, _)| *w));
    }
    // Map names from multipath-tools' bindings and mpboot.conf, as at boot.
    let (known, bindings) = boot::read_known(&top.etc);
    let wants: Vec<Want> = wanted
        .into_iter()
        .map(|w| Want {
            wwid: w.to_string(),
            name: known.get(w).and_then(|m| m.name.clone()).or_else(|| {
                bindings
                    .iter()
                    .find(|(bw, _)| bw == w)
                    .map(|(_, n)| n.clone())
            }),
            required: a.wwids.iter().any(|x| x == w),
        })
        .collect();
    let opts = assemble::Options {
        fast_fail: crate::bootcfg::fast_fail(None, a.fast_io_fail, a.dev_loss, &known),
        ..opts
    };
    assemble::run(sys, &top.dev, &luns, &wants, &opts)?;
    if a.supervise && !a.dry_run {
        return supervise_exec(top, &told(a));
    }
    Ok(())
}

/// What `assemble` was told that the supervisor must go on doing the same
/// way, as its arguments: the grouping (for paths that come or change),
/// who makes nodes, and the transport timeouts. The selector, queueing
/// and handler it reads from each live map.
pub fn told(a: &AssembleCmd) -> Vec<String> {
    let mut args = vec![
        "--policy".to_string(),
        a.policy.arg().to_string(),
        "--nodes".to_string(),
        a.nodes.arg().to_string(),
    ];
    if let Some(f) = a.fast_io_fail {
        args.push("--fast-io-fail".into());
        args.push(f.map_or("off".into(), |s| s.to_string()));
    }
    if let Some(d) = a.dev_loss {
        args.push("--dev-loss".into());
        args.push(d.to_string());
    }
    args
}

/// `@mpboot supervise` on our own binary, with our sysfs and dev roots:
/// argv[0] starting with '@' makes systemd's switch-root and shutdown
/// killing sprees spare it (its convention for root storage daemons).
pub fn supervisor_command(top: &Top, told: &[String]) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/proc/self/exe");
    c.arg0("@mpboot")
        .arg("--sysfs")
        .arg(&top.sysfs)
        .arg("--dev")
        .arg(&top.dev)
        .arg("supervise")
        .args(told);
    c
}

pub fn self_exe_error(source: std::io::Error) -> Error {
    Error::Read {
        path: "/proc/self/exe".into(),
        source,
    }
}

/// Become the supervisor, in the foreground.
pub fn supervise_exec(top: &Top, told: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    Err(self_exe_error(supervisor_command(top, told).exec()))
}

/// Is a supervisor running? Its state file is rewritten every second
/// while it runs and removed when it stops.
fn supervisor_running() -> bool {
    std::fs::read_to_string("/run/mpboot/state").is_ok_and(|s| {
        supervisor::view_age_ms(&s, supervisor::boottime_ms()).is_some_and(|age| age < 5000)
    })
}

/// Start the supervisor in the background (its own process group, so a
/// terminal's signals miss it) and return: boot mode leaving a queueing
/// map, or mpboot.supervise=yes. One at a time: a running one follows
/// every multipath map, the new ones too.
pub fn supervise_spawn(top: &Top, told: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    if supervisor_running() {
        log::info("the supervisor is already running: it follows the new maps too");
        return Ok(());
    }
    let child = supervisor_command(top, told)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(self_exe_error)?;
    log::info(&format!(
        "supervisor started in the background, pid {}",
        child.id()
    ));
    Ok(())
}

pub fn supervise(sys: &Sysfs, top: &Top, c: &SuperviseCmd) -> Result<()> {
    // Run as @mpboot: re-exec when started under another name.
    let argv0 = std::env::args().next().unwrap_or_default();
    if !argv0.starts_with('@') {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new("/proc/self/exe")
            .arg0("@mpboot")
            .args(std::env::args().skip(1))
            .exec();
        return Err(self_exe_error(err));
    }
    let opts = supervisor::Options {
        failed_interval: std::time::Duration::from_millis(c.failed_interval_ms.max(100)),
        ok_interval: std::time::Duration::from_secs(c.check_interval.max(1)),
        no_path_retry: c.no_path_retry,
        failback: !c.no_failback,
        policy: Policy {
            grouping: c.policy,
            ..Policy::default()
        },
        nodes: c.nodes,
        run_dir: c.run_dir.clone(),
        queue_without_daemon: c.queue_without_daemon,
        fast_fail: {
            let line = std::fs::read_to_string(&top.cmdline).unwrap_or_default();
            let args = crate::bootcfg::parse_cmdline(&line);
            let (known, _) = boot::read_known(&top.etc);
            let mut ff = crate::bootcfg::fast_fail(Some(&args), c.fast_io_fail, c.dev_loss, &known);
            // As multipathd: a remote port must outlive the queueing, or
            // its disks go while I/O still waits for them.
            if let Some(n) = c.no_path_retry {
                let queueing = u64::from(n) * c.failed_interval_ms.max(100) / 1000;
                ff.dev_loss = ff.dev_loss.max(queueing.min(u64::from(u32::MAX)) as u32);
            }
            ff
        },
    };
    supervisor::run(sys, &top.dev, opts)
}

#[cfg(test)]
mod tests {
    use crate::cli::{Command, Top};
    use argh::FromArgs;

    /// The supervisor started by `assemble --supervise` (or boot mode) is
    /// told what `assemble` was: it once regrouped by priority at its
    /// first reconcile and undid `--fast-io-fail off`.
    #[test]
    fn the_supervisor_keeps_what_assemble_was_told() {
        let cases: [&[&str]; 3] = [
            &["assemble", "--all", "--supervise"],
            &[
                "assemble",
                "--all",
                "--policy",
                "multibus",
                "--nodes",
                "never",
                "--fast-io-fail",
                "off",
                "--dev-loss",
                "120",
            ],
            &[
                "assemble",
                "--root",
                "--policy",
                "failover",
                "--fast-io-fail",
                "7",
                "--nodes",
                "always",
            ],
        ];
        for args in cases {
            let Some(Command::Assemble(a)) = Top::from_args(&["mpboot"], args).unwrap().cmd else {
                panic!("{args:?}");
            };
            let told = super::told(&a);
            let mut sup = vec!["supervise"];
            sup.extend(told.iter().map(String::as_str));
            let Some(Command::Supervise(s)) = Top::from_args(&["mpboot"], &sup).unwrap().cmd else {
                panic!("{sup:?}");
            };
            assert_eq!(
                (s.policy, s.nodes, s.fast_io_fail, s.dev_loss),
                (a.policy, a.nodes, a.fast_io_fail, a.dev_loss),
                "{args:?} -> {told:?}"
            );
        }
    }
}
