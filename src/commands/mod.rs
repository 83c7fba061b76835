//! The commands' bodies: what each `mpboot` command does and prints.
//! `cli` parses the command line and calls these; they call the layers
//! (assemble, boot, supervisor, maps, sysfs).

mod assemble;
mod config;
mod list;
mod message;
mod remove;
mod shutdown;
mod status;

pub use assemble::{assemble, supervise};
pub use config::config;
pub use list::list;
pub use message::message;
pub use remove::remove;
pub use shutdown::shutdown;
pub use status::status;

use crate::error::Result;
use crate::log;
use crate::sysfs::Sysfs;

pub fn warn(msg: &str) {
    log::warn(msg);
}

pub fn scan(sys: &Sysfs) -> Result<crate::sysfs::Scan> {
    let scan = crate::sysfs::scan(sys)?;
    for (name, why) in &scan.skipped {
        warn(&format!("{name}: skipped: {why}"));
    }
    Ok(scan)
}
