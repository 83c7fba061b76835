//! Messages for people and for the boot log: every line goes to stderr
//! and, when `/dev/kmsg` is writable, to the kernel log with a `mpboot:`
//! prefix and a syslog level, so it lands in dmesg and the journal.
//!
//! The kernel rate-limits writes to `/dev/kmsg` per open file (10 lines in
//! 5 s by default, `printk.devkmsg=ratelimit`), then drops lines. So the
//! boot log holds what a reader needs (a line a map, every decision,
//! warning and failure) and per-path detail only with `mpboot.debug`; and
//! each notice, warning or error goes through a file of its own, which no
//! earlier line can have used up.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The kmsg node, and a file shared by the info lines.
static KMSG: OnceLock<Option<(PathBuf, File)>> = OnceLock::new();
/// Per-path detail to the kernel log too (`mpboot.debug`).
static DEBUG: AtomicBool = AtomicBool::new(false);

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
    let path = dev_root.join("kmsg");
    let open = OpenOptions::new().write(true).open(&path).ok();
    let _ = KMSG.set(open.map(|f| (path, f)));
}

/// Per-path detail goes to the kernel log too (`mpboot.debug`).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn log(level: Level, msg: &str) {
    stderr_line(&format!("mpboot: {msg}"));
    kmsg_only(level, msg);
}

/// To the kernel log only: for lines already printed on stdout. Notices
/// and worse through a file opened for the line, so that no rate limit
/// spent by earlier lines can drop them.
pub fn kmsg_only(level: Level, msg: &str) {
    let Some(Some((path, shared))) = KMSG.get() else {
        return;
    };
    let line = format!("<{}>mpboot: {msg}\n", level as u8);
    let own = (level != Level::Info)
        .then(|| OpenOptions::new().write(true).open(path).ok())
        .flatten();
    let _ = match own {
        Some(mut f) => f.write_all(line.as_bytes()),
        None => (&*shared).write_all(line.as_bytes()),
    };
}

/// Per-path detail: on stderr for whoever runs mpboot, and in the kernel
/// log only with `mpboot.debug` (1,024 paths must not bury the lines that
/// matter, nor use up the kernel's rate limit).
pub fn detail(msg: &str) {
    stderr_line(&format!("mpboot: {msg}"));
    if DEBUG.load(Ordering::Relaxed) {
        kmsg_only(Level::Info, msg);
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
