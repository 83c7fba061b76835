//! Device-mapper through ioctls on `/dev/mapper/control`. The one `unsafe`
//! call of this module is in `Control::ioctl`; everything else is safe.

pub mod uapi;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{errno_of, Error, Result};
use crate::topology::DevT;
use uapi::{Cmd, Reply, Request};

pub use uapi::{Target, DM_NAME_LEN, DM_UUID_LEN};

// Small enough that listing a few dozen maps already exercises the regrowth.
const BUF_START: usize = 2 * 1024;
const BUF_MAX: usize = 32 * 1024 * 1024;

/// How to name a DM device in a request.
#[derive(Debug, Clone, Copy)]
pub enum DevId<'a> {
    Name(&'a str),
    Uuid(&'a str),
}

impl DevId<'_> {
    fn describe(&self) -> String {
        match self {
            DevId::Name(n) => n.to_string(),
            DevId::Uuid(u) => format!("uuid {u}"),
        }
    }

    fn request(&self, flags: u32) -> Request {
        let (name, uuid) = match self {
            DevId::Name(n) => (n.to_string(), String::new()),
            DevId::Uuid(u) => (String::new(), u.to_string()),
        };
        Request {
            name,
            uuid,
            flags,
            target_count: 0,
            event_nr: 0,
        }
    }
}

/// What the kernel says of one DM device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub uuid: String,
    pub devt: DevT,
    pub open_count: i32,
    pub suspended: bool,
    pub live_table: bool,
    /// Counts the device's events: a path failed, a table loaded...
    pub event_nr: u32,
}

impl From<&Reply> for DeviceInfo {
    fn from(r: &Reply) -> Self {
        let (major, minor) = uapi::split_dev(r.dev);
        DeviceInfo {
            name: r.name.clone(),
            uuid: r.uuid.clone(),
            devt: DevT { major, minor },
            open_count: r.open_count,
            suspended: r.flags & uapi::DM_SUSPEND_FLAG != 0,
            live_table: r.flags & uapi::DM_ACTIVE_PRESENT_FLAG != 0,
            event_nr: r.event_nr,
        }
    }
}

/// Which view of a table `table_status` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableView {
    /// The table as loaded (`dmsetup table`).
    Table,
    /// The targets' run-time status (`dmsetup status`).
    Status,
}

/// A map name we create: `text::is_safe` bytes only (it becomes a
/// /dev/mapper path and a shell word in initramfs scripts), and never
/// `control`, the name of device-mapper's own node beside the maps.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < DM_NAME_LEN
        && name != "."
        && name != ".."
        && name != "control"
        && crate::text::is_safe(name)
}

pub fn valid_uuid(uuid: &str) -> bool {
    uuid.len() < DM_UUID_LEN && uuid.bytes().all(|b| b.is_ascii_graphic())
}

/// An open `/dev/mapper/control`.
pub struct Control {
    file: File,
    pub version: [u32; 3],
}

