# dm-multipath over NVMe/TCP, native NVMe multipath off: an nvmet target
# in the guest (a brd ramdisk as namespace 1) on two ports of the
# loopback, port 1 ANA optimized and port 2 non-optimized, the initiator
# connected to both (nvme_core multipath=N, given to the module as
# modprobe would). mpboot lists the namespace's two controllers as paths
# of one WWID, as Debian's multipath does; its map has multipath-tools'
# name, UUID, groups (from the ANA log, through admin passthrough) and bio
# queue mode; I/O goes through it; the supervisor regroups when the ANA
# states swap, fails the path whose port goes away and reinstates it when
# the port returns; boot mode finds root=LABEL= on the namespace and
# config --root records it. Then native multipath on (the modules
# reloaded with multipath=Y): the head is recognised and left alone, by
# boot mode too.
# Then QEMU's emulated PCIe NVMe: one subsystem, two controllers sharing
# one namespace, no ANA: one map of two paths, request-based, one group,
# as multipath makes it.
# qemu-args: -drive file=@SCRATCH@,if=none,id=nvd,format=raw -device nvme-subsys,id=nvsub,nqn=nqn.2026-12.org.mpboot:pcie -device nvme,serial=MPBOOTPCIE,subsys=nvsub -device nvme,serial=MPBOOTPCIE,subsys=nvsub -device nvme-ns,drive=nvd,nsid=1
. /lib/testlib.sh
ip link set lo up
modload brd rd_nr=1 rd_size=65536
modload nvme-core multipath=N
for m in nvme-tcp nvmet-tcp; do modload $m; done
grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config
expect_eq "native NVMe multipath is off" "$(cat /sys/module/nvme_core/parameters/multipath)" N

N=/sys/kernel/config/nvmet
NQN=nqn.2026-12.org.mpboot:array
S=$N/subsystems/$NQN
mkdir $S
echo 1 >$S/attr_allow_any_host
echo MPBOOT0123456789 >$S/attr_serial
echo "mpboot test array" >$S/attr_model
mkdir $S/namespaces/1
echo /dev/ram0 >$S/namespaces/1/device_path
echo 5eed0001-0000-4000-8000-000000000001 >$S/namespaces/1/device_uuid
echo 1 >$S/namespaces/1/enable
for p in 1 2; do
    mkdir $N/ports/$p
    echo tcp >$N/ports/$p/addr_trtype
    echo ipv4 >$N/ports/$p/addr_adrfam
    echo 127.0.0.1 >$N/ports/$p/addr_traddr
    echo 442$p >$N/ports/$p/addr_trsvcid
    ln -s $S $N/ports/$p/subsystems/$NQN
done
echo non-optimized >$N/ports/2/ana_groups/1/ana_state
check "nvmet target with two ports, port 2 ANA non-optimized" test -L $N/ports/2/subsystems/$NQN
connect() {
    echo "transport=tcp,traddr=127.0.0.1,trsvcid=$1,nqn=$NQN,reconnect_delay=1,ctrl_loss_tmo=600" >/dev/nvme-fabrics
}
connect 4421; connect 4422
nvme_disks() { ls /sys/block | grep '^nvme'; }
# two_disks LISTER: wait for the two disks LISTER names, say what they
# are; P1, P2 and PW (the first one's wwid).
two_disks() {
    wait_for 300 test "$($1 | wc -l)" -ge 2
    set -- $($1)
    P1=$1 P2=$2
    for d in $P1 $P2; do
        echo "# $d: $(readlink /sys/block/$d/device) $(cat /sys/block/$d/device/transport) $(cat /sys/block/$d/device/state) wwid $(cat /sys/block/$d/wwid)"
    done
    PW=$(cat /sys/block/$P1/wwid)
}
two_disks nvme_disks
d1=$P1 d2=$P2 W=$PW
expect_eq "both controllers show the namespace with one wwid" "$(cat /sys/block/$d2/wwid)" "$W"
# The disk behind each port: its controller's address names the port.
on_port() { for d in $(nvme_disks); do grep -q "trsvcid=$1" /sys/block/$d/device/address && echo $d; done; }
p1=$(on_port 4421) p2=$(on_port 4422)
dv1=$(cat /sys/block/$p1/dev) dv2=$(cat /sys/block/$p2/dev)

