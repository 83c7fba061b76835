//! `<linux/dm-ioctl.h>`, version 4: structures, command numbers, flags.
//!
//! The structs fix the layout (checked at compile time); buffers are read and
//! written by field offset, so no unsafe code is needed outside the ioctl call.

use std::mem::{offset_of, size_of};

pub const DM_NAME_LEN: usize = 128;
pub const DM_UUID_LEN: usize = 129;
pub const DM_MAX_TYPE_NAME: usize = 16;

/// We speak 4.x; the kernel accepts any minor up to its own.
pub const DM_VERSION: [u32; 3] = [4, 0, 0];

#[repr(C)]
pub struct DmIoctl {
    pub version: [u32; 3],
    pub data_size: u32,
    pub data_start: u32,
    pub target_count: u32,
    pub open_count: i32,
    pub flags: u32,
    pub event_nr: u32,
    pub padding: u32,
    pub dev: u64,
    pub name: [u8; DM_NAME_LEN],
    pub uuid: [u8; DM_UUID_LEN],
    pub data: [u8; 7],
}

#[repr(C)]
pub struct DmTargetSpec {
    pub sector_start: u64,
    pub length: u64,
    pub status: i32,
    pub next: u32,
    pub target_type: [u8; DM_MAX_TYPE_NAME],
}

const _: () = assert!(size_of::<DmIoctl>() == 312);
const _: () = assert!(size_of::<DmTargetSpec>() == 40);
const _: () = assert!(offset_of!(DmIoctl, dev) == 40);
const _: () = assert!(offset_of!(DmIoctl, uuid) == 176);

pub const HEADER_SIZE: usize = size_of::<DmIoctl>();
pub const SPEC_SIZE: usize = size_of::<DmTargetSpec>();
/// `struct dm_name_list { __u64 dev; __u32 next; char name[]; }`: name offset.
pub const NAME_LIST_NAME: usize = 12;
/// `struct dm_target_msg { __u64 sector; char message[]; }`: message offset.
pub const TARGET_MSG_TEXT: usize = 8;

/// The commands we use (`enum` in dm-ioctl.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cmd {
    Version = 0,
    ListDevices = 2,
    DevCreate = 3,
    DevRemove = 4,
    DevSuspend = 6,
    DevStatus = 7,
    TableLoad = 9,
    TableClear = 10,
    TableStatus = 12,
    TargetMsg = 14,
    DevArmPoll = 16,
}

impl Cmd {
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Version => "DM_VERSION",
            Cmd::ListDevices => "DM_LIST_DEVICES",
            Cmd::DevCreate => "DM_DEV_CREATE",
            Cmd::DevRemove => "DM_DEV_REMOVE",
            Cmd::DevSuspend => "DM_DEV_SUSPEND",
            Cmd::DevStatus => "DM_DEV_STATUS",
            Cmd::TableLoad => "DM_TABLE_LOAD",
            Cmd::TableClear => "DM_TABLE_CLEAR",
            Cmd::TableStatus => "DM_TABLE_STATUS",
            Cmd::TargetMsg => "DM_TARGET_MSG",
            Cmd::DevArmPoll => "DM_DEV_ARM_POLL",
        }
    }

    /// `_IOWR(0xfd, cmd, struct dm_ioctl)`.
    pub fn request(self) -> u64 {
        nix::request_code_readwrite!(0xfd, self as u8, HEADER_SIZE)
    }
}

pub const DM_SUSPEND_FLAG: u32 = 1 << 1;
pub const DM_STATUS_TABLE_FLAG: u32 = 1 << 4;
pub const DM_ACTIVE_PRESENT_FLAG: u32 = 1 << 5;
pub const DM_BUFFER_FULL_FLAG: u32 = 1 << 8;
pub const DM_NOFLUSH_FLAG: u32 = 1 << 11;

/// A udev cookie carrying only flags (upper 16 bits; the lower 16, which
/// would name libdevmapper's notification semaphore, are zero, so
/// `dmsetup udevcomplete` has nothing to wait for): DM_UDEV_PRIMARY_SOURCE_FLAG
/// (0x40) from libdevmapper.h.
pub const UDEV_FLAGS_ONLY_PRIMARY: u32 = 0x0040 << 16;
pub const DM_DATA_OUT_FLAG: u32 = 1 << 16;

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

pub fn get_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

pub fn get_u64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// A NUL-terminated string at `off`, at most `max` bytes.
pub fn get_cstr(b: &[u8], off: usize, max: usize) -> Option<String> {
    let field = b.get(off..(off + max).min(b.len()))?;
    let end = field.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&field[..end]).into_owned())
}

/// The header fields a caller sets.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub name: String,
    pub uuid: String,
    pub flags: u32,
    pub target_count: u32,
    /// For resume: a udev cookie, sent back in the uevent as DM_COOKIE.
    pub event_nr: u32,
}

