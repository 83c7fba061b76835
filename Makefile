# make && make install [DESTDIR=...] [PREFIX=/usr]
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
ITOOLSDIR ?= $(PREFIX)/share/initramfs-tools
INITCPIODIR ?= $(PREFIX)/lib/initcpio
DATADIR ?= $(PREFIX)/lib/mpboot
DRACUTDIR ?= $(PREFIX)/lib/dracut/modules.d/90mpboot
SHUTDOWNDIR ?= $(PREFIX)/lib/systemd/system-shutdown
DRACUTCONFDIR ?= $(PREFIX)/lib/dracut/dracut.conf.d
CARGO ?= cargo
RUSTC ?= rustc
# The machine's own target unless told another (RUST_TARGET=...), named
# on cargo's command line so that .cargo/config.toml's static flags reach
# mpboot and not argh's proc-macro, with any cargo >= 1.77.
RUST_TARGET ?= $(shell $(RUSTC) -vV 2>/dev/null | sed -n 's/^host: //p')
BIN = target/$(RUST_TARGET)/release/mpboot
CARGO_BUILD = $(CARGO) build --release --target $(RUST_TARGET) $(CARGOFLAGS)

# .cargo/config.toml's flags, which make the binary a static-pie. cargo
# drops them when RUSTFLAGS is set (distributions' build environments set
# it), so they are added to it then; build.rs refuses a release build
# without crt-static.
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
ifneq ($(origin RUSTFLAGS),undefined)
export RUSTFLAGS := $(RUSTFLAGS) $(STATIC_RUSTFLAGS)
endif

all: build

build: target-known
	$(CARGO_BUILD)

# The unit tests, with the same flags (build.rs refuses a release build
# without crt-static).
unit-test: target-known
	$(CARGO) test --release --target $(RUST_TARGET) $(CARGOFLAGS)

target-known:
	@[ -n "$(RUST_TARGET)" ] || { echo "no target: '$(RUSTC) -vV' names no host; set RUST_TARGET" >&2; exit 1; }

# The binary must need no loader: an initramfs may have none. glibc
# targets whose Rust lacks static-pie give a static non-PIE binary.
check-static:
	@file -L $(BIN) | grep -qE 'static-pie linked|statically linked' || \
		{ echo "$(BIN) is not static: $$(file -bL $(BIN))" >&2; exit 1; }

$(BIN): target-known
	$(CARGO_BUILD)

# Everything; or the binary with what every integration shares, and each
# initramfs generator's part on its own, for packages that ship them apart.
install: install-bin install-dracut install-initramfs-tools install-mkinitcpio

# The binary, its man page, systemd-shutdown's hook, and the NVMe part the
# three hooks share.
install-bin: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/mpboot
	install -D -m 0644 doc/mpboot.8 $(DESTDIR)$(MANDIR)/man8/mpboot.8
	install -D -m 0755 systemd/mpboot.shutdown $(DESTDIR)$(SHUTDOWNDIR)/mpboot.shutdown
	install -D -m 0644 hooks-lib/nvme.sh $(DESTDIR)$(DATADIR)/nvme.sh

install-dracut:
	install -D -m 0755 dracut-module/module-setup.sh $(DESTDIR)$(DRACUTDIR)/module-setup.sh
	install -D -m 0755 dracut-module/mpboot-start.sh $(DESTDIR)$(DRACUTDIR)/mpboot-start.sh
	install -D -m 0755 dracut-module/mpboot-shutdown.sh $(DESTDIR)$(DRACUTDIR)/mpboot-shutdown.sh
	install -D -m 0644 dracut-module/mpboot.service $(DESTDIR)$(DRACUTDIR)/mpboot.service
	install -D -m 0644 dracut-module/56-mpboot.rules $(DESTDIR)$(DRACUTDIR)/56-mpboot.rules
	install -D -m 0644 dracut-module/50-mpboot.conf $(DESTDIR)$(DRACUTCONFDIR)/50-mpboot.conf

install-initramfs-tools:
	install -D -m 0755 initramfs-tools/hooks/mpboot $(DESTDIR)$(ITOOLSDIR)/hooks/mpboot
	install -D -m 0755 initramfs-tools/scripts/local-top/mpboot $(DESTDIR)$(ITOOLSDIR)/scripts/local-top/mpboot

# sd-mpboot takes the dracut module's unit and claim rule from DATADIR.
install-mkinitcpio:
	install -D -m 0644 mkinitcpio-hook/install/mpboot $(DESTDIR)$(INITCPIODIR)/install/mpboot
	install -D -m 0644 mkinitcpio-hook/hooks/mpboot $(DESTDIR)$(INITCPIODIR)/hooks/mpboot
	install -D -m 0644 mkinitcpio-hook/install/sd-mpboot $(DESTDIR)$(INITCPIODIR)/install/sd-mpboot
	install -D -m 0644 dracut-module/mpboot.service $(DESTDIR)$(DATADIR)/mpboot.service
	install -D -m 0644 dracut-module/56-mpboot.rules $(DESTDIR)$(DATADIR)/56-mpboot.rules

test:
	./run-tests

.PHONY: all build unit-test target-known check-static install install-bin install-dracut install-initramfs-tools install-mkinitcpio test
