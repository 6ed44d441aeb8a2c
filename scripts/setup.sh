#!/usr/bin/env bash
# Installs what building and testing need; quick when everything is present.
set -euo pipefail
packages=(fuse3 rsync xfsprogs fio nbdkit libnbd-bin qemu-utils kmod cpio busybox-static
          nbd-client qemu-system-x86 qemu-system-common e2fsprogs util-linux dosfstools
          python3-libnbd dmsetup)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "setup: dotnet SDK not found (ENOENT)" >&2; exit 1; }
