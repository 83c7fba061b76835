#!/usr/bin/env bash
# Host side of the VM tests: install what is missing, build a busybox
# initramfs holding mpboot, kernel modules and multipath-tools, boot it
# under QEMU (TCG), and collect what the guest prints.
# shellcheck disable=SC2155  # local x=$(...) is fine: failures are checked after

set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
WORK=${MPBOOT_VM_WORK:-$VM_DIR/work}
# The build machine's own target, named to cargo in the environment:
# cargo before 1.91 (Debian 13's is 1.85) cannot read .cargo/config.toml's
# "host-tuple", and the variable takes precedence over it.
host_target() {
    [ -n "${CARGO_BUILD_TARGET:-}" ] || CARGO_BUILD_TARGET=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
    if [ -n "$CARGO_BUILD_TARGET" ]; then export CARGO_BUILD_TARGET; else unset CARGO_BUILD_TARGET; fi
    BIN=$REPO/target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}/release/mpboot
}
[ -d "$HOME/.cargo/bin" ] && PATH=$HOME/.cargo/bin:$PATH
host_target

# Modules every guest gets; scsi_debug and tcm_loop are loaded by scenarios.
BASE_MODULES="sd_mod sg dm-mod dm-multipath dm-service-time dm-round-robin dm-queue-length scsi_dh_alua"
EXTRA_MODULES="scsi_debug configfs target_core_mod tcm_loop virtio_scsi crc32c_generic ext4 scsi_dh_hp_sw
    iscsi_target_mod iscsi_tcp ip_tables iptable_filter xt_tcpudp
    brd nvme-core nvme nvme-tcp nvmet nvmet-tcp"

log() { printf '%s\n' "vm: $*" >&2; }

# The scenarios' guests run on TCG's "max" CPU model, not the default
# qemu64: their CPU-bound kernel work runs far faster (boot-root's three
# mkfs.ext4 took 17 s of guest time on qemu64, 3 s on max; boot-root
# 45 -> 27 s, boot-late-path 32 -> 21 s). The host-driven boots keep
# qemu64 (boot/common.inc): their userspace-heavy images boot slower on
# max (initramfs-tools: /sbin/init at 9.0 s -> 10.5 s). tb-size=256 and
# rcupdate.rcu_expedited=1 changed nothing measurable. MPBOOT_ACCEL,
# MPBOOT_CPU (both kinds) and MPBOOT_KARGS (kernel arguments) are there
# to measure others.
QEMU_CPU=(-accel "${MPBOOT_ACCEL:-tcg}" -cpu "${MPBOOT_CPU:-max}")

# unmount_all DIR...: every mount on each DIR (bind mounts a killed run
# left may be stacked).
unmount_all() {
    local m
    for m; do
        while mountpoint -q "$m" 2>/dev/null; do umount "$m" || break; done
    done
}

# Every apt-get of the tests, one at a time: tests/vm/run runs boot tests
# side by side, and dpkg's and apt's lists' locks fail a second caller.
apt-get() {
    mkdir -p "$WORK"
    flock "$WORK/.apt.lock" apt-get "$@"
}

# The wall time of each stage run-tests and tests/vm/run noted in
# $MPBOOT_STAGES ("name seconds" lines), as a table with the total since
# $MPBOOT_T0.
stage_table() {
    [ -n "${MPBOOT_STAGES:-}" ] && [ -f "$MPBOOT_STAGES" ] || return 0
    echo "stage                              seconds"
    awk '{printf "%-34s %7d\n", $1, $2}' "$MPBOOT_STAGES"
    printf '%-34s %7d\n' total $(($(date +%s) - ${MPBOOT_T0:-$(date +%s)}))
}

