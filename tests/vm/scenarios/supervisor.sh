# The supervisor under I/O: a write/verify loop runs on the map throughout
# and counts its errors. Offline the active path: I/O goes on; running
# again: reinstated (timed) and failed back. A path added after assembly
# joins (timed); a deleted one leaves. All paths down 5 s then back: the
# loop stalls and resumes, no error, no data lost. SIGTERM: exit, queueing
# off unless --queue-without-daemon. multipathd starts: the supervisor
# steps aside in time.
. /lib/testlib.sh
scsi_debug_paths 3
wait_disks 3
W=1Linux_scsi_debug_2000
sup_pid() { pidof @mpboot 2>/dev/null | cut -d' ' -f1; }
# Gone, or a zombie waiting for this shell to reap it.
gone() { [ ! -d /proc/$1 ] || grep -q '^State:[[:space:]]*Z' /proc/$1/status; }
in_table() { dmsetup table $W | tr ' ' '\n' | grep -qx "$1"; }

mpboot assemble --all --supervise >/tmp/asm 2>&1 &
wait_for 100 test -s /run/mpboot/state
P=$(sup_pid)
check "supervisor runs as @mpboot" test -n "$P"
expect_eq "argv[0] is @mpboot" "$(tr '\0' ' ' </proc/$P/cmdline | cut -d' ' -f1)" "@mpboot"
expect_eq "one thread" "$(awk '/^Threads:/ {print $2}' /proc/$P/status)" 1
echo "# supervisor pid $P: $(grep -E '^(Name|State|Vm(RSS|HWM)|Threads)' /proc/$P/status | tr -s ' \t' ' ' | tr '\n' ' ')"
mpboot status >/tmp/status 2>&1
check "status shows the supervisor's view" grep -q "^supervisor @mpboot (pid $P)" /tmp/status
check "its view's clock is the boot time" grep -q "^boottime " /run/mpboot/state
cp -a /run/mpboot /run/elsewhere
mpboot status --run-dir /run/elsewhere >/tmp/status 2>&1
check "status --run-dir reads the supervisor's view there" grep -q "^supervisor @mpboot (pid $P)" /tmp/status

# The write/verify loop throughout.
io_loop_start /dev/mapper/$W 64
sleep 1

ao=$(for d in sda sdb sdc; do [ "$(cat /sys/block/$d/device/access_state)" = active/optimized ] && echo $d; done)
echo offline >/sys/block/$ao/device/state
t=$(ms_until 5000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $(devnum $ao) | tail -n1)\" = F ]")
echo "# offlined $ao: marked failed after $t ms"
check "offlined active path is failed" test "$t" -ge 0
# Past a reconcile tick (5 s): the down path must stay in the table.
sleep 6
check "the down path stays in the table" sh -c "dmsetup table $W | tr ' ' '\n' | grep -qx $(devnum $ao)"
echo running >/sys/block/$ao/device/state
t=$(ms_until 5000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $(devnum $ao) | tail -n1)\" = A ]")
echo "# path $ao back: reinstated after $t ms"
check "reinstated within 2 s ($t ms)" test "$t" -ge 0 -a "$t" -le 2000
t=$(ms_until 3000 sh -c "dmsetup status $W | awk '{exit \$10 != \"A\"}'")
check "failed back to group 1 ($t ms)" test "$t" -ge 0
dmesg | grep -E "mpboot: .*(reinstated|failed back)" | sed 's/^/# /'

# A path added after assembly joins; a deleted one leaves.
echo 1 >/sys/bus/pseudo/drivers/scsi_debug/add_host
t0=$(now_ms)
wait_for 100 test -e /sys/block/sdd/dev
t=$(ms_until 5000 in_table "$(cat /sys/block/sdd/dev 2>/dev/null)")
echo "# late path sdd: in the table $t ms after the disk appeared ($(($(now_ms) - t0)) ms after add_host)"
check "late path joins within 2 s ($t ms)" test "$t" -ge 0 -a "$t" -le 2000
sdd=$(devnum sdd)
echo 1 >/sys/block/sdd/device/delete
t=$(ms_until 5000 sh -c "! dmsetup table $W | tr ' ' '\n' | grep -qx $sdd")
check "deleted path leaves the table ($t ms)" test "$t" -ge 0 -a "$t" -le 2000

# All paths down for 5 s, then back: queued, not failed.
for d in sda sdb sdc; do echo offline >/sys/block/$d/device/state; done
sleep 5
for d in sda sdb sdc; do echo running >/sys/block/$d/device/state; done
t=$(ms_until 5000 sh -c "dmsetup status $W | grep -q ' A 0 0 1\\| A [0-9]* '")
echo "# all paths back: a path active again after $t ms"
sleep 3
set -- $(io_loop_stop)
echo "# write/verify loop: $1 rounds, $2 errors"
check "the loop ran throughout" test "$1" -gt 10
expect_eq "no I/O error, no data lost, across everything above" "$2" 0
dmesg | grep -E "mpboot: .*all paths down" | sed 's/^/# /'

# Idle: no busy waiting between checks.
c1=$(awk '{print $14 + $15}' /proc/$P/stat); sleep 3; c2=$(awk '{print $14 + $15}' /proc/$P/stat)
echo "# supervisor CPU over 3 s idle: $((c2 - c1)) ticks of 10 ms"
check "idle CPU: under 10 ticks in 3 s" test $((c2 - c1)) -lt 10

