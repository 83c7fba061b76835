//! Reading disks for `root=` without letting a disk hang the boot.
//!
//! A read of a hung path sits in the kernel for the SCSI timeout times the
//! retries plus error handling, and no thread of ours can leave it early:
//! a process whose thread waits in the kernel cannot exit either, so the
//! initramfs script that ran mpboot would wait too. So each disk is read
//! by a child process (`mpboot probe`), all at once, and a child that has
//! not answered by the deadline is killed and left behind: its read ends
//! in the kernel when it ends, and `mpboot.wait` holds.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path as FsPath;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

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

/// One disk, here: what `mpboot probe` prints.
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
    /// `mpboot --sysfs S --dev D probe`, to which the disk and `--root` go.
    pub command: Box<dyn Fn() -> Command>,
    /// `root=` as the kernel command line gave it, for `--root`.
    pub root: String,
    pub deadline: Instant,
    pub known: BTreeMap<String, Probe>,
}

impl Reader for Bounded {
    fn read(&mut self, disks: &[String], _spec: &RootSpec) -> Vec<Probe> {
        let todo: Vec<String> = disks
            .iter()
            .filter(|d| !self.known.contains_key(*d))
            .cloned()
            .collect();
        if !todo.is_empty() {
            let started = Instant::now();
            let until = self.deadline.min(started + READ_MAX);
            let cmds = todo.iter().map(|d| {
                let mut c = (self.command)();
                c.arg(d).arg("--root").arg(&self.root);
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
                self.known.insert(d, p);
            }
        }
        disks.iter().map(|d| self.known[d].clone()).collect()
    }
}

/// Run each command, reading its stdout, until all have answered or
/// `until`; those still running then are killed and reported `Hung`.
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
    let mut out: Vec<Option<Probe>> = children
        .iter()
        .map(|c| c.is_none().then_some(Probe::Unreadable))
        .collect();
    let mut text = vec![Vec::new(); children.len()];
    loop {
        let open: Vec<usize> = (0..children.len()).filter(|&i| out[i].is_none()).collect();
        let left = until.saturating_duration_since(Instant::now());
        if open.is_empty() || left.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .filter_map(|&i| children[i].as_ref()?.stdout.as_ref())
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        let ms = left.as_millis().clamp(1, 60_000) as u16;
        if poll(&mut fds, PollTimeout::from(ms)).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let woke: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (&i, _) in open.iter().zip(woke).filter(|(_, w)| *w) {
            let Some(child) = children[i].as_mut() else {
                continue;
            };
            let Some(stdout) = child.stdout.as_mut() else {
                continue;
            };
            let mut buf = [0u8; 256];
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = child.wait();
                    out[i] = Some(parse(&text[i]).unwrap_or(Probe::Unreadable));
                }
                Ok(n) if text[i].len() < 4096 => text[i].extend_from_slice(&buf[..n]),
                Ok(_) => out[i] = Some(Probe::Unreadable),
            }
        }
    }
    for (c, o) in children.iter_mut().zip(&mut out) {
        if o.is_none() {
            if let Some(c) = c {
                let _ = c.kill();
            }
            *o = Some(Probe::Hung);
        }
    }
    out.into_iter().map(|o| o.unwrap_or(Probe::Hung)).collect()
}

/// `mpboot probe`'s one line: `readable=yes matched=none|disk|N container=yes|no`
/// or `readable=no`.
pub fn format(p: &Probe) -> String {
    match p {
        Probe::Read(s) => format!(
            "readable=yes matched={} container={}",
            match s.matched {
                None => "none".to_string(),
                Some(None) => "disk".to_string(),
                Some(Some(n)) => n.to_string(),
            },
            if s.container { "yes" } else { "no" }
        ),
        _ => "readable=no".to_string(),
    }
}

pub fn parse(out: &[u8]) -> Option<Probe> {
    let line = std::str::from_utf8(out).ok()?.lines().next()?;
    let mut readable = None;
    let mut matched = None;
    let mut container = None;
    for kv in line.split_whitespace() {
        match kv.split_once('=')? {
            ("readable", v) => readable = Some(v == "yes"),
            ("matched", "none") => matched = Some(None),
            ("matched", "disk") => matched = Some(Some(None)),
            ("matched", n) => matched = Some(Some(Some(n.parse().ok()?))),
            ("container", v) => container = Some(v == "yes"),
            _ => return None,
        }
    }
    match (readable?, matched, container) {
        (false, ..) => Some(Probe::Unreadable),
        (true, Some(matched), Some(container)) => {
            Some(Probe::Read(DiskScan { matched, container }))
        }
        _ => None,
    }
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
                sh("echo readable=yes matched=2 container=no"),
                sh("echo readable=no"),
                sh("echo 'readable=yes matched=x'"),
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
        let alphabet = b"readable=yesnomatched=container 0129\n\xff";
        for _ in 0..20_000 {
            let s: Vec<u8> = (0..rng.below(60))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let _ = parse(&s);
        }
    }
}
