//! Reading disks for `root=` without letting a disk hang the boot.
//!
//! A read of a hung path sits in the kernel for the SCSI timeout times the
//! retries plus error handling, and no thread of ours can leave it early:
//! a process whose thread waits in the kernel cannot exit either, so the
//! initramfs script that ran mpboot would wait too. So each disk is read
//! by a child process (argv[0] `@mpboot-probe`), all at once, and a child that has
//! not answered by the deadline is killed and left behind: its read ends
//! in the kernel when it ends, and `mpboot.wait` holds.

use std::io::Read;
use std::path::Path as FsPath;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{scan_disk, DiskScan, RootSpec};
use crate::sysfs::Sysfs;

/// Longest one round of reads may take: a healthy disk answers in
/// milliseconds, so a path that takes longer gives way to the next one.
pub const READ_MAX: Duration = Duration::from_secs(5);

/// What reading one disk gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Read(DiskScan),
    /// It could not be opened or its first sector read (a passive
    /// controller, a standby port, NOT READY, a disk that went away).
    Unreadable,
    /// No answer by the deadline.
    Hung,
}

/// Reads disks for `spec`, some at a time.
pub trait Reader {
    fn read(&mut self, disks: &[String], spec: &RootSpec) -> Vec<Probe>;
}

/// In this process, no deadline: for tests.
#[cfg(test)]
pub struct InProcess<'a> {
    pub sys: &'a Sysfs,
    pub dev_root: &'a FsPath,
}

#[cfg(test)]
impl Reader for InProcess<'_> {
    fn read(&mut self, disks: &[String], spec: &RootSpec) -> Vec<Probe> {
        disks
            .iter()
            .map(|d| probe_here(self.sys, self.dev_root, d, spec))
            .collect()
    }
}

/// One disk, here: what a reader child prints.
pub fn probe_here(sys: &Sysfs, dev_root: &FsPath, disk: &str, spec: &RootSpec) -> Probe {
    match super::open_disk(sys, dev_root, disk) {
        Some(dev) if dev.read_at(0, 512).is_some() => Probe::Read(scan_disk(&dev, spec)),
        _ => Probe::Unreadable,
    }
}

/// Child processes with a deadline (boot mode). What a disk gave is kept
/// for the rest of the boot: contents do not change while we wait, and a
/// disk that hung once is not asked again (its child may still be stuck).
pub struct Bounded {
    /// The sysfs and /dev roots, for the children.
    pub sysfs: std::path::PathBuf,
    pub dev: std::path::PathBuf,
    /// `root=` as the kernel command line gave it.
    pub root: String,
    /// No read goes on past this: the boot's deadline while it waits.
    pub deadline: Instant,
    pub known: Vec<(String, Probe)>,
}

impl Reader for Bounded {
    fn read(&mut self, disks: &[String], _spec: &RootSpec) -> Vec<Probe> {
        let known =
            |k: &[(String, Probe)], d: &str| k.iter().find(|(x, _)| x == d).map(|(_, p)| p.clone());
        let todo: Vec<&String> = disks
            .iter()
            .filter(|d| known(&self.known, d).is_none())
            .collect();
        if !todo.is_empty() {
            let started = Instant::now();
            let until = self.deadline.min(started + READ_MAX);
            let cmds = todo.iter().map(|d| {
                use std::os::unix::process::CommandExt;
                let mut c = Command::new("/proc/self/exe");
                c.arg0(super::PROBE_ARGV0)
                    .args([&self.sysfs, &self.dev])
                    .args([d.as_str(), &self.root]);
                c
            });
            let got = run(cmds.collect(), until);
            for (d, p) in todo.into_iter().zip(got) {
                if p == Probe::Hung {
                    crate::log::warn(&format!(
                        "{d}: no answer to a read within {} ms: passed over for the rest of the boot",
                        started.elapsed().as_millis()
                    ));
                }
                self.known.push((d.clone(), p));
            }
        }
        disks
            .iter()
            .map(|d| known(&self.known, d).unwrap_or(Probe::Hung))
            .collect()
    }
}

/// Run each command until all have answered or `until`; those still
/// running then are killed and reported `Hung`. An answer is one short
/// line, which fits the pipe: a child never waits for us to read it.
pub fn run(cmds: Vec<Command>, until: Instant) -> Vec<Probe> {
    let mut children: Vec<Option<Child>> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    let mut out: Vec<Option<Probe>> = vec![None; children.len()];
    loop {
        for (c, o) in children.iter_mut().zip(&mut out) {
            if o.is_some() {
                continue;
            }
            let Some(child) = c else {
                *o = Some(Probe::Unreadable);
                continue;
            };
            if let Ok(Some(_)) = child.try_wait() {
                let mut text = Vec::new();
                if let Some(mut s) = child.stdout.take() {
                    let _ = s.read_to_end(&mut text);
                }
                *o = Some(parse(&text).unwrap_or(Probe::Unreadable));
            }
        }
        if out.iter().all(Option::is_some) || Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (c, o) in children.iter_mut().zip(&mut out) {
        if o.is_none() {
            if let Some(c) = c {
                let _ = c.kill();
            }
            *o = Some(Probe::Hung);
        }
    }
    out.into_iter().flatten().collect()
}

/// A reader child's one line: `-` (unreadable), or `M C`: M the match
/// (`-1` none, `0` the whole disk, else the partition), C `1` when LVM2 or
/// LUKS is there.
pub fn format(p: &Probe) -> String {
    match p {
        Probe::Read(s) => {
            let m = s.matched.map_or(-1, |p| p.map_or(0, i64::from));
            format!("{m} {}", u8::from(s.container))
        }
        _ => "-".into(),
    }
}

pub fn parse(out: &[u8]) -> Option<Probe> {
    let line = std::str::from_utf8(out).ok()?.lines().next()?;
    if line == "-" {
        return Some(Probe::Unreadable);
    }
    let (m, c) = line.split_once(' ')?;
    let matched = match m.parse::<i64>().ok()? {
        -1 => None,
        0 => Some(None),
        n => Some(Some(u32::try_from(n).ok()?)),
    };
    let container = match c {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    Some(Probe::Read(DiskScan { matched, container }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    /// A child that never answers costs the deadline, not its own time;
    /// the others' answers are kept; garbage is unreadable, not a panic.
    #[test]
    fn a_hung_read_costs_the_deadline_only() {
        let t0 = Instant::now();
        let got = run(
            vec![
                sh("sleep 30"),
                sh("echo 2 0"),
                sh("echo -"),
                sh("echo '2 x'"),
                Command::new("/nonexistent/mpboot"),
            ],
            t0 + Duration::from_millis(500),
        );
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(
            got,
            vec![
                Probe::Hung,
                Probe::Read(DiskScan {
                    matched: Some(Some(2)),
                    container: false
                }),
                Probe::Unreadable,
                Probe::Unreadable,
                Probe::Unreadable,
            ]
        );
    }

    #[test]
    fn the_line_reads_back() {
        for p in [
            Probe::Unreadable,
            Probe::Read(DiskScan {
                matched: None,
                container: true,
            }),
            Probe::Read(DiskScan {
                matched: Some(None),
                container: false,
            }),
            Probe::Read(DiskScan {
                matched: Some(Some(12)),
                container: false,
            }),
        ] {
            assert_eq!(parse(format(&p).as_bytes()), Some(p));
        }
        let mut rng = crate::testrand::Rng::new(7);
        let alphabet = b"- 0129\n\xff";
        for _ in 0..20_000 {
            let s: Vec<u8> = (0..rng.below(60))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let _ = parse(&s);
        }
    }
}
