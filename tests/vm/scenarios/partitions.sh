# Partition maps (kpartx's job): MBR with logical partitions (also chained
# backwards on the disk, with EBRs in DR-DOS order, and with two extended
# partitions) and GPT with 4
# partitions map with the right offsets and sizes (bytes compared with the
# raw disk), with the same names, UUIDs and tables as Debian's kpartx; a
# corrupt primary GPT falls back to the backup; a table that is gone in
# both copies touches nothing; removal takes partition maps first.
. /lib/testlib.sh

scsi_debug_paths 2
wait_disks 2
W=1Linux_scsi_debug_2000
M=/dev/mapper/$W
# Random content everywhere, so that every range compares meaningfully.
dd if=/dev/urandom of=/dev/sda bs=1M count=8 2>/dev/null
# Entries after the extended one are logical (5, 6).
sfdisk -q /dev/sda <<'EOT' 2>&1 | sed 's/^/# sfdisk: /'
label: dos
start=2048, size=2048, type=83
start=14336, size=2048, type=83
start=4096, size=10240, type=5
start=6144, size=1024, type=83
start=10240, size=2048, type=83
EOT
check "sfdisk wrote an MBR with an extended partition" test -e /sys/block/sda/sda6

# same_bytes_on DISK MAPNAME START SIZE: the partition map reads what DISK
# has there; same_bytes: on the path sda.
same_bytes_on() {
    a=$(dd if=/dev/mapper/$2 bs=512 2>/dev/null | md5sum | cut -d' ' -f1)
    b=$(dd if=$1 bs=512 skip=$3 count=$4 2>/dev/null | md5sum | cut -d' ' -f1)
    n=$(($(blockdev --getsz /dev/mapper/$2)))
    [ "$a" = "$b" ] && [ "$n" = "$4" ]
}
same_bytes() { same_bytes_on /dev/sda "$@"; }
# like_kernel N: partition map N reads what the kernel's sdaN (same table,
# parsed by the kernel through the path) had, as recorded before assembly
# (assembling removes the paths' own partitions).
for n in 1 2 5 6; do
    echo "$(cat /sys/block/sda/sda$n/start) $(cat /sys/block/sda/sda$n/size)" >/tmp/kpart$n
done
like_kernel() {
    same_bytes $W-part$1 $(cat /tmp/kpart$1)
}
# part_maps: "name uuid table" of every partition map, sorted.
part_maps() {
    for n in $(dmsetup ls | awk '/-part[0-9]/ {print $1}' | sort); do
        echo "$n $(dmsetup info -c --noheadings -o uuid $n) $(dmsetup table $n)"
    done
}

mpboot assemble --all >/tmp/asm 2>&1; rc=$?
sed 's/^/# /' /tmp/asm
expect_eq "assemble exits 0" $rc 0
check "the paths' own partitions are gone" sh -c "! ls -d /sys/block/sd[ab]/sd[ab][0-9]* 2>/dev/null"
check "and it said so, in one line" grep -q "removed the paths' own partitions (the map's are used): sda1, " /tmp/asm
check "part1 maps the right bytes" same_bytes $W-part1 2048 2048
check "part2 maps the right bytes" same_bytes $W-part2 14336 2048
check "part5 (logical) maps what the kernel's sda5 has" like_kernel 5
check "part6 (logical) maps what the kernel's sda6 has" like_kernel 6
expect_eq "UUID of part5" "$(dmsetup info -c --noheadings -o uuid $W-part5)" "part5-mpath-$W"
check "nodes made for partition maps" test -b /dev/mapper/$W-part6
part_maps >/tmp/ours
sed 's/^/# mpboot: /' /tmp/ours

# same_as_kpartx WHAT N: mpboot's N partition maps (in /tmp/ours) equal
# what Debian's kpartx makes on the same map; kpartx's are removed again.
same_as_kpartx() {
    mpboot remove $W >/dev/null
    mpboot assemble --all --no-partitions >/dev/null
    kpartx -a -p -part $M
    part_maps >/tmp/peer
    sed 's/^/# kpartx: /' /tmp/peer
    expect_eq "$1: mpboot made $2 partition maps" "$(wc -l </tmp/ours)" "$2"
    expect_eq "$1: same partition maps as kpartx -p -part" "$(cat /tmp/ours)" "$(cat /tmp/peer)"
    kpartx -d -p -part $M
    check "$1: kpartx removed its maps" test -z "$(part_maps)"
}
peer_prepare
same_as_kpartx "MBR (1, 2, 3 extended, 5, 6)" 5

# Logical partitions out of disk order: sfdisk links the EBRs in the order
# given, so the chain goes backwards on the disk. The kernel and kpartx
# map 5, 6, 7 as listed; so must mpboot (it once refused the whole table).
sfdisk -q --no-reread $M <<'EOT' 2>&1 | sed 's/^/# sfdisk: /'
label: dos
start=2048, size=2048, type=83
start=4096, size=12288, type=5
start=12288, size=1024, type=83
start=9216, size=1024, type=83
start=6144, size=1024, type=83
EOT
sfdisk -d $M | sed 's/^/# /'
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "MBR chain going backwards: exit 0" $rc 0
check "backwards chain: part5 maps 12288+1024" same_bytes_on $M $W-part5 12288 1024
check "backwards chain: part6 maps 9216+1024" same_bytes_on $M $W-part6 9216 1024
check "backwards chain: part7 maps 6144+1024" same_bytes_on $M $W-part7 6144 1024
part_maps >/tmp/ours
same_as_kpartx "MBR chain going backwards (1, 2 extended, 5, 6, 7)" 5

