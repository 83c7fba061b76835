#!/usr/bin/env bash
# The Arch package (issue 20): packaging/arch/PKGBUILD built by makepkg
# (Debian's) as an unprivileged user, with an Arch-like makepkg.conf whose
# RUSTFLAGS would make a plain cargo build dynamic: the packaged binary is
# a static-pie; its files are where Arch wants them (binary in /usr/bin,
# mkinitcpio's at mode 0644); pacman installs it into a root and removes
# it cleanly; and the real mkinitcpio (v41) builds an image from the
# installed package's hooks that holds mpboot, as its pacman hook would
# run it after the install.
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

# pacman into a root of its own; removed again.
P=$D/root
rm -rf "$P" && mkdir -p "$P/var/lib/pacman" "$P/usr/sbin"
printf '[options]\nSigLevel = Never\nArchitecture = x86_64\n' >"$D/pacman.conf"
ln -s ../bin/bash "$P/usr/sbin/bash" 2>/dev/null || true
pac() { pacman --config "$D/pacman.conf" --root "$P" --dbpath "$P/var/lib/pacman" --noconfirm "$@"; }
pac -U --nodeps --noscriptlet "$PKG" >"$D/pacman.log" 2>&1 && rc=0 || rc=$?
check "pacman -U: exit 0, the files in the root" "[ $rc = 0 ] && [ -x '$P/usr/bin/mpboot' ]"

# What mkinitcpio's pacman hook runs after it (mkinitcpio for each
# preset), with the hooks the package installed, HOOKS naming mpboot.
lib=$MK_ROOT/usr/lib/initcpio ip=$P/usr/lib/initcpio
printf 'MODULES=(virtio_pci virtio_scsi sd_mod ext4)\nHOOKS=(base udev modconf block mpboot filesystems)\nCOMPRESSION=gzip\n' >"$D/mk.conf"
MKINITCPIO_LIBRARY=$lib MKINITCPIO_HOOKS="$ip/hooks:$lib/hooks" \
    MKINITCPIO_INSTALL="$MK/override/install:$ip/install:$lib/install" \
    MPBOOT_BIN=$P/usr/bin/mpboot MPBOOT_DATA=$P/usr/lib/mpboot \
    "$MK_ROOT/usr/sbin/mkinitcpio" -c "$D/mk.conf" -k "$KVER" -g "$D/arch.img" >"$D/mk.log" 2>&1 && rc=0 || rc=$?
list=$(MKINITCPIO_LIBRARY=$lib "$MK_ROOT/usr/sbin/lsinitcpio" "$D/arch.img" 2>/dev/null || true)
check "mkinitcpio v41 with the package's hook: the image holds mpboot and its hook" \
    "[ $rc = 0 ] && grep -qx 'usr/bin/mpboot' <<<\"\$list\" && grep -qx 'hooks/mpboot' <<<\"\$list\""
pac -R --noscriptlet mpboot >>"$D/pacman.log" 2>&1 && rc=0 || rc=$?
check "pacman -R: exit 0, no file of the package left" \
    "[ $rc = 0 ] && [ -z \"\$(find '$P/usr' -name '*mpboot*' 2>/dev/null)\" ]"
