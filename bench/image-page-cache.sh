#!/usr/bin/env bash
# What a backup's image read leaves in the page cache, and how fast it runs, beside a `dd` of the
# raw backing file: untouched, then with every other MiB copied (the peer bench's half-copied case).
# Each read starts from a clean page cache; the MiB of each file cached after it are counted with
# fincore. With --baseline DIR the same passes run with the binaries in DIR too, alternating.
# usage: bench/image-page-cache.sh [--size-mib N] [--passes N] [--dir DIR] [--bin DIR] [--baseline DIR]
set -euo pipefail
baseline=""
args=()
while (($#)); do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
# shellcheck source=fio-bench-options.sh
source "$(dirname "$0")/fio-bench-options.sh"
fio_bench_options image-page-cache.sh 1024 0 3 "${args[@]}"
for tool in fio fincore; do
  command -v "$tool" >/dev/null || { echo "image-page-cache.sh: $tool is missing (ENOENT): apt-get install fio util-linux" >&2; exit 1; }
done
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory image-page-cache "$dir"
mkdir -p "$work/mnt"
head -c "${size}M" /dev/urandom > "$work/source.img"

cached_mib() { fincore --bytes --noheadings --output RES "$1" | awk '{ printf "%.0f", $1 / 1048576 }'; }
# read_mibs FILE: MiB/s of a 1 MiB dd of FILE from a clean page cache
read_mibs() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  local t0=$EPOCHREALTIME
  dd if="$1" of=/dev/null bs=1M status=none
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v s="$size" 'BEGIN { printf "%.0f", s / (b - a) }'
}

# passes LABEL BIN: one daemon on a fresh copy of the device; the reads untouched, then half copied
passes() {
  local label=$1 bin=$2 id i u="" h=""
  cp "$work/source.img" "$work/disk.img"
  printf '{"ControlSocket":"%s/control.sock","StateDirectory":"","Devices":[{"Name":"d","Path":"%s/disk.img"}]}' "$work" "$work" > "$work/config.json"
  "$bin/blksnapfs" --config "$work/config.json" "$work/mnt"
  id=$("$bin/blksnap" --socket "$work/control.sock" snapshot_create -d d -f "$work/diff.storage" -l "$((size * 2))M")
  "$bin/blksnap" --socket "$work/control.sock" snapshot_take -i "$id" >/dev/null
  for ((i = 1; i <= passes; i++)); do u+=" $(read_mibs "$work/mnt/d/image")"; done
  printf '%-10s %-11s %-22s %9s %10s\n' "$label" untouched "$u" "$(cached_mib "$work/disk.img")" -
  fio --name=half --filename="$work/mnt/d/live" --rw=write:1M --bs=1M --size="${size}M" --direct=1 --ioengine=psync --end_fsync=1 >/dev/null
  for ((i = 1; i <= passes; i++)); do h+=" $(read_mibs "$work/mnt/d/image")"; done
  printf '%-10s %-11s %-22s %9s %10s\n' "$label" "half" "$h" "$(cached_mib "$work/disk.img")" "$(cached_mib "$work/diff.storage")"
  umount "$work/mnt"
  for _ in $(seq 50); do pgrep -f "blksnapfs --config $work" >/dev/null || break; sleep 0.1; done
  rm -f "$work/diff.storage"
}

echo "image-page-cache.sh: ${size} MiB device, $passes passes each; MiB/s of each pass, MiB cached after the last"
printf '%-10s %-11s %-22s %9s %10s\n' read image "MiB/s" original storage
raw=""
for ((i = 1; i <= passes; i++)); do raw+=" $(read_mibs "$work/source.img")"; done
printf '%-10s %-11s %-22s %9s %10s\n' "raw file" - "$raw" "$(cached_mib "$work/source.img")" -
passes blksnapfs "$bin"
[[ -z $baseline ]] || passes baseline "$baseline"
