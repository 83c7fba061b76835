//! Link flags for the release binary alone.
//!
//! `--no-eh-frame-hdr`: the release binary aborts on panic and never
//! unwinds, and the sorted index of unwind tables, which only a walk of
//! the stack searches, is 20 KB of the 1.5 MiB budget (a panic still
//! prints its message). Tests unwind to report a failing test, so they
//! keep it: given to every build, the flag made a failing assertion abort
//! the whole test run. A link argument from here is also immune to a
//! RUSTFLAGS in the environment, which replaces `.cargo/config.toml`'s.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    }
}
