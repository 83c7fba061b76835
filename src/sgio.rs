//! SCSI commands through `SG_IO` on a path's block device: the path
//! checker's TEST UNIT READY. The one `unsafe` call is in `Sg::command`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

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

/// What a path answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tur {
    Up,
    /// Not ready, e.g. an ALUA standby or transitioning port: alive, but not
    /// for I/O now. multipath-tools calls this "ghost".
    Ghost,
    Down,
}

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

    /// A command with no data phase; returns (status, host, driver, sense).
    fn command(&self, cdb: &[u8], timeout_ms: u32) -> Result<(u8, u16, u16, [u8; 32]), Errno> {
        let mut sense = [0u8; 32];
        let mut hdr = SgIoHdr {
            interface_id: i32::from(b'S'),
            dxfer_direction: SG_DXFER_NONE,
            cmd_len: cdb.len() as u8,
            mx_sb_len: sense.len() as u8,
            iovec_count: 0,
            dxfer_len: 0,
            dxferp: std::ptr::null_mut(),
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
        };
        // SAFETY: `hdr` is a properly laid out sg_io_hdr (size checked at
        // compile time) that lives across the call; its pointers reference
        // `cdb` (cmd_len bytes, read only) and `sense` (mx_sb_len bytes,
        // written at most that many), both alive until the ioctl returns,
        // and no data buffer (dxfer_len 0, DXFER_NONE). The fd is open.
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
        Ok((hdr.status, hdr.host_status, hdr.driver_status, sense))
    }

    pub fn test_unit_ready(&self, timeout_ms: u32) -> Result<Tur, Errno> {
        let (status, host, driver, sense) = self.command(&[0u8; 6], timeout_ms)?;
        Ok(classify(status, host, driver, &sense))
    }
}

/// Check a path: TEST UNIT READY, or where the device takes no SG_IO, one
/// direct read of its first block.
pub fn check_path(dev: &Path, timeout_ms: u32) -> Tur {
    let Ok(sg) = Sg::open(dev) else {
        return Tur::Down;
    };
    match sg.test_unit_ready(timeout_ms) {
        Ok(t) => t,
        Err(Errno::ENOTTY | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
            directio_read(dev)
        }
        Err(_) => Tur::Down,
    }
}

/// One 4 KiB O_DIRECT read at offset 0, past every cache.
pub fn directio_read(dev: &Path) -> Tur {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 4096;
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT | libc::O_NONBLOCK)
        .open(dev)
    else {
        return Tur::Down;
    };
    // O_DIRECT wants a buffer aligned to the logical block size.
    let mut raw = vec![0u8; 2 * BLOCK];
    let off = raw.as_ptr().align_offset(BLOCK);
    match f.read_at(&mut raw[off..off + BLOCK], 0) {
        Ok(n) if n > 0 => Tur::Up,
        _ => Tur::Down,
    }
}

/// TUR outcome from SCSI status, transport status and sense data.
pub fn classify(status: u8, host: u16, driver: u16, sense: &[u8]) -> Tur {
    if host != 0 || (driver & 0xf) != 0 && status == 0 {
        return Tur::Down;
    }
    match status {
        0x00 => Tur::Up,
        // CHECK CONDITION: look at the sense key (fixed or descriptor format).
        0x02 => {
            let (key, asc, ascq) = match sense.first().map(|b| b & 0x7f) {
                Some(0x70 | 0x71) if sense.len() > 13 => (sense[2] & 0xf, sense[12], sense[13]),
                Some(0x72 | 0x73) if sense.len() > 3 => (sense[1] & 0xf, sense[2], sense[3]),
                _ => return Tur::Down,
            };
            match (key, asc, ascq) {
                // UNIT ATTENTION (e.g. ALUA state changed): the path answered.
                (0x6, _, _) => Tur::Up,
                // NOT READY: target port in standby / unavailable / transitioning.
                (0x2, 0x04, 0x0a..=0x0c) => Tur::Ghost,
                _ => Tur::Down,
            }
        }
        _ => Tur::Down,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_reads_where_there_is_no_sg_io() {
        // A regular file answers SG_IO with ENOTTY: the direct read decides.
        let p = std::env::temp_dir().join(format!("mpboot-sg-{}", std::process::id()));
        std::fs::write(&p, vec![7u8; 8192]).unwrap();
        assert_eq!(check_path(&p, 1000), Tur::Up);
        std::fs::write(&p, b"").unwrap();
        assert_eq!(check_path(&p, 1000), Tur::Down);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(check_path(Path::new("/nonexistent/sdz"), 1000), Tur::Down);
    }

    #[test]
    fn tur_outcomes() {
        assert_eq!(classify(0, 0, 0, &[]), Tur::Up);
        assert_eq!(classify(0, 1, 0, &[]), Tur::Down); // DID_NO_CONNECT
        let mut fixed = [0u8; 18];
        fixed[0] = 0x70;
        fixed[2] = 0x06;
        assert_eq!(classify(2, 0, 0, &fixed), Tur::Up);
        fixed[2] = 0x02;
        fixed[12] = 0x04;
        fixed[13] = 0x0b;
        assert_eq!(classify(2, 0, 0, &fixed), Tur::Ghost);
        fixed[13] = 0x02;
        assert_eq!(classify(2, 0, 0, &fixed), Tur::Down);
        assert_eq!(classify(2, 0, 0, &[0x72, 0x02, 0x04, 0x0a]), Tur::Ghost);
        assert_eq!(classify(2, 0, 0, &[]), Tur::Down);
        assert_eq!(classify(0x18, 0, 0, &[]), Tur::Down); // reservation conflict
    }
}
