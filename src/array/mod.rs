//! Asking the array: a path's priority from what the array says now, not
//! from what the kernel's device handler last read (or never read).
//!
//! - ALUA (TPGS) LUNs: REPORT TARGET PORT GROUPS through each running
//!   path, which takes the state of the group its own port is in. A path
//!   the map has failed borrows the answer of another path. A TPGS LUN
//!   with no handler gets `alua` attached through `dh_state` where the
//!   kernel can; where it cannot, the map follows the array's answer
//!   without one.
//! - rdac, emc and hp_sw LUNs: each path's own page or TUR (`vendor`).
//!
//! Commands go out asynchronously on the paths' sg nodes, all at once,
//! and the answers are awaited for `WAIT` at most: a hung path costs that
//! wait, never a hung boot. A path the array did not answer for keeps its
//! sysfs state.

pub mod ana;
mod rtpg;
mod vendor;

use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::log;
use nix::errno::Errno;

use crate::sgio::{self, AsyncCmd, Done};
use crate::sysfs::Sysfs;
use crate::topology::{alua_prio, Path, Transport};

/// How long assembly waits for answers. The commands themselves carry
/// the device's own timeout, so a slow path is left, not aborted.
pub const WAIT: Duration = Duration::from_secs(3);
/// How long the supervisor's loop may wait: it has paths to check.
pub const SUPERVISOR_WAIT: Duration = Duration::from_secs(1);
/// Commands in flight at once (open fds).
const BATCH: usize = 256;
const RTPG_LEN: usize = 4096;
const VPD_LEN: u8 = 255;

static NO_SG_SAID: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Rtpg,
    Rdac,
    Emc,
    HpSw,
    /// An NVMe namespace's ANA state (admin passthrough).
    Ana,
}

impl Query {
    fn for_handler(h: Option<&str>) -> Option<Query> {
        match h? {
            "rdac" => Some(Query::Rdac),
            "emc" => Some(Query::Emc),
            "hp_sw" => Some(Query::HpSw),
            _ => None,
        }
    }

    fn cdb(self) -> Vec<u8> {
        match self {
            Query::Rtpg => rtpg::cdb(RTPG_LEN as u32).to_vec(),
            Query::Rdac => vendor::inquiry_cdb(0xc9, VPD_LEN).to_vec(),
            Query::Emc => vendor::inquiry_cdb(0xc0, VPD_LEN).to_vec(),
            Query::HpSw => sgio::TUR.to_vec(),
            Query::Ana => Vec::new(),
        }
    }

    fn data_len(self) -> usize {
        match self {
            Query::Rtpg => RTPG_LEN,
            Query::Rdac | Query::Emc => usize::from(VPD_LEN),
            Query::HpSw => 0,
            Query::Ana => sgio::nvme::ANSWER_LEN,
        }
    }
}

/// One command to one path, and what came back.
struct Job {
    path: usize,
    query: Query,
    cmd: Option<AsyncCmd>,
    reply: Option<Reply>,
}

struct Reply {
    done: Done,
    /// The whole buffer; `done.received()` of it sent by the device.
    data: Vec<u8>,
    sense: Vec<u8>,
}

impl Reply {
    fn sent(&self) -> &[u8] {
        &self.data[..self.done.received().min(self.data.len())]
    }
}

