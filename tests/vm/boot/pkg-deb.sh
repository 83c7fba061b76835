#!/usr/bin/env bash
# The Debian package, from the checkout to a boot (issue 20): built with
# dpkg-buildpackage from packaging/debian and crates vendored offline;
# its binary a static-pie; lintian clean (with the override it ships);
# its files and the update-initramfs trigger dh_installinitramfs writes.
# Then, as a user installs it: a Debian 12 root (mmdebstrap, minbase with
# initramfs-tools) with this machine's kernel in /boot, where
# `apt-get install ./mpboot_*.deb` and nothing else is done: the trigger
# rebuilds the image, which holds mpboot and its script. That root, put
# on the two-path disk, boots from the image the trigger made: / on the
# multipath partition map with both paths. Purged, the package is gone
# from the next image.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/pkg-deb
C=$D/chroot
cleanup() { unmount_all "$C"/dev/pts "$C"/dev "$C"/sys "$C"/proc "$C"/usr/lib/modules/*; } # even a killed run's
cleanup
trap cleanup EXIT
trap "exit 1" INT TERM
. "$(dirname "$0")/common.inc"

need=()
for t in dh:debhelper lintian:lintian mmdebstrap:mmdebstrap; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

# The source tree: the checkout's files (what git tracks), packaging/debian
# as debian/, the crates vendored (from cargo's cache or crates.io).
V=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
S=$D/build/mpboot-$V
mkdir -p "$S"
(cd "$REPO" && git ls-files -z | tar --null -cf - -T -) | tar -xf - -C "$S"
cp -r "$REPO/packaging/debian" "$S/debian"
(cd "$S" && cargo vendor --locked --versioned-dirs vendor >/dev/null 2>"$D/vendor.log") ||
    { echo "not ok - cargo vendor failed: $(tail -2 "$D/vendor.log")"; exit 0; }
# -d: the Rust toolchain here is rustup's, which dpkg does not know (on
# Debian 12, rustc-web/cargo-web satisfy the Build-Depends). Any RUSTFLAGS
# a build environment sets must not make the binary dynamic.
if ! (cd "$S" && RUSTFLAGS=-Cforce-frame-pointers=yes dpkg-buildpackage -us -uc -b -d) >"$D/build.log" 2>&1; then
    echo "not ok - dpkg-buildpackage failed: $(tail -5 "$D/build.log" | tr '\n' ' ')"
    exit 0
fi
DEB=$(ls "$D"/build/mpboot_"$V"-*_amd64.deb)
echo "ok - dpkg-buildpackage built $(basename "$DEB") from the checkout, offline"
X=$D/x
rm -rf "$X" && mkdir -p "$X" && dpkg-deb -x "$DEB" "$X"
check "the packaged binary is a static-pie (RUSTFLAGS set in the build)" \
    "file '$X/usr/sbin/mpboot' | grep -q 'static-pie linked'"
check "it runs: mpboot --version" "[ \"\$('$X/usr/sbin/mpboot' --version)\" = 'mpboot $V' ]"
files=$(cd "$X" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')
want="usr/lib/dracut/dracut.conf.d/50-mpboot.conf usr/lib/dracut/modules.d/90mpboot/56-mpboot.rules usr/lib/dracut/modules.d/90mpboot/module-setup.sh usr/lib/dracut/modules.d/90mpboot/mpboot-shutdown.sh usr/lib/dracut/modules.d/90mpboot/mpboot-start.sh usr/lib/dracut/modules.d/90mpboot/mpboot.service usr/lib/mpboot/nvme.sh usr/lib/systemd/system-shutdown/mpboot.shutdown usr/sbin/mpboot usr/share/doc/mpboot/changelog.Debian.gz usr/share/doc/mpboot/copyright usr/share/initramfs-tools/hooks/mpboot usr/share/initramfs-tools/scripts/local-top/mpboot usr/share/lintian/overrides/mpboot usr/share/man/man8/mpboot.8.gz "
check "its files: the binary, man page, shutdown hook, dracut and initramfs-tools parts, no mkinitcpio" "[ '$files' = '$want' ]"
[ "$files" = "$want" ] || echo "# files: $files"
check "its trigger: activate-noawait update-initramfs (dh_installinitramfs)" \
    "dpkg-deb -I '$DEB' triggers | grep -qx 'activate-noawait update-initramfs'"
lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs "$DEB" >"$D/lintian.log" 2>&1 && rc=0 || rc=$?
sed 's/^/# lintian: /' "$D/lintian.log"
check "lintian: no error or warning" "[ $rc = 0 ]"

# A Debian 12 root with this kernel, as a user's machine has.
rm -rf --one-file-system "$C"
if ! mmdebstrap --variant=minbase --include=initramfs-tools,kmod,busybox \
    --aptopt='APT::Install-Recommends "false"' bookworm "$C" >"$D/mmdebstrap.log" 2>&1; then
    echo "not ok - mmdebstrap failed: $(tail -3 "$D/mmdebstrap.log" | tr '\n' ' ')"
    exit 0
fi
mkdir -p "$C/usr/lib/modules/$KVER"
mount --bind -o ro "/lib/modules/$KVER" "$C/usr/lib/modules/$KVER"
cp "/boot/vmlinuz-$KVER" "/boot/config-$KVER" "$C/boot/"
for m in proc sys dev dev/pts; do mount --bind "/$m" "$C/$m"; done
in_root() { chroot "$C" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
in_root update-initramfs -c -k "$KVER" >"$D/initramfs.log" 2>&1
img=$C/boot/initrd.img-$KVER
before=$(stat -c %Y "$img")
# Lists read whole before grep: `! lsinitramfs | grep -q` passes when grep
# finds a match and lsinitramfs then dies of SIGPIPE (pipefail).
list=$(lsinitramfs "$img" 2>/dev/null || true)
check "before: the image has no mpboot" "[ -n \"\$list\" ] && ! grep -q 'sbin/mpboot' <<<\"\$list\""
sleep 1
cp "$DEB" "$C/tmp/"
in_root apt-get install -y "/tmp/$(basename "$DEB")" >"$D/install.log" 2>&1 && rc=0 || rc=$?
sed -n 's/^/# install: /p' "$D/install.log" | grep -E 'Setting up|triggers|update-initramfs' || true
check "apt-get install ./$(basename "$DEB"): exit 0" "[ $rc = 0 ]"
check "the trigger ran update-initramfs" \
    "grep -q 'Processing triggers for initramfs-tools' '$D/install.log' && [ \$(stat -c %Y '$img') -gt $before ]"
lsinitramfs "$img" >"$D/contents"
check "the image holds mpboot, its local-top script and dm-multipath" \
    "grep -qE '^(usr/)?sbin/mpboot\$' '$D/contents' && grep -qx 'scripts/local-top/mpboot' '$D/contents' && grep -q '/dm-multipath.ko' '$D/contents'"

# That root on the two-path disk, booted from the image the trigger made.
cp "$img" "$D/trigger.img"
cleanup
R2=$D/diskroot
rm -rf --one-file-system "$R2" && cp -a "$C" "$R2"
rm -rf "${R2:?}/usr/lib/modules/$KVER"
cp "$R/sbin/init" "$R2/sbin/init"
cp /bin/busybox "$R2/bin/busybox"
truncate -s 768M "$D/mp.img"
printf 'label: gpt\nstart=2048, name=debroot\n' | sfdisk -q "$D/mp.img"
size=$(sfdisk -d "$D/mp.img" | sed -n 's/.*start= *2048, size= *\([0-9]*\).*/\1/p')
truncate -s $((size * 512)) "$D/part.img"
mkfs.ext4 -q -F -d "$R2" -L debroot "$D/part.img"
dd if="$D/part.img" of="$D/mp.img" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$D/part.img"
rm -rf --one-file-system "$R2"
PU=$(sfdisk --part-uuid "$D/mp.img" 1 | tr A-F a-f)
INITRD=$D/trigger.img
boot deb 2 "PARTUUID=$PU"
check "booted to /sbin/init from the image the trigger made" "grep -q ROOT-INIT-DONE '$D/deb.log'"
check "/ is the multipath partition map" "[ '$(rootsrc deb)' = /dev/mapper/$W-part1 ]"
check "both paths are in the map" "[ '$(paths deb)' = 2 ]"

# Purged: the trigger rebuilds the image without it.
for m in proc sys dev dev/pts; do mount --bind "/$m" "$C/$m"; done
mount --bind -o ro "/lib/modules/$KVER" "$C/usr/lib/modules/$KVER"
in_root apt-get purge -y mpboot >"$D/purge.log" 2>&1 && rc=0 || rc=$?
check "apt-get purge mpboot: exit 0, the trigger ran" "[ $rc = 0 ] && grep -q 'Processing triggers for initramfs-tools' '$D/purge.log'"
list=$(lsinitramfs "$img" 2>/dev/null || true)
check "the next image holds no mpboot" "[ -n \"\$list\" ] && ! grep -q mpboot <<<\"\$list\""
check "no file of the package left" "[ -z \"\$(find '$C/usr' '$C/etc' -name '*mpboot*' 2>/dev/null)\" ]"
