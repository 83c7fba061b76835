//! `mpboot message`: a target message to a map.

use std::path::Path as FsPath;

use crate::assemble::misc_devt;
use crate::cli::MessageCmd;
use crate::dm::Control;
use crate::error::{Error, Result};
use crate::maps::{self};
use crate::sysfs::Sysfs;

pub fn message(sys: &Sysfs, dev_root: &FsPath, m: &MessageCmd) -> Result<()> {
    let ctl = Control::open(dev_root, misc_devt(sys))?;
    if maps::view(&ctl, &m.name)?.is_none() {
        return Err(Error::NoSuchMap {
            name: m.name.clone(),
        });
    }
    let reply = ctl.target_msg(crate::dm::DevId::Name(&m.name), 0, &m.words.join(" "))?;
    if let Some(r) = reply.filter(|r| !r.is_empty()) {
        crate::out!("{r}");
    }
    Ok(())
}
