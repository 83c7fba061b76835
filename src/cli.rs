//! Command line: argh definitions and one function per command. Output for
//! people goes to stdout; warnings and errors to stderr.

use std::path::PathBuf;

use argh::FromArgs;

use crate::boot;
use crate::commands;
use crate::error::Error;
use crate::nodes::NodePolicy;
use crate::sysfs::Sysfs;
use crate::topology::{Grouping, Selector};

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
    /// print mpboot's version and exit
    #[argh(switch)]
    pub version: bool,
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
    Shutdown(ShutdownCmd),
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
    /// how paths are grouped when they change (see assemble)
    #[argh(option, default = "Grouping::GroupByPrio")]
    pub policy: Grouping,
    /// who makes /dev/mapper nodes (see assemble)
    #[argh(option, default = "NodePolicy::Auto")]
    pub nodes: NodePolicy,
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
    /// make /dev/mapper nodes: auto (udev's when it runs with device-mapper's rules), always, never
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
    /// where the supervisor keeps its state file, as its --run-dir
    /// (default /run/mpboot)
    #[argh(option, default = "PathBuf::from(\"/run/mpboot\")")]
    pub run_dir: PathBuf,
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

#[derive(FromArgs, Debug)]
/// For shutdown hooks: turn queueing off (fail_if_no_path) on every
/// multipath map, so that a dead SAN cannot hang the final sync.
#[argh(subcommand, name = "shutdown")]
pub struct ShutdownCmd {}

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

/// Misuse the parser cannot see: said before anything on the system is
/// touched, so it reads the same in a build chroot with no /sys.
fn check_usage(cmd: &Command) -> std::result::Result<(), Usage> {
    let bad = |m: &str| Err(Usage(m.into()));
    match cmd {
        Command::Assemble(a) if a.wwids.is_empty() && !a.all && !a.root => {
            bad("assemble: name WWIDs, or give --all or --root")
        }
        Command::Assemble(a) if a.root && (a.all || !a.wwids.is_empty()) => {
            bad("assemble: --root chooses its own WWIDs (use mpboot.wwid=)")
        }
        Command::Remove(r) if r.names.is_empty() != r.all => {
            bad("remove: name maps, or give --all alone")
        }
        Command::Config(c) if !c.root => bad("config: only --root is supported"),
        Command::Message(m) if m.words.is_empty() => bad("message: no message given"),
        _ => Ok(()),
    }
}

pub fn run(mut top: Top) -> std::result::Result<(), Failure> {
    if top.version {
        crate::out!("mpboot {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let cmd = top
        .cmd
        .take()
        .unwrap_or(Command::Assemble(AssembleCmd::boot()));
    check_usage(&cmd).map_err(Failure::Usage)?;
    let sys = Sysfs::open(&top.sysfs)?;
    match cmd {
        Command::List(_) => commands::list(&sys, &top.dev)?,
        Command::Assemble(a) => commands::assemble(&sys, &top, &a)?,
        Command::Status(s) => commands::status(&sys, &top.dev, &s.names, &s.run_dir)?,
        Command::Remove(r) => commands::remove(&sys, &top.dev, &r)?,
        Command::Config(c) => commands::config(&sys, &top.etc, &c)?,
        Command::IsPath(c) => {
            let name = c.device.strip_prefix("/dev/").unwrap_or(&c.device);
            if !boot::claims(&sys, &top.cmdline, &top.etc, name) {
                return Err(Failure::No);
            }
        }
        Command::Supervise(c) => commands::supervise(&sys, &top, &c)?,
        Command::Shutdown(_) => commands::shutdown(&sys, &top.dev)?,
        Command::Message(m) => commands::message(&sys, &top.dev, &m)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::scsi;

    fn parse(args: &[&str]) -> std::result::Result<Top, argh::EarlyExit> {
        Top::from_args(&["mpboot"], args)
    }

    #[test]
    fn version_needs_no_command() {
        let t = parse(&["--version"]).unwrap();
        assert!(t.version && t.cmd.is_none());
        assert!(!parse(&["list"]).unwrap().version);
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
        // Said before any system access: the same with no /sys (a
        // package build chroot), here a sysfs root that does not exist.
        for args in [
            &["assemble"][..],
            &["assemble", "--root", "--all"],
            &["remove", "x", "--all"],
            &["remove"],
            &["config"],
            &["message", "m"],
        ] {
            let mut all = vec!["--sysfs", "/nonexistent/sys"];
            all.extend_from_slice(args);
            let t = parse(&all).unwrap();
            assert!(matches!(run(t), Err(Failure::Usage(_))), "{args:?}");
        }
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
