#!/usr/bin/env bash
# hooks-lib/nvme.sh, which mpboot's three initramfs hooks source, run by
# busybox sh (POSIX) against sysfs trees laid out as the kernel's: the
# drivers of the host's NVMe transports, once each; the modprobe option
# only when native NVMe multipath is off; nothing on a host without NVMe,
# and no failure on odd or unreadable attributes.
# Prints TAP-style lines; exit 1 on any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failed=0
run() { # run SYSFS FUNCTION: its output, one line
    MPBOOT_SYSFS=$1 busybox sh -c ". '$REPO/hooks-lib/nvme.sh' && $2" 2>&1 | tr '\n' ' ' | sed 's/ $//'
}
expect() { # expect NAME GOT WANT
    if [ "$2" = "$3" ]; then echo "ok - nvme.sh: $1"; else
        echo "not ok - nvme.sh: $1: got '$2', want '$3'"
        failed=$((failed + 1))
    fi
}
s=$t/none
mkdir -p "$s"
expect "no NVMe: no module" "$(run "$s" mpboot_nvme_modules)" ""
expect "no NVMe: no option, exit 0" "$(run "$s" 'mpboot_nvme_options; echo rc=$?')" "rc=0"

s=$t/mixed
for c in 0:pcie 1:tcp 2:tcp 3:rdma 4:fc 5:loop 6:carrier-pigeon; do
    mkdir -p "$s/class/nvme/nvme${c%%:*}"
    echo "${c#*:}" >"$s/class/nvme/nvme${c%%:*}/transport"
done
mkdir -p "$s/class/nvme/nvme7" "$s/module/nvme_core/parameters"
echo N >"$s/module/nvme_core/parameters/multipath"
expect "each transport's driver, once; unknown and missing ones skipped" \
    "$(run "$s" mpboot_nvme_modules)" "nvme nvme-fc nvme-loop nvme-rdma nvme-tcp"
expect "native multipath off: the option" "$(run "$s" mpboot_nvme_options)" "options nvme_core multipath=N"
echo Y >"$s/module/nvme_core/parameters/multipath"
expect "native multipath on: no option" "$(run "$s" 'mpboot_nvme_options; echo rc=$?')" "rc=0"
exit $((failed > 0))
