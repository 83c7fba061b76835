# Array truth: paths ranked by what the array answers to REPORT TARGET
# PORT GROUPS, not by the kernel handler's copy in sysfs.
#  1. no ALUA handler in the image, port groups set after the scan:
#     first without the sg module too (the arrays asked through the
#     disks' own nodes), then with it;
#  2. the alua handler attached through dh_state once its module is there;
#  3. the start-up race: assemble the moment the disks appear;
#  4. the PREF bit: the same groups as Debian's multipath, and multipathd
#     adopting the map without a reload;
#  5. a non-ALUA handler (hp_sw, on a LIO LUN that calls itself an HP
#     MSA1000): asked per path, pg_init_retries 50.
# kernel-args: skipmod=scsi_dh_alua,sg
. /lib/testlib.sh
C=/sys/kernel/config/target

# ports LUN: the LIO targets exporting backstore LUN, in creation order.
ports() {
    for t in $C/loopback/naa.*; do
        [ -e "$t/tpgt_1/lun/lun_0/$1" ] && echo "$t"
    done
}
# disk_of TARGET: the sd disk the initiator sees through that target port.
disk_of() {
    h=$(cut -d: -f1 "$1/tpgt_1/address")
    for d in /sys/block/sd*; do
        l=$(basename "$(readlink "$d/device")")
        [ "${l%%:*}" = "$h" ] && basename "$d"
    done
}
# group LUN PORT-TARGET NAME ID STATE [PREF]: move a port into a new port
# group with an access state (0 A/O, 1 A/N, 2 standby) and PREF bit.
group() {
    g=$C/core/rd_mcp_0/$1/alua/$3
    mkdir -p "$g"
    echo "$4" >"$g/tg_pt_gp_id"
    echo "$5" >"$g/alua_access_state"
    echo "${6:-0}" >"$g/preferred"
    echo "$3" >"$2/tpgt_1/lun/lun_0/alua_tg_pt_gp"
}
wwid_of() { mpboot list 2>/dev/null | awk -v d="$1" '/^[0-9]/ {w = $1} $1 == d {print w}'; }
dev() { cat "/sys/block/$1/dev"; }

# 1. No ALUA handler: scsi_dh_alua was not loaded at boot and is hidden
# now, so nothing can attach it.
mod=$(tail -n 1 /lib/moddeps/scsi_dh_alua)
mkdir -p /root/hidden && mv "/lib/modules/$mod" /root/hidden/
lio_lun lun0 3
wait_for 600 test "$(nr_disks)" -ge 3
set -- $(ports lun0)
p0=$(disk_of $1) p1=$(disk_of $2) p2=$(disk_of $3)
group lun0 "$2" pg_n 11 1
group lun0 "$3" pg_s 12 2
echo "# ports: $p0 A/O (default group), $p1 A/N (11), $p2 standby (12)"
expect_eq "no handler attached to any path" "$(cat /sys/block/$p0/device/dh_state /sys/block/$p1/device/dh_state /sys/block/$p2/device/dh_state | sort -u)" detached
W=$(wwid_of $p0)
check "no sg module: no sg device for any path" sh -c '! ls /sys/class/scsi_generic/* >/dev/null 2>&1'
mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
check "no sg: it says the arrays are asked through the disks' own nodes" \
    grep -q "no sg node: arrays are asked through the disks' own nodes" /tmp/asm
expect_eq "no sg: groups follow the array: A/O, A/N, standby" "$(dm_groups $W)" "$(dev $p0)|$(dev $p1)|$(dev $p2)"
mpboot remove --all >/dev/null 2>&1
modload sg
mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
check "one line says the map follows the array with no handler" \
    grep -q "$W: ALUA LUN without a device handler, and alua cannot be attached" /tmp/asm
expect_eq "groups follow the array: A/O, A/N, standby" "$(dm_groups $W)" "$(dev $p0)|$(dev $p1)|$(dev $p2)"
check "the table names no handler" sh -c "dmsetup table $W | grep -q ' multipath 1 queue_if_no_path 0 3 1 '"
dd if=/dev/urandom of=/tmp/pat bs=64k count=32 2>/dev/null
check "write 2 MiB through the map" dd if=/tmp/pat of=/dev/mapper/$W bs=64k conv=fsync 2>/dev/null
echo offline >/sys/block/$p0/device/state
sync; echo 3 >/proc/sys/vm/drop_caches
check "read back identical with the optimized path offline" \
    sh -c "dd if=/dev/mapper/$W bs=64k count=32 2>/dev/null | cmp -s - /tmp/pat"
