#!/usr/bin/env bash
# Debian's own initramfs generator with mpboot's hooks: a VM whose root
# file system is on a GPT partition of a disk seen through two paths (two
# scsi-hd devices on two virtio-scsi controllers, one image file, one wwn
# and serial) boots with root=PARTUUID=..., / mounted from the multipath
# partition map with both paths in the map. Again with one path missing
# (degraded, said so); with the supervisor on and a path unplugged after
# boot through QEMU's monitor (see unplug_checks); and with root on a disk
# that is not multipath.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
command -v mkinitramfs >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq initramfs-tools >/dev/null
}
D=$WORK/itools
INITRD=$D/initrd.img
. "$(dirname "$0")/common.inc"

# The image: Debian's configuration plus our hook and local-top script.
C=$D/conf
cp -a /etc/initramfs-tools "$C"
cp "$REPO/initramfs-tools/hooks/mpboot" "$C/hooks/"
mkdir -p "$C/scripts/local-top"
cp "$REPO/initramfs-tools/scripts/local-top/mpboot" "$C/scripts/local-top/"
echo "$W paths=2" >"$D/mpboot.conf"
# Built as on a host with native NVMe multipath off (see NVME_SYSFS).
MPBOOT_BIN=$BIN MPBOOT_CONF=$D/mpboot.conf MPBOOT_DATA=$REPO/hooks-lib MPBOOT_SYSFS=$NVME_SYSFS mkinitramfs -d "$C" -o "$D/initrd.img" "$KVER" 2>"$D/mkinitramfs.err" \
    || { echo "not ok - mkinitramfs failed: $(tail -3 "$D/mkinitramfs.err")"; exit 0; }
echo "ok - mkinitramfs built an image with mpboot ($(du -k "$D/initrd.img" | cut -f1) KiB)"
lsinitramfs "$D/initrd.img" >"$D/contents"
grep -qE '^(usr/)?sbin/mpboot$' "$D/contents" \
    && echo "ok - the image holds mpboot" || echo "not ok - mpboot missing from the image"
check "the image holds the NVMe PCIe and TCP drivers" \
    "grep -q '/nvme\.ko' '$D/contents' && grep -q '/nvme-tcp\.ko' '$D/contents'"
mkdir -p "$D/x" && (cd "$D/x" && unmkinitramfs "$D/initrd.img" . 2>/dev/null)
check "the image's modprobe.d turns native NVMe multipath off, as on the host" \
    "grep -rqx 'options nvme_core multipath=N' '$D/x'/*/etc/modprobe.d/mpboot-nvme.conf '$D/x'/etc/modprobe.d/mpboot-nvme.conf 2>/dev/null"
rm -rf "$D/x"

boot two 2 "PARTUUID=$PU"
check "two paths: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/two.log'"
check "two paths: / is the multipath partition map" "[ '$(rootsrc two)' = /dev/mapper/$W-part1 ]"
check "two paths: both paths are in the map" "[ '$(paths two)' = 2 ]"

boot one 1 "PARTUUID=$PU"
check "one path: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/one.log'"
check "one path: / is still the partition map" "[ '$(rootsrc one)' = /dev/mapper/$W-part1 ]"
check "one path: said it is degraded" "grep -q '1 of 2 expected paths' '$D/one.log'"

boot unplug 2 "PARTUUID=$PU" "rw mpboot.supervise=yes mptest=unplug"
unplug_checks unplug

boot other 2 "PARTUUID=$SU"
check "root on a single-path disk: booted" "grep -q ROOT-INIT-DONE '$D/other.log'"
check "root on a single-path disk: / is that disk" "case '$(rootsrc other)' in /dev/sd*1|/dev/disk/*) true;; *) false;; esac"

# Root on NVMe (QEMU's PCIe subsystem, two controllers), native NVMe
# multipath off through the image's modprobe.d alone: the kernel command
# line does not say it. The image names the namespace's LUN, as
# config --root writes it on such a host.
make_disk "$D/nv.img" nvroot
NU=$(sfdisk --part-uuid "$D/nv.img" 1 | tr A-F a-f)
echo "$NVME_WWID paths=2" >"$D/nvme.conf"
INITRD=$D/nvme.img
MPBOOT_BIN=$BIN MPBOOT_CONF=$D/nvme.conf MPBOOT_DATA=$REPO/hooks-lib MPBOOT_SYSFS=$NVME_SYSFS \
    mkinitramfs -d "$C" -o "$INITRD" "$KVER" 2>"$D/mkinitramfs-nvme.err" ||
    echo "not ok - mkinitramfs (NVMe root) failed: $(tail -3 "$D/mkinitramfs-nvme.err")"
BOOT_QEMU=("${NVME_QEMU[@]}")
boot nvme 0 "PARTUUID=$NU"
BOOT_QEMU=()
check "NVMe root: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/nvme.log'"
check "NVMe root: / is the namespace's multipath partition map" "[ '$(rootsrc nvme)' = /dev/mapper/$NVME_WWID-part1 ]"
check "NVMe root: both controllers' paths are in the map" "[ '$(paths nvme)' = 2 ]"
