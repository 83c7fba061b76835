//! `mpboot list`: every WWID with its paths, as sysfs and the arrays say.

use super::scan;
use crate::error::Result;
use crate::sysfs::Sysfs;
use crate::topology;

pub fn list(sys: &Sysfs, dev_root: &std::path::Path) -> Result<()> {
    let mut scan = scan(sys)?;
    crate::array::ask(
        sys,
        dev_root,
        &mut scan.paths,
        false,
        &[],
        crate::array::WAIT,
    );
    for (wwid, paths) in topology::by_wwid(&scan.paths) {
        let p0 = paths[0];
        let (vendor, model) = crate::sysfs::vendor_model(sys, p0);
        crate::out!(
            "{wwid} {vendor} {model} size={} paths={}",
            p0.size,
            paths.len()
        );
        for p in paths {
            crate::out!(
                "  {:<6} {:<7} {:<10} {:<8} {}{}",
                p.name,
                p.devt.to_string(),
                p.hctl,
                p.state,
                p.alua_word(),
                p.never_assembled()
                    .map_or(String::new(), |w| format!("  never assembled: {w}"))
            );
        }
    }
    for n in &scan.native_nvme {
        crate::out!("{n}: native NVMe multipath, left to the kernel");
    }
    Ok(())
}
