# Several LUNs through several paths, scsi_debug (T10 WWIDs, ALUA) and LIO
# (NAA-6 WWIDs): one map each, and mpboot's WWIDs and grouping equal what
# Debian's multipath builds for the same devices in the same boot.
. /lib/testlib.sh

# 4 hosts x 2 LUNs: ALUA state is host mod 3, so hosts 0 and 3 are both A/O.
scsi_debug_paths 4 max_luns=2
lio_lun lio0 2
wait_disks 10

lio=$(ls -d /sys/block/sd* | while read -r d; do
    [ "$(cat $d/device/vendor)" = "LIO-ORG " ] && basename $d; done | head -n1)
echo "# vpd_pg83 lio $(od -An -v -tx1 /sys/block/$lio/device/vpd_pg83 | tr -d ' \n')"

mpboot list >/tmp/list 2>&1
sed 's/^/# /' /tmp/list
expect_eq "list: 3 WWIDs" "$(grep -c '^[0-9]' /tmp/list)" 3
check "scsi_debug LUN 0 has 4 paths" grep -q '^1Linux_scsi_debug_2000 .* paths=4' /tmp/list
check "scsi_debug LUN 1 has 4 paths" grep -q '^1Linux_scsi_debug_2001 .* paths=4' /tmp/list
check "LIO LUN has an NAA-6 WWID and 2 paths" grep -qE '^36001405[0-9a-f]{25} LIO-ORG .* paths=2' /tmp/list

mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
expect_eq "one map per LUN" "$(grep -c '^created ' /tmp/asm)" 3
expect_eq "3 multipath maps in the kernel" "$(dmsetup ls --target multipath | wc -l)" 3
all_groups | sed 's/^/# mpboot default: /'
mpboot remove --all >/dev/null

peer_prepare
for pol in failover group_by_prio multibus; do
    ours=$(echo $pol | tr _ -)
    mpboot assemble --all --policy "$ours" >/dev/null 2>&1
    all_groups >/tmp/ours
    mpboot remove --all >/dev/null
    multipath -p $pol -v0 >/tmp/peer.out 2>&1
    all_groups >/tmp/peer
    multipath -F >/dev/null 2>&1
    sed "s/^/# peer $pol: /" /tmp/peer
    [ -s /tmp/peer ] || notok "multipath built nothing: $(cat /tmp/peer.out)"
    expect_eq "same names and groups as multipath -p $pol" "$(cat /tmp/ours)" "$(cat /tmp/peer)"
done
expect_eq "everything removed" "$(dmsetup ls --target multipath)" "No devices found"

# multipath's default (no -p): failover for scsi_debug, its hwtable's
# group_by_prio for LIO. Tables compared field by field, not as strings.
multipath -v0 >/dev/null 2>&1
for m in $(dmsetup ls --target multipath | awk '{print $1}'); do
    echo "# peer default table $m: $(dmsetup table $m)"
done
# mpboot status reads maps it did not make.
mpboot status >/tmp/status 2>&1
sed 's/^/# /' /tmp/status
expect_eq "status shows multipath's 3 maps" "$(grep -c '^[0-9].* size=16384 ' /tmp/status)" 3
expect_eq "with 10 paths, all active" "$(grep -c '^    sd.* active ' /tmp/status)" 10
mpboot assemble --all --policy failover --no-queue >/tmp/asm 2>&1
expect_eq "assemble over multipath's scsi_debug maps (same failover layout) leaves them alone" \
    "$(grep -c '^unchanged 1Linux' /tmp/asm)" 2
multipath -F >/dev/null 2>&1
