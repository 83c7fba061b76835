# One scsi_debug LUN seen through 3 paths with ALUA states A/O, A/N, standby:
# list, assemble, check through the kernel's own view, I/O across a path
# failure, idempotence, reload, removal, and bad input.
. /lib/testlib.sh

scsi_debug_paths 3
wait_disks 3
W=1Linux_scsi_debug_2000

# The captured VPD pages behind tests/fixtures/vpd come from here.
for d in sda; do
    echo "# vpd_pg83 $d $(od -An -v -tx1 /sys/block/$d/device/vpd_pg83 | tr -d ' \n')"
done

mpboot list >/tmp/list 2>&1
sed 's/^/# /' /tmp/list
check "list shows one WWID with 3 paths" grep -q "^$W Linux scsi_debug size=16384 paths=3" /tmp/list
# No DM device at all yet: status shows nothing and succeeds (it once
# said "DM_LIST_DEVICES: malformed kernel reply").
expect_eq "no DM device yet" "$(ls /sys/block | grep -c '^dm-')" 0
mpboot status >/tmp/status 2>&1
expect_eq "status with no DM device: exit 0, nothing shown" "$? $(wc -c </tmp/status)" "0 0"

# Expected order from sysfs alone: A/O, A/N, standby.
by_state() {
    for d in /sys/block/sd*; do
        [ "$(cat $d/device/access_state)" = "$1" ] && cat $d/dev
    done
}
AO=$(by_state active/optimized); AN=$(by_state active/non-optimized); SB=$(by_state standby)
expect_eq "scsi_debug gives one path per ALUA state" "$(echo $AO $AN $SB | wc -w)" 3

mpboot assemble --all >/tmp/asm 2>&1
rc=$?
sed 's/^/# /' /tmp/asm
expect_eq "assemble --all exits 0" $rc 0
check "assemble reports the map created" grep -q "^created $W " /tmp/asm
expect_eq "kernel table: groups A/O, A/N, standby in that order" "$(dm_groups $W)" "$AO|$AN|$SB"
table=$(dmsetup table $W)
echo "# table: $table"
check "queue_if_no_path is on" sh -c "dmsetup table $W | grep -q ' multipath 1 queue_if_no_path 1 alua 3 1 service-time '"
expect_eq "DM UUID is mpath-WWID" "$(dmsetup info -c --noheadings -o uuid $W)" "mpath-$W"
st=$(dmsetup status $W); echo "# status: $st"
# Reading the partition table was the first I/O: it went to the A/O group.
expect_eq "group 1 active after assemble, the others enabled" "$(echo "$st" | awk '{print $10, $19, $28}')" "A E E"
mm=$(dmsetup info -c --noheadings -o major,minor $W)
check "/dev/mapper/$W is a block node" test -b /dev/mapper/$W
expect_eq "node has the map's numbers" "$(stat -c '%t:%T' /dev/mapper/$W | awk -F: '{printf "%d:%d", "0x"$1, "0x"$2}')" "$mm"
mpboot status >/tmp/status 2>&1
sed 's/^/# /' /tmp/status
check "status shows the map and its three groups" sh -c "grep -q '^$W ($mm)' /tmp/status && [ \$(grep -c '  group ' /tmp/status) = 3 ]"

# I/O: write a pattern, fail the active path, read it back through the map.
dd if=/dev/urandom of=/tmp/pat bs=64k count=32 2>/dev/null
check "write 2 MiB through the map" dd if=/tmp/pat of=/dev/mapper/$W bs=64k conv=fsync 2>/dev/null
expect_eq "I/O went to group 1 (A/O)" "$(dmsetup status $W | awk '{print $10, $19, $28}')" "A E E"
AO_NAME=$(basename $(dirname $(grep -l "^$AO\$" /sys/block/sd*/dev)))
echo offline >/sys/block/$AO_NAME/device/state
sync; echo 3 >/proc/sys/vm/drop_caches
check "read back identical with the active path offline" sh -c "dd if=/dev/mapper/$W bs=64k count=32 2>/dev/null | cmp -s - /tmp/pat"
st=$(dmsetup status $W); echo "# status after offline: $st"
check "kernel failed the offlined path" sh -c "echo '$st' | grep -q '$AO F 1'"

# Assemble again with a path offline: the table changes (path left out), in place.
mpboot assemble $W >/tmp/asm2 2>&1; sed 's/^/# /' /tmp/asm2
check "reassembly with a path down reloads in place" grep -q "^reloaded $W ($mm)" /tmp/asm2
check "and says which path was left out" grep -q "left out $AO_NAME: state offline" /tmp/asm2
expect_eq "reloaded table has 2 groups" "$(dm_groups $W)" "$AN|$SB"
echo running >/sys/block/$AO_NAME/device/state
mpboot assemble --all >/tmp/asm3 2>&1; sed 's/^/# /' /tmp/asm3
check "path back: reloaded again" grep -q "^reloaded $W ($mm)" /tmp/asm3
expect_eq "all three groups back" "$(dm_groups $W)" "$AO|$AN|$SB"
before=$(dmsetup table $W; dmsetup info $W)
mpboot assemble --all >/tmp/asm4 2>&1
check "assembling again changes nothing" grep -q "^unchanged $W ($mm)" /tmp/asm4
expect_eq "table and info identical" "$(dmsetup table $W; dmsetup info $W)" "$before"
check "data still intact after reloads" sh -c "dd if=/dev/mapper/$W bs=64k count=32 2>/dev/null | cmp -s - /tmp/pat"

