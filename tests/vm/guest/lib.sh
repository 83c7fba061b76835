# Guest side helpers for the VM scenarios (busybox sh).
# Each check prints "ok - what" or "not ok - what"; the host counts them.

modload() { # modload NAME [params...]: insmod NAME after its dependencies
    _m=$1; shift
    [ -f "/lib/moddeps/$_m" ] || { echo "not ok - module $_m not in image"; return 1; }
    _last=$(tail -n 1 "/lib/moddeps/$_m")
    for _f in $(cat "/lib/moddeps/$_m"); do
        _n=$(echo "${_f%.ko*}" | tr - _)
        grep -q "^$_n " /proc/modules && continue
        if [ "$_f" = "$_last" ]; then
            insmod "/lib/modules/$_f" "$@" || { echo "not ok - insmod $_f $*"; return 1; }
        else
            insmod "/lib/modules/$_f" || { echo "not ok - insmod $_f"; return 1; }
        fi
    done
}

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }

# check "what" command...: ok when the command succeeds
check() {
    _what=$1; shift
    if "$@"; then ok "$_what"; else notok "$_what"; fi
}

# expect_eq "what" got want
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: got [$2] want [$3]"; fi
}

# expect_fail "what" command...: ok when the command fails with status 1
expect_fail() {
    _what=$1; shift
    "$@" >/tmp/out 2>/tmp/err
    _rc=$?
    if [ $_rc -eq 1 ] && [ -s /tmp/err ]; then
        ok "$_what ($(head -n1 /tmp/err))"
    else
        notok "$_what: status $_rc, stderr [$(cat /tmp/err)]"
    fi
}

# Wait until a condition holds, up to N tenths of a second.
wait_for() {
    _n=$1; shift
    while [ "$_n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
    return 1
}

# scsi_debug with N paths (hosts) to each LUN, ALUA state = host mod 3.
scsi_debug_paths() {
    _hosts=$1; shift
    modload scsi_debug add_host="$_hosts" vpd_use_hostno=0 dev_size_mb=8 "$@"
}

nr_disks() { ls -d /sys/block/sd* 2>/dev/null | wc -l; }

# wait_disks N: until at least N sd disks exist (up to 60 s) and the alua
# handler has reported scsi_debug's real states.
wait_disks() {
    wait_for 600 test "$(nr_disks)" -ge "$1" && wait_for 600 alua_settled
}

# The kernel's alua handler reads ALUA states asynchronously after attach;
# until then access_state says active/optimized for every path. scsi_debug's
# state is host number mod 3: true once every scsi_debug disk shows it.
alua_settled() {
    for _d in /sys/block/sd*; do
        [ "$(cat "$_d/device/model")" = "scsi_debug      " ] || continue
        _h=$(basename "$(readlink "$_d/device")"); _h=${_h%%:*}
        case $((_h % 3)) in
        0) _want=active/optimized ;;
        1) _want=active/non-optimized ;;
        *) _want=standby ;;
        esac
        [ "$(cat "$_d/device/access_state")" = "$_want" ] || return 1
    done
}

# Paths of one DM map from the kernel's own table, group by group:
# "8:0|8:16,8:32" means two groups.
dm_groups() {
    dmsetup table "$1" | awk '{
        i = 4; nf = $i; i += nf + 1; nh = $i; i += nh + 1; ng = $i; i += 2
        out = ""
        for (g = 0; g < ng; g++) {
            i++; ns = $i; i += ns + 1; np = $i; i++; na = $i; i++
            grp = ""
            for (p = 0; p < np; p++) { grp = grp (p ? "," : "") $i; i += na + 1 }
            out = out (g ? "|" : "") grp
        }
        print out
    }'
}

# Device numbers "maj:min" of a block device by name.
devnum() { cat "/sys/block/$1/dev"; }

# multipath-tools without udevd: fake udev database entries for every path.
peer_prepare() {
    mkdir -p /run/udev/data
    for d in /sys/block/sd* /sys/block/nvme*; do
        [ -e "$d/dev" ] || continue
        : >"/run/udev/data/b$(cat "$d/dev")"
    done
    export DM_DISABLE_UDEV=1
}

# lio_lun NAME NPATHS: a LIO ramdisk LUN exported through NPATHS tcm_loop
# targets, so the initiator sees NPATHS disks with one NAA-6 WWID.
lio_lun() {
    modload tcm_loop || return 1
    grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config
    _c=/sys/kernel/config/target
    _b=$_c/core/rd_mcp_0/$1
    mkdir -p "$_b"
    echo rd_pages=2048 >"$_b/control"
    # LIO reports VPD pages (and so the NAA-6 designator) only once a unit
    # serial is set, as targetcli does.
    cat /proc/sys/kernel/random/uuid >"$_b/wwn/vpd_unit_serial"
    echo 1 >"$_b/enable"
    _i=0
    while [ $_i -lt "$2" ]; do
        _t=$_c/loopback/naa.5001405$(printf '%08x' "$LIO_NEXT_TARGET")0
        LIO_NEXT_TARGET=$((${LIO_NEXT_TARGET:-0} + 1))
        mkdir -p "$_t/tpgt_1/lun/lun_0"
        echo "naa.5001405$(printf '%08x' "$LIO_NEXT_TARGET")1" >"$_t/tpgt_1/nexus"
        ln -s "$_b" "$_t/tpgt_1/lun/lun_0/$1"
        _i=$((_i + 1))
    done
}
LIO_NEXT_TARGET=0

