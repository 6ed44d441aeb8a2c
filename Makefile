# BlkSnapFs: `make` builds out/bin/blksnapfs and out/bin/blksnap (native, ahead-of-time compiled).
PREFIX ?= /usr/local
DESTDIR ?=
CONFIGURATION ?= Release
OUT := out
BIN := $(OUT)/bin
SOURCES := $(shell find src \( -name bin -o -name obj \) -prune -o \( -name '*.cs' -o -name '*.csproj' \) -print) Directory.Build.props config/blksnapfs.json

.PHONY: all build setup test test-kernel fuzz demo install uninstall bench deb clean

all: build

setup:
	@scripts/setup.sh

build: setup $(BIN)/blksnapfs $(BIN)/blksnap
	dotnet build BlkSnapFs.sln -c $(CONFIGURATION) -nologo -v q -clp:ErrorsOnly

$(BIN)/blksnapfs: $(SOURCES)
	dotnet publish src/BlkSnapFs.Daemon -c $(CONFIGURATION) -r linux-x64 -nologo -v q -clp:ErrorsOnly -o $(OUT)/publish/daemon
	install -D -m 0755 $(OUT)/publish/daemon/blksnapfs $@
	install -D -m 0644 config/blksnapfs.json $(BIN)/blksnapfs.json

$(BIN)/blksnap: $(SOURCES)
	dotnet publish src/BlkSnapFs.Cli -c $(CONFIGURATION) -r linux-x64 -nologo -v q -clp:ErrorsOnly -o $(OUT)/publish/cli
	install -D -m 0755 $(OUT)/publish/cli/blksnap $@

test: build
	BLKSNAPFS_BIN=$(CURDIR)/$(BIN) scripts/test.sh

test-kernel: build
	tests/kernel/run-tests.sh --self-check

# Every fuzz target under afl-fuzz for FUZZ_SECONDS each; fails on any crash or hang (fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz: setup
	fuzz/run.sh all $(FUZZ_SECONDS)

demo: build
	scripts/demo.sh $(CURDIR)/$(BIN)

# BlkSnapFs against the raw file, qemu-storage-daemon and nbdkit+nbdfuse: bench/RESULTS.md, bench/results.png.
bench: build
	scripts/setup.sh --bench
	bench/peers/run.sh --bin $(CURDIR)/$(BIN)

install: $(BIN)/blksnapfs $(BIN)/blksnap
	install -D -m 0755 $(BIN)/blksnapfs $(DESTDIR)$(PREFIX)/bin/blksnapfs
	install -D -m 0755 $(BIN)/blksnap $(DESTDIR)$(PREFIX)/bin/blksnap
	install -D -m 0644 config/blksnapfs.json $(DESTDIR)$(PREFIX)/share/blksnapfs/blksnapfs.json
	install -D -m 0755 packaging/mount.fuse.blksnapfs $(DESTDIR)/sbin/mount.fuse.blksnapfs
	install -D -m 0644 packaging/blksnapfs.service $(DESTDIR)/etc/systemd/system/blksnapfs.service
	sed -i 's|@PREFIX@|$(PREFIX)|g' $(DESTDIR)/etc/systemd/system/blksnapfs.service
	test -e $(DESTDIR)/etc/blksnapfs/blksnapfs.json || install -D -m 0644 packaging/blksnapfs.example.json $(DESTDIR)/etc/blksnapfs/blksnapfs.json

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/blksnapfs $(DESTDIR)$(PREFIX)/bin/blksnap $(DESTDIR)/sbin/mount.fuse.blksnapfs \
	      $(DESTDIR)/etc/systemd/system/blksnapfs.service
	rm -rf $(DESTDIR)$(PREFIX)/share/blksnapfs

deb: $(BIN)/blksnapfs $(BIN)/blksnap
	packaging/build-deb.sh $(OUT)

clean:
	rm -rf $(OUT) src/*/bin src/*/obj tests/*/bin tests/*/obj bench/*/bin bench/*/obj fuzz/*/bin fuzz/*/obj
