//! Link flags for the release binary alone, and a refusal to build a
//! release binary that would not be static.
//!
//! `--no-eh-frame-hdr`: the release binary aborts on panic and never
//! unwinds, and the sorted index of unwind tables, which only a walk of
//! the stack searches, is 20 KB of the 1.5 MiB budget (a panic still
//! prints its message). Tests unwind to report a failing test, so they
//! keep it: given to every build, the flag made a failing assertion abort
//! the whole test run. A link argument from here is also immune to a
//! RUSTFLAGS in the environment, which replaces `.cargo/config.toml`'s.
//!
//! `crt-static` cannot be set from here, and any `RUSTFLAGS` (Arch's
//! makepkg.conf, Debian's cargo wrapper, Fedora's `%build_rustflags` all
//! set one) makes cargo drop `.cargo/config.toml`'s flags: the binary then
//! comes out dynamically linked, needing a loader no initramfs may have,
//! and nothing else would fail. So a release build for glibc without
//! `crt-static` stops here and says what to add (`make` adds it).
use std::env::var;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MPBOOT_ALLOW_DYNAMIC");
    if var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .unwrap_or_default()
        .split(',')
        .any(|f| f == "crt-static");
    let gnu = var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if gnu && !static_crt && var("MPBOOT_ALLOW_DYNAMIC").is_err() {
        eprintln!(
            "error: mpboot's release binary must be static, and this build is not: \
             RUSTFLAGS (or CARGO_ENCODED_RUSTFLAGS) in the environment replaced \
             .cargo/config.toml's flags. Add to it: -C target-feature=+crt-static \
             -C link-arg=-Wl,-z,pack-relative-relocs (make does), or set \
             MPBOOT_ALLOW_DYNAMIC=1 to build a dynamic binary anyway."
        );
        std::process::exit(1);
    }
}
