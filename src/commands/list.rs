//! `mpboot list`: every WWID with its paths, as sysfs and the arrays say.

use super::scan;
use crate::error::Result;
use crate::sysfs::Sysfs;
use crate::topology::{self};

pub fn list(sys: &Sysfs, dev_root: &std::path::Path) -> Result<()> {
    let mut scan = scan(sys)?;
    crate::array::ask(sys, dev_root, &mut scan.paths, false, &[]);
    for (wwid, paths) in topology::by_wwid(&scan.paths) {
        let p0 = paths[0];
        crate::out!(
            "{wwid} {} {} size={} paths={}",
            p0.vendor,
            p0.model,
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
