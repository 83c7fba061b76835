# Hand-off: mpboot's maps, a mounted partition, a read/write loop running;
# then Debian's multipathd starts and adopts them. The loop sees no error,
# the maps keep their names and numbers, multipathd lists them.
. /lib/testlib.sh
modload crc32c_generic
modload ext4
scsi_debug_paths 3
wait_disks 3
W=1Linux_scsi_debug_2000
# Through the optimized path: the alua handler rejects I/O on standby ones.
ao=$(for d in sda sdb sdc; do [ "$(cat /sys/block/$d/device/access_state)" = active/optimized ] && echo $d; done)
sfdisk -q /dev/$ao <<'EOT'
label: gpt
start=2048, name=data
EOT
mkfs.ext4 -q -F /dev/${ao}1
mpboot assemble --all >/tmp/asm 2>&1
sed 's/^/# /' /tmp/asm
mount /dev/mapper/$W-part1 /mnt || notok "mount through the partition map"
mm=$(dmsetup info -c --noheadings -o major,minor $W)
pm=$(dmsetup info -c --noheadings -o major,minor $W-part1)
echo "# before: $(dmsetup table $W)"

# Write, sync and read back 256 KiB at a time, counting every error.
dd if=/dev/urandom of=/tmp/blob bs=64k count=4 2>/dev/null
(
    n=0 err=0
    while [ ! -e /tmp/stop ]; do
        cp /tmp/blob /mnt/f.$((n % 4)) && sync || err=$((err + 1))
        cmp -s /tmp/blob /mnt/f.$((n % 4)) || err=$((err + 1))
        echo 3 >/proc/sys/vm/drop_caches
        n=$((n + 1))
    done
    echo "$n $err" >/tmp/loop
) &
sleep 2

# config --root, as an image build would run it: the map under /mnt is
# recorded for mpboot and for multipath-tools' wwids file.
: >/etc/multipath/wwids
mpboot config --root --root-dir /mnt >/tmp/config.out 2>&1; rc=$?
sed 's/^/# config: /' /tmp/config.out
expect_eq "config --root exits 0" $rc 0
check "mpboot.conf records the LUN with its 3 paths" grep -q "^$W paths=3\$" /etc/mpboot.conf
check "the WWID is added to multipath's wwids file" grep -qx "/$W/" /etc/multipath/wwids
mpboot config --root --root-dir /mnt >/dev/null 2>&1
expect_eq "running it again adds nothing" "$(grep -c "/$W/" /etc/multipath/wwids)" 1
check "boot mode reads what config wrote" sh -c "echo mpboot.settle=100 mpboot.supervise=no >/tmp/cmdline; mpboot --cmdline /tmp/cmdline 2>&1 | grep -q 'from /etc'"

# multipathd with Debian's default find_multipaths strict: only the wwids
# entry written above keeps it from orphaning the paths.
# uid_attribute "": with no udevd, multipathd reads WWIDs from sysfs VPD
# itself (a real system has udev's ID_SERIAL); they must equal ours.
sed -i 's/find_multipaths no/find_multipaths strict\n    uid_attribute ""/' /etc/multipath.conf
peer_prepare
multipathd -d -v3 >/tmp/mpd.log 2>&1 &
adopted() { multipathd show maps raw format '%n %d' 2>/dev/null | grep -q "^$W dm-"; }
t0=$(awk '{printf "%d", $1 * 1000}' /proc/uptime)
wait_for 600 adopted
check "multipathd lists the map under the same name" adopted
echo "# adopted after $(($(awk '{printf "%d", $1 * 1000}' /proc/uptime) - t0)) ms"
sleep 5   # let multipathd finish whatever it does with the maps
echo "# after: $(dmsetup table $W)"
expect_eq "map keeps its maj:min" "$(dmsetup info -c --noheadings -o major,minor $W)" "$mm"
expect_eq "partition map keeps its maj:min" "$(dmsetup info -c --noheadings -o major,minor $W-part1)" "$pm"
expect_eq "UUID unchanged" "$(dmsetup info -c --noheadings -o uuid $W)" "mpath-$W"
touch /tmp/stop; wait %1 2>/dev/null; while [ ! -s /tmp/loop ]; do sleep 0.2; done
set -- $(cat /tmp/loop)
echo "# read/write loop: $1 rounds, $2 errors"
check "the loop ran across the hand-off" test "$1" -gt 5
expect_eq "the loop saw no error" "$2" 0
check "still mounted from the partition map" grep -q "^/dev/mapper/$W-part1 /mnt " /proc/mounts
grep -iE "wwid|flush|ACT_|orphan|reload|in use|remov" /tmp/mpd.log | grep -v "setting:" | head -30 | sed "s/^/# mpd: /"
check "multipathd neither orphaned nor tried to flush anything" sh -c "! grep -v 'setting:' /tmp/mpd.log | grep -qiE 'orphan|flush'"
multipathd shutdown >/dev/null 2>&1
umount /mnt
