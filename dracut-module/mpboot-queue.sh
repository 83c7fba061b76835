#!/bin/sh
# dracut pre-trigger hook (images without systemd): once udev has settled
# after the coldplug, run mpboot's boot mode once from the initqueue, before
# root is looked for. mpboot honours mpboot=off and rd.multipath=0 itself,
# waits for the paths it needs, and never stops the boot.
# sg: the supervisor's path checks go through /dev/sgN, never blocking.
modprobe -q sg 2>/dev/null
/sbin/initqueue --settled --onetime --unique --name mpboot /usr/sbin/mpboot assemble --root
