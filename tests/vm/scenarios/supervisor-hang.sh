# A path that hangs instead of failing must not stall the supervisor.
# Map A: scsi_debug, 2 paths, made to ignore every command (opts=4,
# every_nth=1: the host sees nothing come back) with a 20 s command
# timeout. Map B: LIO, 2 paths, healthy. While A's checks hang, B's
# events are served at once (a path deleted and rescanned), the status
# view stays current, and A's hung paths are failed at their command
# timeout plus one round, with one command in flight each. When A answers
# again, its paths are reinstated. The supervisor's CPU while the hung
# checks are in flight stays low.
. /lib/testlib.sh
scsi_debug_paths 2
lio_lun other 2
wait_disks 4
A=1Linux_scsi_debug_2000
B=$(mpboot list | awk '/^36001405/ {print $1}')
set -- $(lio_disks other); b1=$1 b2=$2
check "sg devices exist for the paths" test -d /sys/block/sda/device/scsi_generic
for d in sda sdb; do
    [ "$(cat /sys/block/$d/device/vendor | tr -d ' ')" = Linux ] && echo 20 >/sys/block/$d/device/timeout
done
mpboot assemble --all --supervise >/tmp/asm 2>&1 &
wait_for 100 test -s /run/mpboot/state
sed 's/^/# /' /tmp/asm
P=$(pidof @mpboot | cut -d' ' -f1)
in_table() { dmsetup table $1 | tr ' ' '\n' | grep -qx "$2"; }
failed_in() { dmsetup status $1 | tr ' ' '\n' | grep -A1 -x "$2" | tail -n1 | grep -qx F; }
active_in() { dmsetup status $1 | tr ' ' '\n' | grep -A1 -x "$2" | tail -n1 | grep -qx A; }

# Map A's paths stop answering: every command is ignored.
P_SD=/sys/bus/pseudo/drivers/scsi_debug
echo 1 >$P_SD/every_nth
echo 4 >$P_SD/opts
t_hang=$(now_ms)
# A healthy-path round (every 5 s) sends its checks into the hang.
sleep 6
w=$(awk '$1 == "State:" {print $2}' /proc/$P/status)
echo "# supervisor state during the hang: $w; wchan $(cat /proc/$P/wchan)"
check "the supervisor is not stuck in the kernel during the hang (state $w)" test "$w" != D
# Its CPU from here until the hung paths are failed: their checks are in
# flight all along, and the loop must sleep meanwhile.
cpu() { awk '{print $14 + $15}' /proc/$P/stat; }
c0=$(cpu) t0=$(now_ms)

# Map B's events during the hang: a path deleted, then found again.
bd=$(devnum $b2)
host=$(basename "$(readlink /sys/block/$b2/device)" | cut -d: -f1)
echo 1 >/sys/block/$b2/device/delete
gone_from_b() { ! in_table $B $bd; }
t=$(ms_until 5000 gone_from_b)
echo "# during the hang: deleted path of the other map out of its table in $t ms"
check "during the hang: the other map's deleted path leaves within 1 s ($t ms)" test "$t" -ge 0 -a "$t" -le 1000
echo "- - -" >/sys/class/scsi_host/host$host/scan
both_back() { [ "$(lio_disks other | wc -w)" = 2 ]; }
ms_until 10000 both_back >/dev/null
b2=$(lio_disks other | tr ' ' '\n' | grep -vx $b1)
t=$(ms_until 5000 in_table $B "$(devnum $b2)")
echo "# during the hang: rescanned path $b2 in the other map $t ms after its disk appeared"
check "during the hang: the other map's new path joins within 1 s ($t ms)" test "$t" -ge 0 -a "$t" -le 1000
mpboot status >/tmp/status 2>&1
head -1 /tmp/status | sed 's/^/# /'
check "during the hang: status is current, not stale" sh -c "head -1 /tmp/status | grep -q 'view from'"

# Map A's hung paths: failed at the 20 s command timeout plus one round.
for d in sda sdb; do
    t=$(ms_until 40000 failed_in $A "$(devnum $d)")
    echo "# hung path $d failed $(($(now_ms) - t_hang)) ms after the hang began"
    check "hung path $d failed by the checker" test "$t" -ge 0
done
c1=$(cpu) t1=$(now_ms)
pct=$(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", c * 10 * 100 / t }')
echo "# supervisor CPU with hung checks in flight: $((c1 - c0)) ticks of 10 ms in $((t1 - t0)) ms ($pct % of a vCPU)"
check "the supervisor sleeps while hung checks are in flight ($pct % of a vCPU, under 25 %)" \
    awk -v p="$pct" 'BEGIN { exit !(p < 25) }'
elapsed=$(($(now_ms) - t_hang))
check "within the command timeout plus a round of checks ($elapsed ms <= 20000 + 5000 + 2000)" test "$elapsed" -le 27000
check "it said why" sh -c "dmesg | grep -q 'did not answer within its 20 s command timeout'"
# One command each in flight at most: the supervisor holds at most one sg fd per path.
n=$(ls -l /proc/$P/fd | grep -c '/dev/sg')
echo "# sg fds held by the supervisor: $n"
check "a hung path holds one command, not a pile ($n sg fds for 2 paths)" test "$n" -le 2

# Map A answers again: reinstated.
echo 0 >$P_SD/opts
echo 0 >$P_SD/every_nth
for d in sda sdb; do
    [ "$(cat /sys/block/$d/device/state)" = running ] || echo running >/sys/block/$d/device/state
done
for d in sda sdb; do
    t=$(ms_until 60000 active_in $A "$(devnum $d)")
    check "path $d reinstated once it answers ($t ms)" test "$t" -ge 0
done
dmesg | grep ' mpboot:' | tail -n 20 | sed 's/^/# /'
kill -TERM $P
