//! `mpboot shutdown`: queueing off on every multipath map, for shutdown
//! hooks. A map that queues I/O with no path left (`queue_if_no_path`)
//! hangs the final sync and unmount for ever when the SAN is gone; with
//! `fail_if_no_path` that I/O fails at once and poweroff goes on. dracut's
//! multipath module does the same in its shutdown hook, and multipathd
//! (queue_without_daemon no) when it stops.

use std::path::Path as FsPath;

use crate::assemble::misc_devt;
use crate::dm::{Control, DevId};
use crate::error::{chain, Error, Result};
use crate::log;
use crate::maps;
use crate::sysfs::Sysfs;

pub fn shutdown(sys: &Sysfs, dev_root: &FsPath) -> Result<()> {
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    let mut failed = 0;
    for (name, _) in ctl.list_devices()? {
        // Multipath maps only (any owner): partition maps pass messages on
        // to nothing, and other targets take none of these.
        if !matches!(maps::view(&ctl, &name), Ok(Some(_))) {
            continue;
        }
        match ctl.target_msg(DevId::Name(&name), 0, "fail_if_no_path") {
            Ok(_) => log::notice(&format!(
                "{name}: queueing off for shutdown (fail_if_no_path)"
            )),
            Err(e) => {
                log::err(&format!("{name}: fail_if_no_path: {}", chain(&e)));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(Error::Several { failed });
    }
    Ok(())
}
