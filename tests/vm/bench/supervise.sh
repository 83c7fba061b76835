# Benchmark guest: the mpboot supervisor against multipathd, same boot,
# same map (3 paths: A/O, A/N, standby), a read loop running: time to
# reinstate a returning path (5 rounds each), time to add a late path,
# resident memory and threads after settling.
. /lib/testlib.sh
scsi_debug_paths 3
wait_disks 3
W=1Linux_scsi_debug_2000
mem() { # mem NAME PID: RSS from smaps_rollup (exact), VmHWM, threads
    echo "BENCH $1 rss_kb $(awk '/^Rss:/ {print $2}' /proc/$2/smaps_rollup)"
    echo "BENCH $1 hwm_kb $(awk '/^VmHWM:/ {print $2}' /proc/$2/status)"
    echo "BENCH $1 threads $(awk '/^Threads:/ {print $2}' /proc/$2/status)"
}
(while [ ! -e /tmp/stop ]; do dd if=/dev/mapper/$W of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null || dd if=/dev/mapper/$W of=/dev/null bs=64k count=16 2>/dev/null; echo 3 >/proc/sys/vm/drop_caches; done) &

reinstate_rounds() { # NAME
    ao=$(for d in sda sdb sdc; do [ "$(cat /sys/block/$d/device/access_state)" = active/optimized ] && echo $d; done)
    d=$(devnum $ao)
    for i in 1 2 3 4 5; do
        echo offline >/sys/block/$ao/device/state
        t=$(ms_until 30000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $d | tail -n1)\" = F ]")
        sleep 1
        echo running >/sys/block/$ao/device/state
        t=$(ms_until 30000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $d | tail -n1)\" = A ]")
        echo "BENCH $1 reinstate_ms $t"
        sleep 1
    done
}
late_path() { # NAME: add a host, time until its disk is in the table, then delete it
    mkdir -p /run/udev/data
    before=$(ls /sys/block | grep -c '^sd')
    echo 1 >/sys/bus/pseudo/drivers/scsi_debug/add_host
    wait_for 100 test "$(ls /sys/block | grep -c '^sd')" -gt "$before"
    new=$(ls -t /sys/block | grep '^sd' | head -1)
    for n in $(ls /sys/block | grep '^sd'); do in=0; for o in sda sdb sdc; do [ $n = $o ] && in=1; done; [ $in = 0 ] && new=$n; done
    : >"/run/udev/data/b$(devnum $new)" 2>/dev/null
    t=$(ms_until 20000 sh -c "dmsetup table $W | tr ' ' '\n' | grep -qx $(devnum $new)")
    echo "BENCH $1 late_path_ms $t"
    echo 1 >/sys/block/$new/device/delete
    wait_for 100 sh -c "! dmsetup table $W | tr ' ' '\n' | grep -qx $(devnum $new)"
}

mpboot assemble --all --supervise >/dev/null 2>&1 &
wait_for 100 test -n "$(pidof @mpboot)"
P=$(pidof @mpboot)
sleep 2
reinstate_rounds mpboot
late_path mpboot
sleep 2
mem mpboot $P
kill -TERM $P
wait_for 50 sh -c "! [ -d /proc/$P ] || grep -q 'State:.*Z' /proc/$P/status"

peer_prepare
sed -i 's/find_multipaths no/find_multipaths no\n    uid_attribute ""/' /etc/multipath.conf
multipathd -d >/tmp/mpd.log 2>&1 &
wait_for 100 sh -c "multipathd show maps 2>/dev/null | grep -q $W"
M=$(pidof multipathd)
sleep 5
reinstate_rounds multipathd
late_path multipathd
sleep 2
mem multipathd $M
multipathd shutdown >/dev/null 2>&1
touch /tmp/stop
ok "benchmark ran"
