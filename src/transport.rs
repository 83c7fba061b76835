//! Transport fast-fail, as multipathd sets it: a path whose transport
//! hangs must hand its I/O back to device-mapper in seconds, not after the
//! kernel's defaults (iSCSI `replacement_timeout` 120 s; FC
//! `fast_io_fail_tmo` off and `dev_loss_tmo` 60 s, after which the disk is
//! deleted and comes back under a new name). Failing a path in the map
//! does not release I/O already queued on it; these timeouts do.
//!
//! multipathd's defaults: fast_io_fail 5 s, dev_loss 600 s. iSCSI has one
//! knob, the session's `recovery_tmo`, set to fast_io_fail. FC remote
//! ports take `fast_io_fail_tmo` first (the kernel refuses a dev_loss_tmo
//! over 600 s without it), then `dev_loss_tmo`, never below fast_io_fail.
//! Every change is logged; `off` leaves the transport alone.

use std::str::FromStr;

use crate::log;
use crate::sysfs::Sysfs;

/// The timeouts to set, in seconds; `fast_io_fail: None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastFail {
    pub fast_io_fail: Option<u32>,
    pub dev_loss: u32,
}

impl Default for FastFail {
    fn default() -> Self {
        FastFail {
            fast_io_fail: Some(5),
            dev_loss: 600,
        }
    }
}

/// `N` seconds, or `off`.
pub fn parse_fast_io_fail(s: &str) -> Result<Option<u32>, String> {
    match s {
        "off" | "no" => Ok(None),
        _ => match s.parse::<u32>() {
            Ok(n) if (1..=3600).contains(&n) => Ok(Some(n)),
            _ => Err(format!("fast_io_fail {s:?}: seconds (1-3600) or off")),
        },
    }
}

pub fn parse_dev_loss(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(n),
        _ => Err(format!("dev_loss {s:?}: seconds, 1 or more")),
    }
}

impl FromStr for FastFail {
    type Err = String;
    /// `N` or `off`: fast_io_fail; dev_loss keeps its default.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(FastFail {
            fast_io_fail: parse_fast_io_fail(s)?,
            ..FastFail::default()
        })
    }
}

/// Where a disk's transport timeouts live, from its device path:
/// `…/session3/…` (iSCSI) or `…/rport-2:0-1/…` (FC).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Knobs {
    Iscsi(String),
    Fc(String),
}

fn knobs(sys: &Sysfs, disk: &str) -> Option<Knobs> {
    let real = std::fs::canonicalize(sys.path(&format!("block/{disk}/device"))).ok()?;
    let mut found = None;
    for c in real.iter().filter_map(|c| c.to_str()) {
        let digits = |p: &str| {
            c.strip_prefix(p)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        };
        if digits("session") {
            found = Some(Knobs::Iscsi(c.to_string()));
        } else if c.starts_with("rport-") {
            found = Some(Knobs::Fc(c.to_string()));
        }
    }
    found
}

/// Set `rel` to `want` unless it already is; true when it changed.
fn set(sys: &Sysfs, disk: &str, what: &str, rel: &str, want: &str) -> bool {
    let Ok(Some(now)) = sys.read_attr(rel) else {
        return false;
    };
    if now == want {
        return false;
    }
    match sys.write_attr(rel, want) {
        Ok(()) => {
            log::detail(&format!("{disk}: {what} {now} -> {want}"));
            true
        }
        Err(e) => {
            log::warn(&format!(
                "{disk}: cannot set {what} to {want} (was {now}): {}",
                crate::error::chain(&e)
            ));
            false
        }
    }
}

