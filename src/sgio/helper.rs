//! SG_IO on a disk's own node (`/dev/sdX`), for when there is no sg
//! device (the `sg` module is not in the image): the command runs in a
//! child process that writes its answer into a pipe and exits, and the
//! pipe's read end is what the caller polls, as it polls an sg fd.
//!
//! A process, not a thread: a command on a hung path keeps its caller in
//! the kernel (`blk_execute_rq`, uninterruptible) for the whole command
//! timeout and the transport's recovery, and a process cannot exit while
//! one of its threads is there. Boot mode would then wait for the hung
//! path at its exit, and the supervisor at stepping aside. A child stuck
//! there costs nobody anything: it is reaped when it ends.
//!
//! The number of children alive at once is bounded (`MAX_CHILDREN`): a
//! caller asked to wait (EAGAIN) when they are all busy.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};

use super::{Done, Sg, SENSE_LEN};

/// Most helper children alive at once, hung ones included.
pub const MAX_CHILDREN: usize = 64;

static ALIVE: AtomicUsize = AtomicUsize::new(0);
/// Children whose answer was read or abandoned, not reaped yet.
static UNREAPED: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

/// The answer's head: errno (0: the command ran), status, host, driver,
/// how much sense was written and how much data was read (by the
/// residue); then the sense, then the whole data buffer.
const HEAD: usize = 16;

/// One command's child process, from `submit` until its answer is read.
pub struct Child {
    node: PathBuf,
    pid: Option<libc::pid_t>,
    /// The pipe's read end (non-blocking), and its write end until the
    /// child has it.
    pipe: File,
    write: Option<OwnedFd>,
    got: Vec<u8>,
}

impl Child {
    pub fn new(node: &Path) -> Result<Child, Errno> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        nix::fcntl::fcntl(read.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        Ok(Child {
            node: node.to_path_buf(),
            pid: None,
            pipe: File::from(read),
            write: Some(write),
            got: Vec::new(),
        })
    }

    /// The pipe's read end: readable when the answer is there, hung up
    /// when the child is gone; before `submit`, never.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.pipe)
    }

    /// Start the child that runs `job` and reads up to `data_len` bytes.
    pub fn submit(&mut self, job: Job, timeout_ms: u32, data_len: usize) -> Result<(), Errno> {
        if self.write.is_none() {
            return Err(Errno::EBUSY);
        }
        reap();
        if ALIVE.load(Ordering::Relaxed) >= MAX_CHILDREN {
            return Err(Errno::EAGAIN);
        }
        // SAFETY: fork has no memory-safety preconditions of its own. The
        // callers (boot mode, the supervisor, `list`) are single-threaded,
        // so the child's copy of every lock and allocator is consistent;
        // the child only opens, ioctls, writes and `_exit`s.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(Errno::last()),
            0 => child(&self.node, job, timeout_ms, data_len, self.write.take()),
            pid => {
                // Ours closed, the child's write end is the only one: the
                // pipe hangs up when the child is gone, answer or not.
                self.write = None;
                ALIVE.fetch_add(1, Ordering::Relaxed);
                self.pid = Some(pid);
                Ok(())
            }
        }
    }

    /// The answer once the child has written it and gone; `Ok(None)`
    /// while it runs. Sense and data are copied into `sense` and `data`.
    pub fn collect(&mut self, sense: &mut [u8], data: &mut [u8]) -> Result<Option<Done>, Errno> {
        if self.write.is_some() {
            return Err(Errno::EINVAL);
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        }
        self.finish();
        parse(&self.got, sense, data)
    }

    fn finish(&mut self) {
        if let Some(pid) = self.pid.take() {
            UNREAPED.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
            reap();
        }
    }
}

impl Drop for Child {
    /// An abandoned command: its child ends when the kernel lets it.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Reap the children that have ended, without waiting for any.
fn reap() {
    let mut pids = UNREAPED.lock().unwrap_or_else(|e| e.into_inner());
    pids.retain(|&pid| {
        let mut status = 0;
        // SAFETY: waitpid on our own child with WNOHANG: it writes only
        // `status`, a live local, and never sleeps.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return true;
        }
        ALIVE.fetch_sub(1, Ordering::Relaxed);
        false
    });
}

/// What a helper child does on its node.
#[derive(Debug, Clone, Copy)]
pub enum Job<'a> {
    /// One SCSI command (SG_IO).
    Scsi(&'a [u8]),
    /// An NVMe namespace's ANA state (admin passthrough, `nvme::ana_answer`).
    NvmeAna,
}

