#!/usr/bin/env bash
# The initramfs scripts that read /run/mpboot/root (initramfs-tools'
# local-top, which appends to the /conf/param.conf that init sources, and
# mkinitcpio's runtime hook), run by busybox sh in a chroot laid out as
# their images are. A hostile name in the file never runs and never breaks
# the sourcing shell (PID 1 in a real image); a plain one is passed on.
# Prints TAP-style lines; exit 1 on any failure.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t"/{bin,sbin,dev,run/mpboot,conf,scripts/local-top,hooks,tmp}
mknod "$t/dev/null" c 1 3
cp /bin/busybox "$t/bin/busybox"
for a in sh cat echo rm printf; do ln -s busybox "$t/bin/$a"; done
echo 'log_warning_msg() { echo "warning: $*"; }' >"$t/scripts/functions"
# mpboot stand-in: records what the test says, as boot mode would.
printf '#!/bin/sh\ncat /tmp/name >/run/mpboot/root\n' >"$t/sbin/mpboot"
chmod +x "$t/sbin/mpboot"
cp "$REPO/initramfs-tools/scripts/local-top/mpboot" "$t/scripts/local-top/mpboot"
cp "$REPO/mkinitcpio-hook/hooks/mpboot" "$t/hooks/mpboot"

failed=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; failed=$((failed + 1)); }
in_root() { chroot "$t" /bin/sh -c "$1" 2>&1; }

# name | ROOT expected after sourcing param.conf ("" = none)
while IFS='|' read -r name want; do
    printf '%s\n' "$name" >"$t/tmp/name"
    : >"$t/conf/param.conf"
    rm -f "$t/PWNED" "$t/run/mpboot/root"
    in_root 'PATH=/sbin:/bin sh /scripts/local-top/mpboot' >/dev/null
    got=$(in_root '. /conf/param.conf && echo "sourced:${ROOT:-}"')
    if [ -e "$t/PWNED" ]; then
        notok "initramfs-tools: $name ran a command"
    elif [ "$got" != "sourced:$want" ]; then
        notok "initramfs-tools: $name: param.conf gave '$got', want 'sourced:$want'"
    else
        ok "initramfs-tools: $name -> ROOT='$want'"
    fi
    rm -f "$t/PWNED" "$t/run/mpboot/root"
    got=$(in_root 'PATH=/sbin:/bin; . /hooks/mpboot; root=ORIG; run_hook >/tmp/hook.out; echo "root:$root"')
    if [ -e "$t/PWNED" ]; then
        notok "mkinitcpio: $name ran a command"
    elif [ "$got" != "root:${want:-ORIG}" ]; then
        notok "mkinitcpio: $name: root became '$got', want 'root:${want:-ORIG}'"
    else
        ok "mkinitcpio: $name -> root=${want:-ORIG}"
    fi
done <<'CASES'
/dev/mapper/3600a0b80-part1|/dev/mapper/3600a0b80-part1
/dev/mapper/1Linux_scsi:x#y=z@w+v.u-part2|/dev/mapper/1Linux_scsi:x#y=z@w+v.u-part2
/dev/mapper/1EVIL_X$(touch${IFS}/PWNED)-part1|
/dev/mapper/db(1)-part1|
/dev/mapper/a'b;touch /PWNED;'|
/dev/mapper/`touch /PWNED`|
/dev/mapper/../sda1|
/dev/sda1|
CASES
echo "host: $failed failed"
[ "$failed" -eq 0 ]
