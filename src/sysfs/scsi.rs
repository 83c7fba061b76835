//! SCSI disks under `block/`: the paths multipath maps are made of.

use crate::error::{Error, Result};
use crate::sysfs::Sysfs;
use crate::topology::{alua_prio, AluaState, DevT, Path, Transport};
use crate::vpd;

/// One `block/sdX`; Ok(None) when the disk vanished while we looked.
pub fn read_path(sys: &Sysfs, name: &str) -> Result<Option<Path>> {
    let base = format!("block/{name}");
    let Some(dev) = sys.read_attr(&format!("{base}/dev"))? else {
        return Ok(None);
    };
    let devt: DevT = dev.parse().map_err(|_| Error::Parse {
        path: sys.path(&format!("{base}/dev")),
        what: format!("not a device number: {dev:?}"),
    })?;
    let size = sys.read_num(&format!("{base}/size"))?.unwrap_or(0);
    let attr = |a: &str| sys.read_attr(&format!("{base}/device/{a}"));
    let hctl = sys
        .link_name(&format!("{base}/device"))?
        .unwrap_or_default();
    let state = attr("state")?.unwrap_or_else(|| "unknown".into());
    let handler = attr("dh_state")?.filter(|h| h != "detached" && !h.is_empty());
    let (wwid, (port_group, rel_port)) = read_wwid(sys, &base)?;
    // Standard INQUIRY byte 5, bits 4-5: the LUN's TPGS (ALUA) support.
    let tpgs = sys
        .read_bytes(&format!("{base}/device/inquiry"))?
        .and_then(|i| i.get(5).map(|b| (b >> 4) & 3))
        .unwrap_or(0);
    Ok(Some(Path {
        name: name.to_string(),
        devt,
        hctl,
        state,
        size,
        wwid,
        handler,
        // From the array (array::ask), else read_alua.
        alua: None,
        preferred: false,
        tpgs,
        port_group,
        rel_port,
        prio: None,
        transport: transport(sys, &base),
    }))
}

