//! SCSI commands (TUR, REPORT TARGET PORT GROUPS, INQUIRY), sent without
//! waiting: through the sg driver's v3 write/read interface on a path's
//! `/dev/sgN`, whose fd polls readable when the answer is there, or, with
//! no sg device, through `SG_IO` on the disk's own node in a helper child
//! whose pipe polls readable (`helper`). Their answers are judged here as
//! multipath-tools' tur checker judges them. The `unsafe` calls are the
//! ioctl in `Sg::command`, the write and read in `AsyncCmd`, and the
//! helper's fork, waitpid and `_exit`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

mod helper;
pub mod nvme;

/// `struct sg_io_hdr` from `<scsi/sg.h>`.
#[repr(C)]
struct SgIoHdr {
    interface_id: i32,
    dxfer_direction: i32,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: *mut u8,
    cmdp: *const u8,
    sbp: *mut u8,
    timeout: u32,
    flags: u32,
    pack_id: i32,
    usr_ptr: *mut u8,
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: i32,
    duration: u32,
    info: u32,
}

const _: () = assert!(std::mem::size_of::<SgIoHdr>() == 88);

const SG_IO: u64 = 0x2285;
const SG_DXFER_NONE: i32 = -1;
const SG_DXFER_FROM_DEV: i32 = -3;

/// TEST UNIT READY.
pub const TUR: [u8; 6] = [0; 6];

/// Sense bytes kept per command.
pub const SENSE_LEN: usize = 32;

/// What a path answered, as multipath-tools' tur checker reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tur {
    Up,
    /// Not ready because the port is in standby (02/04/0b): alive, but not
    /// for I/O now. multipath-tools calls this "ghost".
    Ghost,
    /// In transition (02/04/0a): no verdict; keep the state, ask again.
    Pending,
    /// Worth asking again at once (a unit attention, a transient host
    /// error), up to `RETRIES` times; then down.
    Retry,
    Down,
}

/// How often a `Tur::Retry` answer is asked again, as multipath-tools.
pub const RETRIES: u8 = 5;

pub struct Sg {
    file: File,
}

impl Sg {
    pub fn open(dev: &Path) -> Result<Sg, Errno> {
        // O_NONBLOCK: never sleep in open on a device that is going away.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dev)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(Sg { file })
    }

    /// One command through SG_IO, sense into `sense`, data (if any) into
    /// `data`; the calling thread waits for it.
    fn command(
        &self,
        cdb: &[u8],
        timeout_ms: u32,
        sense: &mut [u8],
        data: &mut [u8],
    ) -> Result<Done, Errno> {
        let mut hdr = hdr_for(sense, cdb, timeout_ms, data);
        // SAFETY: `hdr` is a properly laid out sg_io_hdr (size checked at
        // compile time) that lives across the call; its pointers reference
        // `cdb` (cmd_len bytes, read only), `sense` (mx_sb_len bytes) and
        // `data` (dxfer_len bytes, or none with DXFER_NONE), written at
        // most that many and all alive until the ioctl returns. The fd is
        // open.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                SG_IO as libc::c_ulong,
                &mut hdr as *mut SgIoHdr,
            )
        };
        if rc < 0 {
            return Err(Errno::last());
        }
        Ok(Done {
            status: hdr.status,
            host: hdr.host_status,
            driver: hdr.driver_status,
            sense_len: usize::from(hdr.sb_len_wr).min(sense.len()),
            data_len: received(data.len(), hdr.resid),
        })
    }
}

/// Host bytes (SCSI midlayer DID_*) after which asking again is useless:
/// OK, NO_CONNECT, BAD_TARGET, ABORT, TRANSPORT_FAILFAST.
const HOST_FINAL: [u16; 5] = [0x00, 0x01, 0x04, 0x05, 0x0f];

/// The NOT READY additional sense qualifier (ASC 04) with which a
/// handler's passive controller answers TEST UNIT READY: 02 for hp_sw
/// ("initializing command required": START STOP UNIT makes it active),
/// 03 for emc ("manual intervention required": not the owning SP). Such a
/// path is alive but not for I/O now: a ghost, as multipath-tools' hp_sw
/// and emc_clariion checkers say, not a failed path.
pub fn passive_ascq(handler: Option<&str>) -> Option<u8> {
    match handler? {
        "hp_sw" => Some(0x02),
        "emc" => Some(0x03),
        _ => None,
    }
}

