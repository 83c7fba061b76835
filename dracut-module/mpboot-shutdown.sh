#!/bin/sh
# dracut's pre-shutdown stage (systemd-shutdown hands over to the
# initramfs kept in /run/initramfs, so this runs from memory even when the
# root's SAN is gone): before the old root is unmounted. A multipath map
# still queueing with no path left would hold every umount and the final
# sync; queueing off, as multipathd does when it stops.
command -v mpboot >/dev/null 2>&1 && mpboot shutdown
