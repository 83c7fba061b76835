#!/usr/bin/env bash
# A reader that goes away (`mpboot status | head -1`) must end mpboot's
# output quietly, not panic it (with panic = "abort" the shell printed
# "Aborted" for every sample of a status loop). stdout is a FIFO whose
# only reader is closed before mpboot starts, so the first write fails.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MPBOOT_BIN:-$REPO/target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}/release/mpboot}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkfifo "$d/p"
failed=0
for args in "--help" "assemble --help"; do
    exec 4<>"$d/p" 5>"$d/p" # 4: the reader (read-write open), 5: a writer
    exec 4<&-               # no reader left: writes fail with EPIPE
    # shellcheck disable=SC2086
    "$BIN" $args >&5 2>"$d/err"
    rc=$?
    exec 5>&-
    if [ "$rc" = 0 ] && ! grep -q panicked "$d/err"; then
        echo "ok - mpboot $args into a pipe nobody reads: exit 0, no panic"
    else
        echo "not ok - mpboot $args into a pipe nobody reads: status $rc, $(head -c 200 "$d/err")"
        failed=$((failed + 1))
    fi
done
echo "host: $failed failed"
[ "$failed" -eq 0 ]