mpboot list >/tmp/list 2>&1; sed 's/^/# /' /tmp/list
check "list: one WWID (sysfs wwid verbatim), vendor NVME, the model, 2 paths" \
    grep -qx "$W NVME mpboot test array size=131072 paths=2" /tmp/list
check "list: the paths are the namespace's disks, their controllers live" \
    sh -c "grep -q '^  $d1 .* live ' /tmp/list && grep -q '^  $d2 .* live ' /tmp/list"
check "list: port 1's path A/O, port 2's A/N (the ANA log, read by passthrough)" \
    sh -c "grep -q '^  $p1 .* live  *A/O' /tmp/list && grep -q '^  $p2 .* live  *A/N' /tmp/list"

# Debian's multipath on the same namespace: its name, UUID and features.
peer_prepare
multipath -v2 >/tmp/peer.out 2>&1; sed 's/^/# peer: /' /tmp/peer.out
peer=$(dmsetup table "$W" 2>/dev/null)
peer_groups=$(dm_groups "$W")
echo "# peer table: $peer; uuid $(dmsetup info -c --noheadings -o uuid "$W" 2>/dev/null)"
expect_eq "multipath groups by ANA: port 1, then port 2" "$peer_groups" "$dv1|$dv2"
check "multipath names the map by the WWID, UUID mpath-WWID" \
    sh -c "[ \"\$(dmsetup info -c --noheadings -o uuid '$W')\" = 'mpath-$W' ]"
multipath -F >/dev/null 2>&1

mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "assemble: exit 0" "$rc" 0
ours=$(dmsetup table "$W")
echo "# our table: $ours"
expect_eq "the same name and UUID as multipath" "$(dmsetup info -c --noheadings -o name,uuid "$W")" "$W:mpath-$W"
check "bio-based, as multipath makes an NVMe/TCP map (queue_mode bio)" \
    sh -c "echo '$ours' | grep -q ' queue_mode bio '"
check "multipath's table is bio-based too" sh -c "echo '$peer' | grep -q ' queue_mode bio '"
expect_eq "no hardware handler, both paths" "$(echo "$ours" | tr ' ' '\n' | grep -c '^259:')" 2
expect_eq "the same groups as multipath: port 1 (optimized), port 2" "$(dm_groups "$W")" "$peer_groups"
dd if=/dev/urandom of=/tmp/pat bs=64k count=16 2>/dev/null
check "write 1 MiB through the map" dd if=/tmp/pat of=/dev/mapper/$W bs=64k oflag=direct 2>/dev/null
check "read it back identical" sh -c "dd if=/dev/mapper/$W bs=64k count=16 iflag=direct 2>/dev/null | cmp -s - /tmp/pat"
mpboot status >/tmp/status 2>&1; sed 's/^/# /' /tmp/status

# The supervisor: port 2 goes away (its controller reconnects in vain),
# then returns. No command is sent to check an NVMe path: the
# controller's state says.
mpboot supervise >/tmp/sup 2>&1 &
wait_for 100 test -s /run/mpboot/state
dv=$dv2
pstate() { dmsetup status $W | tr ' ' '\n' | grep -A1 -x "$1" | tail -n1; }
# A copy of the pattern past the loop's first 16 blocks, read back later.
dd if=/tmp/pat of=/dev/mapper/$W bs=64k seek=32 oflag=direct 2>/dev/null
io_loop_start /dev/mapper/$W 16
sleep 1
# The array swaps the ANA states: no sysfs attribute or uevent says so.
echo non-optimized >$N/ports/1/ana_groups/1/ana_state
echo optimized >$N/ports/2/ana_groups/1/ana_state
swapped() { [ "$(dm_groups $W)" = "$dv2|$dv1" ]; }
t=$(ms_until 20000 swapped)
echo "# ANA swapped: groups $(dm_groups $W) after $t ms"
check "the ANA states swap: the supervisor regroups within a check interval and a bit ($t ms)" \
    test "$t" -ge 0 -a "$t" -le 8000