impl Control {
    /// Open `<dev>/mapper/control`, creating the node (misc 10:236, or what
    /// sysfs says) when no udev or devtmpfs made it. Checks the version.
    pub fn open(dev_root: &Path, misc_devt: Option<DevT>) -> Result<Control> {
        let path = dev_root.join("mapper/control");
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                make_control_node(&path, misc_devt)?;
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::ControlOpen {
                        path: path.clone(),
                        source: errno_of(&e),
                    })?
            }
            Err(e) => {
                return Err(Error::ControlOpen {
                    path,
                    source: errno_of(&e),
                })
            }
        };
        let mut ctl = Control {
            file,
            version: [0; 3],
        };
        let reply = ctl.call(Cmd::Version, &Request::default(), &[], "")?;
        if reply.version[0] != 4 {
            return Err(Error::DmVersion {
                found: reply.version,
            });
        }
        ctl.version = reply.version;
        Ok(ctl)
    }

    /// One ioctl: header + `data` in, reply header + reply data out. The
    /// buffer grows while the kernel says it was too small.
    fn call_data(
        &self,
        cmd: Cmd,
        req: &Request,
        data: &[u8],
        target: &str,
    ) -> Result<(Reply, Vec<u8>)> {
        if req.name.len() >= DM_NAME_LEN || req.name.contains('/') {
            return Err(Error::InvalidName {
                what: "name",
                value: req.name.clone(),
            });
        }
        if !valid_uuid(&req.uuid) {
            return Err(Error::InvalidName {
                what: "uuid",
                value: req.uuid.clone(),
            });
        }
        let mut size = (uapi::HEADER_SIZE + data.len()).max(BUF_START);
        loop {
            let mut buf = vec![0u8; size];
            uapi::encode_header(&mut buf, req);
            buf[uapi::HEADER_SIZE..uapi::HEADER_SIZE + data.len()].copy_from_slice(data);
            self.ioctl(cmd, &mut buf).map_err(|source| Error::Ioctl {
                cmd: cmd.name(),
                target: target.to_string(),
                source,
            })?;
            let reply = uapi::decode_header(&buf).ok_or(Error::DmReply {
                cmd: cmd.name(),
                what: "short header".into(),
            })?;
            if reply.flags & uapi::DM_BUFFER_FULL_FLAG != 0 {
                if size >= BUF_MAX {
                    return Err(Error::DmReply {
                        cmd: cmd.name(),
                        what: format!("reply larger than {BUF_MAX} bytes"),
                    });
                }
                size *= 4;
                continue;
            }
            let start = reply.data_start as usize;
            let end = (reply.data_size as usize).min(buf.len());
            let out = if start >= uapi::HEADER_SIZE && start <= end {
                buf[start..end].to_vec()
            } else {
                Vec::new()
            };
            return Ok((reply, out));
        }
    }

    fn call(&self, cmd: Cmd, req: &Request, data: &[u8], target: &str) -> Result<Reply> {
        self.call_data(cmd, req, data, target).map(|(r, _)| r)
    }

    fn ioctl(&self, cmd: Cmd, buf: &mut [u8]) -> std::result::Result<(), Errno> {
        assert!(buf.len() >= uapi::HEADER_SIZE);
        // SAFETY: `buf` is a live, exclusively borrowed allocation of
        // `buf.len()` bytes, and its header's `data_size` says exactly that
        // length (encode_header), so the kernel reads and writes only inside
        // it. The fd is our open /dev/mapper/control. Nothing else aliases
        // `buf` during the call.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                cmd.request() as libc::c_ulong,
                buf.as_mut_ptr(),
            )
        };
        if rc < 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }

    /// Every DM device: (name, devt).
    pub fn list_devices(&self) -> Result<Vec<(String, DevT)>> {
        let (_, data) = self.call_data(Cmd::ListDevices, &Request::default(), &[], "")?;
        let list = uapi::decode_name_list(&data).ok_or(Error::DmReply {
            cmd: Cmd::ListDevices.name(),
            what: "name list runs past the reply".into(),
        })?;
        Ok(list
            .into_iter()
            .map(|(n, d)| {
                let (major, minor) = uapi::split_dev(d);
                (n, DevT { major, minor })
            })
            .collect())
    }

    /// The device's header info; `Ok(None)` when it does not exist.
    pub fn dev_status(&self, id: DevId) -> Result<Option<DeviceInfo>> {
        match self.call(Cmd::DevStatus, &id.request(0), &[], &id.describe()) {
            Ok(r) => Ok(Some(DeviceInfo::from(&r))),
            Err(Error::Ioctl {
                source: Errno::ENXIO,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn dev_create(&self, name: &str, uuid: &str) -> Result<DeviceInfo> {
        if !valid_name(name) {
            return Err(Error::InvalidName {
                what: "name",
                value: name.into(),
            });
        }
        if !valid_uuid(uuid) {
            return Err(Error::InvalidName {
                what: "uuid",
                value: uuid.into(),
            });
        }
        let req = Request {
            name: name.into(),
            uuid: uuid.into(),
            ..Request::default()
        };
        self.call(Cmd::DevCreate, &req, &[], name)
            .map(|r| DeviceInfo::from(&r))
    }

    /// Load an inactive table; it goes live on the next resume.
    pub fn table_load(&self, id: DevId, targets: &[Target]) -> Result<DeviceInfo> {
        let mut req = id.request(0);
        req.target_count = targets.len() as u32;
        let data = uapi::encode_targets(targets);
        self.call(Cmd::TableLoad, &req, &data, &id.describe())
            .map(|r| DeviceInfo::from(&r))
    }

    /// Drop an inactive table (after a failed reload).
    pub fn table_clear(&self, id: DevId) -> Result<DeviceInfo> {
        self.call(Cmd::TableClear, &id.request(0), &[], &id.describe())
            .map(|r| DeviceInfo::from(&r))
    }

    /// Resume: swaps in the inactive table if there is one. With `noflush`,
    /// I/O queued in a multipath map stays queued instead of failing.
    /// `first`: the first resume of a new device, whose uevent then tells
    /// device-mapper's udev rules to treat it as the primary event (what
    /// libdevmapper's udev sync does), so the device gets its links
    /// (by-uuid, by-partuuid) and not just a /dev/mapper name.
    pub fn dev_resume(&self, id: DevId, noflush: bool, first: bool) -> Result<DeviceInfo> {
        let flags = if noflush { uapi::DM_NOFLUSH_FLAG } else { 0 };
        let mut req = id.request(flags);
        if first {
            req.event_nr = uapi::UDEV_FLAGS_ONLY_PRIMARY;
        }
        self.call(Cmd::DevSuspend, &req, &[], &id.describe())
            .map(|r| DeviceInfo::from(&r))
    }

    pub fn dev_remove(&self, id: DevId) -> Result<DeviceInfo> {
        self.call(Cmd::DevRemove, &id.request(0), &[], &id.describe())
            .map(|r| DeviceInfo::from(&r))
    }

    /// Like `table_status`, but `Ok(None)` when the device does not exist.
    pub fn find_table(
        &self,
        id: DevId,
        view: TableView,
    ) -> Result<Option<(DeviceInfo, Vec<Target>)>> {
        match self.table_status(id, view) {
            Ok(t) => Ok(Some(t)),
            Err(Error::Ioctl {
                source: Errno::ENXIO,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The live table's targets, as loaded or as their status.
    pub fn table_status(&self, id: DevId, view: TableView) -> Result<(DeviceInfo, Vec<Target>)> {
        let flags = match view {
            TableView::Table => uapi::DM_STATUS_TABLE_FLAG,
            TableView::Status => 0,
        };
        let (reply, data) =
            self.call_data(Cmd::TableStatus, &id.request(flags), &[], &id.describe())?;
        let targets = uapi::decode_targets(&data, reply.target_count).ok_or(Error::DmReply {
            cmd: Cmd::TableStatus.name(),
            what: format!("{} target specs do not fit the reply", reply.target_count),
        })?;
        Ok((DeviceInfo::from(&reply), targets))
    }

    /// Arm event polling (kernel 4.18+): the control fd then polls readable
    /// after the next event on any DM device. Re-arm after each wake-up.
    pub fn arm_poll(&self) -> Result<()> {
        self.call(Cmd::DevArmPoll, &Request::default(), &[], "")
            .map(|_| ())
    }

    /// Send a target message (`fail_path 8:0`, `switch_group 2`, ...).
    pub fn target_msg(&self, id: DevId, sector: u64, msg: &str) -> Result<Option<String>> {
        let data = uapi::encode_target_msg(sector, msg);
        let (reply, out) = self.call_data(
            Cmd::TargetMsg,
            &id.request(0),
            &data,
            &format!("{} ({msg})", id.describe()),
        )?;
        Ok((reply.flags & uapi::DM_DATA_OUT_FLAG != 0)
            .then(|| uapi::get_cstr(&out, 0, out.len()))
            .flatten())
    }
}

impl std::os::fd::AsFd for Control {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

fn make_control_node(path: &Path, misc_devt: Option<DevT>) -> Result<()> {
    let devt = misc_devt.unwrap_or(DevT {
        major: 10,
        minor: 236,
    });
    let node_err = |source| Error::Node {
        path: PathBuf::from(path),
        source,
    };
    // Make `mapper/` inside the device directory, never the directory
    // itself: a --dev root that does not exist is a mistake to report.
    if let Some(dir) = path.parent() {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(node_err(errno_of(&e))),
        }
    }
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(devt.major.into(), devt.minor.into()),
    )
    .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
    .map_err(node_err)
}
