//! mpboot: assemble device-mapper multipath maps for root-on-SAN boot.
//!
//! `main` only parses arguments, dispatches, and turns the outcome into one
//! line on stderr and an exit code (0 ok, 1 failed, 2 usage).

mod array;
mod assemble;
mod blkpg;
mod blockdev;
mod boot;
mod bootcfg;
mod cli;
mod commands;
mod dm;
mod error;
mod hostcfg;
mod log;
mod maps;
mod nodes;
mod partitions;
mod probe;
mod rootdev;
mod sgio;
mod stacked;
mod supervisor;
mod switchroot;
mod sysfs;
mod table;
#[cfg(test)]
mod testrand;
mod text;
mod topology;
mod transport;
mod uevent;
mod vpd;

use std::process::ExitCode;

use argh::FromArgs;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    // Boot mode's reader of one disk (`rootdev::read`): a child process,
    // so that a hung disk costs a deadline; one line on stdout.
    if let [rootdev::PROBE_ARGV0, sysfs, dev, disk, root] = strs[..] {
        if let Ok(sys) = sysfs::Sysfs::open(sysfs) {
            out!(
                "{}",
                rootdev::probe_line(&sys, std::path::Path::new(dev), disk, root)
            );
        }
        return ExitCode::SUCCESS;
    }
    let top = match cli::Top::from_args(&["mpboot"], strs.get(1..).unwrap_or(&[])) {
        Ok(top) => top,
        Err(argh::EarlyExit { output, status }) => {
            return match status {
                Ok(()) => {
                    crate::out!("{output}");
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    log::stderr_line(&output);
                    ExitCode::from(2)
                }
            };
        }
    };
    match cli::run(top) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::Failure::Usage(cli::Usage(msg))) => {
            log::stderr_line(&format!("mpboot: {msg}"));
            ExitCode::from(2)
        }
        Err(cli::Failure::No) => ExitCode::FAILURE,
        Err(cli::Failure::Failed(e)) => {
            log::stderr_line(&format!("mpboot: {}", error::chain(&e)));
            ExitCode::FAILURE
        }
    }
}
