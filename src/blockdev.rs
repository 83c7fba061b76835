//! Reading a few blocks of a block device: partition tables and
//! superblocks. Bounded, read-only, never cached beyond one call.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::partitions::{self, PartError, Table};

/// Most bytes one read may ask for (a GPT entry array is 16 KiB).
const READ_MAX: u64 = 1 << 20;

pub struct BlockDev {
    file: File,
    path: PathBuf,
    /// Size in 512-byte sectors.
    pub sectors: u64,
    /// Logical block size in bytes.
    pub block: u32,
}

impl BlockDev {
    pub fn open(path: &Path, sectors: u64, block: u32) -> Result<BlockDev> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.into(),
            source,
        })?;
        // Someone may just have rewritten the table through another opener:
        // drop this device's clean cached pages so reads come from the disk.
        let _ = nix::fcntl::posix_fadvise(
            file.as_raw_fd(),
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        );
        Ok(BlockDev {
            file,
            path: path.into(),
            sectors,
            block: if block == 0 { 512 } else { block },
        })
    }

    /// `count` bytes at byte `offset`; None past the end or on error.
    pub fn read_at(&self, offset: u64, count: u64) -> Option<Vec<u8>> {
        if count > READ_MAX || offset.checked_add(count)? > self.sectors * 512 {
            return None;
        }
        let mut buf = vec![0u8; count as usize];
        self.file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }

    /// The partition table, if any.
    pub fn partition_table(&self) -> Result<Option<Table>> {
        let bs = u64::from(self.block);
        partitions::read_table(self.sectors, self.block, &mut |lba, n| {
            self.read_at(lba.checked_mul(bs)?, n.checked_mul(bs)?)
        })
        .map_err(|e| self.part_error(e))
    }

    fn part_error(&self, e: PartError) -> Error {
        Error::Partitions {
            path: self.path.clone(),
            source: e,
        }
    }
}

/// A readable node for device `devt` under `dev_root`: the given node when
/// it is there, else devtmpfs's `block/MAJ:MIN` link or `dm-N`.
pub fn node_for(dev_root: &Path, preferred: &Path, devt: crate::topology::DevT) -> PathBuf {
    if preferred.exists() {
        return preferred.into();
    }
    let by_num = dev_root.join(format!("block/{devt}"));
    if by_num.exists() {
        return by_num;
    }
    dev_root.join(format!("dm-{}", devt.minor))
}
