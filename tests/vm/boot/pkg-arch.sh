#!/usr/bin/env bash
# The Arch package (issue 20): packaging/arch/PKGBUILD built by makepkg
# (Debian's) as an unprivileged user, with an Arch-like makepkg.conf whose
# RUSTFLAGS would make a plain cargo build dynamic: the packaged binary is
# a static-pie; its files are where Arch wants them (binary in /usr/bin,
# mkinitcpio's at mode 0644); pacman installs it into an Arch-like root
# where mkinitcpio v41 (real, with its own pacman hook) is installed and
# a preset names the kernel: pacman's hook runs `mkinitcpio -P`, whose
# image holds mpboot; removed (after the hook leaves HOOKS, as the
# .install says), no file is left and the hook rebuilds the image
# without it.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/pkg-arch
RUSTUP_RO=$D/rustup CARGO_BIN_RO=$D/cargo-bin
cleanup() { unmount_all "$RUSTUP_RO" "$CARGO_BIN_RO"; } # even a killed run's
cleanup
trap cleanup EXIT
trap "exit 1" INT TERM
. "$(dirname "$0")/common.inc"
. "$(dirname "$0")/mkinitcpio.inc"

need=()
command -v makepkg >/dev/null || need+=(makepkg)
command -v pacman >/dev/null || need+=(pacman-package-manager)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
if ! mkinitcpio_build >"$D/mkinitcpio-build.log" 2>&1; then
    echo "not ok - mkinitcpio v41 could not be built: $(tail -3 "$D/mkinitcpio-build.log")"
    exit 0
fi

