# Boot mode (assemble --root) waiting: paths that appear after mpboot
# starts are waited for, event-driven; an expected count ends the wait
# early; a count that is not reached proceeds after the settle window,
# degraded, and says so; a WWID that never appears fails within
# mpboot.wait, creating nothing. Kernel command line switches, hostile
# parameters, bindings for names, and logging to the kernel log.
. /lib/testlib.sh
W=1Linux_scsi_debug_2000
mkdir -p /tmp/etc /tmp/none
boot() { # boot "cmdline" [etc dir]: mpboot in boot mode
    # The supervisor boot mode starts by default is boot-blip's subject.
    echo "$1 mpboot.supervise=no" >/tmp/cmdline
    mpboot --cmdline /tmp/cmdline --etc "${2:-/tmp/none}" >/tmp/boot.out 2>/tmp/boot.err
}
paths_in_map() { dm_groups "$1" | tr '|,' '\n\n' | grep -c .; }

# 1. Nothing there yet: mpboot starts first, scsi_debug 2s later, a third
#    path 1s after that; settle 2.5 s after the newest path.
t0=$(now_ms)
boot "mpboot.wwid=$W mpboot.settle=2500 mpboot.wait=60" &
pid=$!
sleep 2
modload scsi_debug add_host=2 vpd_use_hostno=0 dev_size_mb=8
sleep 1
echo 1 >/sys/bus/pseudo/drivers/scsi_debug/add_host
wait $pid; rc=$?
t1=$(now_ms)
sed 's/^/# /' /tmp/boot.out /tmp/boot.err
expect_eq "late paths: exit 0" $rc 0
expect_eq "late paths: all 3 paths in the map" "$(paths_in_map $W)" 3
echo "# late paths: assembled $((t1 - t0)) ms after mpboot started"
check "it waited for the settle window after the last path" test $((t1 - t0)) -ge 5000
check "but not for mpboot.wait" test $((t1 - t0)) -lt 15000
check "source logged" grep -q "kernel command line mpboot.wwid" /tmp/boot.err
check "actions in the kernel log" sh -c "dmesg | grep -q 'mpboot: created $W'"
mpboot remove --all >/dev/null

# 2. Expected path count from mpboot.conf reached: no settle wait.
echo "$W paths=3 # root LUN" >/tmp/etc/mpboot.conf
t0=$(now_ms)
boot "mpboot.settle=20000" /tmp/etc; rc=$?
t1=$(now_ms)
expect_eq "expected count met: exit 0" $rc 0
check "did not sit out the 20 s settle window ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 8000
check "config file named as the source" grep -q "from /tmp/etc" /tmp/boot.err
mpboot remove --all >/dev/null

# 3. Expecting 4, 3 arrive: proceeds after the settle window, degraded.
echo "$W paths=4" >/tmp/etc/mpboot.conf
t0=$(now_ms)
boot "mpboot.settle=1500" /tmp/etc; rc=$?
t1=$(now_ms)
sed 's/^/# /' /tmp/boot.err
expect_eq "degraded: exit 0" $rc 0
check "degraded: says 3 of 4" grep -q "$W: 3 of 4 expected paths" /tmp/boot.err
expect_eq "degraded: map has the 3 paths" "$(paths_in_map $W)" 3
mpboot remove --all >/dev/null
rm /tmp/etc/mpboot.conf

# 4. A WWID that never appears: clear error within mpboot.wait, nothing made.
t0=$(now_ms)
boot "mpboot.wwid=36001405deadbeef mpboot.wait=3"; rc=$?
t1=$(now_ms)
sed 's/^/# /' /tmp/boot.err
expect_eq "missing WWID: exit 1" $rc 1
check "missing WWID: message names it and the wait" grep -q "gave up after 3 s waiting for a path of WWID 36001405deadbeef" /tmp/boot.err
check "missing WWID: gave up in time ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 6000
expect_eq "missing WWID: nothing created" "$(dmsetup ls)" "No devices found"

# No busy waiting: CPU time mpboot spends while waiting 3 s for nothing.
boot "mpboot.wwid=36001405deadbeef mpboot.wait=3" &
pid=$!
sleep 2
mp=$(pidof mpboot | cut -d' ' -f1)
ticks=$(awk '{print $14 + $15}' /proc/$mp/stat)
wait $pid
echo "# CPU while waiting 2 s: $ticks ticks of 10 ms"
check "waiting is idle: under 10 ticks of CPU in 2 s" test "$ticks" -lt 10

# SIGTERM while waiting (a unit stopped, a shutdown): ends at once, says
# so, nothing made.
boot "mpboot.wwid=36001405deadbeef mpboot.wait=30" &
pid=$!
sleep 1
mp=$(pidof mpboot | cut -d' ' -f1)
t0=$(now_ms)
kill -TERM "$mp"
wait $pid; rc=$?
t1=$(now_ms)
sed 's/^/# /' /tmp/boot.err
expect_eq "SIGTERM while waiting: exit 1" $rc 1
check "SIGTERM while waiting: ended at once ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2000
check "SIGTERM while waiting: says so" grep -q "stopped by signal 15 while waiting for paths; nothing made" /tmp/boot.err
expect_eq "SIGTERM while waiting: nothing created" "$(dmsetup ls)" "No devices found"

# 5. Switched off.
boot "rd.multipath=0 mpboot.wwid=$W"; expect_eq "rd.multipath=0: exit 0" $? 0
boot "mpboot=off"; expect_eq "mpboot=off: exit 0" $? 0
expect_eq "switched off: nothing created" "$(dmsetup ls)" "No devices found"

# 6. Hostile parameters are reported and ignored; the boot goes on (here:
#    no root=, no config: every LUN with 2+ paths).
boot "mpboot.wait=-5 mpboot.settle=lots mpboot.wwid=a/b mpboot.bogus=1 mpboot.queue=maybe \"unterminated"; rc=$?
sed 's/^/# /' /tmp/boot.err
expect_eq "hostile cmdline: exit 0" $rc 0
expect_eq "hostile cmdline: 5 warnings" "$(grep -c 'ignoring' /tmp/boot.err)" 5
check "hostile cmdline: fell back to every LUN with 2+ paths" grep -q "^created $W" /tmp/boot.out
mpboot remove --all >/dev/null

# 7. multipath-tools' files: wwids chooses, bindings names.
mkdir -p /tmp/etc/multipath
printf '# Multipath wwids, Version : 1.0\n/%s/\n' $W >/tmp/etc/multipath/wwids
printf '# bindings\nmpatha %s\n' $W >/tmp/etc/multipath/bindings
boot "mpboot.settle=500" /tmp/etc; rc=$?
expect_eq "bindings: exit 0" $rc 0
check "bindings: the map is named mpatha" dmsetup info mpatha
expect_eq "bindings: UUID still mpath-WWID" "$(dmsetup info -c --noheadings -o uuid mpatha)" "mpath-$W"
check "bare mpboot is boot mode" sh -c "echo 'mpboot.settle=100 mpboot.supervise=no' >/tmp/cmdline && mpboot --cmdline /tmp/cmdline --etc /tmp/etc | grep -q '^unchanged mpatha'"
mpboot remove --all >/dev/null
