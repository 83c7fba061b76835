//! Command line: argh definitions and one function per command. Output for
//! people goes to stdout; warnings and errors to stderr.

use std::collections::BTreeSet;
use std::path::{Path as FsPath, PathBuf};

use argh::FromArgs;

use crate::assemble::{self, misc_devt, Want};
use crate::boot;
use crate::dm::Control;
use crate::error::{chain, Error, Result};
use crate::hostcfg;
use crate::log;
use crate::maps::{self, MapView};
use crate::nodes::{NodePolicy, Nodes};
use crate::supervisor;
use crate::sysfs::{scsi, Sysfs};
use crate::table::GroupState;
use crate::topology::{self, Grouping, Path, Policy, Selector};

#[derive(FromArgs, Debug)]
/// Assemble device-mapper multipath maps from sysfs, with raw DM ioctls:
/// no udev, no multipathd, no libraries.
pub struct Top {
    /// sysfs mount point (default /sys)
    #[argh(option, default = "PathBuf::from(\"/sys\")")]
    pub sysfs: PathBuf,
    /// device directory holding mapper/ (default /dev)
    #[argh(option, default = "PathBuf::from(\"/dev\")")]
    pub dev: PathBuf,
    /// configuration directory with multipath/wwids, multipath/bindings and
    /// mpboot.conf (default /etc)
    #[argh(option, default = "PathBuf::from(\"/etc\")")]
    pub etc: PathBuf,
    /// kernel command line to obey with --root (default /proc/cmdline)
    #[argh(option, default = "PathBuf::from(\"/proc/cmdline\")")]
    pub cmdline: PathBuf,
    /// no command: what an initramfs hook runs, `assemble --root`
    #[argh(subcommand)]
    pub cmd: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    List(ListCmd),
    Assemble(AssembleCmd),
    Status(StatusCmd),
    Remove(RemoveCmd),
    Message(MessageCmd),
    Config(ConfigCmd),
    Supervise(SuperviseCmd),
    IsPath(IsPathCmd),
}

#[derive(FromArgs, Debug)]
/// For udev rules in an initramfs: exit 0 when DEVICE (sdX) is a path of a
/// WWID the boot will assemble (mpboot.wwid=, mpboot.conf, multipath's
/// wwids file), 1 otherwise, quietly. Off with mpboot=off/rd.multipath=0.
#[argh(subcommand, name = "is-path")]
pub struct IsPathCmd {
    /// the disk, as sdX or /dev/sdX
    #[argh(positional)]
    pub device: String,
}

#[derive(FromArgs, Debug, Clone)]
/// Keep the multipath maps healthy until multipathd takes over: one thread,
/// event-driven; fails, reinstates and adds paths, regroups on ALUA changes,
/// fails back. Runs as @mpboot; exits 0 when multipathd starts (maps left
/// as they are), or on SIGTERM (queueing turned off, as multipathd's
/// queue_without_daemon no, unless --queue-without-daemon).
#[argh(subcommand, name = "supervise")]
pub struct SuperviseCmd {
    /// seconds between checks of healthy paths (default 5)
    #[argh(option, default = "5")]
    pub check_interval: u64,
    /// milliseconds between checks of failed paths (default 1000)
    #[argh(option, default = "1000")]
    pub failed_interval_ms: u64,
    /// with every path down, checks before queued I/O fails (default:
    /// queue until a path returns, right for root maps)
    #[argh(option)]
    pub no_path_retry: Option<u32>,
    /// stay on the group in use when a better one returns
    #[argh(switch)]
    pub no_failback: bool,
    /// where the state file for `mpboot status` goes (default /run/mpboot)
    #[argh(option, default = "PathBuf::from(\"/run/mpboot\")")]
    pub run_dir: PathBuf,
    /// on SIGTERM with nobody taking over, leave the maps queueing
    #[argh(switch)]
    pub queue_without_daemon: bool,
    /// transport fast-fail for paths added later (see assemble)
    #[argh(option, from_str_fn(fast_io_fail_arg))]
    pub fast_io_fail: Option<Option<u32>>,
    /// FC dev_loss_tmo for paths added later (see assemble)
    #[argh(option, from_str_fn(dev_loss_arg))]
    pub dev_loss: Option<u32>,
}

#[derive(FromArgs, Debug)]
/// Record the multipath maps the boot needs (root, /boot, /usr, swap,
/// resume) in <etc>/mpboot.conf, and in multipath-tools' wwids file when it
/// is configured. Run on the installed system when an initramfs is built.
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    /// walk down from the mounted root file system
    #[argh(switch)]
    pub root: bool,
    /// where that root is mounted (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub root_dir: String,
    /// print what would be written, write nothing
    #[argh(switch)]
    pub dry_run: bool,
}

