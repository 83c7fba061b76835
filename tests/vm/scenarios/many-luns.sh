# 64 LUNs x 2 paths: one map each, status over all of them (DM replies that
# outgrow the first buffer), removal of all.
. /lib/testlib.sh

modload scsi_debug add_host=2 num_tgts=16 max_luns=4 vpd_use_hostno=0 dev_size_mb=4
wait_disks 128
sleep 1
expect_eq "128 disks" "$(nr_disks)" 128
expect_eq "list: 64 WWIDs with 2 paths each" "$(mpboot list | grep -c '^1Linux_scsi_debug_[0-9]* .* paths=2$')" 64
mpboot assemble --all >/tmp/asm 2>&1
expect_eq "assemble --all exits 0" $? 0
expect_eq "64 maps created" "$(grep -c '^created ' /tmp/asm)" 64
expect_eq "kernel has 64 multipath maps" "$(dmsetup ls --target multipath | wc -l)" 64
expect_eq "each map's UUID is mpath-<name>" \
    "$(dmsetup info -c --noheadings -o name,uuid --separator ' ' | awk '$2 != "mpath-" $1' | wc -l)" 0
mpboot status >/tmp/status 2>&1
expect_eq "status shows 64 maps" "$(grep -c '^1Linux_scsi_debug_' /tmp/status)" 64
expect_eq "status shows 128 active paths" "$(grep -c '^    sd.* active ' /tmp/status)" 128
expect_eq "64 nodes in /dev/mapper" "$(ls /dev/mapper | grep -c '^1Linux')" 64
mpboot assemble --all >/tmp/asm2 2>&1; head -3 /tmp/asm2 | sed "s/^/# /"
expect_eq "again: 64 unchanged" "$(grep -c '^unchanged ' /tmp/asm2)" 64
check "remove --all" mpboot remove --all
expect_eq "no maps left" "$(dmsetup ls --target multipath)" "No devices found"
expect_eq "no nodes left" "$(ls /dev/mapper)" control