/// A disk's INQUIRY vendor and product, for people (`list`): not part of
/// a scan, which makes a dozen reads a disk without them.
pub fn vendor_model(sys: &Sysfs, disk: &str) -> (String, String) {
    let attr = |a: &str| {
        sys.read_attr(&format!("block/{disk}/device/{a}"))
            .ok()
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    (attr("vendor"), attr("model"))
}

/// The kernel handler's view of a path's ALUA state (`access_state`,
/// `preferred_path`): what is used when the array itself gives no
/// answer. Unreadable without a handler.
pub fn read_alua(sys: &Sysfs, p: &mut Path) {
    if p.handler.is_none() {
        return;
    }
    let attr = |a: &str| {
        sys.read_attr(&format!("block/{}/device/{a}", p.name))
            .ok()
            .flatten()
    };
    p.alua = attr("access_state").and_then(|s| AluaState::parse(&s));
    p.preferred = attr("preferred_path").as_deref() == Some("1");
    p.prio = p.alua.map(|a| alua_prio(a, p.preferred));
}

/// The transport, from the components of the disk's device path:
/// `…/host2/session1/target2:0:0/…` (iSCSI), `…/rport-3:0-1/…` (FC),
/// `…/end_device-0:1/…` (SAS). The `block/sdX` link names the whole path
/// in one readlink (resolving it component by component costs a dozen
/// syscalls a disk); a tree without that link is resolved instead.
fn transport(sys: &Sysfs, base: &str) -> Transport {
    let real = match std::fs::read_link(sys.path(base)) {
        Ok(link) => link,
        Err(_) => match std::fs::canonicalize(sys.path(&format!("{base}/device"))) {
            Ok(p) => p,
            Err(_) => return Transport::Other,
        },
    };
    let digits_after = |c: &str, prefix: &str| {
        c.strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut t = Transport::Other;
    for c in real.iter().filter_map(|c| c.to_str()) {
        if digits_after(c, "session") {
            t = Transport::Iscsi;
        } else if c.starts_with("rport-") {
            t = Transport::Fc;
        } else if c.starts_with("end_device-") {
            t = Transport::Sas;
        }
    }
    t
}

/// WWID from VPD page 0x83, with the port group and relative port it names;
/// `device/wwid` only when the page is unreadable.
fn read_wwid(sys: &Sysfs, base: &str) -> Result<(String, vpd::PortIds)> {
    let pg83 = format!("{base}/device/vpd_pg83");
    let err = match sys.read_bytes(&pg83)? {
        Some(page) => match vpd::wwid_from_pg83(&page) {
            Ok(w) => return Ok((w, vpd::port_ids(&page))),
            Err(e) => e,
        },
        None => vpd::VpdError::TooShort { len: 0 },
    };
    let fallback = sys
        .read_attr(&format!("{base}/device/wwid"))?
        .and_then(|w| vpd::wwid_from_sysfs(&w));
    fallback.map(|w| (w, (None, None))).ok_or(Error::Vpd {
        path: sys.path(&pg83),
        source: err,
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::sysfs::scan;
    use std::fs;
    use std::path::PathBuf;

    /// A scratch sysfs tree shaped like the kernel's.
    pub struct Tree {
        pub root: PathBuf,
    }

    impl Tree {
        pub fn new(tag: &str) -> Tree {
            let root = std::env::temp_dir().join(format!("mpboot-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("block")).unwrap();
            Tree { root }
        }

        pub fn file(&self, rel: &str, content: &[u8]) {
            let p = self.root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }

        /// A symbolic link at `rel` to `target` (relative to its folder).
        pub fn symlink(&self, rel: &str, target: &str) {
            let p = self.root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, p).unwrap();
        }

        /// A SCSI disk at `hctl` with the given VPD 0x83 page and ALUA state.
        pub fn disk(&self, name: &str, devt: &str, hctl: &str, pg83: &[u8], alua: Option<&str>) {
            let dev = format!("devices/platform/host/{hctl}");
            fs::create_dir_all(self.root.join(&dev)).unwrap();
            fs::create_dir_all(self.root.join(format!("block/{name}"))).unwrap();
            std::os::unix::fs::symlink(
                format!("../../{dev}"),
                self.root.join(format!("block/{name}/device")),
            )
            .unwrap();
            self.file(&format!("block/{name}/dev"), format!("{devt}\n").as_bytes());
            self.file(&format!("block/{name}/size"), b"16384\n");
            self.file(&format!("{dev}/state"), b"running\n");
            self.file(&format!("{dev}/vendor"), b"Linux   \n");
            self.file(&format!("{dev}/model"), b"scsi_debug      \n");
            self.file(&format!("{dev}/vpd_pg83"), pg83);
            self.file(
                &format!("{dev}/wwid"),
                b"t10.Linux   scsi_debug      2000\n",
            );
            match alua {
                Some(s) => {
                    self.file(&format!("{dev}/dh_state"), b"alua\n");
                    self.file(&format!("{dev}/access_state"), format!("{s}\n").as_bytes());
                    self.file(&format!("{dev}/preferred_path"), b"0\n");
                }
                None => self.file(&format!("{dev}/dh_state"), b"detached\n"),
            }
        }

        pub fn sysfs(&self) -> Sysfs {
            Sysfs::new(&self.root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    pub fn captured(name: &str) -> Vec<u8> {
        fs::read(format!(
            "{}/tests/fixtures/vpd/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn scans_scsi_debug_tree() {
        let t = Tree::new("scan");
        let pg = captured("scsi_debug.pg83");
        t.disk("sda", "8:0", "0:0:0:0", &pg, Some("active/optimized"));
        t.disk("sdb", "8:16", "1:0:0:0", &pg, Some("active/non-optimized"));
        t.disk("sdc", "8:32", "2:0:0:0", &pg, Some("standby"));
        t.file("block/loop0/dev", b"7:0\n");
        let mut scan = scan(&t.sysfs()).unwrap();
        assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
        assert_eq!(scan.paths.len(), 3);
        // The scan leaves the ALUA state to the array; sysfs' is the fallback.
        assert_eq!(scan.paths[0].alua, None);
        for p in &mut scan.paths {
            read_alua(&t.sysfs(), p);
        }
        let a = &scan.paths[0];
        assert_eq!(a.name, "sda");
        assert_eq!(a.hctl, "0:0:0:0");
        assert_eq!(a.wwid, "1Linux_scsi_debug_2000");
        assert_eq!(a.alua, Some(AluaState::Optimized));
        assert_eq!(a.handler.as_deref(), Some("alua"));
        assert_eq!(
            vendor_model(&t.sysfs(), "sda"),
            ("Linux".into(), "scsi_debug".into())
        );
        assert_eq!(scan.paths[2].alua, Some(AluaState::Standby));
    }

    #[test]
    fn bad_vpd_falls_back_then_skips() {
        let t = Tree::new("badvpd");
        t.disk("sda", "8:0", "0:0:0:0", &[0, 0x83, 0, 40, 1], None);
        let s = scan(&t.sysfs()).unwrap();
        assert_eq!(s.paths[0].wwid, "1Linux_scsi_debug_2000");
        assert_eq!(s.paths[0].handler, None);
        // No fallback either: the disk is skipped with the page path named.
        t.file("devices/platform/host/0:0:0:0/wwid", b"weird\n");
        let s = scan(&t.sysfs()).unwrap();
        assert!(s.paths.is_empty());
        assert!(s.skipped[0].1.contains("vpd_pg83"), "{:?}", s.skipped);
        assert!(s.skipped[0].1.contains("truncated"), "{:?}", s.skipped);
    }

    #[test]
    fn odd_attributes_are_reported_not_panicked() {
        let t = Tree::new("odd");
        t.disk(
            "sda",
            "8:0",
            "0:0:0:0",
            &captured("lio.pg83"),
            Some("weird-state"),
        );
        t.file("block/sda/dev", b"not-a-devt\n");
        let s = scan(&t.sysfs()).unwrap();
        assert!(s.paths.is_empty());
        assert!(s.skipped[0].1.contains("block/sda/dev"));
        t.file("block/sda/dev", b"8:0\n");
        t.file("block/sda/size", b"huge\n");
        let s = scan(&t.sysfs()).unwrap();
        assert!(s.skipped[0].1.contains("not a number"));
        t.file("block/sda/size", b"16384\n");
        let s = scan(&t.sysfs()).unwrap();
        assert_eq!(s.paths[0].alua, None);
        assert!(s.paths[0].wwid.starts_with("36001405"));
        // Missing sysfs root altogether: nothing found, no error.
        let s = scan(&Sysfs::new("/nonexistent/mpboot")).unwrap();
        assert!(s.paths.is_empty());
    }
}
