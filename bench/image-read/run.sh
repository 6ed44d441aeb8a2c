#!/usr/bin/env bash
# dd bs=1M of a snapshot image (untouched, and with half its chunks copied) against the raw
# backing file, buffered and O_DIRECT, in the same run, caches dropped before each read.
# Usage: bench/image-read/run.sh [SIZE_MIB] [RUNS]   (binaries from out/bin)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
size=${1:-1024} runs=${2:-3}
work=$(mktemp -d /var/tmp/blksnapfs-imageread.XXXXXX)
export BLKSNAPFS_SOCKET=$work/control.sock
cleanup() { mountpoint -q "$work/mnt" && umount "$work/mnt"; sleep 0.2; rm -rf "$work"; }
trap cleanup EXIT
mkdir "$work/mnt"
head -c "${size}M" /dev/urandom > "$work/disk.img"
"$root/out/bin/blksnapfs" "$work/mnt" -o "ControlSocket=$work/control.sock"
"$root/out/bin/blksnap" attach -d "$work/disk.img" --name disk >/dev/null
rate() { # dd args... -> MiB/s
  sync; echo 3 > /proc/sys/vm/drop_caches
  dd "$@" of=/dev/null bs=1M 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i-1); print '"$size"' / t }'
}
median() { tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f MiB/s (%.0f-%.0f)", a[int((NR + 1) / 2)], a[1], a[NR] }'; }
report() { # label samples...
  local label=$1; shift
  printf '%-44s %s\n' "$label" "$(echo "$@" | median)"
}
id=$("$root/out/bin/blksnap" snapshot_create -d disk -f "$work" -l "$((size * 2))M")
"$root/out/bin/blksnap" snapshot_take -i "$id"
declare -A samples
for phase in untouched half-copied; do
  if [[ $phase == half-copied ]]; then
    # every other 1 MiB written through live: half the chunks go to the difference storage
    python3 - "$work/mnt/disk/live" "$size" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
block = os.urandom(1 << 20)
for m in range(0, int(sys.argv[2]), 2):
    os.pwrite(fd, block, m << 20)
os.fsync(fd); os.close(fd)
PY
  fi
  for r in $(seq "$runs"); do
    samples[raw-buffered]+=" $(rate if="$work/disk.img")"
    samples[raw-direct]+=" $(rate if="$work/disk.img" iflag=direct)"
    samples[$phase-buffered]+=" $(rate if="$work/mnt/disk/image")"
    samples[$phase-direct]+=" $(rate if="$work/mnt/disk/image" iflag=direct)"
  done
done
echo "dd bs=1M, ${size} MiB, median of $((runs * 2)) raw and $runs image reads (min-max), caches dropped"
report "raw backing file, buffered" ${samples[raw-buffered]}
report "raw backing file, O_DIRECT" ${samples[raw-direct]}
for phase in untouched half-copied; do
  report "image ($phase), buffered" ${samples[$phase-buffered]}
  report "image ($phase), O_DIRECT" ${samples[$phase-direct]}
done
"$root/out/bin/blksnap" snapshot_destroy -i "$id"
