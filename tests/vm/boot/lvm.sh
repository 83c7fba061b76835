#!/usr/bin/env bash
# alone: it compares boot times with and without mpboot (3 s allowed for
# TCG noise); a neighbouring test's CPU would blur them.
# Ordinary machines with LVM roots, initramfs-tools and Debian's lvm2 (its
# hook and udev rules in the image), the images as mkinitramfs makes them:
# - root on LVM on a local disk (root=/dev/mapper/localvg-root): the image
#   with mpboot boots as fast as the same image without it (mpboot decides
#   at once that there is nothing to do), no failure logged;
# - root on LVM on the two-path disk (root=/dev/mapper/mpvg-root), with no
#   mpboot.conf: mpboot assembles the LUN holding the PV before LVM looks
#   for it, so root's PV is the multipath map (LVM's own `pvs` in the real
#   root says so) with both paths in it.
# The volume groups are made on the host with Debian's lvm2 on a loop
# device (no device-mapper needed: --driverloaded n), the root file system
# written into the logical volume's extents.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
export DEBIAN_FRONTEND=noninteractive LVM_SUPPRESS_FD_WARNINGS=1
command -v mkinitramfs >/dev/null || apt-get install -y -qq initramfs-tools >/dev/null
command -v lvm >/dev/null || apt-get install -y -qq --no-install-recommends lvm2 >/dev/null
D=$WORK/lvm
INITRD=$D/initrd.img
. "$(dirname "$0")/common.inc"

# LVM's own tools in the real root, to ask it where the PV is.
cp /sbin/lvm "$R/sbin/"
copy_libs "$R" /sbin/lvm
# make_lvm IMG VG: the whole disk a PV of VG, one LV "root" holding $R.
make_lvm() {
    local img=$1 vg=$2 loop conf
    rm -f "$img"
    truncate -s 64M "$img"
    loop=$(losetup -f --show "$img")
    conf="devices { filter=[\"a|^$loop\$|\",\"r|.*|\"] use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 }"
    lvm pvcreate -q --config "$conf" "$loop" &&
        lvm vgcreate -q --config "$conf" "$vg" "$loop" &&
        lvm lvcreate -q --driverloaded n --config "$conf" -an -Zn -n root -l 100%FREE "$vg" 2>/dev/null
    local pe_start size
    pe_start=$(lvm pvs --config "$conf" --noheadings --units s --nosuffix -o pe_start "$loop" | tr -d ' ')
    size=$(lvm lvs --config "$conf" --noheadings --units s --nosuffix -o lv_size "$vg/root" | tr -d ' ')
    losetup -d "$loop"
    truncate -s $((size * 512)) "$D/lv.img"
    mkfs.ext4 -q -F -d "$R" "$D/lv.img"
    dd if="$D/lv.img" of="$img" bs=512 seek="$pe_start" conv=notrunc status=none
    rm "$D/lv.img"
}
make_lvm "$D/mp.img" mpvg
make_lvm "$D/single.img" localvg

# Two images: Debian's configuration with and without mpboot's hook and
# script; lvm2's hook comes from the installed package in both. No
# mpboot.conf: nothing names a LUN, as on a machine never configured.
C=$D/conf
rm -rf "$C" "$D/plain"
cp -a /etc/initramfs-tools "$C"
cp -a /etc/initramfs-tools "$D/plain"
cp "$REPO/initramfs-tools/hooks/mpboot" "$C/hooks/"
mkdir -p "$C/scripts/local-top"
cp "$REPO/initramfs-tools/scripts/local-top/mpboot" "$C/scripts/local-top/"
: >"$D/empty.conf"
MPBOOT_BIN=$BIN MPBOOT_CONF=$D/empty.conf MPBOOT_DATA=$REPO/hooks-lib mkinitramfs -d "$C" -o "$D/initrd.img" "$KVER" 2>"$D/mk.err" ||
    { echo "not ok - mkinitramfs (mpboot) failed: $(tail -3 "$D/mk.err")"; exit 0; }