/// Refine the priorities of `paths` (all paths of the LUNs to assemble)
/// with what their arrays say. `attach`: attach `alua` to TPGS paths
/// without a handler, and make missing sg nodes (not in a dry run or a
/// listing, which change nothing). `failed`: paths
/// (maj:min) not to ask through, so that a hung path the supervisor
/// already knows of costs no wait (failed by a map, or a check in flight).
pub fn ask(
    sys: &Sysfs,
    dev_root: &FsPath,
    paths: &mut [Path],
    attach: bool,
    failed: &[String],
    wait: Duration,
) {
    if attach {
        attach_alua(sys, paths);
    }
    // Each path asks through itself, as multipath-tools' prioritizers do:
    // an RTPG answer is the array's view through that port (emulations
    // such as scsi_debug answer per port), and rdac/emc/hp_sw answers are
    // per controller anyway. Paths a map has failed are not asked: a hung
    // one would cost the wait; they borrow another path's answer below.
    let mut jobs: Vec<Job> = paths
        .iter()
        .enumerate()
        .filter(|(_, p)| p.usable() && !failed.contains(&p.devt.to_string()))
        .filter_map(|(i, p)| {
            let alua = p.tpgs != 0 && p.handler.as_deref().map_or(true, |h| h == "alua");
            let q = if let Transport::Nvme(_) = p.transport {
                Some(Query::Ana)
            } else if alua {
                Some(Query::Rtpg)
            } else {
                Query::for_handler(p.handler.as_deref())
            };
            q.map(|q| Job::new(i, q))
        })
        .collect();
    run(sys, dev_root, paths, &mut jobs, wait, attach);
    let mut answers: Vec<(usize, Vec<rtpg::PortGroup>)> = Vec::new();
    let mut answered = vec![false; paths.len()];
    for j in &jobs {
        match j.query {
            Query::Rtpg => {
                if let Some(groups) = j.rtpg(paths) {
                    answers.push((j.path, groups));
                }
            }
            Query::Ana => answered[j.path] = j.apply_ana(paths),
            _ => answered[j.path] = j.apply_vendor(paths),
        }
    }
    for (i, groups) in &answers {
        answered[*i] = apply_group(&mut paths[*i], groups, true);
    }
    // TPGS paths with no answer of their own: the group their VPD 0x83
    // names, in an answer through another path of the same LUN.
    for i in 0..paths.len() {
        if paths[i].tpgs == 0 || answered[i] {
            continue;
        }
        let other = answers.iter().find(|(a, groups)| {
            paths[*a].wwid == paths[i].wwid
                && groups.iter().any(|g| Some(g.id) == paths[i].port_group)
        });
        if let Some((_, groups)) = other {
            answered[i] = apply_group(&mut paths[i], groups, false);
        }
    }
    say_disagreements(sys, paths, &answered);
    // What the array did not say, the kernel's handler may have read.
    for (p, _) in paths.iter_mut().zip(&answered).filter(|(_, a)| !**a) {
        crate::sysfs::scsi::read_alua(sys, p);
    }
}

impl Job {
    fn new(path: usize, query: Query) -> Job {
        Job {
            path,
            query,
            cmd: None,
            reply: None,
        }
    }

    /// The port groups, when this job was an RTPG that was answered.
    fn rtpg(&self, paths: &[Path]) -> Option<Vec<rtpg::PortGroup>> {
        let r = self.reply.as_ref()?;
        let name = &paths[self.path].name;
        if !r.done.good() {
            log::detail(&format!(
                "{name}: REPORT TARGET PORT GROUPS failed (status {:#x}, host {:#x})",
                r.done.status, r.done.host
            ));
            return None;
        }
        // Its bytes by the residue, and 4 more: LIO counts an extended
        // answer 4 bytes short and reports its residue to match, while the
        // bytes are there. Past that the buffer is zeros, which parsed would
        // be phantom port groups of a target that sent less than it said.
        rtpg::parse(&r.data[..(r.done.received() + 4).min(r.data.len())])
            .map_err(|e| log::warn(&format!("{name}: REPORT TARGET PORT GROUPS: {e}")))
            .ok()
    }

    /// Apply an NVMe path's ANA answer: multipath-tools' `ana` priority,
    /// and the state shown as its ALUA counterpart. A controller that
    /// reports no ANA gives no priority (one group, as multipath-tools'
    /// `const`).
    fn apply_ana(&self, paths: &mut [Path]) -> bool {
        let Some(r) = &self.reply else { return false };
        let p = &mut paths[self.path];
        let Some(&code) = r.sent().first() else {
            return false;
        };
        if code == 0 {
            p.prio = None;
            return true;
        }
        let Some(state) = ana::AnaState::from_code(code) else {
            log::warn(&format!("{}: ANA: reserved state {code:#x}", p.name));
            return false;
        };
        p.prio = Some(state.prio());
        p.alua = Some(state.alua());
        true
    }

    /// Apply a vendor query's answer; false when there was none to apply.
    fn apply_vendor(&self, paths: &mut [Path]) -> bool {
        let Some(r) = &self.reply else { return false };
        let p = &mut paths[self.path];
        let prio = match self.query {
            Query::HpSw => {
                vendor::hp_sw_prio(r.done.status, r.done.host, r.done.driver, &r.sense).ok_or(None)
            }
            _ if !r.done.good() => Err(None),
            Query::Rdac => vendor::rdac_prio(r.sent()).map_err(Some),
            Query::Emc => vendor::emc_prio(r.sent()).map_err(Some),
            Query::Rtpg | Query::Ana => return false,
        };
        match prio {
            Ok(n) => {
                p.prio = Some(n);
                // The handler's access_state is stale or never written.
                p.alua = None;
                p.preferred = false;
                true
            }
            Err(Some(e)) => {
                log::warn(&format!("{}: {e}; priority from sysfs", p.name));
                false
            }
            Err(None) => {
                log::detail(&format!(
                    "{}: no answer to the priority query; priority from sysfs",
                    p.name
                ));
                false
            }
        }
    }
}

