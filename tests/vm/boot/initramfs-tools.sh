#!/usr/bin/env bash
# Debian's own initramfs generator with mpboot's hooks: a VM whose root
# file system is on a GPT partition of a disk seen through two paths (two
# scsi-hd devices on two virtio-scsi controllers, one image file, one wwn
# and serial) boots with root=PARTUUID=..., / mounted from the multipath
# partition map with both paths in the map. Again with one path missing
# (degraded, said so), and with root on a disk that is not multipath.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
command -v mkinitramfs >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq initramfs-tools >/dev/null
}
KVER=$(kernel_version)
D=$WORK/itools
rm -rf "$D"
mkdir -p "$D"

# A root file system whose /sbin/init reports what / came from, then stops.
R=$D/rootfs
mkdir -p "$R"/{bin,sbin,proc,sys,dev,run,tmp,etc}
cp /bin/busybox "$R/bin/busybox"
cat >"$R/sbin/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
src=$(awk '$2 == "/" {print $1}' /proc/mounts)
echo "ROOT-SOURCE $src"
# Through the device numbers: mpboot's node is a block node, not a link.
set -- $(stat -L -c '%t %T' "$src")
mm=$(printf '%d:%d' "0x$1" "0x$2")
for s in /sys/dev/block/$mm/slaves/*; do
    s=$(basename "$s")
    case $s in dm-*) echo "ROOT-MAP-PATHS $(ls /sys/block/$s/slaves | tr '\n' ' ')" ;; esac
done
dmesg | grep ' mpboot:' | sed 's/^/GUEST-LOG /'
echo "ROOT-INIT-DONE"
poweroff -f
EOF
chmod +x "$R/sbin/init"

# make_disk IMG LABEL: GPT, one ext4 partition holding the root above.
make_disk() {
    truncate -s 64M "$1"
    printf 'label: gpt\nstart=2048, size=120832, name=%s\n' "$2" | sfdisk -q "$1"
    truncate -s $((120832 * 512)) "$D/part.img"
    mkfs.ext4 -q -F -d "$R" -L "$2" "$D/part.img"
    dd if="$D/part.img" of="$1" bs=512 seek=2048 conv=notrunc status=none
    rm "$D/part.img"
}
make_disk "$D/mp.img" mproot
make_disk "$D/single.img" single
# Lower case, as blkid and udev's by-partuuid links spell them.
PU=$(sfdisk --part-uuid "$D/mp.img" 1 | tr A-F a-f)
SU=$(sfdisk --part-uuid "$D/single.img" 1 | tr A-F a-f)
WWN=0x5000c50015ea71ac
W=3${WWN#0x}

# The image: Debian's configuration plus our hook and local-top script.
C=$D/conf
cp -a /etc/initramfs-tools "$C"
cp "$REPO/integration/initramfs-tools/hooks/mpboot" "$C/hooks/"
mkdir -p "$C/scripts/local-top"
cp "$REPO/integration/initramfs-tools/scripts/local-top/mpboot" "$C/scripts/local-top/"
echo "$W paths=2" >"$D/mpboot.conf"
MPBOOT_BIN=$BIN MPBOOT_CONF=$D/mpboot.conf mkinitramfs -d "$C" -o "$D/initrd.img" "$KVER" 2>"$D/mkinitramfs.err" \
    || { echo "not ok - mkinitramfs failed: $(tail -3 "$D/mkinitramfs.err")"; exit 0; }
echo "ok - mkinitramfs built an image with mpboot ($(du -k "$D/initrd.img" | cut -f1) KiB)"
lsinitramfs "$D/initrd.img" >"$D/contents"
grep -qE '^(usr/)?sbin/mpboot$' "$D/contents" \
    && echo "ok - the image holds mpboot" || echo "not ok - mpboot missing from the image"

# boot NAME PATHS ROOT: boot with PATHS (1 or 2) paths to mp.img, plus the
# single-path disk, kernel root=ROOT.
boot() {
    local name=$1 paths=$2 root=$3 dev=()
    dev+=(-device virtio-scsi-pci,id=s0 -device virtio-scsi-pci,id=s1)
    for i in $(seq 0 $((paths - 1))); do
        dev+=(-drive "file=$D/mp.img,if=none,id=d$i,format=raw,file.locking=off"
            -device "scsi-hd,drive=d$i,bus=s$i.0,wwn=$WWN,serial=MPROOT,share-rw=on")
    done
    dev+=(-drive "file=$D/single.img,if=none,id=ds,format=raw,file.locking=off"
        -device "scsi-hd,drive=ds,bus=s0.0,scsi-id=3,serial=SINGLE")
    timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
        -kernel "/boot/vmlinuz-$KVER" -initrd "$D/initrd.img" \
        -append "console=ttyS0 panic=-1 root=$root mpboot.settle=1000" \
        "${dev[@]}" </dev/null 2>&1 | tr -d '\r' >"$D/$name.log" || true
    grep -E '^(ROOT-|GUEST-LOG)' "$D/$name.log" | sed "s/^/# [$name] /" || true
}
rootsrc() { sed -n 's/^ROOT-SOURCE //p' "$D/$1.log"; }
paths() { sed -n 's/^ROOT-MAP-PATHS //p' "$D/$1.log" | wc -w; }
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fi; }

boot two 2 "PARTUUID=$PU"
check "two paths: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/two.log'"
check "two paths: / is the multipath partition map" "[ '$(rootsrc two)' = /dev/mapper/$W-part1 ]"
check "two paths: both paths are in the map" "[ '$(paths two)' = 2 ]"

boot one 1 "PARTUUID=$PU"
check "one path: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/one.log'"
check "one path: / is still the partition map" "[ '$(rootsrc one)' = /dev/mapper/$W-part1 ]"
check "one path: said it is degraded" "grep -q '1 of 2 expected paths' '$D/one.log'"

boot other 2 "PARTUUID=$SU"
check "root on a single-path disk: booted" "grep -q ROOT-INIT-DONE '$D/other.log'"
check "root on a single-path disk: / is that disk" "case '$(rootsrc other)' in /dev/sd*1|/dev/disk/*) true;; *) false;; esac"