# makepkg refuses to run as root: a build user, with this machine's Rust
# toolchain (rustup's under /root, shown read-only; or the system's).
id mpbuild >/dev/null 2>&1 || useradd -m -s /bin/bash mpbuild
upath=/usr/local/bin:/usr/bin:/bin
uenv=()
cargo=$(command -v cargo)
if [ -n "${RUSTUP_HOME:-}" ] || [[ $cargo == /root/* ]]; then
    mkdir -p "$RUSTUP_RO" "$CARGO_BIN_RO"
    mount --bind -o ro "${RUSTUP_HOME:-/root/.rustup}" "$RUSTUP_RO"
    mount --bind -o ro "$(dirname "$cargo")" "$CARGO_BIN_RO"
    upath=$CARGO_BIN_RO:$upath
    uenv+=(RUSTUP_HOME="$RUSTUP_RO")
fi

V=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
B=$D/build
mkdir -p "$B"
cp "$REPO/packaging/arch/PKGBUILD" "$REPO/packaging/arch/mpboot.install" "$B/"
(cd "$REPO" && git ls-files -z | tar --null -cf - --transform "s|^|mpboot-$V/|" -T -) | gzip -1 >"$B/mpboot-$V.tar.gz"
# Arch's makepkg.conf as it matters here: its RUSTFLAGS, its check().
{
    cat /etc/makepkg.conf
    echo 'RUSTFLAGS="-Cforce-frame-pointers=yes"'
    echo "BUILDENV=(!distcc color !ccache check !sign)"
    echo "OPTIONS=(strip docs !libtool !staticlibs emptydirs zipman purge !debug lto)"
    echo "PKGEXT='.pkg.tar.zst'"
} >"$B/makepkg.conf"
chown -R mpbuild: "$B"
chmod 755 "$D" "$WORK"
if ! runuser -u mpbuild -- env -i HOME=/home/mpbuild PATH="$upath" "${uenv[@]}" \
    CARGO_HOME=/home/mpbuild/.cargo bash -c "cd '$B' && makepkg --config '$B/makepkg.conf' --nodeps --noconfirm" \
    >"$D/makepkg.log" 2>&1; then
    echo "not ok - makepkg failed: $(tail -5 "$D/makepkg.log" | tr '\n' ' ')"
    exit 0
fi
PKG=$(ls "$B"/mpboot-"$V"-1-x86_64.pkg.tar.zst)
echo "ok - makepkg built $(basename "$PKG") as an unprivileged user, check() run"
check "check() ran the unit tests" "grep -q 'test result: ok' '$D/makepkg.log'"
X=$D/x
rm -rf "$X" && mkdir -p "$X" && tar --zstd -xf "$PKG" -C "$X"
check "the packaged binary is a static-pie (makepkg.conf sets RUSTFLAGS)" \
    "file '$X/usr/bin/mpboot' | grep -q 'static-pie linked'"
files=$(cd "$X" && find . -type f ! -name '.*' | sed 's|^\./||' | sort | tr '\n' ' ')
want="usr/bin/mpboot usr/lib/dracut/dracut.conf.d/50-mpboot.conf usr/lib/dracut/modules.d/90mpboot/56-mpboot.rules usr/lib/dracut/modules.d/90mpboot/module-setup.sh usr/lib/dracut/modules.d/90mpboot/mpboot-shutdown.sh usr/lib/dracut/modules.d/90mpboot/mpboot-start.sh usr/lib/dracut/modules.d/90mpboot/mpboot.service usr/lib/initcpio/hooks/mpboot usr/lib/initcpio/install/mpboot usr/lib/initcpio/install/sd-mpboot usr/lib/mpboot/56-mpboot.rules usr/lib/mpboot/mpboot.service usr/lib/mpboot/nvme.sh usr/lib/systemd/system-shutdown/mpboot.shutdown usr/share/licenses/mpboot/COPYING usr/share/man/man8/mpboot.8.gz "
check "its files: the binary in /usr/bin, mkinitcpio's and dracut's parts, no initramfs-tools" "[ '$files' = '$want' ]"
[ "$files" = "$want" ] || echo "# files: $files"
check "mkinitcpio's files at mode 0644" \
    "[ -z \"\$(find '$X/usr/lib/initcpio' -type f ! -perm 0644)\" ]"
check "the .install names the hooks for HOOKS" "grep -q 'sd-mpboot' '$X/.INSTALL' && grep -q 'block mpboot filesystems' '$X/.INSTALL'"

# pacman into an Arch-like root, where its own hooks run as on Arch:
# pacman runs them chrooted into --root. The root's /usr is this
# machine's under an overlay, with mkinitcpio v41 and its pacman hook
# and script (libalpm/, unmodified) laid over it; what pacman writes
# lands in the overlay's upper layer. /etc holds the preset and the
# mkinitcpio.conf an admin who chose mpboot has (HOOKS naming it), and
# Debian's paths for udev's install hook where an admin's overrides go
# (/etc/initcpio/install). Busybox is where Arch's mkinitcpio-busybox
# puts it. Nothing else is done: the image must come from pacman's hook.
P=$D/root O=$D/overlay
mounts() { echo "$P/dev" "$P/proc" "$P/sys" "$P/usr"; }
unmount_all $(mounts)
rm -rf --one-file-system "$P" "$O"
mkdir -p "$P"/{usr,dev,proc,sys,tmp,boot,run,var/lib/pacman,var/cache/pacman/pkg,etc/mkinitcpio.d,etc/initcpio/install} \
    "$O"/{upper,work}
for l in bin sbin lib lib64; do ln -s "usr/$l" "$P/$l"; done
mount -t overlay overlay -o "lowerdir=$MK_ROOT/usr:/usr,upperdir=$O/upper,workdir=$O/work" "$P/usr"
mount --bind /dev "$P/dev" && mount -t proc proc "$P/proc" && mount --bind /sys "$P/sys"
cleanup() { unmount_all "$RUSTUP_RO" "$CARGO_BIN_RO" $(mounts); }
src=$MK/mkinitcpio-41
install -D -m 0644 "$src/libalpm/hooks/90-mkinitcpio-install.hook" "$P/usr/share/libalpm/hooks/90-mkinitcpio-install.hook"
install -D -m 0755 "$src/libalpm/scripts/mkinitcpio" "$P/usr/share/libalpm/scripts/mkinitcpio"
install -D -m 0755 "$MK/busybox/bin/busybox" "$P/usr/lib/initcpio/busybox"
cp "$MK/override/install/udev" "$P/etc/initcpio/install/udev"
cp -a /etc/passwd /etc/group /etc/ld.so.cache /etc/alternatives "$P/etc/"
printf 'MODULES=(virtio_pci virtio_scsi sd_mod ext4)\nHOOKS=(base udev modconf block mpboot filesystems)\nCOMPRESSION=gzip\n' \
    >"$P/etc/mkinitcpio.conf"
printf "ALL_config='/etc/mkinitcpio.conf'\nALL_kver='%s'\nPRESETS=('default')\ndefault_image='/boot/initramfs-linux.img'\n" \
    "$KVER" >"$P/etc/mkinitcpio.d/linux.preset"
printf '[options]\nSigLevel = Never\nArchitecture = x86_64\n' >"$D/pacman.conf"
pac() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        pacman --config "$D/pacman.conf" --root "$P" --dbpath "$P/var/lib/pacman" --noconfirm "$@"
}
# pacman's and the hook's lines worth reading (not the firmware warnings
# of every SCSI driver block adds); and whether the hook ran clean.
show_log() { grep -vE 'missing firmware|Running build hook|^ *$|^:: Proceed|^:: Do you' "$2" | sed "s/^/# $1: /"; }
clean_log() { ! grep -qE 'ERROR|command not found|No such file' "$1"; }
img_list() { MKINITCPIO_LIBRARY=$MK_ROOT/usr/lib/initcpio "$MK_ROOT/usr/sbin/lsinitcpio" "$P/boot/initramfs-linux.img" 2>/dev/null || true; }
pac -U --nodeps "$PKG" >"$D/pacman.log" 2>&1 && rc=0 || rc=$?
show_log "pacman -U" "$D/pacman.log"
check "pacman -U: exit 0, the files in the root" "[ $rc = 0 ] && [ -x '$P/usr/bin/mpboot' ]"
check "pacman -U: the .install's message names the hooks for HOOKS" "grep -q 'block mpboot filesystems' '$D/pacman.log'"
list=$(img_list)
check "pacman -U ran mkinitcpio's hook, whose mkinitcpio -P built the preset's image" \
    "grep -q 'Updating linux initcpios' '$D/pacman.log' && grep -q \"Building image from preset: /etc/mkinitcpio.d/linux.preset: 'default'\" '$D/pacman.log' && [ -n \"\$list\" ]"
check "pacman -U: the hook ran clean (no ERROR, no missing command or file)" "clean_log '$D/pacman.log'"
check "that image holds mpboot and its hook" \
    "grep -qx 'usr/bin/mpboot' <<<\"\$list\" && grep -qx 'hooks/mpboot' <<<\"\$list\""

# Removal as the .install says: mpboot out of HOOKS first; pacman's hook
# then rebuilds the image without it.
sed -i 's/ mpboot / /' "$P/etc/mkinitcpio.conf"
pac -R mpboot >"$D/pacman-r.log" 2>&1 && rc=0 || rc=$?
show_log "pacman -R" "$D/pacman-r.log"
list=$(img_list)
left=$(for f in $want; do [ ! -e "$P/$f" ] || echo "$f"; done)
check "pacman -R: exit 0, no file of the package left" "[ $rc = 0 ] && [ -z '$left' ]"
check "pacman -R: the .install says to take the hook out of HOOKS" "grep -q \"remove 'mpboot'\" '$D/pacman-r.log'"
check "pacman -R: the hook ran clean" "clean_log '$D/pacman-r.log'"
check "pacman -R ran mkinitcpio's hook again: the image no longer holds mpboot" \
    "grep -q 'Updating linux initcpios' '$D/pacman-r.log' && [ -n \"\$list\" ] && ! grep -q mpboot <<<\"\$list\""
cleanup
