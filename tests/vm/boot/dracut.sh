#!/usr/bin/env bash
# dracut (Debian's, unpacked) with mpboot's 90mpboot module: the VM whose
# root file system is on a GPT partition of a disk seen through two paths
# boots with root=PARTUUID=..., / mounted from the multipath partition map
# with both paths in it. Again with one path missing (degraded, said so);
# with the supervisor on and one path unplugged through QEMU's monitor
# after boot (the system keeps running; the supervisor followed the switch
# to the real root, dropped the path, and stepped aside for multipathd);
# and with root on a disk that is not multipath. Both the systemd-based
# image and the one run by dracut's shell init; and the module refuses to
# share an image with dracut's own multipath module.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/dracut
INITRD=$D/initrd.img
. "$(dirname "$0")/common.inc"
. "$(dirname "$0")/dracut.inc"
dracut_unpack
echo "$W paths=2" >"$D/mpboot.conf"
# Built as on a host with native NVMe multipath off (see NVME_SYSFS).
export MPBOOT_BIN=$BIN MPBOOT_CONF=$D/mpboot.conf MPBOOT_DATA=$REPO/hooks-lib MPBOOT_SYSFS=$NVME_SYSFS
# A root that never shows up ends the boot in a minute, not never.
BOOT_EXTRA="rd.timeout=60 rd.emergency=poweroff rd.shell=0"

# Refused alongside dracut's multipath module, with a clear message.
if run_dracut "$D/both.img" -m "$DRACUT_SYSTEMD mpboot multipath" >"$D/both.log" 2>&1; then
    echo "not ok - an image with both mpboot and multipath was built"
else
    check "refused alongside dracut's multipath module, and said why" \
        "grep -q \"mpboot: dracut's own 'multipath' module is in this image too\" '$D/both.log' && [ ! -e '$D/both.img' ]"
fi

