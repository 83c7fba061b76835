//! `mpboot remove`: maps and their partition maps, never an open one.

use std::path::Path as FsPath;

use super::status::device_names;
use super::warn;
use crate::cli::RemoveCmd;
use crate::dm::Control;
use crate::error::{chain, Error, Result};
use crate::maps::{self};
use crate::nodes::Nodes;
use crate::sysfs::Sysfs;

pub fn remove(sys: &Sysfs, dev_root: &FsPath, r: &RemoveCmd) -> Result<()> {
    let ctl = Control::open(dev_root, None)?;
    let nodes = Nodes::new(dev_root, FsPath::new("/run"), r.nodes);
    let names = if r.all {
        device_names(&ctl)?
    } else {
        r.names.clone()
    };
    let mut failed = 0;
    for name in &names {
        match maps::remove(&ctl, sys, &nodes, name) {
            Ok(info) => crate::out!("removed {name} ({})", info.devt),
            // --all: DM devices that are not multipath maps are not ours.
            Err(Error::NoSuchMap { .. }) if r.all => {}
            Err(e) => {
                warn(&chain(&e));
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        _ => Err(Error::Several { failed }),
    }
}