/// Key, ASC and ASCQ of fixed or descriptor sense data.
pub fn sense_key(sense: &[u8]) -> Option<(u8, u8, u8)> {
    match sense.first().map(|b| b & 0x7f) {
        Some(0x70 | 0x71) if sense.len() > 13 => Some((sense[2] & 0xf, sense[12], sense[13])),
        Some(0x72 | 0x73) if sense.len() > 3 => Some((sense[1] & 0xf, sense[2], sense[3])),
        _ => None,
    }
}

/// TUR outcome from SCSI status, transport status and sense data, as
/// multipath-tools' tur checker decides (SAN-NOTES §4); `passive` is the
/// path's handler's passive ASCQ (`passive_ascq`).
pub fn classify(status: u8, host: u16, driver: u16, sense: &[u8], passive: Option<u8>) -> Tur {
    if host != 0 {
        return if HOST_FINAL.contains(&host) {
            Tur::Down
        } else {
            Tur::Retry
        };
    }
    if (driver & 0xf) != 0 && status == 0 {
        return Tur::Down;
    }
    match status & 0x7e {
        0x00 => Tur::Up,
        // RESERVATION CONFLICT: the LUN answered; another host holds it.
        0x18 => Tur::Up,
        // CHECK CONDITION: look at the sense key (fixed or descriptor format).
        0x02 => {
            let Some((key, asc, ascq)) = sense_key(sense) else {
                return Tur::Down;
            };
            match (key, asc, ascq) {
                // UNIT ATTENTION (e.g. ALUA state changed): ask again.
                (0x6, _, _) => Tur::Retry,
                // NOT READY: target port in standby.
                (0x2, 0x04, 0x0b) => Tur::Ghost,
                // NOT READY: asymmetric access state transition.
                (0x2, 0x04, 0x0a) => Tur::Pending,
                // NOT READY: the handler's passive controller.
                (0x2, 0x04, q) if Some(q) == passive => Tur::Ghost,
                _ => Tur::Down,
            }
        }
        _ => Tur::Down,
    }
}

/// A command's timeout when the device names none: the SCSI disk
/// driver's default, and multipath-tools' checker_timeout default.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The device's own command timeout (`device/timeout`, seconds).
pub fn command_timeout(sys: &crate::sysfs::Sysfs, disk: &str) -> std::time::Duration {
    sys.read_num::<u64>(&format!("block/{disk}/device/timeout"))
        .ok()
        .flatten()
        .filter(|&s| s > 0)
        .map_or(DEFAULT_TIMEOUT, |s| {
            std::time::Duration::from_secs(s.min(600))
        })
}

/// The path's sg node, made from sysfs' numbers when no devtmpfs made it
/// and `make` allows (a dry run and a listing change nothing: None then).
/// None when the disk has no sg device (the `sg` module is not loaded).
/// The name comes from the SCSI device's `generic` link (one readlink;
/// listing `scsi_generic/` is the fallback).
pub fn sg_node(
    sys: &crate::sysfs::Sysfs,
    dev_root: &Path,
    disk: &str,
    make: bool,
) -> Option<std::path::PathBuf> {
    let sg = match sys.link_name(&format!("block/{disk}/device/generic")) {
        Ok(Some(sg)) => sg,
        _ => sg_name(sys, disk)?,
    };
    let node = dev_root.join(&sg);
    if !node.exists() {
        if !make {
            return None;
        }
        let devt: crate::topology::DevT = sys
            .read_attr(&format!("class/scsi_generic/{sg}/dev"))
            .ok()??
            .parse()
            .ok()?;
        let dev = nix::sys::stat::makedev(devt.major.into(), devt.minor.into());
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
        let _ = nix::sys::stat::mknod(&node, nix::sys::stat::SFlag::S_IFCHR, mode, dev);
    }
    Some(node)
}

/// The sg device (`sgN`) of a SCSI disk, from sysfs.
pub fn sg_name(sys: &crate::sysfs::Sysfs, disk: &str) -> Option<String> {
    sys.list(&format!("block/{disk}/device/scsi_generic"))
        .ok()?
        .into_iter()
        .next()
}

/// What a command's fd said to `poll`: None, nothing; Some(false), an
/// answer (or an error) to read; Some(true), hung up or invalid with
/// nothing to read. While a SCSI device is being removed with a command
/// in flight, sg reports only POLLHUP and `read` says EAGAIN until the
/// command ends: a caller that polls such an fd again spins.
pub fn woke(revents: Option<nix::poll::PollFlags>) -> Option<bool> {
    use nix::poll::PollFlags;
    let r = revents?;
    if r.intersects(PollFlags::POLLIN | PollFlags::POLLERR) {
        Some(false)
    } else {
        r.intersects(PollFlags::POLLHUP | PollFlags::POLLNVAL)
            .then_some(true)
    }
}

