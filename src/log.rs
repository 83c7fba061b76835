//! Messages for people and for the boot log: every line goes to stderr
//! and, when `/dev/kmsg` is writable, to the kernel log with a `mpboot:`
//! prefix and a syslog level, so it lands in dmesg and the journal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

static KMSG: OnceLock<Option<File>> = OnceLock::new();

/// `println!` that never panics: a reader that went away (`mpboot status
/// | head`) ends the output quietly, as SIGPIPE ends a C tool; any other
/// failure to write stdout says so on stderr and exits 1.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::log::out_line(format_args!($($arg)*)) };
}

pub fn out_line(args: std::fmt::Arguments) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        stderr_line(&format!("mpboot: writing to stdout: {e}"));
        std::process::exit(1);
    }
}

/// `eprintln!` that never panics (stderr closed or a broken pipe).
pub fn stderr_line(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// Send log lines to `<dev>/kmsg` too, if it can be opened for writing.
/// Called once by commands that act (assemble, remove, boot); read-only
/// commands stay out of the kernel log.
pub fn to_kmsg(dev_root: &Path) {
    let _ = KMSG.set(
        OpenOptions::new()
            .write(true)
            .open(dev_root.join("kmsg"))
            .ok(),
    );
}

pub fn log(level: Level, msg: &str) {
    stderr_line(&format!("mpboot: {msg}"));
    kmsg_only(level, msg);
}

/// To the kernel log only: for lines already printed on stdout.
pub fn kmsg_only(level: Level, msg: &str) {
    if let Some(Some(mut f)) = KMSG.get().map(|f| f.as_ref()) {
        let _ = f.write_all(format!("<{}>mpboot: {msg}\n", level as u8).as_bytes());
    }
}

pub fn err(msg: &str) {
    log(Level::Err, msg)
}

pub fn warn(msg: &str) {
    log(Level::Warning, msg)
}

pub fn notice(msg: &str) {
    log(Level::Notice, msg)
}

pub fn info(msg: &str) {
    log(Level::Info, msg)
}