# What the kernel's parser and kpartx accept beyond sfdisk's layout,
# written byte by byte: an EBR with its link first and data second
# (DR-DOS), a type-0 primary entry with a size, a second extended
# partition whose logical numbers run on, garbage in an EBR's third entry.
le32() {
    for sh in 0 8 16 24; do printf "\\$(printf %03o $((($1 >> sh) & 255)))"; done
}
mbr_entry() { # mbr_entry DEV LBA SLOT TYPE START SIZE
    { printf '\000\000\000\000'; printf "\\$(printf %03o $4)"; printf '\000\000\000'
      le32 $5; le32 $6; } | dd of=$1 bs=1 seek=$(($2 * 512 + 446 + 16 * $3)) conv=notrunc 2>/dev/null
    printf '\125\252' | dd of=$1 bs=1 seek=$(($2 * 512 + 510)) conv=notrunc 2>/dev/null
}
for lba in 0 6144 8192 10240; do dd if=/dev/zero of=$M bs=512 seek=$lba count=1 conv=notrunc 2>/dev/null; done
mbr_entry $M 0 0 131 2048 2048
mbr_entry $M 0 1 0 4096 1024
mbr_entry $M 0 2 5 6144 4096
mbr_entry $M 6144 0 5 2048 2048
mbr_entry $M 6144 1 131 64 512
mbr_entry $M 8192 0 131 64 256
sync
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "DR-DOS EBR, type-0 entry: exit 0" $rc 0
check "type-0 primary entry: part2 maps 4096+1024" same_bytes_on $M $W-part2 4096 1024
check "link-first EBR: part5 maps 6208+512" same_bytes_on $M $W-part5 6208 512
check "next EBR: part6 maps 8256+256" same_bytes_on $M $W-part6 8256 256
part_maps >/tmp/ours
same_as_kpartx "MBR with a link-first EBR and a type-0 entry (1, 2, 3 extended, 5, 6)" 5
# A second extended partition, and garbage outside its EBR in the first
# EBR's third entry: the kernel follows every extended partition's chain,
# numbering on (7), and skips such garbage. (kpartx names that logical
# partition p8; mpboot keeps the kernel's numbers, which root=/dev/sdX7
# and the paths' own partitions used.)
mbr_entry $M 0 3 15 10240 4096
mbr_entry $M 10240 0 131 64 128
mbr_entry $M 6144 2 131 9000 100
sync
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "two extended partitions: exit 0" $rc 0
check "second extended partition: part7 maps 10304+128" same_bytes_on $M $W-part7 10304 128
check "garbage outside its EBR: no part8" sh -c "! dmsetup info $W-part8 >/dev/null 2>&1"
check "and part5 still maps 6208+512" same_bytes_on $M $W-part5 6208 512

# GPT with 4 partitions, written through the map as an admin would.
sfdisk -q --no-reread $M <<'EOT' 2>/dev/null
label: gpt
start=2048, size=2048, name=one
start=4096, size=4096, name=two
start=8192, size=2048, name=three
start=10240, size=4096, name=four
EOT
mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
check "GPT part2 maps the right bytes" same_bytes $W-part2 4096 4096
check "GPT part4 maps the right bytes" same_bytes $W-part4 10240 4096
part_maps >/tmp/ours
same_as_kpartx GPT 4
mpboot assemble --all >/dev/null 2>&1

# A changed table: partitions that are gone are removed, others reloaded.
sfdisk -q --no-reread --delete $M 4 2>/dev/null
mpboot assemble --all >/tmp/asm 2>&1; sed 's/^/# /' /tmp/asm
check "deleted partition's map removed" grep -q "removed $W-part4: no longer in the partition table" /tmp/asm
check "the others unchanged" grep -q "unchanged $W-part2" /tmp/asm

# Corrupt primary GPT header: the backup is used.
dd if=/dev/zero of=$M bs=512 seek=1 count=1 conv=fsync 2>/dev/null
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "corrupt primary GPT: exit 0" $rc 0
check "backup GPT: part3 still mapped right" same_bytes $W-part3 8192 2048
# Both copies gone behind a protective MBR: an error; the maps stay as they were.
before=$(part_maps)
last=$(($(blockdev --getsz $M) - 1))
dd if=/dev/zero of=$M bs=512 seek=$last count=1 conv=fsync 2>/dev/null
expect_fail "no valid GPT left is an error" mpboot assemble --all
expect_eq "partition maps untouched" "$(part_maps)" "$before"

# Removal: a partition in use keeps everything; closed, all goes.
exec 3<$M-part1 || notok "cannot open $M-part1"
expect_fail "remove refuses while a partition map is open" mpboot remove $W
expect_eq "nothing removed" "$(part_maps)" "$before"
exec 3<&-
check "remove takes partition maps first" mpboot remove $W
expect_eq "no DM devices left" "$(dmsetup ls)" "No devices found"
check "no partition nodes left" test -z "$(ls /dev/mapper | grep part)"