/// A path takes the state of its port group in `groups`: the group whose
/// ports include the path's relative port (`own`: the answer came through
/// this path), else the group its VPD 0x83 names. The relative port
/// first: it identifies the port for good, while the group in the
/// kernel's copy of VPD 0x83 was read at scan time and is stale once the
/// array moves the port to another group.
fn apply_group(p: &mut Path, groups: &[rtpg::PortGroup], own: bool) -> bool {
    let g = groups
        .iter()
        .find(|g| own && p.rel_port.is_some_and(|r| g.ports.contains(&r)))
        .or_else(|| groups.iter().find(|g| Some(g.id) == p.port_group));
    let Some(g) = g else {
        log::detail(&format!(
            "{}: its port group is not in the array's answer; state from sysfs",
            p.name
        ));
        return false;
    };
    p.alua = Some(g.state);
    p.preferred = g.preferred;
    p.prio = Some(alua_prio(g.state, g.preferred));
    true
}

/// One line for the paths whose kernel handler reads another state than
/// the array just gave (right after attach, a port the array moved): a
/// surprise worth the boot log, once, not a line a path.
fn say_disagreements(sys: &Sysfs, paths: &[Path], answered: &[bool]) {
    let differ: Vec<String> = paths
        .iter()
        .zip(answered)
        .filter(|(p, a)| **a && p.alua.is_some() && p.handler.as_deref() == Some("alua"))
        .filter_map(|(p, _)| {
            let mut kernel = p.clone();
            crate::sysfs::scsi::read_alua(sys, &mut kernel);
            let k = kernel.alua?;
            (Some(k) != p.alua)
                .then(|| format!("{} {} (handler: {})", p.name, p.alua_word(), k.short()))
        })
        .collect();
    if !differ.is_empty() {
        log::notice(&format!(
            "the array's ALUA states differ from the kernel's handler on {} path(s), \
             the array's are used: {}",
            differ.len(),
            crate::text::first_few(&differ, 4)
        ));
    }
}

/// Attach `alua` to running TPGS paths that have no handler (its module
/// was not loaded at scan time). One line per LUN where the kernel cannot.
fn attach_alua(sys: &Sysfs, paths: &mut [Path]) {
    let mut said: Vec<String> = Vec::new();
    for p in paths.iter_mut() {
        if p.tpgs == 0 || p.handler.is_some() || !p.usable() {
            continue;
        }
        let attr = format!("block/{}/device/dh_state", p.name);
        let res = sys.write_attr(&attr, "alua");
        let now = sys.read_attr(&attr).ok().flatten();
        match (res, now.as_deref()) {
            (_, Some("alua")) => {
                log::detail(&format!("{}: attached the alua device handler", p.name));
                p.handler = now;
            }
            (res, _) if !said.contains(&p.wwid) => {
                let why = res
                    .err()
                    .map_or("not attached".into(), |e| crate::error::chain(&e));
                log::notice(&format!(
                    "{}: ALUA LUN without a device handler, and alua cannot be attached ({why}): \
                     its map follows the array's port groups, with no handler",
                    p.wwid
                ));
                said.push(p.wwid.clone());
            }
            _ => {}
        }
    }
}

/// Send every job, `BATCH` at a time (fewer when the helper processes of
/// paths with no sg node are all busy), and collect what is answered
/// within `wait`.
fn run(
    sys: &Sysfs,
    dev_root: &FsPath,
    paths: &[Path],
    jobs: &mut [Job],
    wait: Duration,
    make_nodes: bool,
) {
    let mut next = 0;
    while next < jobs.len() {
        let start = next;
        while next < jobs.len() && next - start < BATCH {
            match send(
                sys,
                dev_root,
                &paths[jobs[next].path],
                &mut jobs[next],
                make_nodes,
            ) {
                // Busy helpers: collect these first, then send it again.
                Err(e) if sgio::ours(e) && next > start => break,
                _ => next += 1,
            }
        }
        let chunk = &mut jobs[start..next];
        collect(chunk, Instant::now() + wait);
        let silent: Vec<String> = chunk
            .iter_mut()
            .filter_map(|j| j.cmd.take().map(|_| paths[j.path].name.clone()))
            .collect();
        if !silent.is_empty() {
            log::warn(&format!(
                "no answer from the array within {} ms through {} path(s), their state \
                 from sysfs: {}",
                wait.as_millis(),
                silent.len(),
                crate::text::first_few(&silent, 8)
            ));
        }
    }
}

