#!/usr/bin/env bash
# The real mkinitcpio v41 (built from the upstream release, see
# mkinitcpio.inc) with mpboot's hooks as 'make install' puts them: both
# flavours, each booting the VM whose root is on a GPT partition of a disk
# seen through two paths. busybox init, HOOKS=(base udev modconf block
# mpboot filesystems): two paths, one path, mpboot=off, root on a
# single-path disk, and the supervisor surviving switch_root with a path
# unplugged. systemd init, HOOKS=(base systemd modconf block sd-mpboot
# filesystems): the same first four, / from the map with both paths, the
# binary a binary (not a link to itself), and udev's log clean.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/mkcpio
INITRD=$D/initrd.img
. "$(dirname "$0")/common.inc"
. "$(dirname "$0")/mkinitcpio.inc"
if ! mkinitcpio_build >"$D/mkinitcpio-build.log" 2>&1; then
    echo "not ok - building mkinitcpio v41: $(tail -3 "$D/mkinitcpio-build.log")"
    exit 0
fi
echo "$W paths=2" >"$D/mpboot.conf"
BOOT_EXTRA="rw"

# image_file IMG PATH: what PATH holds in the image.
image_file() {
    local x
    x=$(mktemp -d)
    (cd "$x" && MKINITCPIO_LIBRARY=$MK_ROOT/usr/lib/initcpio "$MK_ROOT/usr/sbin/lsinitcpio" -x "$1" >/dev/null 2>&1)
    cat "$x/$2" 2>/dev/null
    rm -rf "$x"
}

for flavour in busybox systemd; do
    INITRD=$D/$flavour.img
    hooks="base udev modconf block mpboot filesystems"
    [ $flavour = systemd ] && hooks="base systemd modconf block sd-mpboot filesystems"
    printf 'MODULES=(virtio_pci virtio_scsi sd_mod crc32c_generic ext4)\nHOOKS=(%s)\nCOMPRESSION=gzip\n' \
        "$hooks" >"$D/$flavour.conf"
    if ! run_mkinitcpio "$INITRD" "$D/$flavour.conf" >"$D/$flavour.build.log" 2>&1; then
        echo "not ok - $flavour: mkinitcpio failed: $(grep -E 'ERROR|WARNING: errors' "$D/$flavour.build.log" | head -3)"
        continue
    fi
    check "$flavour: mkinitcpio built the image without errors" "! grep -q 'ERROR' '$D/$flavour.build.log'"
    list=$(MKINITCPIO_LIBRARY=$MK_ROOT/usr/lib/initcpio "$MK_ROOT/usr/sbin/lsinitcpio" -v "$INITRD" 2>/dev/null || true)
    # lsinitcpio -v: ls -l style lines; the binary must be a file, not a link.
    check "$flavour: the image holds mpboot as a binary, with its config" \
        "grep -E '^-rwx.* usr/bin/mpboot\$' <<<\"\$list\" >/dev/null && grep -q 'etc/mpboot.conf\$' <<<\"\$list\""
    # Built as on a host with native NVMe multipath off (see NVME_SYSFS).
    check "$flavour: the image holds the NVMe PCIe and TCP drivers" \
        "grep -q '/nvme\.ko' <<<\"\$list\" && grep -q '/nvme-tcp\.ko' <<<\"\$list\""
    check "$flavour: the image's modprobe.d turns native NVMe multipath off, as on the host" \
        "[ \"\$(image_file '$INITRD' etc/modprobe.d/mpboot-nvme.conf)\" = 'options nvme_core multipath=N' ]"
    if [ $flavour = systemd ]; then
        check "systemd: the unit, its enablement and the claim rule" \
            "grep -q 'usr/lib/systemd/system/initrd-root-device.target.wants/mpboot.service' <<<\"\$list\" &&
             grep -q 'usr/lib/udev/rules.d/56-mpboot.rules' <<<\"\$list\""
    fi

    extra=
    [ $flavour = systemd ] && extra="systemd.journald.forward_to_console=1"
    boot $flavour-two 2 "PARTUUID=$PU" "$extra"
    check "$flavour, two paths: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/$flavour-two.log'"
    check "$flavour, two paths: / is the multipath partition map" "[ '$(said $flavour-two ROOT-DM-NAME)' = $W-part1 ]"
    check "$flavour, two paths: both paths are in the map" "[ '$(paths $flavour-two)' = 2 ]"
    if [ $flavour = systemd ]; then
        check "systemd, two paths: mpboot.service ran (no 'Failed to locate executable')" \
            "grep -aq 'Finished.*mpboot.service\\|Started.*mpboot.service' '$D/$flavour-two.log' &&
             ! grep -aq 'mpboot.service: Failed' '$D/$flavour-two.log'"
        check "systemd, two paths: no udev error about the maps" \
            "! awk '/udevd/ && /mapper|dm-[0-9]/ && tolower(\$0) ~ /fail|error|exists/ {f = 1} END {exit !f}' '$D/$flavour-two.log'"
    fi

    boot $flavour-one 1 "PARTUUID=$PU"
    check "$flavour, one path: / is the partition map, degraded" \
        "[ '$(said $flavour-one ROOT-DM-NAME)' = $W-part1 ] && [ '$(paths $flavour-one)' = 1 ]"
    check "$flavour, one path: said it is degraded" "grep -aq '1 of 2 expected paths' '$D/$flavour-one.log'"

    boot $flavour-off 2 "PARTUUID=$PU" "mpboot=off"
    check "$flavour, mpboot=off: booted, with no map and mpboot silent" \
        "grep -q ROOT-INIT-DONE '$D/$flavour-off.log' && [ -z '$(said $flavour-off ROOT-DM-NAME)' ] &&
         ! grep -aq 'mpboot: created' '$D/$flavour-off.log'"

    boot $flavour-other 2 "PARTUUID=$SU"
    check "$flavour, root on a single-path disk: booted from that disk" \
        "grep -q ROOT-INIT-DONE '$D/$flavour-other.log' && [ -z '$(said $flavour-other ROOT-DM-NAME)' ]"

    if [ $flavour = busybox ]; then
        boot $flavour-unplug 2 "PARTUUID=$PU" "mpboot.supervise=yes mptest=unplug"
        unplug_checks $flavour-unplug
    fi
done
