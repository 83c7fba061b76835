#!/usr/bin/env bash
# mkinitcpio is not packaged for Debian: mpboot's install hook (build(),
# help()) runs against a stand-in for mkinitcpio's helper functions, its
# runtime hook (run_hook()) under a stand-in /init that does what
# mkinitcpio's does (parse root=, run hooks, resolve root, switch_root),
# and the image boots the same 2-path VM as the initramfs-tools test,
# including the supervisor surviving switch_root and a path unplugged.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/mkcpio
INITRD=$D/initrd.img
. "$(dirname "$0")/common.inc"

B=$D/buildroot
BUILDROOT=$B
mkdir -p "$B"/{usr/bin,bin,sbin,etc,hooks,lib/modules,proc,sys,dev,run,new_root,tmp}
# mkinitcpio's helpers, as far as mpboot's install hook uses them.
add_dir() { mkdir -p "$B$1"; }
add_file() {
    local dst=${2:-$1}
    mkdir -p "$B$(dirname "$dst")"
    cp "$1" "$B$dst"
}
add_binary() { add_file "$1" "${2:-$1}" && chmod 0755 "$B${2:-$1}"; }
: >"$D/modules.order"
add_module() {
    local m=${1%\?} f files
    if ! files=$(module_closure "$KVER" "$m" 2>/dev/null); then
        [[ $1 == *\? ]] && return 0
        echo "not ok - add_module $m: no such module"
        return 1
    fi
    for f in $files; do
        cp -n "/lib/modules/$KVER/$f" "$B/lib/modules/"
        basename "$f" >>"$D/modules.order"
    done
}
add_runscript() { cp "$REPO/mkinitcpio-hook/hooks/mpboot" "$B/hooks/mpboot"; }

. "$REPO/mkinitcpio-hook/install/mpboot"
echo "$W paths=2" >"$D/mpboot.conf"
if MPBOOT_BIN=$BIN MPBOOT_CONF=$D/mpboot.conf build; then
    echo "ok - build() ran against the stand-in helpers"
else
    echo "not ok - build() failed"
fi
[ -x "$B/usr/bin/mpboot" ] && [ -f "$B/hooks/mpboot" ] && [ -f "$B/etc/mpboot.conf" ] \
    && grep -qx 'dm-multipath.ko' "$D/modules.order" \
    && echo "ok - build() added the binary, the runtime hook, the config and dm-multipath" \
    || echo "not ok - build() left something out: $(cd "$B" && find . -type f | head -20 | tr '\n' ' ')"
help | grep -q "mpboot config --root" && echo "ok - help() describes the hook" || echo "not ok - help()"

# sd-mpboot (systemd-based images) in a build root of its own: the same
# shared part, plus the unit, its enablement and the udev rules. Not booted
# (that needs mkinitcpio's systemd image); the unit and rule are the ones
# the dracut boots run.
SB=$D/sd-buildroot
(
    B=$SB BUILDROOT=$SB
    # mkinitcpio's own layout: usr/sbin is a link to bin.
    mkdir -p "$B/usr/bin" && ln -sfn bin "$B/usr/sbin"
    add_symlink() { mkdir -p "$B$(dirname "$1")" && ln -sfn "$2" "$B$1"; }
    add_udev_rule() { add_file "/usr/lib/udev/rules.d/$1"; }
    add_module() { echo "${1%\?}" >>"$D/sd-modules"; }
    mkdir -p "$D/data"
    cp "$REPO/dracut-module/mpboot.service" "$REPO/dracut-module/56-mpboot.rules" "$D/data/"
    . "$REPO/mkinitcpio-hook/install/sd-mpboot"
    MPBOOT_BIN=$BIN MPBOOT_CONF=$D/mpboot.conf MPBOOT_DATA=$D/data build
) >"$D/sd-build.log" 2>&1 || echo "not ok - sd-mpboot build() failed: $(tail -3 "$D/sd-build.log")"
check "sd-mpboot: binary, config, unit enabled for initrd-root-device.target, claim and dm udev rules" \
    "[ -f '$SB/usr/bin/mpboot' ] && [ ! -L '$SB/usr/bin/mpboot' ] && [ -x '$SB/usr/bin/mpboot' ] &&
     [ -f '$SB/etc/mpboot.conf' ] &&
     [ -f '$SB/usr/lib/systemd/system/mpboot.service' ] &&
     [ -f '$SB/usr/lib/systemd/system/initrd-root-device.target.wants/mpboot.service' ] &&
     [ -f '$SB/usr/lib/udev/rules.d/56-mpboot.rules' ] && [ -f '$SB/usr/lib/udev/rules.d/55-dm.rules' ]"
(. "$REPO/mkinitcpio-hook/install/sd-mpboot" && help) | grep -q "systemd-based" \
    && echo "ok - sd-mpboot help() describes the hook" || echo "not ok - sd-mpboot help()"

# What mkinitcpio's base, block and filesystems hooks bring here.
cp /bin/busybox "$B/bin/busybox"
for m in virtio_pci virtio_scsi sd_mod crc32c_generic ext4; do add_module "$m"; done
cp "$(command -v blkid)" "$B/sbin/blkid"
copy_libs "$B" "$(command -v blkid)"
mkdir -p "$B/lib64" && cp -L /lib64/ld-linux-x86-64.so.2 "$B/lib64/"
cp "$D/modules.order" "$B/modules.order"
cat >"$B/init" <<'EOF'
#!/bin/busybox sh
# Stand-in for mkinitcpio's /init, as far as a hook sees it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
root=
for w in $(cat /proc/cmdline); do case $w in root=*) root=${w#root=} ;; esac; done
for h in /hooks/*; do . "$h"; run_hook; done
case $root in
/dev/*) dev=$root ;;
*) for i in $(seq 50); do dev=$(blkid -l -t "$root" -o device) && [ -n "$dev" ] && break; sleep 0.2; done ;;
esac
# As with "rw" on the command line (mkinitcpio mounts ro by default).
if mount -o rw "$dev" /new_root; then
    # As mkinitcpio does: the new root keeps /dev and /run.
    mount --move /dev /new_root/dev
    mount --move /run /new_root/run
    exec switch_root /new_root /sbin/init
fi
echo "STANDIN: cannot mount root $root ($dev)"
poweroff -f
EOF
chmod +x "$B/init"
(cd "$B" && find . | cpio -o -H newc --quiet) >"$INITRD"

boot two 2 "PARTUUID=$PU"
check "two paths: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/two.log'"
check "two paths: / is the multipath partition map" "[ '$(rootsrc two)' = /dev/mapper/$W-part1 ]"
check "two paths: both paths are in the map" "[ '$(paths two)' = 2 ]"

boot one 1 "PARTUUID=$PU"
check "one path: / is the partition map, degraded" "[ '$(rootsrc one)' = /dev/mapper/$W-part1 ]"
check "one path: said it is degraded" "grep -q '1 of 2 expected paths' '$D/one.log'"

boot unplug 2 "PARTUUID=$PU" "rw mpboot.supervise=yes mptest=unplug"
unplug_checks unplug

boot other 2 "PARTUUID=$SU"
check "root on a single-path disk: booted from that disk" "case '$(rootsrc other)' in /dev/sd*1) true;; *) false;; esac"
