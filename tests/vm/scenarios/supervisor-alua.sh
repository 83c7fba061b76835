# ALUA state change at run time (LIO port groups through configfs): the
# LUN's two paths start A/O and standby; the array swaps them under I/O.
# The supervisor regroups (reload in place) and I/O moves to the new
# optimized path, without an error.
. /lib/testlib.sh
lio_lun lun0 2
wait_disks 2
C=/sys/kernel/config/target
B=$C/core/rd_mcp_0/lun0
set -- $(ls -d $C/loopback/naa.*)
t0=$1 t1=$2
# Port group B (id 2) for the second target port, standby; the default
# group (the first port) stays active/optimized.
mkdir $B/alua/pg_b
echo 2 >$B/alua/pg_b/tg_pt_gp_id
echo 2 >$B/alua/pg_b/alua_access_state
echo pg_b >$t1/tpgt_1/lun/lun_0/alua_tg_pt_gp
for d in /sys/block/sd*; do echo 1 >$d/device/rescan; done
state_of() { cat /sys/block/$1/device/access_state; }
# Which sd disk is behind which target port: its host is that target's.
set -- $(ls -d /sys/block/sd* | xargs -n1 basename)
a=$1 b=$2
wait_for 100 sh -c "[ \"\$(cat /sys/block/$a/device/access_state) \$(cat /sys/block/$b/device/access_state)\" != 'active/optimized active/optimized' ]"
[ "$(state_of $a)" = standby ] && { x=$a; a=$b; b=$x; }
echo "# $a: $(state_of $a), $b: $(state_of $b)"
expect_eq "ports start A/O and standby" "$(state_of $a) $(state_of $b)" "active/optimized standby"
W=$(mpboot list | awk '/^36001405/ {print $1}')
mpboot assemble --all --supervise >/tmp/asm 2>&1 &
wait_for 100 test -s /run/mpboot/state
sed 's/^/# /' /tmp/asm
expect_eq "groups: A/O first, standby second" "$(dm_groups $W)" "$(cat /sys/block/$a/dev)|$(cat /sys/block/$b/dev)"

io_loop_start /dev/mapper/$W 32
sleep 1
# The array swaps the states: port B optimized, port A standby.
echo 0 >$B/alua/pg_b/alua_access_state
echo 2 >$B/alua/default_tg_pt_gp/alua_access_state
start=$(awk '{printf "%d", $1 * 1000}' /proc/uptime)
wait_for 150 sh -c "[ \"\$(dmsetup table $W | awk '{print \$14}')\" = \"$(cat /sys/block/$b/dev)\" ]"
took=$(($(awk '{printf "%d", $1 * 1000}' /proc/uptime) - start))
echo "# $a: $(state_of $a), $b: $(state_of $b); table: $(dmsetup table $W)"
expect_eq "regrouped: the new optimized port is group 1" "$(dm_groups $W)" "$(cat /sys/block/$b/dev)|$(cat /sys/block/$a/dev)"
echo "# regrouped $took ms after the swap"
sleep 2
st=$(dmsetup status $W); echo "# status: $st"
expect_eq "I/O runs on group 1 (the new optimized port)" "$(echo "$st" | awk '{print $10}')" A
set -- $(io_loop_stop)
echo "# write/verify loop: $1 rounds, $2 errors"
expect_eq "no I/O error across the ALUA change" "$2" 0
dmesg | grep "mpboot: .*reloaded" | sed 's/^/# /'
kill -TERM $(pidof @mpboot)
