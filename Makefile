PREFIX ?= /usr/local
CONFIGURATION ?= Release
OUT := out

.PHONY: all build setup test test-unit test-kernel demo install bench deb clean

all: build

setup:
	@scripts/setup.sh

build: setup
	dotnet build BlkSnapFs.sln -c $(CONFIGURATION) -nologo -v q

test: build
	scripts/test.sh

clean:
	rm -rf $(OUT) src/*/bin src/*/obj tests/*/bin tests/*/obj bench/*/bin bench/*/obj
