# Benchmark guest: time `mpboot assemble --all` and Debian's `multipath`
# from nothing (and again with the maps present) on one scsi_debug topology
# given as bench.scale=LUNSxPATHS on the kernel command line. Rounds
# alternate the two tools so both see the same machine state.
. /lib/testlib.sh

scale=$(sed -n 's/.*bench\.scale=\([0-9]*x[0-9]*\).*/\1/p' /proc/cmdline)
# bench.rounds=N (default 3): one round is enough where multipath alone
# takes minutes (256 x 4).
rounds=$(sed -n 's/.*bench\.rounds=\([0-9]*\).*/\1/p' /proc/cmdline)
luns=${scale%x*}
paths=${scale#*x}
if [ "$luns" -le 4 ]; then tgts=1 ml=$luns; else tgts=$((luns / 4)) ml=4; fi
modload scsi_debug add_host="$paths" num_tgts="$tgts" max_luns="$ml" vpd_use_hostno=0 dev_size_mb=4
wait_disks $((luns * paths))
sleep 2
expect_eq "scale $scale: all disks present" "$(nr_disks)" $((luns * paths))
peer_prepare

ms() { sed -n 's/^elapsed_ms //p' /tmp/t; }
nmaps() { dmsetup ls --target multipath | grep -vc '^No devices'; }
# multipath-tools splits the work: multipath makes maps, kpartx (run by
# udev) their partition maps. So: maps alone, and maps plus partitions.
kpartx_all() {
    for m in $(dmsetup ls --target multipath | awk '{print $1}'); do
        kpartx -a -p -part /dev/mapper/$m
    done
}
flush_peer() {
    for m in $(dmsetup ls --target multipath | awk '{print $1}'); do
        kpartx -d -p -part /dev/mapper/$m 2>/dev/null
    done
    multipath -F >/dev/null 2>&1
}
for round in $(seq "${rounds:-3}"); do
    timeit mpboot assemble --all --no-partitions >/dev/null 2>/tmp/t && echo "BENCH mpboot maps $(ms)"
    expect_eq "round $round: mpboot made $luns maps" "$(nmaps)" "$luns"
    mpboot remove --all >/dev/null
    timeit multipath -v0 >/dev/null 2>/tmp/t; echo "BENCH multipath maps $(ms)"
    expect_eq "round $round: multipath made $luns maps" "$(nmaps)" "$luns"
    timeit multipath -v0 >/dev/null 2>/tmp/t; echo "BENCH multipath again $(ms)"
    flush_peer
    timeit mpboot assemble --all >/dev/null 2>/tmp/t && echo "BENCH mpboot parts $(ms)"
    timeit mpboot assemble --all >/dev/null 2>/tmp/t && echo "BENCH mpboot again $(ms)"
    mpboot remove --all >/dev/null
    timeit sh -c '. /lib/testlib.sh; multipath -v0; for m in $(dmsetup ls --target multipath | awk "{print \$1}"); do kpartx -a -p -part /dev/mapper/$m; done' >/dev/null 2>/tmp/t
    echo "BENCH multipath parts $(ms)"
    flush_peer
done