# Groups of every multipath map, one line per map: "NAME g1|g2", each
# group's devices sorted so that only membership and group order count.
all_groups() {
    for m in $(dmsetup ls --target multipath | awk '$1 != "No" {print $1}' | sort); do
        printf '%s ' "$m"
        dm_groups "$m" | tr '|' '\n' | while read -r g; do
            echo "$g" | tr ',' '\n' | sort | tr '\n' ' '
            printf '| '
        done
        echo
    done
}

# The sd disk at H:C:T:L, or of a vendor ("LIO-ORG") with a LIO LUN name.
disk_at() {
    for _d in /sys/block/sd*; do
        [ "$(basename "$(readlink "$_d/device")")" = "$1" ] && basename "$_d"
    done
}
lio_disks() { # lio_disks LUNNAME: its sd disks (by the backstore's serial)
    _ser=$(cat /sys/kernel/config/target/core/rd_mcp_0/$1/wwn/vpd_unit_serial | sed 's/.*: //')
    for _d in /sys/block/sd*; do
        od -An -v -tc "$_d/device/vpd_pg83" 2>/dev/null | tr -d ' \n' | grep -q "$(echo "$_ser" | cut -c1-8)" && basename "$_d"
    done
}

now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }

# ms_until LIMIT_MS command...: milliseconds until the command succeeds, or -1.
ms_until() {
    _lim=$1; shift; _t0=$(now_ms)
    while ! "$@"; do
        [ $(($(now_ms) - _t0)) -gt "$_lim" ] && { echo -1; return; }
        sleep 0.05
    done
    echo $(($(now_ms) - _t0))
}

# io_loop_start DEV BLOCKS: in the background, write a 64 KiB pattern at
# rotating block offsets, sync, drop caches and read it back, counting
# errors; io_loop_stop ends it and prints "ROUNDS ERRORS".
io_loop_start() {
    rm -f /tmp/stop /tmp/loop
    dd if=/dev/urandom of=/tmp/blk bs=64k count=1 2>/dev/null
    (
        n=0 err=0
        while [ ! -e /tmp/stop ]; do
            off=$((n % $2))
            dd if=/tmp/blk of="$1" bs=64k seek=$off conv=fsync 2>/dev/null || err=$((err + 1))
            echo 3 >/proc/sys/vm/drop_caches
            dd if="$1" bs=64k skip=$off count=1 2>/dev/null | cmp -s - /tmp/blk || err=$((err + 1))
            n=$((n + 1))
        done
        echo "$n $err" >/tmp/loop
    ) &
}
io_loop_stop() {
    touch /tmp/stop
    wait_for 600 test -s /tmp/loop
    cat /tmp/loop
}

# proc_watch_start PID FILE: every 100 ms, append "MS TICKS STATE" for
# process PID (uptime in ms, its user+system CPU in 10 ms ticks, its
# scheduler state), with shell builtins only so the watcher itself costs
# little; proc_watch_stop ends it. proc_watch_mark FILE NAME start|end
# marks a window for proc_cpu.
proc_watch_start() {
    rm -f /tmp/watchstop
    (while [ ! -e /tmp/watchstop ] && read -r _p _c _st _x4 _x5 _x6 _x7 _x8 _x9 _x10 _x11 _x12 _x13 _ut _sy _rest <"/proc/$1/stat"; do
        read -r _up _ </proc/uptime
        echo "${_up%.*}${_up#*.}0 $((_ut + _sy)) $_st" >>"$2"
        sleep 0.1
    done) 2>/dev/null &
}
proc_watch_stop() { touch /tmp/watchstop; sleep 0.3; }
proc_watch_mark() { echo "$(now_ms) $2 $3" >>"$1.marks"; }
# proc_cpu FILE START_MS END_MS: % of one vCPU between two moments.
proc_cpu() {
    awk -v a="$2" -v b="$3" '$1 >= a && !s { s = $1; c = $2 } $1 <= b { e = $1; d = $2 }
        END { printf "%.1f", (e > s) ? (d - c) * 1000 / (e - s) : 0 }' "$1"
}
# proc_busiest FILE SECONDS: the highest % of one vCPU over any window.
proc_busiest() {
    awk -v w="$2" '{ t[NR] = $1; c[NR] = $2 }
        END { j = 1; m = 0
            for (i = 1; i <= NR; i++) {
                while (j < NR && t[j] - t[i] < w * 1000) j++
                if (t[j] - t[i] >= w * 1000) { p = (c[j] - c[i]) * 1000 / (t[j] - t[i]); if (p > m) m = p }
            }
            printf "%.1f", m }' "$1"
}
# proc_longest_d FILE: the longest run of samples in D state, in ms (a
# run of one sample counts as 100 ms).
proc_longest_d() {
    awk '$3 == "D" { if (!r) s = $1; r = 1; l = $1 - s + 100; if (l > m) m = l; next } { r = 0 }
        END { print m + 0 }' "$1"
}
