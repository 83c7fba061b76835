#!/usr/bin/env bash
# dracut host-only, from a multipath root: the VM boots from the two-path
# disk (a generic image with mpboot), and in that running system, whose /
# is the multipath partition map, Debian's dracut builds a host-only image
# the way the distribution runs it, naming no module. mpboot's module must
# include itself (check), with the paths' HBA driver (installkernel) and
# the root's LUN in /etc/mpboot.conf (config --root at build time), while
# multipath-tools is installed too (dracut's own multipath module stays out
# through the dracut.conf.d file mpboot installs). Then the VM reboots into
# that image, with / on the map and both paths in it.
#
# The root is a usr-merged Debian userland: the host's own packages (what
# dracut runs, udev, kmod, dmsetup, ...), Debian's dracut unpacked, mpboot
# through `make install`, and the kernel's storage, file system and
# network modules.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/hostonly
. "$(dirname "$0")/common.inc"
. "$(dirname "$0")/dracut.inc"
trap dracut_chroot_down EXIT
trap "exit 1" INT TERM

dracut_chroot_up >"$D/chroot.log" 2>&1

# The root file system.
H=$D/hostroot
rm -rf "$H"
mkdir -p "$H"/usr/{bin,sbin,lib,lib64}
for x in bin sbin lib lib64; do ln -s "usr/$x" "$H/$x"; done
(cd "$R" && tar -cf - .) | tar -xf - -C "$H" --keep-directory-symlink
PKGS="bash dash coreutils util-linux mount findutils grep sed mawk gzip cpio kmod udev libc-bin dmsetup e2fsprogs procps"
# shellcheck disable=SC2086
dpkg -L $PKGS 2>/dev/null | sort -u | while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ -d "$f" ] && [ ! -L "$f" ] && continue
    case $f in /usr/share/doc/* | /usr/share/man/* | /usr/share/locale/* | /usr/share/info/*) continue ;; esac
    echo "${f#/}"
done >"$D/files"
tar -C / -cf - -T "$D/files" 2>/dev/null | tar -xf - -C "$H" --keep-directory-symlink
for d in "$WORK/dracut-chroot-${D##*/}"/debs/dracut-core_*.deb "$WORK/dracut-chroot-${D##*/}"/debs/dracut_*.deb; do
    dpkg-deb --fsys-tarfile "$d" | tar -xf - -C "$H" --keep-directory-symlink
done
make -s -C "$REPO" install DESTDIR="$H" >/dev/null
find "$H/usr" -type f \( -perm -u+x -o -name '*.so*' \) >"$D/elves"
# shellcheck disable=SC2046
copy_libs "$H" $(sed "s|^$H||" "$D/elves" | while read -r f; do [ -e "$f" ] && echo "$f"; done) \
    "$H/usr/lib/dracut/dracut-install"
M=/lib/modules/$KVER
mkdir -p "$H/usr/lib/modules/$KVER"
(cd "$M" && tar -cf - modules.order modules.builtin modules.builtin.modinfo kernel/block kernel/crypto \
    kernel/lib kernel/arch kernel/fs kernel/net kernel/drivers/scsi kernel/drivers/virtio kernel/drivers/md \
    kernel/drivers/block kernel/drivers/net) | tar -xf - -C "$H/usr/lib/modules/$KVER"
depmod -b "$H" "$KVER" 2>/dev/null
mkdir -p "$H/boot" "$H/var/tmp" "$H/etc"
echo "hostonly-test" >"$H/etc/hostname"
echo "root:x:0:0:root:/root:/bin/sh" >"$H/etc/passwd"
echo "root:x:0:" >"$H/etc/group"
cp "$H/etc/os-release" "$H/usr/lib/os-release" 2>/dev/null || true

# It goes on the two-path disk, big enough for it.
truncate -s 0 "$D/mp.img"
truncate -s 1G "$D/mp.img"
printf 'label: gpt\nstart=2048, size=2093056, name=hostroot\n' | sfdisk -q "$D/mp.img"
truncate -s $((2093056 * 512)) "$D/part.img"
mkfs.ext4 -q -F -d "$H" -L hostroot "$D/part.img"
dd if="$D/part.img" of="$D/mp.img" bs=1M seek=1 conv=notrunc,sparse status=none
rm "$D/part.img"
PU=$(sfdisk --part-uuid "$D/mp.img" 1 | tr A-F a-f)

# First boot: a generic image, told the LUN by MPBOOT_CONF.
echo "$W paths=2" >"$D/mpboot.conf"
INITRD=$D/generic.img
if ! MPBOOT_CONF=/out/mpboot.conf chroot_dracut generic.img -m "$DRACUT_SYSTEMD" --add mpboot \
    --no-compress >"$D/generic.build.log" 2>&1; then
    echo "not ok - dracut (generic image) failed: $(tail -3 "$D/generic.build.log")"
    exit 0
fi
BOOT_TIMEOUT=900 boot build 2 "PARTUUID=$PU" "rw mptest=hostonly"
check "booted from the map, both paths, and ran dracut there" \
    "[ '$(said build ROOT-DM-NAME)' = $W-part1 ] && [ '$(paths build)' = 2 ] && grep -q '^HOSTONLY-EXIT' '$D/build.log'"
check "host-only dracut succeeded, naming no module" "[ '$(said build HOSTONLY-EXIT)' = 0 ]"
check "check() included mpboot by itself, and dracut's multipath module stayed out" \
    "grep -q '^HOSTONLY-LOG .*Including module: mpboot' '$D/build.log' &&
     ! grep -q '^HOSTONLY-LOG .*Including module: multipath' '$D/build.log'"

# The images, out of the disk.
dd if="$D/mp.img" of="$D/part.img" bs=1M skip=1 count=1022 status=none
for i in hostonly mpboot; do
    debugfs -R "dump /boot/initrd-$i.img $D/$i.img" "$D/part.img" >/dev/null 2>&1 || true
done
rm -f "$D/part.img"
# Read whole before grep: grep -q on a pipe would end lsinitrd by SIGPIPE,
# which pipefail counts as a failure.
ls_img() { chroot "$DRACUT_CHROOT" lsinitrd "/out/$1" "${@:2}" 2>/dev/null || true; }
conf=$(ls_img hostonly.img etc/mpboot.conf)
mods=$(ls_img mpboot.img)
check "config --root ran at build time: the image's mpboot.conf names the root's LUN" \
    "grep -q '^$W' <<<\"\$conf\""
check "mpboot's module alone (-m mpboot) built, with the paths' HBA driver" \
    "[ '$(said build MPONLY-EXIT)' = 0 ] && grep -q 'virtio_scsi.ko' <<<\"\$mods\""

# Second boot: into the host-only image.
INITRD=$D/hostonly.img
if [ -s "$INITRD" ]; then
    boot hostonly 2 "PARTUUID=$PU"
    check "rebooted into the host-only image: / is the multipath partition map" \
        "grep -q ROOT-INIT-DONE '$D/hostonly.log' && [ '$(said hostonly ROOT-DM-NAME)' = $W-part1 ]"
    check "rebooted into the host-only image: both paths are in the map" "[ '$(paths hostonly)' = 2 ]"
    check "rebooted into the host-only image: mpboot took the LUN from the image's config" \
        "grep -aq 'assembling $W (from /etc)' '$D/hostonly.log'"
else
    echo "not ok - no host-only image came out of the guest"
fi