#[derive(FromArgs, Debug)]
/// List every WWID with its paths and their states.
#[argh(subcommand, name = "list")]
pub struct ListCmd {}

#[derive(FromArgs, Debug, Clone)]
/// Build multipath maps for the named WWIDs (even with one path), or with
/// --all for every WWID that has at least two paths.
#[argh(subcommand, name = "assemble")]
pub struct AssembleCmd {
    /// WWIDs to assemble, as `list` shows them
    #[argh(positional)]
    pub wwids: Vec<String>,
    /// every WWID with two or more paths
    #[argh(switch)]
    pub all: bool,
    /// boot mode: what root needs, from the kernel command line, the
    /// image's files or root=; waits for paths (mpboot.wait, mpboot.settle)
    #[argh(switch)]
    pub root: bool,
    /// path grouping: group-by-prio (default), failover, multibus
    #[argh(option, default = "Grouping::GroupByPrio")]
    pub policy: Grouping,
    /// path selector: service-time (default), round-robin, queue-length
    #[argh(option, default = "Selector::ServiceTime")]
    pub selector: Selector,
    /// fail I/O when no path is left instead of queueing it
    #[argh(switch)]
    pub no_queue: bool,
    /// make /dev/mapper nodes: auto (when udevd is not running), always, never
    #[argh(option, default = "NodePolicy::Auto")]
    pub nodes: NodePolicy,
    /// print the tables that would be loaded, change nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// then become the supervisor (mpboot supervise), as @mpboot
    #[argh(switch)]
    pub supervise: bool,
    /// do not map partitions (kpartx's job otherwise)
    #[argh(switch)]
    pub no_partitions: bool,
    /// between map name and partition number (default "-part", as Debian's
    /// kpartx rules: kpartx -p -part)
    #[argh(option, default = "String::from(\"-part\")")]
    pub part_sep: String,
    /// iSCSI recovery_tmo and FC fast_io_fail_tmo of the paths: seconds,
    /// or off (default 5, as multipathd; mpboot.conf and the kernel
    /// command line may set it too)
    #[argh(option, from_str_fn(fast_io_fail_arg))]
    pub fast_io_fail: Option<Option<u32>>,
    /// FC dev_loss_tmo of the paths, seconds (default 600)
    #[argh(option, from_str_fn(dev_loss_arg))]
    pub dev_loss: Option<u32>,
}

fn fast_io_fail_arg(s: &str) -> std::result::Result<Option<u32>, String> {
    crate::transport::parse_fast_io_fail(s)
}

fn dev_loss_arg(s: &str) -> std::result::Result<u32, String> {
    crate::transport::parse_dev_loss(s)
}

#[derive(FromArgs, Debug)]
/// Show multipath maps (ours or anyone's with UUID mpath-*), their groups and
/// path states.
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    /// maps to show (default: all)
    #[argh(positional)]
    pub names: Vec<String>,
}

#[derive(FromArgs, Debug)]
/// Remove multipath maps that nothing holds open.
#[argh(subcommand, name = "remove")]
pub struct RemoveCmd {
    /// maps to remove
    #[argh(positional)]
    pub names: Vec<String>,
    /// every multipath map
    #[argh(switch)]
    pub all: bool,
    /// node handling, as for assemble
    #[argh(option, default = "NodePolicy::Auto")]
    pub nodes: NodePolicy,
}

#[derive(FromArgs, Debug)]
/// Send a message to a multipath map's target, like `dmsetup message`
/// (fail_path 8:0, reinstate_path 8:0, switch_group 2, queue_if_no_path,
/// fail_if_no_path).
#[argh(subcommand, name = "message")]
pub struct MessageCmd {
    /// the map
    #[argh(positional)]
    pub name: String,
    /// message words
    #[argh(positional, greedy)]
    pub words: Vec<String>,
}

impl AssembleCmd {
    /// Bare `mpboot`: `assemble --root` with every default.
    fn boot() -> Self {
        AssembleCmd {
            wwids: Vec::new(),
            all: false,
            root: true,
            policy: Grouping::GroupByPrio,
            selector: Selector::ServiceTime,
            no_queue: false,
            nodes: NodePolicy::Auto,
            dry_run: false,
            supervise: false,
            no_partitions: false,
            part_sep: "-part".into(),
            fast_io_fail: None,
            dev_loss: None,
        }
    }
}

