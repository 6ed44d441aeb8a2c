#!/usr/bin/env bash
# Smoke test of the kernel-test VM lane: vm.sh's own checks, then tests/kernel/guest/smoke.sh
# (modules, nbd over a Unix socket, dm-linear table swap under writes, dotnet) in one boot.
# Last line: "kernel-tests: N passed, N failed"; non-zero exit on any failure.
set -euo pipefail
exec "$(dirname "$0")/run-tests.sh" --self-check "$(dirname "$0")/guest/smoke.sh"