ana_swap_ms=$t
# The optimized port goes inaccessible: its path ranks last (priority 1),
# I/O goes on through the other, and the data reads back.
echo inaccessible >$N/ports/2/ana_groups/1/ana_state
port1_first() { [ "$(dm_groups $W)" = "$dv1|$dv2" ]; }
t=$(ms_until 20000 port1_first)
echo "# port 2 ANA-inaccessible: groups $(dm_groups $W) after $t ms"
check "port 2 inaccessible: its path ranks last within a check interval and a bit ($t ms)" \
    test "$t" -ge 0 -a "$t" -le 8000
check "port 2 inaccessible: the data reads back through the map" \
    sh -c "dd if=/dev/mapper/$W bs=64k skip=32 count=16 iflag=direct 2>/dev/null | cmp -s - /tmp/pat"
echo optimized >$N/ports/2/ana_groups/1/ana_state
t=$(ms_until 20000 swapped)
check "port 2 optimized again: back in front ($t ms)" test "$t" -ge 0
# port_fault TOOL: port 2 goes away and returns; the times to fail and
# to reinstate its path, recorded for TOOL.
port_fault() {
    rm $N/ports/2/subsystems/$NQN
    tf=$(ms_until 20000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $dv | tail -n1)\" = F ]")
    echo "# $1: port 2 gone: controller $(cat /sys/block/$p2/device/state 2>/dev/null), path failed after $tf ms"
    ln -s $S $N/ports/2/subsystems/$NQN
    tr=$(ms_until 30000 sh -c "[ \"\$(dmsetup status $W | tr ' ' '\n' | grep -A1 -x $dv | tail -n1)\" = A ]")
    echo "# $1: port 2 back: controller $(cat /sys/block/$p2/device/state 2>/dev/null), path reinstated after $tr ms"
    echo "port_fail $1 $tf" >>/tmp/figures
    echo "port_reinstate $1 $tr" >>/tmp/figures
}
fig() { awk -v k=$1 -v t=$2 '$1 == k && $2 == t {print $3}' /tmp/figures; }
echo "ana_swap mpboot $ana_swap_ms" >>/tmp/figures
port_fault mpboot
check "port gone: its path is failed" test "$tf" -ge 0
check "port back: its path is reinstated" test "$tr" -ge 0
set -- $(io_loop_stop)
echo "# write/verify loop: $1 rounds, $2 errors"
expect_eq "no I/O error while a port went and came back" "$2" 0
check "the supervisor sent no SCSI command to an NVMe path" sh -c "! grep -q 'cannot send a check' /tmp/sup"
kill -TERM $(pidof @mpboot)
wait_for 50 sh -c "! pidof @mpboot >/dev/null"

# The same ANA swap (back) and port fault under Debian's multipathd,
# which adopts the map: figures side by side.
peer_prepare
multipathd -d -s >/tmp/mpd.log 2>&1 &
adopted() { multipathd show maps raw format '%n' 2>/dev/null | grep -qx "$W"; }
wait_for 100 adopted
check "multipathd adopts the NVMe map" adopted
sleep 2
echo optimized >$N/ports/1/ana_groups/1/ana_state
echo non-optimized >$N/ports/2/ana_groups/1/ana_state
back() { [ "$(dm_groups $W)" = "$dv1|$dv2" ]; }
t=$(ms_until 20000 back)
echo "# multipathd: ANA swapped back: groups $(dm_groups $W) after $t ms"
echo "ana_swap multipathd $t" >>/tmp/figures
port_fault multipathd
multipathd shutdown >/dev/null 2>&1
wait_for 50 sh -c "! pidof multipathd >/dev/null"
echo "# FIGURE | NVMe/TCP fault | measure | mpboot | multipathd"
echo "# FIGURE | ANA states swapped | regrouped, ms | $(fig ana_swap mpboot) | $(fig ana_swap multipathd)"
echo "# FIGURE | port removed | path failed, ms | $(fig port_fail mpboot) | $(fig port_fail multipathd)"
echo "# FIGURE | port back | path reinstated, ms | $(fig port_reinstate mpboot) | $(fig port_reinstate multipathd)"
mpboot remove --all >/dev/null 2>&1