/// Errors that are the caller's misuse rather than a failure: exit code 2.
pub struct Usage(pub String);

pub enum Failure {
    Usage(Usage),
    Failed(Error),
    /// A plain "no" (is-path): exit 1, nothing printed.
    No,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Failed(e)
    }
}

pub fn run(mut top: Top) -> std::result::Result<(), Failure> {
    let sys = Sysfs::open(&top.sysfs)?;
    let cmd = top
        .cmd
        .take()
        .unwrap_or(Command::Assemble(AssembleCmd::boot()));
    match cmd {
        Command::List(_) => list(&sys, &top.dev)?,
        Command::Assemble(a) => {
            if a.wwids.is_empty() && !a.all && !a.root {
                return Err(Failure::Usage(Usage(
                    "assemble: name WWIDs, or give --all or --root".into(),
                )));
            }
            if a.root && (a.all || !a.wwids.is_empty()) {
                return Err(Failure::Usage(Usage(
                    "assemble: --root chooses its own WWIDs (use mpboot.wwid=)".into(),
                )));
            }
            assemble(&sys, &top, &a)?
        }
        Command::Status(s) => status(&sys, &top.dev, &s.names)?,
        Command::Remove(r) => {
            if r.names.is_empty() != r.all {
                return Err(Failure::Usage(Usage(
                    "remove: name maps, or give --all alone".into(),
                )));
            }
            remove(&sys, &top.dev, &r)?
        }
        Command::Config(c) => {
            if !c.root {
                return Err(Failure::Usage(Usage(
                    "config: only --root is supported".into(),
                )));
            }
            config(&sys, &top.etc, &c)?
        }
        Command::IsPath(c) => {
            let name = c.device.strip_prefix("/dev/").unwrap_or(&c.device);
            if !boot::claims(&sys, &top.cmdline, &top.etc, name) {
                return Err(Failure::No);
            }
        }
        Command::Supervise(c) => supervise(&sys, &top, &c, &Policy::default())?,
        Command::Message(m) => {
            if m.words.is_empty() {
                return Err(Failure::Usage(Usage("message: no message given".into())));
            }
            message(&sys, &top.dev, &m)?
        }
    }
    Ok(())
}

fn warn(msg: &str) {
    log::warn(msg);
}

fn scan(sys: &Sysfs) -> Result<scsi::Scan> {
    let scan = scsi::scan(sys)?;
    for (name, why) in &scan.skipped {
        warn(&format!("{name}: skipped: {why}"));
    }
    Ok(scan)
}

fn list(sys: &Sysfs, dev_root: &std::path::Path) -> Result<()> {
    let mut scan = scan(sys)?;
    crate::array::ask(sys, dev_root, &mut scan.paths, false, &[]);
    for (wwid, paths) in topology::by_wwid(&scan.paths) {
        let p0 = paths[0];
        crate::out!(
            "{wwid} {} {} size={} paths={}",
            p0.vendor,
            p0.model,
            p0.size,
            paths.len()
        );
        for p in paths {
            crate::out!(
                "  {:<6} {:<7} {:<10} {:<8} {}{}",
                p.name,
                p.devt.to_string(),
                p.hctl,
                p.state,
                p.alua_word(),
                p.never_assembled()
                    .map_or(String::new(), |w| format!("  never assembled: {w}"))
            );
        }
    }
    for n in &scan.native_nvme {
        crate::out!("{n}: native NVMe multipath, left to the kernel");
    }
    Ok(())
}

fn assemble(sys: &Sysfs, top: &Top, a: &AssembleCmd) -> Result<()> {
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
            return supervise_exec(top);
        }
        if supervise && !a.dry_run {
            // mpboot.supervise=yes: the initramfs script or unit that ran
            // us must go on with the boot, so the supervisor runs apart.
            return supervise_spawn(top);
        }
        return Ok(());
    }
    let scan = scan(sys)?;
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
        return supervise_exec(top);
    }
    Ok(())
}

/// `@mpboot supervise` on our own binary, with our sysfs and dev roots:
/// argv[0] starting with '@' makes systemd's switch-root and shutdown
/// killing sprees spare it (its convention for root storage daemons).
fn supervisor_command(top: &Top) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/proc/self/exe");
    c.arg0("@mpboot")
        .arg("--sysfs")
        .arg(&top.sysfs)
        .arg("--dev")
        .arg(&top.dev)
        .arg("supervise");
    c
}