/// Apply `ff` to the transport of each disk (iSCSI session, FC remote
/// port); disks of other transports, and `off`, are left alone. One line
/// says which paths changed; the values per path are detail.
pub fn tune(sys: &Sysfs, disks: &[&str], ff: &FastFail) {
    let Some(fail) = ff.fast_io_fail else { return };
    let mut changed = Vec::new();
    for disk in disks {
        let did = match knobs(sys, disk) {
            Some(Knobs::Iscsi(s)) => set(
                sys,
                disk,
                &format!("iSCSI {s} recovery_tmo"),
                &format!("class/iscsi_session/{s}/recovery_tmo"),
                &fail.to_string(),
            ),
            Some(Knobs::Fc(r)) => {
                // dev_loss first: the FC class refuses a fast_io_fail_tmo
                // that is not below dev_loss_tmo (multipath-tools' order).
                let base = format!("class/fc_remote_ports/{r}");
                let loss = set(
                    sys,
                    disk,
                    &format!("FC {r} dev_loss_tmo"),
                    &format!("{base}/dev_loss_tmo"),
                    &ff.dev_loss.max(fail).to_string(),
                );
                let fast = set(
                    sys,
                    disk,
                    &format!("FC {r} fast_io_fail_tmo"),
                    &format!("{base}/fast_io_fail_tmo"),
                    &fail.to_string(),
                );
                loss || fast
            }
            None => false,
        };
        if did {
            changed.push(disk.to_string());
        }
    }
    if !changed.is_empty() {
        log::notice(&format!(
            "transport timeouts set on {} path(s) (iSCSI recovery_tmo, FC fast_io_fail_tmo \
             {fail} s, FC dev_loss_tmo {} s): {}",
            changed.len(),
            ff.dev_loss.max(fail),
            crate::text::first_few(&changed, 8)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::scsi::tests::Tree;

    fn tree(tag: &str) -> Tree {
        let t = Tree::new(tag);
        let link = |disk: &str, dev: &str| {
            std::fs::create_dir_all(t.root.join(dev)).unwrap();
            std::fs::create_dir_all(t.root.join(format!("block/{disk}"))).unwrap();
            std::os::unix::fs::symlink(
                format!("../../{dev}"),
                t.root.join(format!("block/{disk}/device")),
            )
            .unwrap();
        };
        link("sda", "devices/platform/host2/session3/target2:0:0/2:0:0:1");
        link("sdb", "devices/pci0/host4/rport-4:0-1/target4:0:0/4:0:0:1");
        link("sdc", "devices/pci0/host5/target5:0:0/5:0:0:0");
        t.file("class/iscsi_session/session3/recovery_tmo", b"120\n");
        t.file(
            "class/fc_remote_ports/rport-4:0-1/fast_io_fail_tmo",
            b"off\n",
        );
        t.file("class/fc_remote_ports/rport-4:0-1/dev_loss_tmo", b"60\n");
        t
    }

    fn read(t: &Tree, rel: &str) -> String {
        std::fs::read_to_string(t.root.join(rel)).unwrap()
    }

    #[test]
    fn defaults_as_multipathd() {
        let t = tree("transport-defaults");
        tune(&t.sysfs(), &["sda", "sdb", "sdc"], &FastFail::default());
        assert_eq!(read(&t, "class/iscsi_session/session3/recovery_tmo"), "5");
        assert_eq!(
            read(&t, "class/fc_remote_ports/rport-4:0-1/fast_io_fail_tmo"),
            "5"
        );
        assert_eq!(
            read(&t, "class/fc_remote_ports/rport-4:0-1/dev_loss_tmo"),
            "600"
        );
    }

    #[test]
    fn off_and_overrides() {
        let t = tree("transport-overrides");
        tune(&t.sysfs(), &["sda", "sdb"], &"off".parse().unwrap());
        assert_eq!(
            read(&t, "class/iscsi_session/session3/recovery_tmo"),
            "120\n"
        );
        let ff = FastFail {
            fast_io_fail: Some(15),
            dev_loss: 10,
        };
        tune(&t.sysfs(), &["sda", "sdb"], &ff);
        assert_eq!(read(&t, "class/iscsi_session/session3/recovery_tmo"), "15");
        // dev_loss never below fast_io_fail.
        assert_eq!(
            read(&t, "class/fc_remote_ports/rport-4:0-1/dev_loss_tmo"),
            "15"
        );
        assert_eq!(
            parse_fast_io_fail("0"),
            Err("fast_io_fail \"0\": seconds (1-3600) or off".into())
        );
        assert!(parse_dev_loss("x").is_err());
    }
}