# Target messages through DM_TARGET_MSG, like dmsetup message.
check "message fail_path" mpboot message $W fail_path $SB
check "kernel shows the path failed" sh -c "dmsetup status $W | grep -q '$SB F '"
check "message reinstate_path" mpboot message $W reinstate_path $SB
check "kernel shows it active again" sh -c "dmsetup status $W | grep -q '$SB A '"
expect_fail "a message the target refuses is an error" mpboot message $W no_such_message

# Removal: refused while open, done when closed, node gone.
exec 3</dev/mapper/$W
expect_fail "remove refuses an open map" mpboot remove $W
check "map still there" dmsetup info $W >/dev/null
exec 3<&-
check "remove succeeds once closed" mpboot remove $W
check "map gone from the kernel" sh -c "! dmsetup info $W >/dev/null 2>&1"
check "node gone" test ! -e /dev/mapper/$W

# Bad input: clear message, exit 1 (2 for usage), nothing created.
expect_fail "unknown WWID is an error" mpboot assemble 3600nonexistent
expect_eq "nothing was created" "$(dmsetup ls --target multipath)" "No devices found"
mpboot assemble >/dev/null 2>&1; expect_eq "assemble with no WWID is a usage error" $? 2
mpboot bogus >/dev/null 2>&1; expect_eq "unknown command is a usage error" $? 2
expect_fail "remove of a missing map is an error" mpboot remove nosuchmap
expect_fail "over-long name is refused" mpboot remove $(printf 'x%.0s' $(seq 200))
expect_fail "a --sysfs that is not a sysfs tree is an error" mpboot --sysfs /tmp list
echo offline >/sys/block/sda/device/state; echo offline >/sys/block/sdb/device/state; echo offline >/sys/block/sdc/device/state
expect_fail "all paths offline is an error for a named WWID" mpboot assemble $W
expect_eq "still nothing created" "$(dmsetup ls --target multipath)" "No devices found"
for d in sda sdb sdc; do echo running >/sys/block/$d/device/state; done

# A stale entry where the node goes is replaced; a symlink is not followed.
echo victim >/tmp/victim
ln -s /tmp/victim /dev/mapper/$W
check "assemble over a stale symlink" mpboot assemble $W
check "symlink replaced by a block node" sh -c "[ -b /dev/mapper/$W ] && [ ! -L /dev/mapper/$W ]"
expect_eq "symlink target untouched" "$(cat /tmp/victim)" victim
mpboot remove $W >/dev/null
# A stale node of a map that is gone (device-mapper's major) is replaced.
mknod /dev/mapper/$W b $(awk '$2 == "device-mapper" {print $1}' /proc/devices) 250
check "assemble over a stale device-mapper node" mpboot assemble $W
expect_eq "stale node replaced by the map's" "$(stat -c '%t:%T' /dev/mapper/$W)" \
    "$(dmsetup info -c --noheadings -o major,minor $W | awk -F: '{printf "%x:%x", $1, $2}')"
mpboot remove $W >/dev/null
# Anything else there is not ours: never unlinked, and no map half-made.
echo junk >/dev/mapper/$W
expect_fail "a regular file where the node goes is refused" mpboot assemble $W
expect_eq "the file is untouched" "$(cat /dev/mapper/$W)" junk
expect_eq "and no map was made" "$(dmsetup ls --target multipath)" "No devices found"
rm /dev/mapper/$W
mkdir /dev/mapper/$W
expect_fail "a directory where the node goes is refused" mpboot assemble $W
expect_eq "no map was made for it" "$(dmsetup ls --target multipath)" "No devices found"
rmdir /dev/mapper/$W
# A bindings alias 'control' would replace device-mapper's control node.
mkdir -p /tmp/ctl/multipath
echo "control $W" >/tmp/ctl/multipath/bindings
mpboot --etc /tmp/ctl assemble $W >/tmp/out 2>/tmp/err; rc=$?
sed 's/^/# /' /tmp/err
expect_eq "alias 'control': refused, the map keeps its WWID name" "$rc:$(dmsetup ls --target multipath | awk '{print $1}')" "0:$W"
check "alias 'control': says why" grep -q 'never called "control"' /tmp/err
check "control node still char 10:236" sh -c "[ \"\$(stat -c '%t:%T' /dev/mapper/control)\" = 'a:ec' ]"
mpboot remove $W >/dev/null

# No control node (no devtmpfs entry): mpboot makes it.
rm /dev/mapper/control
check "assemble recreates /dev/mapper/control" mpboot assemble --all
check "control is char 10:236" sh -c "[ \"\$(stat -c '%t:%T' /dev/mapper/control)\" = 'a:ec' ]"
# A DM device that is not a multipath map is never ours to show or remove.
check "create a non-multipath DM device" dmsetup create notours --table "0 128 error"
expect_fail "remove of a non-multipath device is refused" mpboot remove notours
check "remove --all" mpboot remove --all
check "non-multipath device survives remove --all" dmsetup info notours
expect_eq "no multipath maps left" "$(dmsetup ls --target multipath | grep -vc '^No devices')" 0
expect_eq "status shows nothing" "$(mpboot status)" ""
dmsetup remove notours