/// Write a request header for a buffer of `buf.len()` bytes; data follows it.
pub fn encode_header(buf: &mut [u8], req: &Request) {
    buf[..HEADER_SIZE].fill(0);
    for (i, v) in DM_VERSION.iter().enumerate() {
        put_u32(buf, offset_of!(DmIoctl, version) + 4 * i, *v);
    }
    put_u32(buf, offset_of!(DmIoctl, data_size), buf.len() as u32);
    put_u32(buf, offset_of!(DmIoctl, data_start), HEADER_SIZE as u32);
    put_u32(buf, offset_of!(DmIoctl, target_count), req.target_count);
    put_u32(buf, offset_of!(DmIoctl, flags), req.flags);
    put_u32(buf, offset_of!(DmIoctl, event_nr), req.event_nr);
    // Lengths were checked by the caller (valid_name / valid_uuid).
    let n = offset_of!(DmIoctl, name);
    buf[n..n + req.name.len()].copy_from_slice(req.name.as_bytes());
    let u = offset_of!(DmIoctl, uuid);
    buf[u..u + req.uuid.len()].copy_from_slice(req.uuid.as_bytes());
}

/// The header fields the kernel answers with.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub version: [u32; 3],
    pub data_size: u32,
    pub data_start: u32,
    pub target_count: u32,
    pub open_count: i32,
    pub flags: u32,
    /// The device's event counter (DM_DEV_STATUS and the like).
    pub event_nr: u32,
    pub dev: u64,
    pub name: String,
    pub uuid: String,
}

pub fn decode_header(buf: &[u8]) -> Option<Reply> {
    let u = |f| get_u32(buf, f);
    Some(Reply {
        version: [
            u(offset_of!(DmIoctl, version))?,
            u(offset_of!(DmIoctl, version) + 4)?,
            u(offset_of!(DmIoctl, version) + 8)?,
        ],
        data_size: u(offset_of!(DmIoctl, data_size))?,
        data_start: u(offset_of!(DmIoctl, data_start))?,
        target_count: u(offset_of!(DmIoctl, target_count))?,
        open_count: u(offset_of!(DmIoctl, open_count))? as i32,
        flags: u(offset_of!(DmIoctl, flags))?,
        event_nr: u(offset_of!(DmIoctl, event_nr))?,
        dev: get_u64(buf, offset_of!(DmIoctl, dev))?,
        name: get_cstr(buf, offset_of!(DmIoctl, name), DM_NAME_LEN).unwrap_or_default(),
        uuid: get_cstr(buf, offset_of!(DmIoctl, uuid), DM_UUID_LEN).unwrap_or_default(),
    })
}

/// One target line of a table to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub start: u64,
    pub length: u64,
    pub target_type: String,
    pub params: String,
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bytes of the target specs for `DM_TABLE_LOAD`: each spec's `next` is the
/// distance to the following one.
pub fn encode_targets(targets: &[Target]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in targets {
        let at = out.len();
        let len = align8(SPEC_SIZE + t.params.len() + 1);
        out.resize(at + len, 0);
        put_u64(
            &mut out,
            at + offset_of!(DmTargetSpec, sector_start),
            t.start,
        );
        put_u64(&mut out, at + offset_of!(DmTargetSpec, length), t.length);
        put_u32(&mut out, at + offset_of!(DmTargetSpec, next), len as u32);
        let ty = at + offset_of!(DmTargetSpec, target_type);
        let n = t.target_type.len().min(DM_MAX_TYPE_NAME - 1);
        out[ty..ty + n].copy_from_slice(&t.target_type.as_bytes()[..n]);
        let p = at + SPEC_SIZE;
        out[p..p + t.params.len()].copy_from_slice(t.params.as_bytes());
    }
    out
}

/// Target specs in a `DM_TABLE_STATUS` reply: there `next` counts from the
/// start of the data area.
pub fn decode_targets(data: &[u8], count: u32) -> Option<Vec<Target>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for i in 0..count {
        let start = get_u64(data, at + offset_of!(DmTargetSpec, sector_start))?;
        let length = get_u64(data, at + offset_of!(DmTargetSpec, length))?;
        let next = get_u32(data, at + offset_of!(DmTargetSpec, next))? as usize;
        let target_type = get_cstr(
            data,
            at + offset_of!(DmTargetSpec, target_type),
            DM_MAX_TYPE_NAME,
        )?;
        let params = get_cstr(
            data,
            at + SPEC_SIZE,
            data.len().saturating_sub(at + SPEC_SIZE),
        )?;
        out.push(Target {
            start,
            length,
            target_type,
            params,
        });
        if i + 1 < count {
            if next <= at {
                return None;
            }
            at = next;
        }
    }
    Some(out)
}

/// `DM_LIST_DEVICES` reply: (name, dev) pairs; `next` is relative to each entry.
pub fn decode_name_list(data: &[u8]) -> Option<Vec<(String, u64)>> {
    let mut out = Vec::new();
    // No device at all: the kernel says so with a data size of 0 (its
    // `dev = 0` marker lies past the data it reports).
    if data.is_empty() {
        return Some(out);
    }
    let mut at = 0usize;
    loop {
        let dev = get_u64(data, at)?;
        if dev == 0 && at == 0 {
            return Some(out); // "no devices"
        }
        let next = get_u32(data, at + 8)? as usize;
        let name = get_cstr(data, at + NAME_LIST_NAME, DM_NAME_LEN)?;
        out.push((name, dev));
        if next == 0 {
            return Some(out);
        }
        at = at.checked_add(next)?;
    }
}

