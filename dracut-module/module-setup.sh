#!/bin/bash
# dracut module 90mpboot: mpboot assembles the device-mapper multipath maps
# root sits on, from sysfs and raw DM ioctls, before root is looked for.
# Install as modules.d/90mpboot/. It replaces dracut's own "multipath"
# module; the two are never put in one image.

mpboot_bin() {
    echo "${MPBOOT_BIN:-/usr/sbin/mpboot}"
}

is_mpath() {
    local _uuid
    _uuid=$(cat /sys/dev/block/"$1"/dm/uuid 2> /dev/null) || return 1
    [[ $_uuid == mpath-* ]]
}

# called by dracut
check() {
    if [[ ! -x $(mpboot_bin) ]]; then
        dinfo "dracut module 'mpboot' will not be installed: $(mpboot_bin) not found"
        return 1
    fi
    # Host-only: when the root stack is on a multipath map. Otherwise only
    # when asked for (--add mpboot), since a generic image normally carries
    # dracut's own multipath module.
    if [[ $hostonly ]] || [[ $mount_needs ]]; then
        for_each_host_dev_and_slaves is_mpath && return 0
    fi
    return 255
}

# called by dracut
depends() {
    echo rootfs-block
    # device-mapper's udev rules name the maps and give the partition maps
    # their by-partuuid/by-uuid links.
    require_binaries dmsetup &> /dev/null && echo dm
    return 0
}

# The host bus adapters' drivers for the paths of a multipath map.
instmods_paths() {
    local _s _m
    is_mpath "$1" || return 1
    for _s in /sys/dev/block/"$1"/slaves/*; do
        [[ -e $_s/device ]] || continue
        for _m in $(get_dev_module "/dev/${_s##*/}"); do
            hostonly='' instmods "$_m"
        done
    done
    return 0
}

# The NVMe helpers shared by mpboot's hooks (mpboot_nvme_modules,
# mpboot_nvme_options), when installed.
mpboot_nvme_lib() {
    local _f=${MPBOOT_DATA:-/usr/lib/mpboot}/nvme.sh
    [[ -r $_f ]] || {
        dwarn "mpboot: $_f not found: no NVMe drivers or options added"
        return 1
    }
    . "$_f"
}

# called by dracut
installkernel() {
    # The target, its path selectors, and the SCSI device handlers that
    # ALUA and older failover arrays need.
    hostonly='' instmods dm-multipath dm-service-time dm-round-robin \
        dm-queue-length scsi_dh_alua scsi_dh_emc scsi_dh_rdac scsi_dh_hp_sw
    # sg: the supervisor's path checks go through /dev/sgN and never block
    # it. Nothing loads it on demand: modules-load.d (systemd images) and
    # the pre-trigger hook (shell images) do.
    hostonly='' instmods sg
    # The drivers of this host's NVMe transports.
    if mpboot_nvme_lib; then
        local _n
        _n=$(mpboot_nvme_modules)
        [[ -z $_n ]] || hostonly='' instmods $_n
    fi
    if [[ $hostonly ]]; then
        for_each_host_dev_and_slaves_all instmods_paths
    fi
    return 0
}

# called by dracut
install() {
    if dracut_module_included multipath; then
        dfatal "mpboot: dracut's own 'multipath' module is in this image too, and both would assemble the same maps. Leave one out: --omit multipath (omit_dracutmodules+=\" multipath \") to use mpboot, or --omit mpboot."
        exit 1
    fi
    local _bin
    _bin=$(mpboot_bin)
    inst_simple "$_bin" /usr/sbin/mpboot

    # What the installed system's root sits on (nothing when it is not
    # multipath; MPBOOT_CONF when building for another machine), and
    # multipath-tools' wwids and bindings when present.
    mkdir -p "$initdir/etc"
    if [[ -n ${MPBOOT_CONF:-} ]]; then
        inst_simple "$MPBOOT_CONF" /etc/mpboot.conf
    elif [[ $hostonly ]]; then
        "$_bin" --etc "$initdir/etc" config --root > /dev/null 2>&1 || :
    fi
    local _f
    for _f in /etc/mpboot.conf /etc/multipath/wwids /etc/multipath/bindings; do
        [[ -f $_f ]] && [[ ! -e $initdir$_f ]] && inst_simple "$_f"
    done

    # Native NVMe multipath off in the image when it is off here.
    if mpboot_nvme_lib; then
        local _o
        _o=$(mpboot_nvme_options)
        if [[ -n $_o ]]; then
            mkdir -p "$initdir/etc/modprobe.d"
            echo "$_o" > "$initdir/etc/modprobe.d/mpboot-nvme.conf"
        fi
    fi

    # Claim the configured LUNs' paths, as multipath-tools' rules do.
    inst_rules "$moddir/56-mpboot.rules"

    # No rd.driver.pre: the kernel loads the right scsi_dh handler itself
    # when a disk attaches (alua for TPGS disks, the others by vendor and
    # model) and dm-multipath and its selector on the first table load;
    # loading them up front held the boot up by most of a second.

    if dracut_module_included systemd; then
        mkdir -p "$initdir/etc/modules-load.d"
        echo sg > "$initdir/etc/modules-load.d/mpboot.conf"
        inst_simple "$moddir/mpboot.service" "$systemdsystemunitdir/mpboot.service"
        $SYSTEMCTL -q --root "$initdir" enable mpboot.service
    else
        inst_hook pre-trigger 60 "$moddir/mpboot-start.sh"
    fi
    # When the system shuts down through this image (systemd-shutdown hands
    # over to /run/initramfs): before the old root is unmounted, so that a
    # dead SAN fails its I/O at once instead of holding each umount.
    inst_hook pre-shutdown 25 "$moddir/mpboot-shutdown.sh"
}
