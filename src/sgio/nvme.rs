//! NVMe admin commands through a namespace's block node (passthrough,
//! `NVME_IOCTL_ADMIN_CMD`, CAP_SYS_ADMIN), for the ANA state of a path as
//! multipath-tools' `ana` prioritizer reads it: Identify Controller, the
//! namespace id, Identify Namespace when groups are static, the ANA log.
//! The ioctls wait for the controller, so they run in a helper child
//! (`helper`), never in a caller's thread; their `unsafe` calls are here.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;

use crate::array::ana;

/// `struct nvme_passthru_cmd` from `<linux/nvme_ioctl.h>`.
#[repr(C)]
#[derive(Default)]
struct PassthruCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

const _: () = assert!(std::mem::size_of::<PassthruCmd>() == 72);

/// `_IOWR('N', 0x41, struct nvme_passthru_cmd)`. Through nix's macros,
/// which know each architecture's encoding (powerpc's `_IO` differs).
const NVME_IOCTL_ADMIN_CMD: libc::c_ulong =
    nix::request_code_readwrite!(b'N', 0x41, std::mem::size_of::<PassthruCmd>());
/// `_IO('N', 0x40)`: the namespace id of the node.
const NVME_IOCTL_ID: libc::c_ulong = nix::request_code_none!(b'N', 0x40);

/// One admin command reading into `data`.
fn admin(
    f: &File,
    opcode: u8,
    nsid: u32,
    cdw: (u32, u32),
    data: &mut [u8],
    ms: u32,
) -> Result<(), Errno> {
    let mut cmd = PassthruCmd {
        opcode,
        nsid,
        addr: data.as_mut_ptr() as u64,
        data_len: data.len() as u32,
        cdw10: cdw.0,
        cdw11: cdw.1,
        timeout_ms: ms,
        ..PassthruCmd::default()
    };
    // SAFETY: `cmd` is a properly laid out nvme_passthru_cmd (size checked
    // at compile time) alive across the call; its `addr` points at `data`,
    // `data_len` bytes the driver writes at most, alive until the ioctl
    // returns; no metadata buffer. The fd is open.
    let rc = unsafe {
        libc::ioctl(
            f.as_raw_fd(),
            NVME_IOCTL_ADMIN_CMD,
            &mut cmd as *mut PassthruCmd,
        )
    };
    match rc {
        0 => Ok(()),
        // A positive NVMe status: the controller refused the command.
        r if r > 0 => Err(Errno::EREMOTEIO),
        _ => Err(Errno::last()),
    }
}

/// The ANA answer a helper child writes: the state code (0: the
/// controller reports no ANA) and the group, 5 bytes.
pub const ANSWER_LEN: usize = 5;

/// In a helper child: the namespace's ANA state through the controller of
/// `node`, into `data` (`ANSWER_LEN` bytes).
pub fn ana_answer(node: &Path, ms: u32, data: &mut [u8]) -> Result<usize, Errno> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .open(node)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut id = vec![0u8; ana::IDENTIFY_LEN];
    admin(&f, ana::IDENTIFY, 0, (1, 0), &mut id, ms)?;
    let c = match ana::controller(&id) {
        Ok(c) => c,
        Err(ana::AnaError::NotReported) => {
            data.get_mut(..ANSWER_LEN).ok_or(Errno::EINVAL)?.fill(0);
            return Ok(ANSWER_LEN);
        }
        Err(_) => return Err(Errno::EBADMSG),
    };
    // SAFETY: NVME_IOCTL_ID takes no argument and only returns the
    // namespace id (or -1 and errno); the fd is open.
    let nsid = unsafe { libc::ioctl(f.as_raw_fd(), NVME_IOCTL_ID) };
    let nsid = u32::try_from(nsid).map_err(|_| Errno::last())?;
    let group = if c.static_groups {
        admin(&f, ana::IDENTIFY, nsid, (0, 0), &mut id, ms)?;
        Some(ana::namespace_group(&id).map_err(|_| Errno::EBADMSG)?)
    } else {
        None
    };
    let mut log = vec![0u8; ana::log_len(&c)];
    admin(
        &f,
        ana::GET_LOG_PAGE,
        u32::MAX,
        ana::log_cdw(log.len(), c.static_groups),
        &mut log,
        ms,
    )?;
    let (state, grp) = ana::state_of(&log, nsid, group).map_err(|_| Errno::EBADMSG)?;
    let out = data.get_mut(..ANSWER_LEN).ok_or(Errno::EINVAL)?;
    out[0] = state.code();
    out[1..].copy_from_slice(&grp.to_le_bytes());
    Ok(ANSWER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers of `<linux/nvme_ioctl.h>` as the C macros give them on
    /// the architectures whose encodings differ.
    #[test]
    fn ioctl_numbers() {
        if cfg!(any(target_arch = "powerpc64", target_arch = "powerpc")) {
            assert_eq!(NVME_IOCTL_ID, 0x2000_4E40);
        } else {
            assert_eq!(NVME_IOCTL_ID, 0x4E40);
        }
        assert_eq!(NVME_IOCTL_ADMIN_CMD, 0xC048_4E41);
    }
}
