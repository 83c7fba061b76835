//! `mpboot config --root`: record the root's LUN for the next image.

use std::path::Path as FsPath;

use crate::cli::ConfigCmd;
use crate::error::Result;
use crate::hostcfg;
use crate::sysfs::Sysfs;

pub fn config(sys: &Sysfs, etc: &FsPath, c: &ConfigCmd) -> Result<()> {
    let found = hostcfg::find(sys, &c.root_dir, FsPath::new("/proc"))?;
    for (what, devt) in &found.devices {
        crate::out!("{what}: {devt}");
    }
    if found.maps.is_empty() {
        crate::out!("no multipath map under these; nothing written");
        return Ok(());
    }
    let text = crate::bootcfg::format_mpboot_conf(&found.maps);
    if c.dry_run {
        print!("{text}");
        return Ok(());
    }
    let added = hostcfg::write(etc, &found.maps)?;
    print!("{text}");
    crate::out!("wrote {}", etc.join("mpboot.conf").display());
    for w in added {
        crate::out!("added {w} to {}", etc.join("multipath/wwids").display());
    }
    Ok(())
}