for flavour in systemd shell; do
    mods=$DRACUT_SYSTEMD
    [ $flavour = shell ] && mods=$DRACUT_SHELL
    INITRD=$D/$flavour.img
    if ! run_dracut "$INITRD" -m "$mods" --add mpboot >"$D/$flavour.build.log" 2>&1; then
        echo "not ok - $flavour: dracut failed: $(tail -3 "$D/$flavour.build.log")"
        continue
    fi
    lsinit=$(dracutbasedir=$DRACUT_ROOT/usr/lib/dracut "$DRACUT_ROOT/usr/bin/lsinitrd" "$INITRD" 2>/dev/null)
    check "$flavour: the image holds mpboot, its udev rule and $([ $flavour = systemd ] && echo unit || echo pre-trigger hook)" \
        "grep -q 'usr/sbin/mpboot$' <<<\"\$lsinit\" && grep -q '56-mpboot.rules' <<<\"\$lsinit\" &&
         grep -q '$([ $flavour = systemd ] && echo 'initrd-root-device.target.wants/mpboot.service' || echo 'pre-trigger/60-mpboot-start.sh')' <<<\"\$lsinit\""

    if [ $flavour = systemd ]; then
        check "$flavour: the image holds the NVMe PCIe and TCP drivers" \
            "grep -q '/nvme\.ko' <<<\"\$lsinit\" && grep -q '/nvme-tcp\.ko' <<<\"\$lsinit\""
        check "$flavour: the image's modprobe.d turns native NVMe multipath off, as on the host" \
            "[ \"\$(dracutbasedir=$DRACUT_ROOT/usr/lib/dracut $DRACUT_ROOT/usr/bin/lsinitrd -f etc/modprobe.d/mpboot-nvme.conf $INITRD)\" = 'options nvme_core multipath=N' ]"
    fi

    # The journal on the console: udev's complaints are asserted absent.
    boot $flavour-two 2 "PARTUUID=$PU" "systemd.journald.forward_to_console=1"
    check "$flavour, two paths: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/$flavour-two.log'"
    check "$flavour, two paths: udev named the maps (links), mpboot made no node" \
        "grep -q '^MAPPER-LINK $W-part1\$' '$D/$flavour-two.log' && ! grep -q '^MAPPER-NODE' '$D/$flavour-two.log'"
    check "$flavour, two paths: no udev error about the maps" \
        "! awk '/udevd/ && /mapper|dm-[0-9]/ && tolower(\$0) ~ /fail|error|exists/ {f = 1} END {exit !f}' '$D/$flavour-two.log'"
    check "$flavour, two paths: / is the multipath partition map" "[ '$(said $flavour-two ROOT-DM-NAME)' = $W-part1 ]"
    check "$flavour, two paths: both paths are in the map" "[ '$(paths $flavour-two)' = 2 ]"

    if [ $flavour = systemd ]; then
        boot $flavour-one 1 "PARTUUID=$PU"
        check "$flavour, one path: booted from the partition map" "[ '$(said $flavour-one ROOT-DM-NAME)' = $W-part1 ] && [ '$(paths $flavour-one)' = 1 ]"
        check "$flavour, one path: said it is degraded" "grep -q '1 of 2 expected paths' '$D/$flavour-one.log'"
    fi

    # Turned off on the command line: no map, root from a path's own
    # partition (the udev rule claims nothing either).
    off=rd.multipath=0
    [ $flavour = shell ] && off=mpboot=off
    boot $flavour-off 2 "PARTUUID=$PU" "$off"
    check "$flavour, $off: booted, with no map and mpboot silent" \
        "grep -q ROOT-INIT-DONE '$D/$flavour-off.log' && [ -z '$(said $flavour-off ROOT-DM-NAME)' ] &&
         case '$(rootsrc $flavour-off)' in /dev/sd*1|/dev/disk/by-partuuid/$PU) true;; *) false;; esac &&
         ! grep -q 'mpboot: created' '$D/$flavour-off.log'"

    boot $flavour-unplug 2 "PARTUUID=$PU" "rw mpboot.supervise=yes mptest=unplug"
    unplug_checks $flavour-unplug
    if [ $flavour = systemd ]; then
        check "$flavour: the image has the shutdown hook" "grep -q 'pre-shutdown/25-mpboot-shutdown.sh' <<<\"\$lsinit\""
        # The SAN goes away with a write queued in a data map (root on the
        # local disk): systemd-shutdown's hook turns queueing off and the
        # machine powers off; without it, it hangs.
        boot $flavour-shutdown 2 "PARTUUID=$SU" "mptest=shutdown"
        check "$flavour, all paths gone: a data map on both paths, then none" \
            "[ \$(said $flavour-shutdown DATA-MAP-PATHS | wc -w) = 2 ] && grep -q '^AFTER-UNPLUG-ALL 0 of the paths left' '$D/$flavour-shutdown.log'"
        check "$flavour, all paths gone: the hook turned queueing off" \
            "grep -q 'queueing off for shutdown (fail_if_no_path)' '$D/$flavour-shutdown.log'"
        check "$flavour, all paths gone: powered off within ${SHUTDOWN_BOUND} s ($(said $flavour-shutdown SHUTDOWN-MS) ms)" \
            "grep -q '^SHUTDOWN-MS' '$D/$flavour-shutdown.log'"
        boot $flavour-nohook 2 "PARTUUID=$SU" "mptest=shutdown-nohook"
        check "$flavour, all paths gone, no hook: hangs (what the hook prevents)" \
            "grep -q '^POWEROFF-NOW' '$D/$flavour-nohook.log' && grep -q '^SHUTDOWN-HUNG' '$D/$flavour-nohook.log'"
        # Root itself on the SAN that goes away: dracut's shutdown stage,
        # from an image kept in memory (with dracut's 'shutdown' module, as
        # Debian's default images have it), kept on / like /boot/initrd.img.
        if run_dracut "$D/keep.img" -m "$DRACUT_SYSTEMD shutdown" --add mpboot --gzip \
            --no-early-microcode >"$D/keep.build.log" 2>&1; then
            mkdir -p "$R/boot" && cp "$D/keep.img" "$R/boot/initrd.img"
            make_disk "$D/mp.img" mproot
            rm "$R/boot/initrd.img"
            PU=$(sfdisk --part-uuid "$D/mp.img" 1 | tr A-F a-f)
            INITRD=$D/keep.img
            boot $flavour-rootdown 2 "PARTUUID=$PU" "mptest=rootdown"
            check "$flavour, root's SAN gone: the initramfs was kept in /run/initramfs" \
                "grep -q '^INITRAMFS-KEPT yes' '$D/$flavour-rootdown.log' && grep -q '^AFTER-UNPLUG-ALL 0 of the paths left' '$D/$flavour-rootdown.log'"
            check "$flavour, root's SAN gone: the pre-shutdown hook turned queueing off" \
                "grep -aq 'queueing off for shutdown (fail_if_no_path)' '$D/$flavour-rootdown.log'"
            check "$flavour, root's SAN gone: powered off within ${SHUTDOWN_BOUND} s ($(said $flavour-rootdown SHUTDOWN-MS) ms)" \
                "grep -q '^SHUTDOWN-MS' '$D/$flavour-rootdown.log'"
            INITRD=$D/$flavour.img
        else
            echo "not ok - $flavour: dracut with the shutdown module failed: $(tail -3 "$D/keep.build.log")"
        fi
    fi
    # The shell-init image shares everything else with the systemd one.
    [ $flavour = shell ] && continue

    boot $flavour-other 2 "PARTUUID=$SU"
    check "$flavour, root on a single-path disk: booted from that disk" \
        "grep -q ROOT-INIT-DONE '$D/$flavour-other.log' && case '$(rootsrc $flavour-other)' in /dev/sd*1|/dev/disk/by-partuuid/$SU) true;; *) false;; esac"
done
