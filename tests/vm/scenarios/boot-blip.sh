# Boot mode exactly as the integrations run it (no mpboot.supervise= on
# the command line): it leaves a queueing map, so it starts the
# supervisor. Every path of the root LUN gone for 8 s, then back: reads
# queued on the map resume within 10 s with no multipathd. The boot log
# keeps its decisive lines with 8 paths (the kernel's /dev/kmsg rate limit
# drops lines past 10 in 5 s per file). Roots that are not ours (LVM's
# vg-lv, /dev/nfs) are decided at once, nothing made. A map with every
# path failed is not read through. A disk that never answers costs its
# read deadline, and mpboot.wait holds.
. /lib/testlib.sh
W=1Linux_scsi_debug_2000
sup_pid() { pidof @mpboot 2>/dev/null | cut -d' ' -f1; }
# Still running: not gone, and not a zombie waiting for this shell.
alive() { [ -d /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }

# Not ours, no multipath disk here: decided at once, no wait.
boot() { # boot "cmdline": mpboot in boot mode, timed
    echo "$1" >/tmp/cmdline
    t0=$(now_ms)
    mpboot --cmdline /tmp/cmdline --etc /tmp/none >/tmp/boot.out 2>/tmp/boot.err
    rc=$?
    took=$(($(now_ms) - t0))
    sed 's/^/# /' /tmp/boot.err
}
mkdir -p /tmp/none
for r in /dev/mapper/debian--vg-root /dev/vg0/root /dev/nfs; do
    boot "root=$r"
    expect_eq "root=$r, no multipath disk: exit 0" $rc 0
    check "root=$r, no multipath disk: decided at once ($took ms)" test "$took" -lt 1000
    check "root=$r: one line says what was decided" grep -q "nothing to do" /tmp/boot.err
done
expect_eq "roots not ours: nothing made" "$(dmsetup ls)" "No devices found"

scsi_debug_paths 8
wait_disks 8
# A partition table, so that root= names a partition as installers do,
# written through an active/optimized path: which sdX that is depends on
# the order the hosts were probed in (a standby path refuses the I/O,
# which once left root= empty here).
ao=$(for d in /sys/block/sd*; do [ "$(cat $d/device/access_state)" = active/optimized ] && echo ${d#/sys/block/}; done | head -n1)
echo 'label: gpt
start=2048, size=8192' | sfdisk -q /dev/$ao
PU=$(sfdisk --part-uuid /dev/$ao 1 | tr A-F a-f)
check "a partition table written through $ao (active/optimized)" test -n "$PU"
for d in /sys/block/sd*; do blockdev --rereadpt /dev/${d#/sys/block/} 2>/dev/null; done

# Not ours, with multipath disks holding no LVM2/LUKS: decided once they
# settle (mpboot.settle=1000), nothing made.
boot "root=/dev/mapper/debian--vg-root mpboot.settle=1000 mpboot.supervise=no"
expect_eq "vg-lv root, multipath disks without LVM: exit 0" $rc 0
check "vg-lv root: decided after the settle window, not mpboot.wait ($took ms)" test "$took" -lt 5000
check "vg-lv root: says there is no LVM2/LUKS on them" grep -q "no LVM2/LUKS on the multipath disks" /tmp/boot.err
expect_eq "vg-lv root: nothing made" "$(dmsetup ls)" "No devices found"

# As the integrations run it: root=PARTUUID=, nothing else.
dmesg -c >/dev/null
boot "root=PARTUUID=$PU"
expect_eq "boot mode: exit 0" $rc 0
expect_eq "boot mode: root's map made with its 8 paths" "$(dmsetup table $W | tr ' ' '\n' | grep -c '^8:')" 8
check "boot mode: it started the supervisor" grep -q "supervisor started in the background" /tmp/boot.err
wait_for 100 test -s /run/mpboot/state
P=$(sup_pid)
check "the supervisor runs" test -n "$P"
# The boot log: every decisive line is there, none was rate-limited away.
dmesg | grep 'mpboot' | sed 's/^/# kmsg /'
check "kernel log: the map's line" sh -c "dmesg | grep -q 'mpboot: created $W'"
check "kernel log: the root device" sh -c "dmesg | grep -q 'mpboot: root device: /dev/mapper/$W-part1'"
check "kernel log: the supervisor" sh -c "dmesg | grep -q 'mpboot: supervisor started in the background'"
check "kernel log: no line of mpboot's suppressed" sh -c "! dmesg | grep -q 'mpboot.*output lines suppressed'"
check "kernel log: no per-path line without mpboot.debug" sh -c "! dmesg | grep -q 'mpboot: sd[a-z]*: '"
# A second boot mode run does not start a second supervisor.
boot "root=PARTUUID=$PU"
expect_eq "again: exit 0" $rc 0
expect_eq "again: still one supervisor" "$(pidof @mpboot | wc -w)" 1

# Every path gone for 8 s, a read queued on the map meanwhile.
for d in /sys/block/sd*; do echo offline >$d/device/state; done
sleep 1
dd if=/dev/mapper/$W of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/dev/null &
rd=$!
sleep 7
check "the read is queued while every path is gone" alive $rd
t0=$(now_ms)
for d in /sys/block/sd*; do echo running >$d/device/state; done
done_read() { ! alive $rd; }
ms=$(ms_until 15000 done_read)
echo "# paths back: the queued read finished after $ms ms"
check "the queued read resumed within 10 s of the paths' return ($ms ms)" test "$ms" -ge 0 -a "$ms" -le 10000
wait $rd
expect_eq "the queued read succeeded" $? 0
check "reads on the map work" dd if=/dev/mapper/$W of=/dev/null bs=4k count=16 iflag=direct
check "no multipathd was involved" sh -c "! pidof multipathd"
kill $P
wait_for 50 sh -c "! kill -0 $P 2>/dev/null"
# Every path failed in the map (the disks still answer, as on a transport
# that drops I/O): assembling again must not read the partition table
# through a map that would queue the read until a path returns.
mpboot message $W queue_if_no_path >/dev/null
for d in $(dmsetup table $W | tr ' ' '\n' | grep '^8:'); do dmsetup message $W 0 fail_path $d; done
mpboot assemble --all >/tmp/asm 2>&1 &
asm=$!
asm_done() { ! alive $asm; }
ms=$(ms_until 5000 asm_done)
sed 's/^/# /' /tmp/asm
check "no live path: assemble did not wait on the map ($ms ms)" test "$ms" -ge 0
check "no live path: it says why the table was not read" grep -q "has no live path: its partition table is not read" /tmp/asm
for d in $(dmsetup table $W | tr ' ' '\n' | grep '^8:'); do dmsetup message $W 0 reinstate_path $d; done
wait $asm 2>/dev/null
mpboot remove --all >/dev/null

# A disk that never answers (scsi_debug drops every command: the SCSI
# timeout, then error handling, per read): boot mode's reads of it are
# children with a deadline, so mpboot.wait holds, and it says which disks
# it passed over. Last here: the dropped commands linger in the kernel.
echo 1 >/sys/bus/pseudo/drivers/scsi_debug/every_nth
echo 4 >/sys/bus/pseudo/drivers/scsi_debug/opts
boot "root=UUID=00000000-1111-2222-3333-444444444444 mpboot.wait=8 mpboot.supervise=no"
echo 0 >/sys/bus/pseudo/drivers/scsi_debug/opts
echo 0 >/sys/bus/pseudo/drivers/scsi_debug/every_nth
expect_eq "hung disks: exit 1, root not found" $rc 1
check "hung disks: mpboot.wait (8 s) holds ($took ms)" test "$took" -lt 11000
check "hung disks: the reads that did not answer are named" grep -q "no answer to a read within" /tmp/boot.err