# It never holds a map open: removal works under it, and a new map is
# picked up.
check "remove works while supervised" mpboot remove $W
mpboot assemble --all >/dev/null 2>&1
wait_for 80 grep -q "^map $W " /run/mpboot/state
check "a map made later is supervised" grep -q "^map $W " /run/mpboot/state

# SIGTERM with nobody taking over: exit, paths and groups untouched, and
# queueing off (multipathd's queue_without_daemon no): nobody is left to
# end it if the paths never return.
layout() { dmsetup table $W | grep -o ' alua .*'; }
before=$(layout)
kill -TERM $P
t=$(ms_until 3000 gone $P)
check "SIGTERM: exited ($t ms)" test "$t" -ge 0
expect_eq "SIGTERM: paths and groups untouched" "$(layout)" "$before"
expect_eq "SIGTERM: queueing off" "$(dmsetup table $W | awk '{print $4}')" 0
check "SIGTERM: it said so" sh -c "dmesg | grep -q 'no supervisor left: queueing off'"
dmsetup message $W 0 queue_if_no_path
# --queue-without-daemon: queueing stays.
mpboot supervise --queue-without-daemon &
wait_for 100 test -n "$(sup_pid)"
P=$(sup_pid)
sleep 1
kill -TERM $P
wait_for 30 gone $P
expect_eq "SIGTERM with --queue-without-daemon: still queueing" \
    "$(dmsetup table $W | awk '{print $4, $5}')" "1 queue_if_no_path"

# no_path_retry 2: with every path down, queued I/O fails after 2 checks.
mpboot supervise --no-path-retry 2 &
wait_for 100 test -n "$(sup_pid)"
P=$(sup_pid)
sleep 1
for d in sda sdb sdc; do echo offline >/sys/block/$d/device/state; done
t0=$(now_ms)
dd if=/dev/mapper/$W of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/dev/null
rc=$?
echo "# all paths down, no_path_retry 2: read ended with $rc after $(($(now_ms) - t0)) ms"
check "queued read failed in the end (status $rc)" test $rc -ne 0
check "it said so" sh -c "dmesg | grep -q 'no path for 2 checks: failing queued I/O'"
for d in sda sdb sdc; do echo running >/sys/block/$d/device/state; done
wait_for 50 sh -c "dmesg | grep -q 'queueing restored'"
check "a path back restores queueing" sh -c "dmesg | grep -q 'queueing restored'"
expect_eq "queue_if_no_path is back in the table" "$(dmsetup table $W | awk '{print $4, $5}')" "1 queue_if_no_path"
kill -TERM $P
wait_for 30 gone $P

# multipathd starts: the supervisor steps aside. Not for anyone else who
# binds multipathd's abstract socket name (any user can).
mpboot supervise &
wait_for 100 test -n "$(sup_pid)"
P=$(sup_pid)
squat 65534 /org/kernel/linux/storage/multipathd >/tmp/squat 2>&1 &
S=$!
wait_for 50 test -s /tmp/squat
sed 's/^/# /' /tmp/squat
sleep 3
still() { ! gone "$1"; }
check "a non-root process on multipathd's socket name does not make it step aside" still $P
kill $S
wait_for 30 gone $S
# A hang-up is not a reason to stop: it looks at every path again.
kill -HUP $P
wait_for 50 sh -c "dmesg | grep -q 'mpboot: signal 1: looking at every path again'"
check "SIGHUP: it looks at every path again" sh -c "dmesg | grep -q 'mpboot: signal 1: looking at every path again'"
check "SIGHUP: it goes on" still $P
# An online resize: the LUN grows and its paths are rescanned one by one.
# The map keeps its size and every path until all of them agree.
msize() { dmsetup table $W | awk '{print $2}'; }
npaths() { dmsetup table $W | tr ' ' '\n' | grep -c '^8:'; }
s0=$(msize)
echo 1 >/sys/bus/pseudo/drivers/scsi_debug/virtual_gb
echo 1 >/sys/block/sda/device/rescan
wait_for 50 test "$(cat /sys/block/sda/size)" != "$s0"
s1=$(cat /sys/block/sda/size)
sleep 2
echo "# resize: sda rescanned, $s0 -> $s1 sectors; map: $(msize) sectors, $(npaths) paths"
expect_eq "resize, one path rescanned: the map keeps its size and its 3 paths" "$(msize) $(npaths)" "$s0 3"
for d in sdb sdc; do echo 1 >/sys/block/$d/device/rescan; done
t=$(ms_until 5000 sh -c "[ \"\$(dmsetup table $W | awk '{print \$2}')\" = $s1 ]")
check "resize, every path rescanned: the map takes the new size ($t ms)" test "$t" -ge 0
expect_eq "with its 3 paths" "$(npaths)" 3
peer_prepare
sed -i 's/find_multipaths no/find_multipaths no\n    uid_attribute ""/' /etc/multipath.conf
multipathd -d -v2 >/tmp/mpd.log 2>&1 &
t=$(ms_until 5000 gone $P)
echo "# multipathd started: supervisor gone after $t ms"
check "steps aside within 2 s of multipathd ($t ms)" test "$t" -ge 0 -a "$t" -le 2000
check "it said so" sh -c "dmesg | grep -q 'mpboot: multipathd is running: stepping aside'"
check "map still there" dmsetup info $W
multipathd shutdown >/dev/null 2>&1