# Boot mode: root=LABEL= on a partition of the namespace, found by the
# content probe through the paths; then config --root, as an image build
# runs it, with that root mounted, records the LUN.
printf 'label: gpt\nstart=2048, size=65536, name=nvroot\n' | sfdisk -q /dev/$d1
blockdev --rereadpt /dev/$d2 2>/dev/null
modload crc32c_generic
modload ext4
mkfs.ext4 -q -F -L nvroot /dev/${d1}p1
echo "root=LABEL=nvroot mpboot.settle=300 mpboot.supervise=no" >/tmp/cmdline
mpboot --cmdline /tmp/cmdline --etc /tmp/none >/tmp/boot.out 2>/tmp/boot.err; rc=$?
sed 's/^/# boot: /' /tmp/boot.err
expect_eq "boot mode, root=LABEL= on a namespace: exit 0" "$rc" 0
check "it says root is on the NVMe LUN" grep -q "root is on multipath LUN $W" /tmp/boot.err
expect_eq "root recorded for the initramfs: the namespace's partition map" \
    "$(cat /run/mpboot/root 2>/dev/null)" "/dev/mapper/$W-part1"
expect_eq "the map holds both controllers' paths" "$(dmsetup table "$W" | tr ' ' '\n' | grep -c '^259:')" 2
mount -o ro /dev/mapper/$W-part1 /mnt
mpboot config --root --root-dir /mnt >/tmp/config.out 2>&1; rc=$?
sed 's/^/# config: /' /tmp/config.out
expect_eq "config --root on the NVMe root: exit 0" "$rc" 0
check "mpboot.conf records the NVMe LUN with its 2 paths" grep -qx "$W paths=2" /etc/mpboot.conf
umount /mnt
rm -f /run/mpboot/root
mpboot remove --all >/dev/null 2>&1

# The EUI form: a second namespace (a file) with no UUID and an NGUID,
# which the kernel then names eui.<NGUID>; the controllers find it by
# themselves (the target's namespace-change event).
truncate -s 16M /tmp/ns2.img
mkdir $S/namespaces/2
echo /tmp/ns2.img >$S/namespaces/2/device_path
echo 1 >$S/namespaces/2/buffered_io
echo 00000000-0000-0000-0000-000000000000 >$S/namespaces/2/device_uuid
echo 5eed0002-0000-4000-8000-000000000002 >$S/namespaces/2/device_nguid
echo 1 >$S/namespaces/2/enable
ns2_disks() { ls /sys/block | grep '^nvme[0-9]*n2$'; }
wait_for 300 test "$(ns2_disks | wc -l)" -ge 2
EW=eui.5eed0002000040008000000000000002
expect_eq "namespace 2 on both controllers, WWID in the eui. form" \
    "$(for d in $(ns2_disks); do cat /sys/block/$d/wwid; done | sort -u)" "$EW"
mpboot list >/tmp/list 2>&1
check "list: the eui. WWID with 2 paths" sh -c "grep -q '^$EW NVME .* paths=2\$' /tmp/list"
peer_prepare
multipath -v2 >/dev/null 2>&1
peer_name=$(dmsetup info -c --noheadings -o name,uuid "$EW" 2>/dev/null)
multipath -F >/dev/null 2>&1
mpboot assemble "$EW" >/tmp/asm 2>&1; rc=$?
expect_eq "assemble the eui. LUN: exit 0, multipath's name and UUID" \
    "$rc $(dmsetup info -c --noheadings -o name,uuid "$EW" 2>/dev/null)" "0 $peer_name"
mpboot remove --all >/dev/null 2>&1