/// Send one job on its path's sg node; with none (no `sg` module, or a
/// dry run or a listing, which make no node), on the disk's own node.
fn send(
    sys: &Sysfs,
    dev_root: &FsPath,
    p: &Path,
    j: &mut Job,
    make_nodes: bool,
) -> Result<(), Errno> {
    let route = sgio::Route::of(sys, dev_root, &p.name, make_nodes);
    let scsi = j.query != Query::Ana;
    if scsi && matches!(route, sgio::Route::Disk(_)) && !NO_SG_SAID.swap(true, Ordering::Relaxed) {
        log::detail(&format!(
            "{}: no sg node: arrays are asked through the disks' own nodes, in helper processes",
            p.name
        ));
    }
    let ms = sgio::command_timeout(sys, &p.name).as_millis() as u32;
    let q = j.query;
    match route.open(q.data_len()).and_then(|mut c| {
        match q {
            Query::Ana => c.submit_ana(ms),
            _ => c.submit(&q.cdb(), ms),
        }
        .map(|()| c)
    }) {
        Ok(c) => {
            j.cmd = Some(c);
            Ok(())
        }
        Err(e) => {
            log::detail(&format!(
                "{}: cannot ask the array on {}: {e}",
                p.name,
                route.node().display()
            ));
            Err(e)
        }
    }
}

/// Poll the jobs' fds until each has answered or `deadline` passes.
fn collect(jobs: &mut [Job], deadline: Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready: Vec<(usize, bool)> = {
            let (waiting, mut fds): (Vec<usize>, Vec<PollFd>) = jobs
                .iter()
                .enumerate()
                .filter_map(|(i, j)| {
                    Some((i, PollFd::new(j.cmd.as_ref()?.fd(), PollFlags::POLLIN)))
                })
                .unzip();
            if waiting.is_empty() || left.is_zero() {
                return;
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, ms).is_err() {
                return;
            }
            fds.iter()
                .zip(&waiting)
                .filter_map(|(f, &i)| Some((i, sgio::woke(f.revents())?)))
                .collect()
        };
        for (i, hup) in ready {
            let j = &mut jobs[i];
            let Some(c) = j.cmd.as_mut() else { continue };
            match c.collect() {
                // Hung up with no answer (the device is going): no answer.
                Ok(None) if hup => {}
                Ok(None) => continue,
                Ok(Some(done)) => {
                    j.reply = Some(Reply {
                        done,
                        data: c.data().to_vec(),
                        sense: c.sense(&done).to_vec(),
                    })
                }
                Err(_) => {}
            }
            j.cmd = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Job, Query, Reply};
    use crate::sgio::Done;

    /// An extended RTPG answer: header, then one descriptor per group (id,
    /// state, one port each), in a zeroed 4096-byte buffer as sent.
    fn answer(groups: &[(u16, u8)], declared_extra: i32) -> Vec<u8> {
        let mut b = vec![0u8; 8];
        b[4] = 0x10;
        for (i, &(id, state)) in groups.iter().enumerate() {
            b.extend_from_slice(&[state, 0x8f, (id >> 8) as u8, id as u8, 0, 0, 0, 1]);
            b.extend_from_slice(&[0, 0, 0, i as u8 + 1]);
        }
        let declared = (b.len() as i32 - 4 + declared_extra) as u32;
        b[..4].copy_from_slice(&declared.to_be_bytes());
        b
    }

    fn groups(buf: &[u8], sent: usize) -> usize {
        let mut data = buf.to_vec();
        data.resize(4096, 0);
        let mut j = Job::new(0, Query::Rtpg);
        j.reply = Some(Reply {
            done: Done::answered(0, sent),
            data,
            sense: Vec::new(),
        });
        let p = crate::topology::tests::path("sda", 0, None, "running");
        j.rtpg(&[p]).map_or(0, |g| g.len())
    }

    /// Only what the device sent is read: a target that says three groups
    /// and sends one yields one, not two phantom groups of zeros (group 0,
    /// active/optimized). LIO's short count (4 bytes less than it sends,
    /// its residue to match) still yields every group.
    #[test]
    fn rtpg_answers_are_read_as_far_as_they_were_sent() {
        let two = answer(&[(1, 0), (2, 1)], 0);
        assert_eq!(groups(&two, two.len()), 2);
        let short = answer(&[(1, 0), (2, 1), (3, 2)], 0);
        assert_eq!(groups(&short, 8 + 12), 1);
        let lio = answer(&[(1, 0), (2, 1)], -4);
        assert_eq!(groups(&lio, lio.len() - 4), 2);
    }
}