/// In the child: the job, its answer into the pipe, `_exit`.
fn child(node: &Path, job: Job, timeout_ms: u32, data_len: usize, out: Option<OwnedFd>) -> ! {
    let mut answer = vec![0u8; HEAD + SENSE_LEN + data_len];
    let (head, rest) = answer.split_at_mut(HEAD);
    let (sense, data) = rest.split_at_mut(SENSE_LEN);
    let done = match job {
        Job::Scsi(cdb) => Sg::open(node).and_then(|sg| sg.command(cdb, timeout_ms, sense, data)),
        Job::NvmeAna => super::nvme::ana_answer(node, timeout_ms, data).map(|n| Done {
            status: 0,
            host: 0,
            driver: 0,
            sense_len: 0,
            data_len: n,
        }),
    };
    let errno = match done {
        Ok(d) => {
            head[4] = d.status;
            head[6..8].copy_from_slice(&d.host.to_ne_bytes());
            head[8..10].copy_from_slice(&d.driver.to_ne_bytes());
            head[10] = d.sense_len as u8;
            head[12..16].copy_from_slice(&(d.data_len as u32).to_ne_bytes());
            0
        }
        Err(e) => e as i32,
    };
    head[..4].copy_from_slice(&errno.to_ne_bytes());
    if let Some(out) = out {
        let _ = std::io::Write::write_all(&mut File::from(out), &answer);
    }
    // SAFETY: `_exit` ends the child at once, running none of the
    // parent's atexit handlers or buffered-output flushes twice.
    unsafe { libc::_exit(0) }
}

/// Read a child's answer: a short one means the child died before writing.
fn parse(got: &[u8], sense: &mut [u8], data: &mut [u8]) -> Result<Option<Done>, Errno> {
    if got.len() < HEAD + SENSE_LEN {
        return Err(Errno::EIO);
    }
    let errno = i32::from_ne_bytes([got[0], got[1], got[2], got[3]]);
    if errno != 0 {
        return Err(Errno::from_raw(errno));
    }
    let n = sense.len().min(SENSE_LEN);
    sense[..n].copy_from_slice(&got[HEAD..HEAD + n]);
    let body = &got[HEAD + SENSE_LEN..];
    let m = data.len().min(body.len());
    data[..m].copy_from_slice(&body[..m]);
    let read = u32::from_ne_bytes([got[12], got[13], got[14], got[15]]) as usize;
    Ok(Some(Done {
        status: got[4],
        host: u16::from_ne_bytes([got[6], got[7]]),
        driver: u16::from_ne_bytes([got[8], got[9]]),
        sense_len: usize::from(got[10]).min(n),
        data_len: read.min(m),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regular file takes no SG_IO: the child says so (ENOTTY), the
    /// caller never blocks, and the child is reaped.
    #[test]
    fn a_child_answers_through_its_pipe() {
        let p = std::env::temp_dir().join(format!("mpboot-helper-{}", std::process::id()));
        std::fs::write(&p, b"x").unwrap();
        let mut c = Child::new(&p).unwrap();
        c.submit(Job::Scsi(&super::super::TUR), 1000, 0).unwrap();
        assert_eq!(
            c.submit(Job::Scsi(&super::super::TUR), 1000, 0),
            Err(Errno::EBUSY)
        );
        let mut sense = [0u8; SENSE_LEN];
        let start = std::time::Instant::now();
        let got = loop {
            match c.collect(&mut sense, &mut []) {
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(5)),
                r => break r,
            }
            assert!(start.elapsed().as_secs() < 10);
        };
        assert_eq!(got.err(), Some(Errno::ENOTTY));
        let _ = std::fs::remove_file(&p);
    }

    /// Whatever a child leaves in the pipe is read within its bounds.
    #[test]
    fn answers_of_any_length() {
        let mut rng = crate::testrand::Rng::new(0x5e1f);
        for _ in 0..2000 {
            let len = rng.below(HEAD + SENSE_LEN + 80);
            let got: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            let mut sense = [0u8; SENSE_LEN];
            let mut data = [0u8; 64];
            if let Ok(Some(d)) = parse(&got, &mut sense, &mut data) {
                assert!(d.sense_len <= SENSE_LEN && d.data_len <= data.len());
            }
        }
        let mut ok = vec![0u8; HEAD + SENSE_LEN + 3];
        ok[4] = 2;
        ok[10] = 18;
        ok[12] = 3;
        ok[HEAD + SENSE_LEN..].copy_from_slice(&[1, 2, 3]);
        let mut sense = [0u8; SENSE_LEN];
        let mut data = [0u8; 8];
        let d = parse(&ok, &mut sense, &mut data).unwrap().unwrap();
        assert_eq!((d.status, d.sense_len, d.data_len), (2, 18, 3));
        assert_eq!(&data[..3], &[1, 2, 3]);
        assert_eq!(
            parse(&ok[..HEAD], &mut sense, &mut data).err(),
            Some(Errno::EIO)
        );
    }
}
