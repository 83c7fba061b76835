# The demo: a simulated SAN LUN behind 4 paths with ALUA (hosts 0 and 3
# active/optimized, 1 active/non-optimized, 2 standby), no udev, no
# multipath-tools. mpboot lists, assembles, shows status; then both
# optimized paths go offline under a running read loop.
. /lib/testlib.sh

say() { printf '\n### %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

scsi_debug_paths 4 >/dev/null
wait_disks 4
W=1Linux_scsi_debug_2000

say "Four SCSI disks, one LUN. mpboot reads WWIDs from VPD page 0x83 and ALUA states from sysfs"
run mpboot list
say "Assemble: one multipath map, path groups ordered by ALUA state, node made without udev"
run mpboot assemble --all
run ls -l /dev/mapper/
run mpboot status

say "A read loop on the map; then both optimized paths go offline"
dd if=/dev/urandom of=/dev/mapper/$W bs=1M count=8 2>/dev/null; sync
(
    n=0 err=0
    while [ ! -e /tmp/stop ]; do
        echo 3 >/proc/sys/vm/drop_caches
        dd if=/dev/mapper/$W of=/dev/null bs=1M 2>/dev/null || err=$((err + 1))
        n=$((n + 1))
    done
    echo "$n reads of 8 MiB, $err errors" >/tmp/loop
) &
sleep 2
for d in /sys/block/sd*; do
    if [ "$(cat $d/device/access_state)" = active/optimized ]; then
        run sh -c "echo offline > $d/device/state"
    fi
done
sleep 3
run mpboot status
touch /tmp/stop; wait
say "The read loop, across the failover"
cat /tmp/loop
grep -q ' 0 errors' /tmp/loop && ok "I/O went on through the non-optimized path" || notok "read loop saw errors"
