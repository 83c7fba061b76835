//! NVMe namespaces under `block/`. With native NVMe multipath off
//! (`nvme_core.multipath=N`) each controller's namespace is a disk of its
//! own, `nvme<C>n<N>`, whose `device` is the controller: a path, as a SCSI
//! disk is, and found as multipath-tools finds it. With native multipath
//! on, the namespace head hangs off an `nvme-subsystem` and its per-path
//! disks are hidden: both are the kernel's business, recognised by that
//! structure (6.1 has no `multipath/` folder under a head).

use crate::error::{Error, Result};
use crate::sysfs::Sysfs;
use crate::topology::{DevT, Fabric, Path, Transport};

/// What an `nvme*` disk is.
#[derive(Debug)]
pub enum Disk {
    /// A namespace through one controller: a path.
    Path(Path),
    /// A native multipath head: left to the kernel.
    NativeHead,
    /// A hidden per-path disk of a native head, or a disk that vanished.
    NotAPath,
}

/// multipath-tools' WWID buffer: a longer WWID is mended or cut to fit.
const WWID_SIZE: usize = 128;

/// The namespace's WWID as multipath-tools takes it: the sysfs `wwid`
/// verbatim (udev's `ID_WWN`), less trailing blanks; one that does not fit
/// its 128-byte buffer is mended (`mend_nvme_wwid`) or else cut.
pub fn wwid(raw: &str) -> String {
    let w = raw.trim_end();
    if w.len() < WWID_SIZE {
        return w.to_string();
    }
    mend_nvme_wwid(w).unwrap_or_else(|| {
        let mut end = WWID_SIZE - 1;
        while !w.is_char_boundary(end) {
            end -= 1;
        }
        w[..end].to_string()
    })
}

/// Some Linux host and target pairs pad the serial and model of a
/// `nvme.VVVV-<serial hex>-<model hex>-<nsid>` WWID with NUL bytes, shown
/// as `00` pairs, which those fields may not hold: strip them from the end
/// of both, as multipath-tools does. None when the WWID is not of that
/// form (exactly three dashes, four hex digits first) or still too long.
fn mend_nvme_wwid(w: &str) -> Option<String> {
    let rest = w.strip_prefix("nvme.")?;
    let (vid, rest) = rest.split_once('-')?;
    if vid.len() != 4 || !vid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut parts = rest.split('-');
    let (serial, model, nsid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let strip = |s: &str| {
        let mut s = s;
        while let Some(t) = s.strip_suffix("00") {
            s = t;
        }
        s.to_string()
    };
    let mended = format!("nvme.{vid}-{}-{}-{nsid}", strip(serial), strip(model));
    (mended.len() < WWID_SIZE).then_some(mended)
}

/// The fabric a controller's `transport` names.
fn fabric(t: &str) -> Fabric {
    match t {
        "tcp" => Fabric::Tcp,
        "fc" => Fabric::Fc,
        "rdma" => Fabric::Rdma,
        "pcie" => Fabric::Pcie,
        "loop" => Fabric::Loop,
        _ => Fabric::Other,
    }
}

/// One `block/nvme*` disk.
pub fn read(sys: &Sysfs, name: &str) -> Result<Disk> {
    let base = format!("block/{name}");
    if sys.read_attr(&format!("{base}/hidden"))?.as_deref() == Some("1") {
        return Ok(Disk::NotAPath);
    }
    let Some(parent) = sys.link_name(&format!("{base}/device"))? else {
        return Ok(Disk::NotAPath);
    };
    if parent.starts_with("nvme-subsys") {
        return Ok(Disk::NativeHead);
    }
    let Some(instance) = parent
        .strip_prefix("nvme")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(Disk::NotAPath);
    };
    let Some(dev) = sys.read_attr(&format!("{base}/dev"))? else {
        return Ok(Disk::NotAPath);
    };
    let devt: DevT = dev.parse().map_err(|_| Error::Parse {
        path: sys.path(&format!("{base}/dev")),
        what: format!("not a device number: {dev:?}"),
    })?;
    let ctrl = |a: &str| sys.read_attr(&format!("{base}/device/{a}"));
    let raw = sys
        .read_attr(&format!("{base}/wwid"))?
        .ok_or(Error::Parse {
            path: sys.path(&format!("{base}/wwid")),
            what: "an NVMe namespace without a wwid".into(),
        })?;
    let nsid = sys.read_attr(&format!("{base}/nsid"))?.unwrap_or_default();
    let cntlid = ctrl("cntlid")?.unwrap_or_default();
    let n = name.rsplit_once('n').map_or("0", |(_, n)| n);
    Ok(Disk::Path(Path {
        name: name.to_string(),
        devt,
        // As multipath-tools' sg_id: the controller's instance, its
        // controller id, the disk's namespace number, the namespace id.
        hctl: format!("{instance}:{cntlid}:{n}:{nsid}"),
        state: ctrl("state")?.unwrap_or_else(|| "unknown".into()),
        size: sys.read_num(&format!("{base}/size"))?.unwrap_or(0),
        wwid: wwid(&raw),
        handler: None,
        alua: None,
        preferred: false,
        tpgs: 0,
        port_group: None,
        rel_port: None,
        prio: None,
        transport: Transport::Nvme(fabric(ctrl("transport")?.as_deref().unwrap_or(""))),
    }))
}

