#!/usr/bin/env bash
# mpboot builds for the machine it is built on, not for x86_64 alone
# (aarch64, ppc64le and s390x are SAN platforms too), and stays static:
# - make names the target `rustc -vV` reports as the host, or RUST_TARGET;
# - .cargo/config.toml's static flags reach mpboot and its crates for every
#   glibc target, and never the host-side proc-macros and build scripts
#   (argh's derive cannot be static).
# Only x86_64's standard library is installed here, so the other targets'
# builds stop at their first crate: far enough to read the flags cargo
# gives them (`cargo build -v`). Prints TAP-style lines; exit 1 on failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failed=0
ok() { echo "ok - target: $1"; }
nok() { echo "not ok - target: $1"; failed=$((failed + 1)); }
cd "$REPO" || exit 1

# make's choice of target, from a rustc that reports another host.
printf '#!/bin/sh\necho "rustc 1.99.0"\necho "host: aarch64-unknown-linux-gnu"\n' >"$t/rustc"
chmod +x "$t/rustc"
cmd=$(make -n build RUSTC="$t/rustc")
case $cmd in
*"cargo build --release --target aarch64-unknown-linux-gnu"*) ok "make builds for the host rustc names (aarch64)" ;;
*) nok "make on an aarch64 host: '$cmd'" ;;
esac
cmd=$(make -n install-bin RUSTC="$t/rustc" | grep 'install .*/sbin/mpboot')
case $cmd in
*" target/aarch64-unknown-linux-gnu/release/mpboot "*) ok "make install-bin takes that target's binary" ;;
*) nok "make install-bin on an aarch64 host: '$cmd'" ;;
esac
cmd=$(make -n unit-test RUST_TARGET=powerpc64le-unknown-linux-gnu)
case $cmd in
*"cargo test --release --target powerpc64le-unknown-linux-gnu"*) ok "RUST_TARGET overrides it" ;;
*) nok "make unit-test RUST_TARGET=powerpc64le-unknown-linux-gnu: '$cmd'" ;;
esac
printf '#!/bin/sh\nexit 1\n' >"$t/rustc"
if make -s build RUSTC="$t/rustc" >/dev/null 2>"$t/err"; then
    nok "make with a rustc that names no host went on"
elif grep -q "set RUST_TARGET" "$t/err"; then
    ok "no host from rustc: make stops and says to set RUST_TARGET"
else nok "no host from rustc: $(cat "$t/err")"; fi

# The flags cargo gives each target's crates and the host's.
for tgt in aarch64-unknown-linux-gnu powerpc64le-unknown-linux-gnu s390x-unknown-linux-gnu; do
    CARGO_TARGET_DIR=$t/build cargo build -v --release --offline --target "$tgt" >"$t/log" 2>&1
    runs=$(grep -E '^ +Running `.*/rustc ' "$t/log")
    mine=$(grep -F -- "--target $tgt " <<<"$runs")
    host=$(grep -vF -- "--target $tgt " <<<"$runs")
    if [ -z "$mine" ] || [ -z "$host" ]; then
        nok "$tgt: cargo compiled no crate for it or none for the host: $(tail -3 "$t/log")"
    elif grep -vq -- '-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs' <<<"$mine"; then
        nok "$tgt: a crate built without the static flags"
    elif grep -q crt-static <<<"$host"; then
        nok "$tgt: a host-side crate (build script or proc-macro) got crt-static"
    else
        ok "$tgt: its $(wc -l <<<"$mine") crate(s) get the static flags, the host's $(wc -l <<<"$host") do not"
    fi
done
exit $((failed > 0))