pub fn encode_target_msg(sector: u64, msg: &str) -> Vec<u8> {
    let mut out = vec![0u8; align8(TARGET_MSG_TEXT + msg.len() + 1)];
    put_u64(&mut out, 0, sector);
    out[TARGET_MSG_TEXT..TARGET_MSG_TEXT + msg.len()].copy_from_slice(msg.as_bytes());
    out
}

/// Split the kernel's huge_encode_dev() device number.
pub fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel() {
        // Values of DM_VERSION etc. on x86_64, from <linux/dm-ioctl.h>.
        assert_eq!(Cmd::Version.request(), 0xc138_fd00);
        assert_eq!(Cmd::ListDevices.request(), 0xc138_fd02);
        assert_eq!(Cmd::DevCreate.request(), 0xc138_fd03);
        assert_eq!(Cmd::DevRemove.request(), 0xc138_fd04);
        assert_eq!(Cmd::DevSuspend.request(), 0xc138_fd06);
        assert_eq!(Cmd::DevStatus.request(), 0xc138_fd07);
        assert_eq!(Cmd::TableLoad.request(), 0xc138_fd09);
        assert_eq!(Cmd::TableStatus.request(), 0xc138_fd0c);
        assert_eq!(Cmd::TargetMsg.request(), 0xc138_fd0e);
        assert_eq!(Cmd::TableClear.request(), 0xc138_fd0a);
        assert_eq!(Cmd::DevArmPoll.request(), 0xc138_fd10);
    }

    #[test]
    fn header_round_trip() {
        let mut buf = vec![0xaau8; 1024];
        encode_header(
            &mut buf,
            &Request {
                name: "mpatha".into(),
                uuid: "mpath-3600".into(),
                flags: DM_NOFLUSH_FLAG,
                target_count: 1,
                event_nr: UDEV_FLAGS_ONLY_PRIMARY,
            },
        );
        // The cookie lands where the kernel reads it (DM_COOKIE=4194304).
        let e = offset_of!(DmIoctl, event_nr);
        assert_eq!(buf[e..e + 4], 4_194_304u32.to_ne_bytes());
        let r = decode_header(&buf).unwrap();
        assert_eq!(r.version, DM_VERSION);
        assert_eq!(r.data_size, 1024);
        assert_eq!(r.data_start, 312);
        assert_eq!(r.name, "mpatha");
        assert_eq!(r.uuid, "mpath-3600");
        assert_eq!(r.flags, DM_NOFLUSH_FLAG);
        assert_eq!(r.target_count, 1);
    }

    #[test]
    fn targets_encode_and_decode() {
        let t = Target {
            start: 0,
            length: 16384,
            target_type: "multipath".into(),
            params: "0 0 1 1 round-robin 0 1 1 8:0 1".into(),
        };
        let bytes = encode_targets(&[t.clone(), t.clone()]);
        assert_eq!(bytes.len() % 8, 0);
        // Make the second spec's `next` absolute, as the kernel replies.
        let first = get_u32(&bytes, 20).unwrap();
        assert_eq!(first as usize, bytes.len() / 2);
        let got = decode_targets(&bytes, 2).unwrap();
        assert_eq!(got, vec![t.clone(), t]);
        assert!(decode_targets(&bytes[..30], 1).is_none());
    }

    #[test]
    fn name_list_decodes() {
        let mut d = vec![0u8; 64];
        put_u64(&mut d, 0, (253 << 8) | 1);
        put_u32(&mut d, 8, 24);
        d[12..14].copy_from_slice(b"a\0");
        put_u64(&mut d, 24, (253 << 8) | 2);
        d[36..38].copy_from_slice(b"b\0");
        let l = decode_name_list(&d).unwrap();
        assert_eq!(l, vec![("a".into(), 64769), ("b".into(), 64770)]);
        assert_eq!(decode_name_list(&[0u8; 16]).unwrap(), vec![]);
        // No device at all: the kernel reports no data (issue: `mpboot
        // status` on a machine with no DM device said "malformed").
        assert_eq!(decode_name_list(&[]).unwrap(), vec![]);
        // Less than one entry's header is still malformed.
        assert!(decode_name_list(&[1u8; 4]).is_none());
        // A `next` pointing outside the buffer is an error, not a panic.
        put_u32(&mut d, 32, 4000);
        assert!(decode_name_list(&d).is_none());
    }

    #[test]
    fn dev_split() {
        assert_eq!(split_dev((253 << 8) | 5), (253, 5));
        // minor 300 = 0x12c: low byte 0x2c, high bits shifted by 12.
        assert_eq!(split_dev((253 << 8) | 0x2c | (0x100 << 12)), (253, 300));
    }
}
