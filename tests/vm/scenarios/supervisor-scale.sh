# 256 LUNs x 4 paths (scsi_debug, 1024 disks) under the supervisor: the
# first round checks every path (at most 256 in flight) without blocking
# the loop: its view never goes stale and a path uevent is served during
# the round. Reported: assembly time, round time, idle CPU, RSS, threads.
. /lib/testlib.sh
t0=$(now_ms)
modload scsi_debug add_host=4 max_luns=256 vpd_use_hostno=0 dev_size_mb=1
wait_for 3000 test "$(nr_disks)" -ge 1024
echo "# $(nr_disks) disks after $(($(now_ms) - t0)) ms"
check "1024 paths" test "$(nr_disks)" -ge 1024
# The alua handler's first RTPG of each disk: let it finish.
sleep 5
# The path to delete during the first round, and its map.
d=$(ls /sys/block | grep '^sd' | tail -n1)
w=$(mpboot list 2>/dev/null | awk -v d=$d '/^[^ ]/ {x = $1} $1 == d {print x}')
dv=$(devnum $d)
t0=$(now_ms)
mpboot assemble --all --no-partitions --supervise >/tmp/asm 2>&1 &
wait_for 1200 test -s /run/mpboot/state
t1=$(now_ms)
P=$(pidof @mpboot | cut -d' ' -f1)
n=$(dmsetup ls --target multipath | wc -l)
echo "# assembled $n maps in $((t1 - t0)) ms, supervisor pid $P"
check "256 maps" test "$n" = 256
# The first round checks all 1024 paths. A path deleted now, in the first
# round, leaves its map within 1 s: its uevent is served between answers,
# and only its own map is looked at again.
gone() { ! dmsetup table $w | tr ' ' '\n' | grep -qx "$dv"; }
echo 1 >/sys/block/$d/device/delete
t=$(ms_until 20000 gone)
echo "# a deleted path left its map $t ms after its deletion, $(($(now_ms) - t1)) ms into the first round"
check "a path deleted during the first round leaves its map within 1 s ($t ms)" test "$t" -ge 0 -a "$t" -le 1000
# Sample the view's age meanwhile.
maxage=0 maxfds=0 ages=""
i=0
while [ $i -lt 40 ]; do
    a=$(mpboot status 2>/dev/null | head -1 | sed -n 's/.*view from \([0-9]*\)\.\([0-9]\) s ago.*/\1\200/p; s/.*STALE view from \([0-9]*\) s ago.*/\1000/p')
    [ -n "$a" ] && [ "$a" -gt $maxage ] && maxage=$a
    ages="$ages $a@$(($(now_ms) - t1))"
    f=$(ls -l /proc/$P/fd 2>/dev/null | grep -c '/dev/sg')
    [ "$f" -gt $maxfds ] && maxfds=$f
    sleep 0.2
    i=$((i + 1))
done
echo "# first rounds: view at most $maxage ms old; at most $maxfds checks in flight"
echo "# view ages (ms@ms since start):$ages"
dmesg | grep ' mpboot:' | tail -n 5 | sed 's/^/# /'
check "the view never went stale during the first rounds ($maxage ms)" test "$maxage" -lt 5000
check "checks in flight stay bounded ($maxfds <= 256)" test "$maxfds" -le 256
check "no path failed by the checker" sh -c "! dmesg | grep -q 'failed by checker'"
sleep 6
c1=$(awk '{print $14 + $15}' /proc/$P/stat); sleep 10; c2=$(awk '{print $14 + $15}' /proc/$P/stat)
c=$((c2 - c1))
echo "# FIGURE | idle supervisor, 256 maps x 4 paths | $c ticks of 10 ms in 10 s: $((c / 10)).$((c % 10)) % of a vCPU (1023 paths checked every 5 s)"
echo "# RSS $(awk '/^Rss:/ {print $2}' /proc/$P/smaps_rollup) KiB, VmHWM $(awk '/^VmHWM:/ {print $2}' /proc/$P/status) KiB, threads $(awk '/^Threads:/ {print $2}' /proc/$P/status)"
expect_eq "one thread" "$(awk '/^Threads:/ {print $2}' /proc/$P/status)" 1
kill -TERM $P