check "and writes still succeed" dd if=/tmp/pat of=/dev/mapper/$W bs=64k conv=fsync 2>/dev/null
st=$(dmsetup status $W); echo "# status: $st"
expect_eq "I/O moved to group 2 (A/N), not standby" "$(echo "$st" | awk '{print $10, $19}')" "E A"
mpboot remove --all >/dev/null 2>&1
echo running >/sys/block/$p0/device/state

# 2. Its module arrives late (not in the image at scan time, loaded now):
# mpboot attaches the handler through dh_state.
mv "/root/hidden/$mod" /lib/modules/ && modload scsi_dh_alua
mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
expect_eq "alua attached to all three paths" "$(cat /sys/block/$p0/device/dh_state /sys/block/$p1/device/dh_state /sys/block/$p2/device/dh_state | sort -u)" alua
check "the table names the alua handler" sh -c "dmsetup table $W | grep -q ' multipath 1 queue_if_no_path 1 alua 3 1 '"
expect_eq "same groups with the handler" "$(dm_groups $W)" "$(dev $p0)|$(dev $p1)|$(dev $p2)"
mpboot remove --all >/dev/null 2>&1

# 3. The start-up race: a LUN whose first port is standby and second A/O,
# assembled as soon as its disks exist, before anything settled.
n=$(nr_disks)
lio_lun lun1 2
set -- $(ports lun1)
echo 2 >$C/core/rd_mcp_0/lun1/alua/default_tg_pt_gp/alua_access_state
group lun1 "$2" pg_o 21 0
wait_for 600 test "$(nr_disks)" -ge $((n + 2))
q0=$(disk_of $1) q1=$(disk_of $2)
W1=$(wwid_of $q0)
said="$(cat /sys/block/$q0/device/access_state) $(cat /sys/block/$q1/device/access_state)"
mpboot assemble "$W1" >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
echo "# at assembly sysfs said $q0 $q1: $said; now: $(cat /sys/block/$q0/device/access_state) $(cat /sys/block/$q1/device/access_state)"
expect_eq "right groups on the first try: A/O port, then standby" "$(dm_groups $W1)" "$(dev $q1)|$(dev $q0)"
mpboot remove --all >/dev/null 2>&1

# 4. The PREF bit: a preferred A/N port group ranks above a plain A/O one,
# as multipath-tools ranks it (90 against 50). multipath-tools is set up
# as mpboot's defaults are (Debian's own entry for LIO is one group,
# no queueing), so that only the ranking can differ.
cat >>/etc/multipath.conf <<'EOT'
devices {
    device {
        vendor "LIO-ORG"
        product ".*"
        path_grouping_policy group_by_prio
        no_path_retry queue
    }
}
EOT
lio_lun lun2 2
set -- $(ports lun2)
group lun2 "$2" pg_p 31 1 1
# Implicit ALUA only, as most arrays: with explicit ALUA the kernel's
# handler, activating the first group, would send SET TARGET PORT GROUPS
# and LIO would make the preferred group optimized.
for g in default_tg_pt_gp pg_p; do echo 1 >$C/core/rd_mcp_0/lun2/alua/$g/alua_access_type; done
wait_for 600 test "$(nr_disks)" -ge $((n + 4))
r0=$(disk_of $1) r1=$(disk_of $2)
# Let the kernel's handler read the real states, for multipath, which
# reads them from sysfs: a rescan re-reads VPD 0x83 and the port group.
pref_seen() {
    [ "$(cat /sys/block/$r1/device/access_state)" = active/non-optimized ] &&
        [ "$(cat /sys/block/$r1/device/preferred_path)" = 1 ]
}
i=0
while [ $i -lt 10 ] && ! pref_seen; do
    echo 1 >/sys/block/$r0/device/rescan; echo 1 >/sys/block/$r1/device/rescan
    wait_for 20 pref_seen
    i=$((i + 1))
