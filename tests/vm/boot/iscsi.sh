#!/usr/bin/env bash
# Root on a LUN reached over two iSCSI portals, booted by dracut's own
# iscsi module (Debian's dracut-network, with open-iscsi's iscsid and
# iscsiadm in the image) logging in to both, and mpboot assembling the map:
# both portals up; one portal down (boots degraded, says so); the second
# portal slow to answer (its path joins the map after root is mounted).
#
# The target is Debian's tgt, unpacked and run on the host, in a network
# namespace of its own whose loopback carries the portal addresses the
# guest uses (10.0.2.100 and 10.0.2.101, port 3260): tgt answers
# SendTargets with the address a connection came in on, and dracut logs in
# to the discovered record that matches its netroot= portal. The guest is on
# QEMU user networking with restrict=on and one guestfwd rule per portal,
# each running `nc` into that namespace: it reaches nothing else, and no
# packet leaves the machine.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/iscsi
. "$(dirname "$0")/common.inc"
. "$(dirname "$0")/dracut.inc"

IQN=iqn.2026-11.org.mpboot:root
GUEST_IQN=iqn.2026-11.org.mpboot:guest
TGT=$WORK/tgt-pkg
TGT_PID=
cleanup() {
    tgt_down
    dracut_chroot_down
}
trap cleanup EXIT
trap "exit 1" INT TERM

# tgt_up ADDR...: the target, with mp.img (GPT + ext4 root) as LUN 1, on
# port 3260 of each ADDR; a portal not listening refuses connections.
tgt_up() {
    if [ ! -x "$TGT/root/usr/sbin/tgtd" ]; then
        rm -rf "$TGT"
        mkdir -p "$TGT/debs"
        (cd "$TGT/debs" && apt-get download -qq tgt 2>/dev/null) ||
            (apt-get update -qq && cd "$TGT/debs" && apt-get download -qq tgt)
        dpkg-deb -x "$TGT"/debs/tgt_*.deb "$TGT/root"
    fi
    local a=$TGT/root/usr/sbin/tgtadm first=$1
    if "$a" --op show --mode system >/dev/null 2>&1; then
        echo "not ok - another tgtd answers on /var/run/tgtd: stop it first"
        exit 1
    fi
    mkdir -p /var/run/tgtd
    unshare --net sh -c "ip link set lo up && ip addr add 10.0.2.100/32 dev lo &&
        ip addr add 10.0.2.101/32 dev lo && exec '$TGT/root/usr/sbin/tgtd' -f --iscsi portal=$first:3260" \
        >"$D/tgtd.log" 2>&1 &
    TGT_PID=$!
    local i=0
    until "$a" --op show --mode system >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
    shift
    for p in "$@"; do "$a" --lld iscsi --op new --mode portal --param "portal=$p:3260"; done
    "$a" --lld iscsi --op new --mode target --tid 1 -T "$IQN"
    "$a" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$D/mp.img"
    "$a" --lld iscsi --op bind --mode target --tid 1 -I ALL
}
# tgt_down: tgtd ignores SIGTERM while a target exists: delete it first.
tgt_down() {
    [ -n "$TGT_PID" ] || return 0
    "$TGT/root/usr/sbin/tgtadm" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
    "$TGT/root/usr/sbin/tgtadm" --op delete --mode system >/dev/null 2>&1 || true
    local i=0
    while kill -0 "$TGT_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill "$TGT_PID" 2>/dev/null || true
    TGT_PID=
}

# The guest's network: DELAY2 seconds before the second portal answers
# each new connection (0: at once).
net() {
    local ns=/proc/$TGT_PID/ns/net delay2=${1:-0} fwd2
    fwd2="cmd:nsenter --net=$ns busybox nc 10.0.2.101 3260"
    [ "$delay2" = 0 ] || fwd2="cmd:sh -c 'sleep $delay2; exec nsenter --net=$ns busybox nc 10.0.2.101 3260'"
    BOOT_QEMU=(-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:3260-cmd:nsenter --net=$ns busybox nc 10.0.2.100 3260,guestfwd=tcp:10.0.2.101:3260-$fwd2"
        -device virtio-net-pci,netdev=n0)
}