# PCIe: the two controllers of QEMU's subsystem, bound now (nvme-core
# already has multipath=N).
tcp_disks=$(nvme_disks)
modload nvme
pcie_disks() { nvme_disks | grep -vxF "$tcp_disks"; }
two_disks pcie_disks
q1=$P1 q2=$P2 QW=$PW
expect_eq "PCIe: both controllers show the namespace with one wwid" "$(cat /sys/block/$q2/wwid)" "$QW"
mpboot list >/tmp/list 2>&1; sed 's/^/# /' /tmp/list
check "PCIe: list: one WWID, vendor NVME, QEMU's model, 2 paths" \
    sh -c "grep -q '^$QW NVME .* paths=2\$' /tmp/list"
peer_prepare
multipath -v2 >/tmp/peer.out 2>&1; sed 's/^/# peer: /' /tmp/peer.out
peer=$(dmsetup table "$QW" 2>/dev/null)
peer_groups=$(dm_groups "$QW")
echo "# PCIe peer table: $peer"
multipath -F >/dev/null 2>&1
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
ours=$(dmsetup table "$QW")
echo "# PCIe, our table: $ours"
expect_eq "PCIe: assemble exit 0, the same name and UUID as multipath" \
    "$rc $(dmsetup info -c --noheadings -o name,uuid "$QW")" "0 $QW:mpath-$QW"
check "PCIe: multipath made its map too" test -n "$peer"
expect_eq "PCIe: no ANA: one group of both paths, as multipath" "$(dm_groups "$QW")" "$peer_groups"
check "PCIe: request-based (no queue_mode bio), as multipath" \
    sh -c "! echo '$ours $peer' | grep -q 'queue_mode bio'"
check "PCIe: write 1 MiB through the map" dd if=/tmp/pat of=/dev/mapper/$QW bs=64k oflag=direct 2>/dev/null
check "PCIe: read back through each controller's own disk" \
    sh -c "for d in $q1 $q2; do dd if=/dev/\$d bs=64k count=16 iflag=direct 2>/dev/null | cmp -s - /tmp/pat || exit 1; done"
mpboot remove --all >/dev/null 2>&1

# Native multipath on: the modules again with multipath=Y. The head and
# its hidden per-path disks are the kernel's; mpboot says so, makes nothing.
rmmod nvme
for c in /sys/class/nvme/nvme*; do echo 1 >$c/delete_controller; done
wait_for 100 test -z "$(nvme_disks)"
for m in nvme_tcp nvme_fabrics nvme_core; do rmmod $m; done
modload nvme-core multipath=Y
modload nvme-tcp
modload nvme
connect 4421; connect 4422
wait_for 300 test -n "$(ls /sys/block | grep '^nvme[0-9]*n[0-9]*$')"
sleep 1
echo "# native: $(nvme_disks | tr '\n' ' ')"
head=$(ls /sys/block | grep '^nvme[0-9]*n[0-9]*$' | head -n1)
mpboot list >/tmp/list 2>&1; sed 's/^/# /' /tmp/list
check "native multipath on: the head is named as the kernel's" \
    grep -qx "$head: native NVMe multipath, left to the kernel" /tmp/list
check "and no hidden per-path disk is listed as a path" sh -c "! grep -q '^  nvme' /tmp/list"
mpboot assemble --all >/tmp/asm 2>&1; rc=$?; sed 's/^/# /' /tmp/asm
expect_eq "assemble --all with native multipath: exit 0, no map" "$rc $(dmsetup ls --target multipath | grep -vc 'No devices')" "0 0"
check "and it says why" grep -q "native NVMe multipath, left to the kernel: $head" /tmp/asm
mpboot --cmdline /tmp/cmdline --etc /tmp/none >/tmp/boot.out 2>/tmp/boot.err; rc=$?
sed 's/^/# boot: /' /tmp/boot.err
expect_eq "boot mode, root on the native head: exit 0, no map" \
    "$rc $(dmsetup ls --target multipath | grep -vc 'No devices')" "0 0"
check "and it says the root is the kernel's" grep -q "under native NVMe multipath: the kernel's, nothing to do" /tmp/boot.err
