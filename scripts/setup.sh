#!/usr/bin/env bash
# Installs what building and testing need (with --bench, what `make bench` needs too); quick when everything is present.
set -euo pipefail
# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
packages=(fuse3 rsync xfsprogs fio nbdkit libnbd-bin qemu-utils kmod cpio busybox-static
          nbd-client qemu-system-x86 qemu-system-common e2fsprogs util-linux dosfstools
          python3-libnbd dmsetup squashfs-tools afl++)
# `make bench` also draws its chart (bench/peers/report.py).
[[ ${1:-} == --bench ]] && packages+=(gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt_get update -q >/dev/null
  apt_get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: dotnet SDK not found (ENOENT)" >&2; exit 1; }
# The fuzzing lane (fuzz/run.sh): SharpFuzz's instrumenter, a .NET tool, beside afl-fuzz (afl++ above).
if ! dotnet tool list --global | grep -q '^sharpfuzz.commandline '; then
  echo "setup: installing the sharpfuzz tool"
  dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null
fi