fn self_exe_error(source: std::io::Error) -> Error {
    Error::Read {
        path: "/proc/self/exe".into(),
        source,
    }
}

/// Become the supervisor, in the foreground.
fn supervise_exec(top: &Top) -> Result<()> {
    use std::os::unix::process::CommandExt;
    Err(self_exe_error(supervisor_command(top).exec()))
}

/// Start the supervisor in the background (its own process group, so a
/// terminal's signals miss it) and return: boot mode with mpboot.supervise.
fn supervise_spawn(top: &Top) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let child = supervisor_command(top)
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

fn supervise(sys: &Sysfs, top: &Top, c: &SuperviseCmd, policy: &Policy) -> Result<()> {
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
        policy: *policy,
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

/// Kernel name and sysfs view of the path with numbers `dev`.
fn path_by_devt(sys: &Sysfs, dev: &str) -> Option<Path> {
    let name = sys.link_name(&format!("dev/block/{dev}")).ok()??;
    scsi::read_path(sys, &name).ok()?
}

fn print_map(sys: &Sysfs, v: &MapView) {
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

/// Every DM device's name, sorted.
fn device_names(ctl: &Control) -> Result<Vec<String>> {
    let mut names: Vec<String> = ctl.list_devices()?.into_iter().map(|(n, _)| n).collect();
    names.sort();
    Ok(names)
}

/// The running supervisor's view, when there is one.
fn supervisor_view(run_dir: &FsPath) {
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for l in describe_supervisor(&state, now) {
        crate::out!("{l}");
    }
}

/// The supervisor loop wakes at least every second and rewrites its
/// view each time: older than this (ms), the view is stale.
const STATE_STALE_MS: u64 = 5000;

/// `S.mmm` seconds as milliseconds (no floats: their formatting code
/// costs the binary kilobytes).
fn parse_millis(t: &str) -> Option<u64> {
    let (s, ms) = t.split_once('.').unwrap_or((t, "0"));
    let ms = format!("{ms:0<3}");
    Some(s.parse::<u64>().ok()? * 1000 + ms.get(..3)?.parse::<u64>().ok()?)
}

/// The supervisor's state file for people, with the view's age (`now` in
/// ms since the epoch): a view that has not been rewritten lately is said
/// to be stale, never shown as if it were current.
fn describe_supervisor(state: &str, now: u64) -> Vec<String> {
    let mut lines = state.lines();
    let pid = lines
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .unwrap_or("?");
    let written = state
        .lines()
        .find_map(|l| l.strip_prefix("written "))
        .and_then(parse_millis);
    let head = match written.map(|w| now.saturating_sub(w)) {
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
                .filter(|l| !l.starts_with("written "))
                .map(|l| format!("  {l}")),
        )
        .collect()
}

fn status(sys: &Sysfs, dev_root: &FsPath, names: &[String]) -> Result<()> {
    supervisor_view(FsPath::new("/run/mpboot"));
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

fn remove(sys: &Sysfs, dev_root: &FsPath, r: &RemoveCmd) -> Result<()> {
    let ctl = Control::open(dev_root, None)?;
    let nodes = Nodes::new(dev_root, FsPath::new("/run"), r.nodes);
    let names = if r.all {
        device_names(&ctl)?
    } else {
        r.names.clone()
    };
    let mut failed = 0;
    for name in &names {
        match maps::remove(&ctl, sys, &nodes, name) {
            Ok(info) => crate::out!("removed {name} ({})", info.devt),
            // --all: DM devices that are not multipath maps are not ours.
            Err(Error::NoSuchMap { .. }) if r.all => {}
            Err(e) => {
                warn(&chain(&e));
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        _ => Err(Error::Several { failed }),
    }
}

fn config(sys: &Sysfs, etc: &FsPath, c: &ConfigCmd) -> Result<()> {
    let found = hostcfg::find(sys, &c.root_dir, FsPath::new("/proc"))?;
    for (what, devt) in &found.devices {
        crate::out!("{what}: {devt}");
    }
    if found.maps.is_empty() {
        crate::out!("no multipath map under these; nothing written");
        return Ok(());
    }
    let text = crate::bootcfg::format_mpboot_conf(&found.maps);
    if c.dry_run {
        print!("{text}");
        return Ok(());
    }
    let added = hostcfg::write(etc, &found.maps)?;
    print!("{text}");
    crate::out!("wrote {}", etc.join("mpboot.conf").display());
    for w in added {
        crate::out!("added {w} to {}", etc.join("multipath/wwids").display());
    }
    Ok(())
}

fn message(sys: &Sysfs, dev_root: &FsPath, m: &MessageCmd) -> Result<()> {
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    if maps::view(&ctl, &m.name)?.is_none() {
        return Err(Error::NoSuchMap {
            name: m.name.clone(),
        });
    }
    let reply = ctl.target_msg(crate::dm::DevId::Name(&m.name), 0, &m.words.join(" "))?;
    if let Some(r) = reply.filter(|r| !r.is_empty()) {
        crate::out!("{r}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Top, argh::EarlyExit> {
        Top::from_args(&["mpboot"], args)
    }

    #[test]
    fn parses_commands() {
        let t = parse(&[
            "--sysfs", "/tmp/s", "assemble", "--all", "--policy", "failover",
        ])
        .unwrap();
        assert_eq!(t.sysfs, PathBuf::from("/tmp/s"));
        match t.cmd {
            Some(Command::Assemble(a)) => {
                assert!(a.all);
                assert_eq!(a.policy, Grouping::Failover);
                assert_eq!(a.selector, Selector::ServiceTime);
                assert!(!a.no_queue);
            }
            c => panic!("{c:?}"),
        }
        let t = parse(&[
            "assemble",
            "w1",
            "w2",
            "--selector",
            "round-robin",
            "--no-queue",
        ])
        .unwrap();
        match t.cmd {
            Some(Command::Assemble(a)) => {
                assert_eq!(a.wwids, vec!["w1", "w2"]);
                assert_eq!(a.selector, Selector::RoundRobin);
                assert!(a.no_queue);
            }
            c => panic!("{c:?}"),
        }
        assert!(
            matches!(parse(&["remove", "--all"]).unwrap().cmd, Some(Command::Remove(r)) if r.all)
        );
    }

    #[test]
    fn rejects_bad_usage() {
        // Bare mpboot is boot mode (assemble --root), not a usage error.
        assert!(parse(&[]).unwrap().cmd.is_none());
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&["assemble", "--policy", "random"]).is_err());
        assert!(parse(&["assemble", "--nodes", "sometimes"]).is_err());
        let t = parse(&["assemble"]).unwrap();
        assert!(matches!(run(t), Err(Failure::Usage(_))));
        let t = parse(&["remove", "x", "--all"]).unwrap();
        assert!(matches!(run(t), Err(Failure::Usage(_))));
    }

    /// Run a command on a fixture tree of scsi_debug paths (ALUA states
    /// given), with a /dev root that does not exist: reaching for the DM
    /// control node would fail with a different error.
    fn run_on_fixture(
        tag: &str,
        states: &[&str],
        args: &[&str],
    ) -> std::result::Result<(), Failure> {
        let t = scsi::tests::Tree::new(tag);
        let pg = scsi::tests::captured("scsi_debug.pg83");
        for (i, st) in states.iter().enumerate() {
            let name = format!("sd{}", char::from(b'a' + i as u8));
            let devt = format!("8:{}", 16 * i);
            t.disk(&name, &devt, &format!("{i}:0:0:0"), &pg, Some(st));
        }
        let root = t.root.to_str().unwrap().to_string();
        let mut all = vec!["--sysfs", &root, "--dev", "/nonexistent/dev"];
        all.extend_from_slice(args);
        run(parse(&all).unwrap())
    }

    #[test]
    fn assemble_unknown_wwid_touches_nothing() {
        match run_on_fixture("cli-unknown", &["active/optimized"], &["assemble", "nope"]) {
            Err(Failure::Failed(Error::UnknownWwid { wwids })) => assert_eq!(wwids, vec!["nope"]),
            _ => panic!("expected UnknownWwid"),
        }
    }

    #[test]
    fn a_stale_supervisor_view_says_so() {
        let state = "pid 42\nwritten 1000.500\nmap m 254:0\n  group 1 sda 8:0 active\n";
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

    #[test]
    fn dry_run_prints_without_control() {
        let states = ["active/optimized", "standby"];
        assert!(run_on_fixture("cli-dry", &states, &["assemble", "--all", "--dry-run"]).is_ok());
        // Without --dry-run the same call reaches for /nonexistent/dev.
        match run_on_fixture("cli-wet", &states, &["assemble", "--all"]) {
            Err(Failure::Failed(Error::Node { path, .. })) => {
                assert_eq!(path, PathBuf::from("/nonexistent/dev/mapper/control"))
            }
            _ => panic!("expected a node error"),
        }
        assert!(!std::path::Path::new("/nonexistent").exists());
    }
}