need_packages() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v cpio >/dev/null || missing+=(cpio)
    [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || missing+=(busybox-static)
    ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || missing+=(linux-image-amd64)
    command -v multipath >/dev/null || missing+=(multipath-tools)
    command -v sfdisk >/dev/null || missing+=(fdisk)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    command -v file >/dev/null || missing+=(file)
    command -v gcc >/dev/null || missing+=(gcc libc6-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

kernel_version() {
    local v
    for k in /boot/vmlinuz-*-amd64; do
        v=${k#/boot/vmlinuz-}
        [ -d "/lib/modules/$v" ] && echo "$v"
    done | sort -V | tail -1
}

# Module file and its dependencies, dependencies first, one path a line.
module_closure() {
    local kver=$1 mod=$2 dep=/lib/modules/$1/modules.dep line path deps d
    line=$(grep -E "/${mod//-/[-_]}\.ko(\.[a-z]+)?:" "$dep" | head -1)
    [ -n "$line" ] || { log "module $mod not found for $kver"; return 1; }
    path=${line%%:*}
    deps=${line#*:}
    for d in $(echo "$deps" | tr ' ' '\n' | tac); do
        echo "$d"
    done
    echo "$path"
}

copy_libs() { # copy each binary's shared library closure into $1
    local root=$1; shift
    local lib
    for b in "$@"; do
        for lib in $(ldd "$b" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*'); do
            mkdir -p "$root$(dirname "$lib")"
            cp -Ln "$lib" "$root$lib" 2>/dev/null || true
        done
    done
}

build_base() {
    local kver=$1 out=$2 root=$WORK/base
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,etc,lib/modules,lib/moddeps,root,mnt}
    cp /bin/busybox "$root/bin/busybox"
    cp "$BIN" "$root/sbin/mpboot"
    gcc -O2 -static -o "$root/bin/timeit" "$VM_DIR/guest/timeit.c"
    gcc -O2 -static -o "$root/bin/iocheck" "$VM_DIR/guest/iocheck.c"
    gcc -O2 -static -o "$root/bin/squat" "$VM_DIR/guest/squat.c"
    gcc -O2 -static -o "$root/bin/relay" "$VM_DIR/guest/relay.c"
    cp "$VM_DIR/guest/init" "$root/init"
    cp "$VM_DIR/guest/lib.sh" "$root/lib/testlib.sh"
    chmod +x "$root/init"

    # Modules flat under /lib/modules, with an ordered dependency list each.
    local m f
    for m in $BASE_MODULES $EXTRA_MODULES; do
        : >"$root/lib/moddeps/$m"
        for f in $(module_closure "$kver" "$m"); do
            cp -n "/lib/modules/$kver/$f" "$root/lib/modules/"
            basename "$f" >>"$root/lib/moddeps/$m"
        done
    done
    echo "$BASE_MODULES" >"$root/etc/base-modules"

    # multipath-tools, to compare against and to test the hand-off.
    # Plus util-linux and e2fsprogs tools to make partition tables and
    # file systems inside the guest.
    local mp=() t
    for t in multipath multipathd kpartx dmsetup sfdisk mkfs.ext4 blkid; do
        mp+=("$(command -v "$t")") || { log "missing tool $t"; return 1; }
    done
    local plugins=(/lib/multipath/*.so)
    for b in "${mp[@]}"; do
        [ -x "$b" ] && cp "$b" "$root/sbin/"
    done
    mkdir -p "$root/lib/multipath" "$root/lib/x86_64-linux-gnu"
    cp "${plugins[@]}" "$root/lib/multipath/"
    copy_libs "$root" "${mp[@]}" "${plugins[@]}"
    # multipathd aborts without libgcc_s, which ldd does not list.
    cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$root/lib/x86_64-linux-gnu/"
    mkdir -p "$root/lib64" "$root/etc/multipath"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
    cat >"$root/etc/multipath.conf" <<'EOF'
defaults {
    find_multipaths no
    user_friendly_names no
}
EOF
    (cd "$root" && find . | cpio -o -H newc --quiet) >"$out"
}

# Debian's open-iscsi initiator (iscsid, iscsiadm), unpacked from its
# .debs (never installed on the host, where iscsid would start), with
# its libraries, into the guest root $1.
ISCSI_DEBS="open-iscsi libisns0 libopeniscsiusr"
add_iscsi_tools() {
    local root=$1 p=$WORK/iscsi-pkg
    if [ ! -x "$p/root/sbin/iscsid" ]; then
        rm -rf "$p"
        mkdir -p "$p/debs"
        # shellcheck disable=SC2086
        (cd "$p/debs" && apt-get download -qq $ISCSI_DEBS 2>/dev/null) ||
            (apt-get update -qq && cd "$p/debs" && apt-get download -qq $ISCSI_DEBS)
        for d in "$p"/debs/*.deb; do dpkg-deb -x "$d" "$p/root"; done
    fi
    local x=$p/root/usr/lib/x86_64-linux-gnu
    cp "$p/root/sbin/iscsid" "$p/root/sbin/iscsiadm" "$root/sbin/"
    mkdir -p "$root/etc/iscsi" "$root/var/lib/iscsi"
    cp "$p/root/etc/iscsi/iscsid.conf" "$root/etc/iscsi/"
    echo "InitiatorName=iqn.2026-11.org.mpboot:guest" >"$root/etc/iscsi/initiatorname.iscsi"
    # iscsid serves only a peer whose uid getpwuid() names "root".
    echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    echo "root:x:0:" >"$root/etc/group"
    # Their libraries: the unpacked ones where the packages put them.
    local b lib
    for b in iscsid iscsiadm; do
        for lib in $(LD_LIBRARY_PATH=$x ldd "$root/sbin/$b" | grep -oE '/[^ ]+\.so[^ ]*'); do
            local dst=${lib#"$p/root"}
            mkdir -p "$root$(dirname "$dst")"
            cp -Ln "$lib" "$root$dst" 2>/dev/null || true
        done
    done
}

# One cpio holding the scenario script as /test.sh, appended to the base;
# a "# needs: iscsi" header adds the iSCSI initiator; a
# "# same-as: NAME" header runs scenario NAME's script under this one's
# headers (another kernel command line).
build_scenario() {
    local script=$1 out=$2 root=$WORK/scn body
    body=$(sed -n 's/^# same-as: //p' "$script")
    rm -rf "$root"
    mkdir -p "$root/sbin"
    if [ -n "$body" ]; then
        cp "$(dirname "$script")/$body.sh" "$root/test.sh"
    else
        cp "$script" "$root/test.sh"
    fi
    chmod +x "$root/test.sh"
    if grep -q '^# needs: iscsi' "$script"; then add_iscsi_tools "$root"; fi
    (cd "$root" && find . | cpio -o -H newc --quiet) >"$out"
}

# boot_vm INITRD LOG [kernel args...]: returns qemu's status; the guest
# powers off when its script ends. A hung guest is killed by the timeout.
# One whose kernel is stuck panics at the watchdog's first soft lockup
# report (about 20 s in; the panic prints the stuck CPU's stack, which
# loglevel=1 would otherwise hide, into LOG) and is counted with a
# "not ok" line. The console is copied line by line (sed -u): a buffered
# copy held the reports back for minutes.
boot_vm() {
    local initrd=$1 logf=$2; shift 2
    local kver=$(kernel_version) rc=0
    : >"$logf"
    timeout "${MPBOOT_VM_TIMEOUT:-600}" qemu-system-x86_64 \
        "${QEMU_CPU[@]}" -m 1024 -smp 2 -nographic -no-reboot \
        -kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 loglevel=1 softlockup_panic=1 ${MPBOOT_KARGS:+$MPBOOT_KARGS }$*" \
        ${MPBOOT_QEMU_EXTRA:-} </dev/null 2>&1 | sed -u 's/\r$//' >"$logf" || rc=$?
    if grep -q 'BUG: soft lockup' "$logf"; then
        echo "not ok - the guest's kernel is stuck (soft lockup): it panicked, its stack is in $logf" >>"$logf"
        return 1
    fi
    return $rc
}

# Rust toolchain: use the one on PATH; on a machine without one, Debian's
# cargo (new enough from Debian 13 on).
need_rust() {
    [ -d "$HOME/.cargo/bin" ] && PATH=$HOME/.cargo/bin:$PATH
    if ! command -v cargo >/dev/null; then
        log "installing Debian's cargo"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cargo rustc gcc libc6-dev >/dev/null
    fi
    local v
    v=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n1.77.0\n' "$v" | sort -V | head -1)" != 1.77.0 ]; then
        log "rustc $v is too old: mpboot needs 1.77 or newer (rustup, or Debian 13's rustc)"
        exit 1
    fi
    host_target
}