mkinitramfs -d "$D/plain" -o "$D/plain.img" "$KVER" 2>"$D/mk2.err" ||
    { echo "not ok - mkinitramfs (plain) failed: $(tail -3 "$D/mk2.err")"; exit 0; }
lsinitramfs "$D/initrd.img" >"$D/contents"
check "the image holds mpboot and lvm" "grep -qE '^(usr/)?sbin/mpboot\$' '$D/contents' && grep -qE '^(usr/)?sbin/lvm\$' '$D/contents'"

uptime_of() { sed -n 's/^ROOT-UPTIME //p' "$D/$1.log" | head -1; }
# Seconds from mpboot's first line to its decision, by the kernel log's clock.
decided_in() {
    sed -n 's/^GUEST-LOG \[ *\([0-9.]*\)\] mpboot: .*/\1/p' "$D/$1.log" |
        awk 'NR == 1 {a = $1} {b = $1} END {if (NR) printf "%.2f", b - a; else print "none"}'
}
# LVM on the local disk: the same boot with and without mpboot, twice
# each, alternating, so that a slow moment of the host hits both alike.
BOOT_SETTLE=
for round in 1 2; do
    INITRD=$D/plain.img boot plain$round 0 /dev/mapper/localvg-root
    INITRD=$D/initrd.img boot local$round 0 /dev/mapper/localvg-root
done
for n in plain1 local1; do
    check "$n: booted from the local LV" "grep -q ROOT-INIT-DONE '$D/$n.log' && [ '$(rootsrc $n)' = /dev/mapper/localvg-root ]"
done
check "local LVM root: mpboot decided at once that it has nothing to do" \
    "grep -q 'mpboot: root=/dev/mapper/localvg-root is not a multipath map name, and no multipath disk is here: nothing to do' '$D/local1.log'"
check "local LVM root: its PV is the local disk (LVM's pvs)" "[ '$(said local1 ROOT-PV-OF-localvg)' = /dev/sda ]"
check "local LVM root: no failure logged" "! grep -qiE 'mpboot.*(fail|error|gave up)' '$D/local1.log' '$D/local2.log'"
d1=$(decided_in local1) d2=$(decided_in local2)
check "local LVM root: mpboot's decision took under 0.5 s ($d1 s, $d2 s)" \
    "awk -v a='$d1' -v b='$d2' 'BEGIN { exit !(a + 0 < 0.5 && b + 0 < 0.5 && a != \"none\") }'"
# The whole boot, best of two each: what the old 30 s wait would show.
# TCG's own noise between two boots of one image reaches 2-3 s here.
p=$(printf '%s\n' "$(uptime_of plain1)" "$(uptime_of plain2)" | sort -n | head -1)
m=$(printf '%s\n' "$(uptime_of local1)" "$(uptime_of local2)" | sort -n | head -1)
echo "# local LVM root: /sbin/init reached at ${p:-?} s without mpboot, ${m:-?} s with it (best of two)"
check "local LVM root: boot time as without mpboot (${m:-?} s vs ${p:-?} s, TCG noise 3 s)" \
    "awk -v m='${m:-999}' -v p='${p:-0}' 'BEGIN { exit !(m <= p + 3) }'"

# LVM on the two-path disk, nothing configured.
boot lvmp 2 /dev/mapper/mpvg-root
check "LVM on the multipath disk: booted from the LV" "grep -q ROOT-INIT-DONE '$D/lvmp.log' && [ '$(rootsrc lvmp)' = /dev/mapper/mpvg-root ]"
check "LVM on the multipath disk: mpboot assembled the LUN holding the PV" \
    "grep -q 'LVM2/LUKS on multipath LUN(s) $W: assembling those' '$D/lvmp.log'"
check "LVM on the multipath disk: root's PV is the multipath map (LVM's pvs)" "[ '$(said lvmp ROOT-PV-OF-mpvg)' = mpath-$W ]"
check "LVM on the multipath disk: both paths in the map" "[ '$(paths lvmp)' = 2 ]"
