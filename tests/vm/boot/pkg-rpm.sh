#!/usr/bin/env bash
# The RPM packages (issue 20): packaging/rpm/mpboot.spec built by rpmbuild
# (Debian's rpm) from a tarball of the checkout and the vendored crates,
# offline, with a RUSTFLAGS as Fedora's %build_rustflags sets one: mpboot
# (its binary a static-pie) and mpboot-dracut; their file lists; no
# scriptlet for Fedora, the initrd regeneration macros for openSUSE; both
# installed into a root with rpm --root and erased cleanly.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
D=$WORK/pkg-rpm
. "$(dirname "$0")/common.inc"

if ! command -v rpmbuild >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpm >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpm >/dev/null; }
fi

V=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
T=$D/rpmbuild
mkdir -p "$T"/{SOURCES,SPECS}
cp "$REPO/packaging/rpm/mpboot.spec" "$T/SPECS/"
(cd "$REPO" && git ls-files -z | tar --null -cf - --transform "s|^|mpboot-$V/|" -T -) | gzip -1 >"$T/SOURCES/mpboot-$V.tar.gz"
mkdir -p "$D/vend" && (cd "$REPO" && cargo vendor --locked --versioned-dirs "$D/vend/vendor" >/dev/null 2>"$D/vendor.log") ||
    { echo "not ok - cargo vendor failed: $(tail -2 "$D/vendor.log")"; exit 0; }
tar -C "$D/vend" -cJf "$T/SOURCES/mpboot-$V-vendor.tar.xz" vendor
# --nodeps: Debian's rpm database is empty, so BuildRequires cannot be met.
# build_rustflags: a RUSTFLAGS, as Fedora's macro gives one.
if ! rpmbuild -ba --nodeps --define "_topdir $T" --define "build_rustflags -Cforce-frame-pointers=yes" \
    "$T/SPECS/mpboot.spec" >"$D/rpmbuild.log" 2>&1; then
    echo "not ok - rpmbuild failed: $(tail -5 "$D/rpmbuild.log" | tr '\n' ' ')"
    exit 0
fi
M=$(ls "$T"/RPMS/x86_64/mpboot-"$V"-1*.x86_64.rpm)
MD=$(ls "$T"/RPMS/noarch/mpboot-dracut-"$V"-1*.noarch.rpm)
echo "ok - rpmbuild built $(basename "$M") and $(basename "$MD"), offline, %check run"
check "%check ran the unit tests" "grep -q 'test result: ok' '$D/rpmbuild.log'"
X=$D/x
rm -rf "$X" && mkdir -p "$X" && (cd "$X" && rpm2cpio "$M" | cpio -idm --quiet)
check "the packaged binary is a static-pie (%build_rustflags set)" \
    "file '$X/usr/sbin/mpboot' | grep -q 'static-pie linked'"
list() { rpm -qlp "$1" 2>/dev/null | grep -v '^/usr/lib/.build-id' | tr '\n' ' '; }
check "mpboot: the binary, man page, shutdown hook, NVMe part, licence" \
    "[ '$(list "$M")' = '/usr/lib/mpboot /usr/lib/mpboot/nvme.sh /usr/lib/systemd/system-shutdown/mpboot.shutdown /usr/sbin/mpboot /usr/share/doc/mpboot-$V /usr/share/doc/mpboot-$V/README.md /usr/share/licenses/mpboot-$V /usr/share/licenses/mpboot-$V/COPYING /usr/share/man/man8/mpboot.8 ' ]"
echo "# mpboot: $(list "$M")"
check "mpboot-dracut: the module and the dracut.conf.d file that leaves dracut's multipath out" \
    "[ '$(list "$MD")' = '/usr/lib/dracut/dracut.conf.d/50-mpboot.conf /usr/lib/dracut/modules.d/90mpboot /usr/lib/dracut/modules.d/90mpboot/56-mpboot.rules /usr/lib/dracut/modules.d/90mpboot/module-setup.sh /usr/lib/dracut/modules.d/90mpboot/mpboot-shutdown.sh /usr/lib/dracut/modules.d/90mpboot/mpboot-start.sh /usr/lib/dracut/modules.d/90mpboot/mpboot.service ' ]"
echo "# mpboot-dracut: $(list "$MD")"
req=$(rpm -qpR "$MD" 2>/dev/null || true) # whole, not piped to grep -q (SIGPIPE)
check "mpboot-dracut requires mpboot and dracut" \
    "grep -q '^mpboot = $V' <<<\"\$req\" && grep -qx dracut <<<\"\$req\""
check "Fedora: no scriptlet" "[ -z \"\$(rpm -qp --scripts '$MD' 2>/dev/null)\" ]"
suse=$(rpmspec -P --define 'suse_version 1600' --define 'regenerate_initrd_post REGEN-POST' \
    --define 'regenerate_initrd_posttrans REGEN-POSTTRANS' "$T/SPECS/mpboot.spec" 2>/dev/null)
check "openSUSE: %post/%postun mark the initrd, %posttrans rebuilds it" \
    "[ \$(grep -c '^REGEN-POST\$' <<<\"\$suse\") = 2 ] && grep -q '^REGEN-POSTTRANS\$' <<<\"\$suse\""

# Installed into a root and erased (busybox as the scriptlets' shell).
P=$D/root
rm -rf "$P" && mkdir -p "$P/bin"
cp /bin/busybox "$P/bin/busybox" && ln -s busybox "$P/bin/sh"
rpm --root "$P" --initdb
rpm --root "$P" -i --nodeps "$M" "$MD" >"$D/rpm.log" 2>&1 && rc=0 || rc=$?
check "rpm -i of both: exit 0, the files in the root" \
    "[ $rc = 0 ] && [ -x '$P/usr/sbin/mpboot' ] && [ -f '$P/usr/lib/dracut/modules.d/90mpboot/module-setup.sh' ]"
rpm --root "$P" -e mpboot-dracut mpboot >>"$D/rpm.log" 2>&1 && rc=0 || rc=$?
check "rpm -e of both: exit 0, no file of theirs left" \
    "[ $rc = 0 ] && [ -z \"\$(find '$P/usr' -name '*mpboot*' 2>/dev/null)\" ]"