/// Is `dev` (a disk or one of its partitions, `nvme0n1p2`) on a native
/// NVMe multipath head?
pub fn on_native_head(sys: &Sysfs, dev: &str) -> bool {
    let disk = match dev.rsplit_once('p') {
        Some((d, n))
            if d.contains('n') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            d
        }
        _ => dev,
    };
    disk.starts_with("nvme") && matches!(read(sys, disk), Ok(Disk::NativeHead))
}

/// A namespace's vendor and product, for people: multipath-tools' `NVME`
/// and the controller's model.
pub fn vendor_model(sys: &Sysfs, disk: &str) -> (String, String) {
    let model = sys
        .read_attr(&format!("block/{disk}/device/model"))
        .ok()
        .flatten()
        .unwrap_or_default();
    ("NVME".into(), model.trim().to_string())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::sysfs::scsi::tests::Tree;

    /// An NVMe controller `nvme<c>` (its transport and state) and its
    /// namespace disk `nvme<c>n1` with this wwid, as 6.1 lays them out
    /// with native multipath off.
    pub fn namespace(t: &Tree, c: u32, transport: &str, state: &str, wwid: &str) {
        let ctrl = format!("devices/virtual/nvme-fabrics/ctl/nvme{c}");
        for (a, v) in [
            ("transport", transport),
            ("state", state),
            ("cntlid", "1"),
            ("model", "mpboot test array                       "),
        ] {
            t.file(&format!("{ctrl}/{a}"), format!("{v}\n").as_bytes());
        }
        let disk = format!("{ctrl}/nvme{c}n1");
        for (a, v) in [
            ("dev", format!("259:{c}")),
            ("size", "2097152".into()),
            ("wwid", wwid.into()),
            ("nsid", "1".into()),
            ("hidden", "0".into()),
        ] {
            t.file(&format!("{disk}/{a}"), format!("{v}\n").as_bytes());
        }
        t.symlink(&format!("{disk}/device"), &format!("../../nvme{c}"));
        t.symlink(&format!("block/nvme{c}n1"), &format!("../{disk}"));
    }

    #[test]
    fn namespaces_through_controllers_are_paths() {
        let t = Tree::new("nvmens");
        namespace(
            &t,
            2,
            "tcp",
            "live",
            "uuid.5eed0001-0000-4000-8000-000000000001",
        );
        namespace(
            &t,
            3,
            "pcie",
            "connecting",
            "eui.5eed0002000040008000000000000002",
        );
        let sys = t.sysfs();
        let Disk::Path(p) = read(&sys, "nvme2n1").unwrap() else {
            panic!("not a path")
        };
        assert_eq!(p.wwid, "uuid.5eed0001-0000-4000-8000-000000000001");
        assert_eq!((p.hctl.as_str(), p.state.as_str()), ("2:1:1:1", "live"));
        assert_eq!(p.transport, Transport::Nvme(Fabric::Tcp));
        assert_eq!(p.devt.to_string(), "259:2");
        assert!(p.usable());
        let Disk::Path(q) = read(&sys, "nvme3n1").unwrap() else {
            panic!("not a path")
        };
        assert_eq!(q.transport, Transport::Nvme(Fabric::Pcie));
        assert!(!q.usable(), "a connecting controller is not usable");
        assert_eq!(
            vendor_model(&sys, "nvme2n1"),
            ("NVME".into(), "mpboot test array".into())
        );
    }

    /// Native multipath on: the head's parent is an nvme-subsystem, its
    /// per-path disks are hidden. Neither is a path.
    #[test]
    fn native_heads_and_their_hidden_paths_are_not_paths() {
        let t = Tree::new("nvmenative");
        let sub = "devices/virtual/nvme-subsystem/nvme-subsys0";
        t.file(&format!("{sub}/nvme0n1/dev"), b"259:0\n");
        t.file(&format!("{sub}/nvme0n1/wwid"), b"uuid.1\n");
        t.symlink(&format!("{sub}/nvme0n1/device"), "../../nvme-subsys0");
        t.symlink("block/nvme0n1", &format!("../{sub}/nvme0n1"));
        let hidden = "devices/virtual/nvme-fabrics/ctl/nvme0/nvme0c0n1";
        t.file(&format!("{hidden}/hidden"), b"1\n");
        t.file(&format!("{hidden}/dev"), b"259:1\n");
        t.symlink(&format!("{hidden}/device"), "../../nvme0");
        t.symlink("block/nvme0c0n1", &format!("../{hidden}"));
        let sys = t.sysfs();
        assert!(matches!(read(&sys, "nvme0n1").unwrap(), Disk::NativeHead));
        assert!(on_native_head(&sys, "nvme0n1"));
        assert!(on_native_head(&sys, "nvme0n1p2"));
        assert!(!on_native_head(&sys, "nvme0c0n1"));
        assert!(!on_native_head(&sys, "sda1"));
        assert!(matches!(read(&sys, "nvme0c0n1").unwrap(), Disk::NotAPath));
        assert!(matches!(read(&sys, "nvme9n1").unwrap(), Disk::NotAPath));
    }

    /// WWIDs as multipath-tools takes them: verbatim less trailing blanks;
    /// an over-long `nvme.` one with NUL padding mended, another cut.
    #[test]
    fn wwids() {
        assert_eq!(
            wwid("eui.5eed0002000040008000000000000002 \n"),
            "eui.5eed0002000040008000000000000002"
        );
        let padded = format!(
            "nvme.0000-{}{}-{}{}-00000002",
            "3163653363666438366239656630386200",
            "",
            "4c696e7578",
            "00".repeat(40)
        );
        assert!(padded.len() >= WWID_SIZE);
        assert_eq!(
            wwid(&padded),
            "nvme.0000-31636533636664383662396566303862-4c696e7578-00000002"
        );
        let long = format!("uuid.{}", "a".repeat(200));
        assert_eq!(wwid(&long).len(), WWID_SIZE - 1);
        let odd = format!("nvme.00zz-{}-{}-1", "00".repeat(40), "00".repeat(40));
        assert_eq!(
            wwid(&odd).len(),
            WWID_SIZE - 1,
            "not the mendable form: cut"
        );
        let dashes = format!("nvme.0000-{}-{}-1-2", "00".repeat(40), "00".repeat(40));
        assert_eq!(wwid(&dashes).len(), WWID_SIZE - 1);
    }
}