done
echo "# sysfs after $i rescans: $r0 $(cat /sys/block/$r0/device/access_state), $r1 $(cat /sys/block/$r1/device/access_state) pref $(cat /sys/block/$r1/device/preferred_path)"
check "the kernel's handler sees the preferred A/N group (for multipath)" pref_seen
W2=$(wwid_of $r0)
mpboot assemble "$W2" >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
expect_eq "preferred A/N first, A/O second" "$(dm_groups $W2)" "$(dev $r1)|$(dev $r0)"
ours=$(dmsetup table $W2)
mpboot remove --all >/dev/null 2>&1
peer_prepare
multipath -v3 "$W2" >/tmp/peer.out 2>&1
grep -E "prio = |prio =|sysfs prio|alua prio|path_grouping_policy" /tmp/peer.out | sed 's/^/# peer: /'
echo "# peer table: $(dmsetup table $W2)"
expect_eq "same groups as Debian's multipath" "$(dm_groups $W2)" "$(dev $r1)|$(dev $r0)"
# multipath leaves queueing to multipathd (features 0 until it runs).
expect_eq "same handler and groups in the table" "$(dmsetup table $W2 | sed 's/.* 1 alua //')" "$(echo "$ours" | sed 's/.* 1 alua //')"
multipath -F >/dev/null 2>&1
mpboot assemble "$W2" >/dev/null 2>&1
peer_prepare
# What udev's 11-dm-mpath.rules would have recorded for a ready map.
for d in /sys/block/dm-*; do echo "E:MPATH_DEVICE_READY=1" >"/run/udev/data/b$(cat "$d/dev")"; done
multipathd -d -v3 >/tmp/mpd.log 2>&1 &
adopted() { multipathd show maps raw format '%n %d' 2>/dev/null | grep -q "^$W2 dm-"; }
wait_for 600 adopted
check "multipathd adopts the map" adopted
sleep 2
grep "$W2: set ACT_" /tmp/mpd.log | sed 's/^/# mpd: /'
check "multipathd leaves it unchanged (ACT_NOTHING, no reload)" grep -q "$W2: set ACT_NOTHING (map unchanged)" /tmp/mpd.log
check "and never reloads it" sh -c "! grep -q '$W2: set ACT_RELOAD' /tmp/mpd.log"
expect_eq "the table is still ours" "$(dmsetup table $W2)" "$ours"
multipathd shutdown >/dev/null 2>&1
sleep 1
multipath -F >/dev/null 2>&1; mpboot remove --all >/dev/null 2>&1

# 5. hp_sw: LIO calling itself "COMPAQ MSA1000 VOLUME" with ALUA off, so
# the kernel attaches hp_sw (its vendor list), not alua.
modload scsi_dh_hp_sw
b=$C/core/rd_mcp_0/msa
mkdir -p "$b"
echo rd_pages=2048 >"$b/control"
cat /proc/sys/kernel/random/uuid >"$b/wwn/vpd_unit_serial"
echo COMPAQ >"$b/wwn/vendor_id"
echo "MSA1000 VOLUME" >"$b/wwn/product_id"
echo 1 >"$b/enable"
echo 0 >"$b/alua/default_tg_pt_gp/alua_access_type"
n=$(nr_disks)
for i in 0 1; do
    t=$C/loopback/naa.50014059$(printf '%07x' $i)0
    mkdir -p "$t/tpgt_1/lun/lun_0"
    echo "naa.50014059$(printf '%07x' $i)1" >"$t/tpgt_1/nexus"
    ln -s "$b" "$t/tpgt_1/lun/lun_0/msa"
done
wait_for 600 test "$(nr_disks)" -ge $((n + 2))
set -- $(ports msa)
s0=$(disk_of $1) s1=$(disk_of $2)
expect_eq "the kernel attached hp_sw" "$(cat /sys/block/$s0/device/dh_state)" hp_sw
W3=$(wwid_of $s0)
mpboot list 2>&1 | grep -A2 "^$W3" | sed 's/^/# /'
mpboot assemble "$W3" >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
check "each path asked by TUR: active (hp_sw priority 4)" grep -q "$s0 hp_sw:4, $s1 hp_sw:4\|$s1 hp_sw:4, $s0 hp_sw:4" /tmp/asm
echo "# table: $(dmsetup table $W3)"
check "hp_sw map: pg_init_retries 50, handler hp_sw" \
    sh -c "dmsetup table $W3 | grep -q ' multipath 3 queue_if_no_path pg_init_retries 50 1 hp_sw 1 1 '"
check "I/O through the hp_sw map" dd if=/tmp/pat of=/dev/mapper/$W3 bs=64k conv=fsync 2>/dev/null
mpboot remove --all >/dev/null 2>&1
