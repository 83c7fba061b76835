# root= selection at boot: a GPT disk with an ext4 root partition behind 2
# paths (scsi_debug); a second multipath LUN (LIO, 2 paths) that must be
# left alone; a single-path disk (LIO). Each root= form assembles exactly
# the root LUN and its partitions, and the file system mounts through
# /dev/mapper and reads back. Root on the single-path LUN: a one-path map.
# Root nowhere: a clear error in time, unless a multipath disk carries
# LUKS/LVM (root may be inside): then that disk is assembled.
. /lib/testlib.sh
modload crc32c_generic
modload ext4
modload scsi_debug add_host=2 vpd_use_hostno=0 dev_size_mb=16
lio_lun other 2
lio_lun single 1
wait_disks 5
W=1Linux_scsi_debug_2000
p=$(disk_at 0:0:0:0)
set -- $(lio_disks other); o=$1
s=$(lio_disks single)
echo "# root path $p, other LUN path $o, single-path disk $s"

sfdisk -q /dev/$p <<'EOT'
label: gpt
start=2048, size=4096, name=boot
start=6144, name=rootfs
EOT
sfdisk -q /dev/$o <<'EOT'
label: gpt
start=2048, name=data
EOT
sfdisk -q /dev/$s <<'EOT'
label: gpt
start=2048, name=single
EOT
mkfs.ext4 -q -F -L myroot /dev/${p}2 && mkfs.ext4 -q -F -L other /dev/${o}1 && mkfs.ext4 -q -F -L single /dev/${s}1
check "file systems made" test $? = 0
mount /dev/${p}2 /mnt && echo "root file system proof" >/mnt/proof && umount /mnt
U=$(blkid -s UUID -o value /dev/${p}2)
PU=$(blkid -s PARTUUID -o value /dev/${p}2)
SU=$(blkid -s UUID -o value /dev/${s}1)
OW=$(mpboot list | awk '/^36001405/ && / paths=2/ {print $1}')
echo "# root UUID $U PARTUUID $PU; single-path UUID $SU; other LUN $OW"

boot() {
    # The supervisor boot mode starts by default is boot-blip's subject.
    echo "$1 mpboot.supervise=no" >/tmp/cmdline
    mpboot --cmdline /tmp/cmdline --etc /tmp/none >/tmp/boot.out 2>/tmp/boot.err
}
for r in "UUID=$U" "PARTUUID=$PU" "LABEL=myroot" "PARTLABEL=rootfs" \
         "/dev/disk/by-uuid/$U" "/dev/disk/by-id/dm-uuid-part2-mpath-$W" \
         "/dev/disk/by-id/scsi-$W-part2" "/dev/${p}2" "/dev/mapper/$W-part2"; do
    boot "root=$r mpboot.settle=300"; rc=$?
    expect_eq "root=$r: exit 0" $rc 0
    expect_eq "root=$r: exactly the root LUN and its 2 partitions" \
        "$(dmsetup ls | awk '{print $1}' | sort | tr '\n' ' ')" "$W $W-part1 $W-part2 "
    check "root=$r: source logged" grep -q "root is on multipath LUN $W" /tmp/boot.err
    expect_eq "root=$r: root device recorded for the initramfs" "$(cat /run/mpboot/root)" "/dev/mapper/$W-part2"
    rm -f /run/mpboot/root
    mpboot remove --all >/dev/null
done

# Root's own map made, another named LUN missing: exit 1 for the missing
# one, but root is recorded, so the initramfs mounts it from the map.
boot "root=PARTUUID=$PU mpboot.wwid=$W,36001405deadbeef mpboot.wait=2"; rc=$?
sed 's/^/# /' /tmp/boot.err
expect_eq "root's LUN made, another missing: exit 1" $rc 1
expect_eq "root's LUN made, another missing: root still recorded" "$(cat /run/mpboot/root 2>/dev/null)" "/dev/mapper/$W-part2"
rm -f /run/mpboot/root
mpboot remove --all >/dev/null

boot "root=UUID=$U"
mount -o ro /dev/mapper/$W-part2 /mnt
expect_eq "root mounts through /dev/mapper and reads back" "$(cat /mnt/proof)" "root file system proof"
umount /mnt
mpboot remove --all >/dev/null

# The single-path LIO LUN is an array's (ALUA): one path so far gets the
# settle window, then a one-path map that later paths can join. Local
# disks: see boot-late-path.
SW=$(mpboot list | awk '/^36001405/ && / paths=1/ {print $1}')
boot "root=UUID=$SU mpboot.wait=20 mpboot.settle=500"; rc=$?
sed 's/^/# /' /tmp/boot.err
expect_eq "root on a single-path array LUN: exit 0" $rc 0
check "root on a single-path array LUN: a one-path map, and says so" \
    grep -q "$SW: one path so far ($s, array LUN)" /tmp/boot.err
expect_eq "root on a single-path array LUN: root recorded as its partition map" \
    "$(cat /run/mpboot/root)" "/dev/mapper/$SW-part1"
expect_eq "root on a single-path array LUN: only that LUN's maps" \
    "$(dmsetup ls | awk '{print $1}' | sort | tr '\n' ' ')" "$SW $SW-part1 "
rm -f /run/mpboot/root
mpboot remove --all >/dev/null

boot "root=UUID=00000000-1111-2222-3333-444444444444 mpboot.wait=2"; rc=$?
sed 's/^/# /' /tmp/boot.err
expect_eq "root nowhere: exit 1" $rc 1
check "root nowhere: clear message" grep -q "gave up after 2 s waiting for root" /tmp/boot.err
expect_eq "root nowhere: no maps" "$(dmsetup ls)" "No devices found"

# LUKS on the other multipath LUN's partition: root may be inside it.
printf 'LUKS\272\276' | dd of=/dev/${o}1 conv=notrunc,fsync 2>/dev/null
boot "root=UUID=00000000-1111-2222-3333-444444444444 mpboot.wait=2"; rc=$?
sed 's/^/# /' /tmp/boot.err
expect_eq "root inside LUKS: exit 0" $rc 0
check "root inside LUKS: says why" grep -q "LVM2/LUKS on multipath LUN(s) $OW" /tmp/boot.err
check "root inside LUKS: that LUN assembled" dmsetup info $OW
check "root inside LUKS: the scsi_debug LUN was not" sh -c "! dmsetup info $W >/dev/null 2>&1"
mpboot remove --all >/dev/null