/// One command in flight on a path, polled by its caller: through the
/// sg driver's asynchronous interface on its `/dev/sgN` (submitted with
/// `write`, collected with `read` once the fd polls readable), or, with
/// no sg device, through SG_IO on the disk's own node in a helper child
/// (`helper`), whose pipe polls readable instead. The sense and data
/// buffers live here: the sg driver copies into them at `read` time,
/// through the pointers given at `write` time.
pub struct AsyncCmd {
    via: Via,
    sense: Box<[u8; SENSE_LEN]>,
    data: Box<[u8]>,
}

enum Via {
    Sg(File),
    Helper(helper::Child),
}

/// Where a path's commands go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Its sg node.
    Sg(std::path::PathBuf),
    /// Its disk's node, through a helper: there is no sg device.
    Disk(std::path::PathBuf),
}

impl Route {
    /// The path's sg node when it has one (made from sysfs when `make`
    /// allows), else its disk's node: that makes nothing.
    pub fn of(sys: &crate::sysfs::Sysfs, dev_root: &Path, disk: &str, make: bool) -> Route {
        sg_node(sys, dev_root, disk, make)
            .map_or_else(|| Route::Disk(dev_root.join(disk)), Route::Sg)
    }

    /// Ready a command reading up to `data_len` bytes (0: no data phase).
    pub fn open(&self, data_len: usize) -> Result<AsyncCmd, Errno> {
        let via = match self {
            Route::Sg(node) => Via::Sg(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(node)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?,
            ),
            Route::Disk(node) => Via::Helper(helper::Child::new(node)?),
        };
        Ok(AsyncCmd {
            via,
            sense: Box::new([0; SENSE_LEN]),
            data: vec![0; data_len].into_boxed_slice(),
        })
    }

    pub fn node(&self) -> &Path {
        match self {
            Route::Sg(n) | Route::Disk(n) => n,
        }
    }
}

/// An error that says we are short of something (fds, processes,
/// memory, a busy sg device), not that the path is bad: ask again later.
pub fn ours(e: Errno) -> bool {
    matches!(
        e,
        Errno::EAGAIN | Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM | Errno::EBUSY
    )
}

/// How a command ended; `AsyncCmd::sense` and `AsyncCmd::data` give its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    pub status: u8,
    pub host: u16,
    pub driver: u16,
    sense_len: usize,
    data_len: usize,
}

impl Done {
    /// Bytes of data the device sent, by the residue.
    pub fn received(&self) -> usize {
        self.data_len
    }

    #[cfg(test)]
    pub fn answered(status: u8, data_len: usize) -> Done {
        Done {
            status,
            host: 0,
            driver: 0,
            sense_len: 0,
            data_len,
        }
    }

    /// GOOD status with no transport or driver error.
    pub fn good(&self) -> bool {
        self.status & 0x7e == 0 && self.host == 0 && self.driver & 0xf == 0
    }
}

/// Bytes a command read into a `len`-byte buffer, by its residue.
fn received(len: usize, resid: i32) -> usize {
    len.saturating_sub(usize::try_from(resid).unwrap_or(0))
}

/// A header for `cdb`, sense into `sense`, data (if any) into `data`.
/// All three must outlive the command, as each caller says.
fn hdr_for(sense: &mut [u8], cdb: &[u8], timeout_ms: u32, data: &mut [u8]) -> SgIoHdr {
    SgIoHdr {
        interface_id: i32::from(b'S'),
        dxfer_direction: if data.is_empty() {
            SG_DXFER_NONE
        } else {
            SG_DXFER_FROM_DEV
        },
        cmd_len: cdb.len() as u8,
        mx_sb_len: sense.len().min(255) as u8,
        iovec_count: 0,
        dxfer_len: data.len() as u32,
        dxferp: if data.is_empty() {
            std::ptr::null_mut()
        } else {
            data.as_mut_ptr()
        },
        cmdp: cdb.as_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: timeout_ms,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    }
}

impl AsyncCmd {
    /// A command on an sg node (tests use any pollable file).
    #[cfg(test)]
    pub fn open(node: &Path, data_len: usize) -> Result<AsyncCmd, Errno> {
        Route::Sg(node.to_path_buf()).open(data_len)
    }

