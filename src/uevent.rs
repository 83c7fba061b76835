//! Kernel uevents on a netlink socket (`NETLINK_KOBJECT_UEVENT`, the
//! kernel's multicast group 1): how we learn that paths appeared without
//! udev. Subscribe before scanning sysfs so nothing falls between the two.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};

use crate::error::{Error, Result};

/// The parts of a uevent we act on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub subsystem: String,
    pub devname: Option<String>,
    pub devtype: Option<String>,
}

/// Parse one kernel uevent datagram: `ACTION@DEVPATH\0KEY=VALUE\0…`.
/// udev's re-broadcasts (`libudev\0…`) and anything malformed are None.
pub fn parse(msg: &[u8]) -> Option<Uevent> {
    let mut fields = msg.split(|&b| b == 0).filter(|f| !f.is_empty());
    let head = std::str::from_utf8(fields.next()?).ok()?;
    let (action, devpath) = head.split_once('@')?;
    let mut ev = Uevent {
        action: action.to_string(),
        devpath: devpath.to_string(),
        ..Uevent::default()
    };
    for f in fields {
        let Ok(kv) = std::str::from_utf8(f) else {
            continue;
        };
        match kv.split_once('=') {
            Some(("SUBSYSTEM", v)) => ev.subsystem = v.to_string(),
            Some(("DEVNAME", v)) => ev.devname = Some(v.to_string()),
            Some(("DEVTYPE", v)) => ev.devtype = Some(v.to_string()),
            _ => {}
        }
    }
    (!ev.action.is_empty() && ev.devpath.starts_with('/')).then_some(ev)
}

pub struct Listener {
    fd: OwnedFd,
}

impl AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn sock_err(what: &'static str) -> impl Fn(Errno) -> Error {
    move |source| Error::Ioctl {
        cmd: what,
        target: "NETLINK_KOBJECT_UEVENT".into(),
        source,
    }
}

impl Listener {
    pub fn open() -> Result<Listener> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::NetlinkKObjectUEvent,
        )
        .map_err(sock_err("socket"))?;
        // A burst of hundreds of paths must not overflow the queue.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, 1),
        )
        .map_err(sock_err("bind"))?;
        Ok(Listener { fd })
    }

    /// Wait up to `timeout` for events; return those that arrived (empty on
    /// timeout). An overflowed queue (ENOBUFS) returns one synthetic
    /// "rescan" event so the caller looks at sysfs again.
    pub fn wait(&self, timeout: Duration) -> Result<Vec<Uevent>> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) | Err(Errno::EINTR) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) => return Err(sock_err("poll")(e)),
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut buf,
                MsgFlags::empty(),
            ) {
                Ok(n) => out.extend(parse(&buf[..n])),
                Err(Errno::EAGAIN) => return Ok(out),
                Err(Errno::ENOBUFS) => out.push(Uevent {
                    action: "rescan".into(),
                    ..Uevent::default()
                }),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(sock_err("recv")(e)),
            }
        }
    }
}

/// Does a daemon running as root answer on this Unix socket (udevd's
/// SOCK_SEQPACKET control socket, multipathd's abstract stream one)? A
/// connect, not the socket file, which outlives its daemon; and the
/// peer's credentials, because an abstract name has no permissions: any
/// user may bind multipathd's.
pub fn root_daemon_answers(
    addr: &nix::sys::socket::UnixAddr,
    ty: nix::sys::socket::SockType,
) -> bool {
    peer_uid(addr, ty) == Some(0)
}

/// The uid of whoever answers on this Unix socket, if anyone does.
fn peer_uid(addr: &nix::sys::socket::UnixAddr, ty: nix::sys::socket::SockType) -> Option<u32> {
    use nix::sys::socket::{connect, getsockopt, socket, sockopt, AddressFamily, SockFlag};
    use std::os::fd::AsRawFd;
    let fd = socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None).ok()?;
    connect(fd.as_raw_fd(), addr).ok()?;
    getsockopt(&fd, sockopt::PeerCredentials)
        .ok()
        .map(|c| c.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer's uid is what decides: ours here, whoever runs the tests.
    #[test]
    fn the_daemon_is_known_by_its_uid() {
        use nix::sys::socket::{
            bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
        };
        let name = format!("mpboot-test-{}", std::process::id());
        let addr = UnixAddr::new_abstract(name.as_bytes()).unwrap();
        assert_eq!(
            peer_uid(&addr, SockType::Stream),
            None,
            "nobody listens yet"
        );
        let l = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(std::os::fd::AsRawFd::as_raw_fd(&l), &addr).unwrap();
        listen(&l, Backlog::new(1).unwrap()).unwrap();
        // SAFETY: getuid has no preconditions and cannot fail.
        let me = unsafe { libc::getuid() };
        assert_eq!(peer_uid(&addr, SockType::Stream), Some(me));
        assert_eq!(root_daemon_answers(&addr, SockType::Stream), me == 0);
    }

    #[test]
    fn parses_kernel_messages() {
        let m = b"add@/devices/pseudo_0/adapter0/host2/target2:0:0/2:0:0:0/block/sdc\0ACTION=add\0DEVPATH=/devices/pseudo_0/adapter0/host2/target2:0:0/2:0:0:0/block/sdc\0SUBSYSTEM=block\0MAJOR=8\0MINOR=32\0DEVNAME=sdc\0DEVTYPE=disk\0DISKSEQ=4\0SEQNUM=1234\0";
        let e = parse(m).unwrap();
        assert_eq!(e.action, "add");
        assert_eq!(e.subsystem, "block");
        assert_eq!(e.devname.as_deref(), Some("sdc"));
        assert_eq!(e.devtype.as_deref(), Some("disk"));
        assert_eq!(parse(b"libudev\0\xfe\xed\xca\xfe"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"add@relative\0"), None);
    }

    #[test]
    fn random_messages_never_panic() {
        let mut rng = crate::testrand::Rng::new(0xe7);
        let seed = b"change@/devices/x\0SUBSYSTEM=scsi\0SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED\0";
        for _ in 0..20_000 {
            let mut m = seed.to_vec();
            for _ in 0..rng.below(6) {
                let i = rng.below(m.len());
                m[i] = rng.byte();
            }
            m.truncate(rng.below(m.len() + 1));
            let _ = parse(&m);
        }
    }
}
