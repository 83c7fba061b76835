//! Deleting the kernel's own partitions of a multipath path (`BLKPG`), as
//! multipath-tools' 68-del-part-nodes rule does: once `sda` is a path of a
//! map, `sda1` carries the same PARTUUID as the map's partition map, and
//! anything that opens it (a by-partuuid link, a mount) bypasses multipath.
//! The one `unsafe` call is in `del_partition`.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;

/// `struct blkpg_partition` from `<linux/blkpg.h>`.
#[repr(C)]
struct BlkpgPartition {
    start: i64,
    length: i64,
    pno: i32,
    devname: [u8; 64],
    volname: [u8; 64],
}

/// `struct blkpg_ioctl_arg`.
#[repr(C)]
struct BlkpgIoctlArg {
    op: i32,
    flags: i32,
    datalen: i32,
    data: *mut BlkpgPartition,
}

const _: () = assert!(std::mem::size_of::<BlkpgPartition>() == 152);
const _: () = assert!(std::mem::size_of::<BlkpgIoctlArg>() == 24);

const BLKPG: u64 = 0x1269;
const BLKPG_DEL_PARTITION: i32 = 2;

/// Delete partition `pno` of the whole disk `disk`. EBUSY: it is in use.
pub fn del_partition(disk: &Path, pno: u32) -> Result<(), Errno> {
    let file = OpenOptions::new()
        .read(true)
        .open(disk)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut part = BlkpgPartition {
        start: 0,
        length: 0,
        pno: pno as i32,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_DEL_PARTITION,
        flags: 0,
        datalen: std::mem::size_of::<BlkpgPartition>() as i32,
        data: &mut part,
    };
    // SAFETY: `arg` and the `part` it points to are properly laid out (sizes
    // checked at compile time), live across the call, and `datalen` is the
    // size of `part`; BLKPG only reads them for a delete. The fd is open.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            BLKPG as libc::c_ulong,
            &mut arg as *mut BlkpgIoctlArg,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
