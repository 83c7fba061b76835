#!/usr/bin/env bash
# A reader that goes away (`mpboot status | head -1`) must end mpboot's
# output quietly, not panic it (with panic = "abort" the shell printed
# "Aborted" for every sample of a status loop). stdout is a pipe whose
# read end is closed before mpboot starts, so the first write fails.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MPBOOT_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/mpboot}
failed=0
for args in "--help" "assemble --help"; do
    # shellcheck disable=SC2086
    out=$(python3 - "$BIN" $args <<'PY'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
print(p.returncode, p.stderr.decode(errors="replace").replace("\n", " | "))
PY
)
    if [ "${out%% *}" = 0 ] && [[ $out != *panicked* ]]; then
        echo "ok - mpboot $args into a closed pipe: exit 0, no panic"
    else
        echo "not ok - mpboot $args into a closed pipe: $out"
        failed=$((failed + 1))
    fi
done
echo "host: $failed failed"
[ "$failed" -eq 0 ]
