#!/bin/sh
# dracut pre-trigger hook (images without systemd): start mpboot's boot mode
# in the background, before the coldplug. It follows the paths' uevents
# itself, waits for the paths it needs, honours mpboot=off and
# rd.multipath=0, and never stops the boot. Not an initqueue job: the
# initqueue is where dracut's network root modules log in to iSCSI
# portals, and a job waiting there for those paths would hold them up.
# sg: the supervisor's path checks go through /dev/sgN, never blocking.
modprobe -q sg 2>/dev/null
/usr/sbin/mpboot assemble --root &