dracut_chroot_up dracut-network open-iscsi libisns0 libopeniscsiusr isc-dhcp-client iputils-arping >"$D/chroot.log" 2>&1
# tgt's LUN: NAA 6 from its default scsi_id (sysfs wwid naa.6000...10001).
IW=360000000000000000e00000000010001
echo "$IW paths=2" >"$D/mpboot.conf"
export MPBOOT_CONF=/out/mpboot.conf
INITRD=$D/iscsi.img
# Debian's iscsid.service runs /lib/open-iscsi/startup-checks.sh first,
# which dracut's iscsi module does not put in the image: without it iscsid
# never starts in a systemd image. What a Debian admin adds (install_items).
DEBIAN_ISCSID="--install /lib/open-iscsi/startup-checks.sh"
if ! chroot_dracut iscsi.img -m "$DRACUT_SYSTEMD iscsi network-legacy" --add mpboot \
    --add-drivers "virtio_net crc32c_generic" $DEBIAN_ISCSID --no-compress >"$D/build.log" 2>&1; then
    echo "not ok - dracut with the iscsi module failed: $(tail -3 "$D/build.log")"
    exit 0
fi
lsinit=$(chroot "$DRACUT_CHROOT" lsinitrd /out/iscsi.img 2>/dev/null)
check "the image has dracut's iscsi module (iscsid, iscsiadm) and mpboot" \
    "grep -q 'usr/sbin/iscsiadm$' <<<\"\$lsinit\" && grep -q 'usr/sbin/iscsid$' <<<\"\$lsinit\" &&
     grep -q 'usr/sbin/mpboot$' <<<\"\$lsinit\""

NETROOT="rd.neednet=1 ip=dhcp rd.iscsi.initiator=$GUEST_IQN
    netroot=iscsi:10.0.2.100::3260:1:$IQN netroot=iscsi:10.0.2.101::3260:1:$IQN"
NETROOT="$(echo $NETROOT) systemd.journald.forward_to_console=1"
BOOT_EXTRA="rd.timeout=90 rd.emergency=poweroff rd.shell=0"
# dracut logs in portal after portal: under TCG the second path comes
# 3-4 s after the first, close to mpboot's 5 s default window for iSCSI
# LUNs (which the boots also passed with); 8 s leaves room for a slow run.
BOOT_SETTLE=mpboot.settle=8000

# Both portals up.
tgt_up 10.0.2.100 10.0.2.101
net
boot both 0 "PARTUUID=$PU" "$NETROOT"
check "both portals: booted to /sbin/init" "grep -q ROOT-INIT-DONE '$D/both.log'"
check "both portals: dracut's iscsi module logged in to both" \
    "[ \$(grep -ac 'Login to \[iface: default, target: $IQN, portal: 10.0.2.10[01],3260\] successful' '$D/both.log') = 2 ]"
check "both portals: / is the multipath partition map" "[ '$(said both ROOT-DM-NAME)' = $IW-part1 ]"
check "both portals: both paths are in the map" "[ '$(paths both)' = 2 ]"
tgt_down

# The second portal down (not listening): degraded, and said so.
tgt_up 10.0.2.100
net
boot down 0 "PARTUUID=$PU" "$NETROOT"
check "one portal down: booted from the partition map on one path" \
    "grep -q ROOT-INIT-DONE '$D/down.log' && [ '$(said down ROOT-DM-NAME)' = $IW-part1 ] && [ '$(paths down)' = 1 ]"
check "one portal down: mpboot said it is degraded" "grep -aq '1 of 2 expected paths' '$D/down.log'"
tgt_down

# The second portal slow (every connection answered after 8 s): root is
# mounted from the map with the first path, and the second joins it.
tgt_up 10.0.2.100 10.0.2.101
net 8
boot late 0 "PARTUUID=$PU" "$NETROOT mpboot.supervise=yes mptest=late"
check "second portal late: booted from the map before it came" \
    "grep -aq '1 of 2 expected paths' '$D/late.log' && [ '$(said late ROOT-DM-NAME)' = $IW-part1 ]"
check "second portal late: its path joined the map" "[ '$(said late LATE-PATHS)' = 2 ]"
check "second portal late: I/O on / through the map" "[ '$(said late LATE-IO)' = ok ]"
tgt_down

# The image run by dracut's shell init, both portals up.
if chroot_dracut shell.img -m "$DRACUT_SHELL iscsi network-legacy" --add mpboot \
    --add-drivers "virtio_net crc32c_generic" $DEBIAN_ISCSID --no-compress >"$D/shell.build.log" 2>&1; then
    INITRD=$D/shell.img
    tgt_up 10.0.2.100 10.0.2.101
    net
    boot shell 0 "PARTUUID=$PU" "$NETROOT"
    check "shell init, both portals: / is the map, with both paths" \
        "grep -q ROOT-INIT-DONE '$D/shell.log' && [ '$(said shell ROOT-DM-NAME)' = $IW-part1 ] && [ '$(paths shell)' = 2 ]"
    tgt_down
else
    echo "not ok - dracut (shell init) with the iscsi module failed: $(tail -3 "$D/shell.build.log")"
fi
