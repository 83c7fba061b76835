# Sourced by mpboot's initramfs hooks (dracut, initramfs-tools, mkinitcpio;
# POSIX sh): what an image needs for NVMe paths. Installed as
# /usr/lib/mpboot/nvme.sh; MPBOOT_SYSFS names another sysfs (tests).

# mpboot_nvme_modules: the drivers of the NVMe transports this host's
# controllers use (PCIe, TCP, RDMA, FC, loop), one a line; nvme-core
# comes with any of them. Fabrics roots also need the image to connect
# (dracut's nvmf module, for one): that is not mpboot's part.
mpboot_nvme_modules() (
    # A subshell: the loop variable stays out of the sourcing hook's shell.
    for _c in "${MPBOOT_SYSFS:-/sys}"/class/nvme/nvme*; do
        [ -r "$_c/transport" ] || continue
        case $(cat "$_c/transport") in
        pcie) echo nvme ;;
        tcp) echo nvme-tcp ;;
        rdma) echo nvme-rdma ;;
        fc) echo nvme-fc ;;
        loop) echo nvme-loop ;;
        esac
    done | sort -u
)

# mpboot_nvme_options: "options nvme_core multipath=N" when native NVMe
# multipath is off on this host (the admin's choice, by the kernel
# command line or modprobe.d), so that the image's modprobe loads
# nvme_core the same way and dm-multipath gets one disk per path; nothing
# otherwise. On the kernel command line, nvme_core.multipath=N reaches the
# module only through modprobe: an image that loads modules with a plain
# insmod would ignore it, so the option goes into the image's modprobe.d.
mpboot_nvme_options() {
    [ "$(cat "${MPBOOT_SYSFS:-/sys}/module/nvme_core/parameters/multipath" 2>/dev/null)" = N ] &&
        echo "options nvme_core multipath=N"
    return 0
}