    /// What the caller polls; readable (or hung up) when there is news.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.via {
            Via::Sg(f) => std::os::fd::AsFd::as_fd(f),
            Via::Helper(c) => c.fd(),
        }
    }

    /// Submit `cdb`; the kernel times it out after `timeout_ms`.
    pub fn submit(&mut self, cdb: &[u8], timeout_ms: u32) -> Result<(), Errno> {
        *self.sense = [0; SENSE_LEN];
        let file = match &mut self.via {
            Via::Sg(f) => f,
            Via::Helper(c) => return c.submit(helper::Job::Scsi(cdb), timeout_ms, self.data.len()),
        };
        let hdr = hdr_for(&mut self.sense[..], cdb, timeout_ms, &mut self.data);
        let len = std::mem::size_of::<SgIoHdr>();
        // SAFETY: `hdr` is a properly laid out sg_io_hdr (size checked at
        // compile time) read by the driver during this call only. It copies
        // the CDB (`cdb`, cmd_len bytes, alive until we return) at submit
        // time and keeps `sbp` and `dxferp`, which point into `self.sense`
        // (mx_sb_len bytes) and `self.data` (dxfer_len bytes): boxed
        // buffers that live as long as `self`, and so as long as the fd.
        // The driver copies into them only at the `read` that collects the
        // answer; a close abandons the command without touching them.
        let n = unsafe {
            libc::write(
                file.as_raw_fd(),
                &hdr as *const SgIoHdr as *const libc::c_void,
                len,
            )
        };
        if n < 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    /// Ask an NVMe namespace's controller for its ANA state (a helper
    /// child on the disk's node: `nvme::ana_answer`); the answer's data is
    /// `nvme::ANSWER_LEN` bytes.
    pub fn submit_ana(&mut self, timeout_ms: u32) -> Result<(), Errno> {
        match &mut self.via {
            Via::Helper(c) => c.submit(helper::Job::NvmeAna, timeout_ms, self.data.len()),
            Via::Sg(_) => Err(Errno::EINVAL),
        }
    }

    /// The answer, once there; `Ok(None)` while the command is in flight.
    pub fn collect(&mut self) -> Result<Option<Done>, Errno> {
        let file = match &mut self.via {
            Via::Sg(f) => f,
            Via::Helper(c) => return c.collect(&mut self.sense[..], &mut self.data),
        };
        let mut hdr = hdr_for(&mut self.sense[..], &TUR, 0, &mut []);
        let len = std::mem::size_of::<SgIoHdr>();
        // SAFETY: `hdr` is a writable sg_io_hdr of exactly `len` bytes that
        // outlives the call; the driver fills it with the finished
        // command's status and copies sense and data to the pointers given
        // at submit time (`self.sense`, `self.data`, both alive). O_NONBLOCK:
        // EAGAIN while the command is in flight, never a sleep.
        let n = unsafe {
            libc::read(
                file.as_raw_fd(),
                &mut hdr as *mut SgIoHdr as *mut libc::c_void,
                len,
            )
        };
        if n < 0 {
            return match Errno::last() {
                Errno::EAGAIN => Ok(None),
                e => Err(e),
            };
        }
        Ok(Some(Done {
            status: hdr.status,
            host: hdr.host_status,
            driver: hdr.driver_status,
            sense_len: usize::from(hdr.sb_len_wr).min(self.sense.len()),
            data_len: received(self.data.len(), hdr.resid),
        }))
    }

    pub fn sense(&self, d: &Done) -> &[u8] {
        &self.sense[..d.sense_len.min(self.sense.len())]
    }

    /// The whole data buffer (zeroed before the command); `Done::received`
    /// says how much of it the device sent.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A dry run and `list` change nothing: no sg node is made for them.
    #[test]
    fn sg_node_is_made_only_when_allowed() {
        use crate::sysfs::scsi::tests::{captured, Tree};
        let t = Tree::new("sgnode");
        t.disk("sda", "8:0", "0:0:0:0", &captured("scsi_debug.pg83"), None);
        t.file(
            "devices/platform/host/0:0:0:0/scsi_generic/sg0/dev",
            b"21:0\n",
        );
        t.file("class/scsi_generic/sg0/dev", b"21:0\n");
        let dev = t.root.join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        let sys = t.sysfs();
        assert_eq!(sg_name(&sys, "sda").as_deref(), Some("sg0"));
        assert_eq!(sg_node(&sys, &dev, "sda", false), None);
        assert!(std::fs::symlink_metadata(dev.join("sg0")).is_err());
        // An existing node is used either way.
        std::fs::write(dev.join("sg0"), b"").unwrap();
        assert_eq!(sg_node(&sys, &dev, "sda", false), Some(dev.join("sg0")));
    }

    /// Fixed-format sense data with this key, ASC and ASCQ.
    pub fn fixed_sense(key: u8, asc: u8, ascq: u8) -> Vec<u8> {
        let mut f = vec![0u8; 18];
        f[0] = 0x70;
        f[2] = key;
        f[12] = asc;
        f[13] = ascq;
        f
    }

    /// Being short of fds, processes or memory, or a busy sg device, is
    /// ours to wait out, never a verdict on the path.
    #[test]
    fn our_shortages_are_not_the_paths() {
        for e in [
            Errno::EMFILE,
            Errno::ENFILE,
            Errno::EAGAIN,
            Errno::ENOMEM,
            Errno::EBUSY,
        ] {
            assert!(ours(e), "{e}");
        }
        for e in [
            Errno::ENXIO,
            Errno::EIO,
            Errno::ENODEV,
            Errno::ENOENT,
            Errno::EACCES,
        ] {
            assert!(!ours(e), "{e}");
        }
    }

    #[test]
    fn tur_outcomes() {
        // One row per outcome multipath-tools' tur checker tells apart
        // (checkers/tur.c; SAN-NOTES §4): (status, host, sense) -> verdict.
        let fixed = fixed_sense;
        #[rustfmt::skip]
        let rows: &[(&str, u8, u16, Vec<u8>, Tur)] = &[
            ("GOOD", 0x00, 0, vec![], Tur::Up),
            ("RESERVATION CONFLICT: up", 0x18, 0, vec![], Tur::Up),
            ("DID_NO_CONNECT: final", 0x00, 0x01, vec![], Tur::Down),
            ("DID_BAD_TARGET: final", 0x00, 0x04, vec![], Tur::Down),
            ("DID_ABORT: final", 0x00, 0x05, vec![], Tur::Down),
            ("DID_TRANSPORT_FAILFAST: final", 0x00, 0x0f, vec![], Tur::Down),
            ("DID_TIME_OUT: retried", 0x00, 0x03, vec![], Tur::Retry),
            ("DID_BUS_BUSY: retried", 0x00, 0x02, vec![], Tur::Retry),
            ("UNIT ATTENTION: retried", 0x02, 0, fixed(0x6, 0x2a, 0x06), Tur::Retry),
            ("standby: ghost", 0x02, 0, fixed(0x2, 0x04, 0x0b), Tur::Ghost),
            ("transitioning: pending", 0x02, 0, fixed(0x2, 0x04, 0x0a), Tur::Pending),
            ("unavailable: down", 0x02, 0, fixed(0x2, 0x04, 0x0c), Tur::Down),
            ("becoming ready: down", 0x02, 0, fixed(0x2, 0x04, 0x01), Tur::Down),
            ("LUN not supported: down", 0x02, 0, fixed(0x5, 0x25, 0x00), Tur::Down),
            ("descriptor sense, transitioning", 0x02, 0, vec![0x72, 0x02, 0x04, 0x0a], Tur::Pending),
            ("descriptor sense, standby", 0x02, 0, vec![0x72, 0x02, 0x04, 0x0b], Tur::Ghost),
            ("CHECK CONDITION, no sense", 0x02, 0, vec![], Tur::Down),
            ("truncated fixed sense", 0x02, 0, vec![0x70, 0, 2], Tur::Down),
            ("BUSY: down", 0x08, 0, vec![], Tur::Down),
            ("initializing command required: down", 0x02, 0, fixed(0x2, 0x04, 0x02), Tur::Down),
        ];
        for (what, status, host, sense, want) in rows {
            assert_eq!(classify(*status, *host, 0, sense, None), *want, "{what}");
        }
        // A passive controller of an hp_sw or emc array is a ghost, not down.
        let hp = passive_ascq(Some("hp_sw"));
        let emc = passive_ascq(Some("emc"));
        assert_eq!(
            classify(0x02, 0, 0, &fixed(0x2, 0x04, 0x02), hp),
            Tur::Ghost
        );
        assert_eq!(
            classify(0x02, 0, 0, &fixed(0x2, 0x04, 0x03), emc),
            Tur::Ghost
        );
        assert_eq!(classify(0x02, 0, 0, &fixed(0x2, 0x04, 0x03), hp), Tur::Down);
        assert_eq!(passive_ascq(Some("alua")), None);
    }
}
