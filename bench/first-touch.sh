#!/usr/bin/env bash
# First-touch writes through `live` with a taken snapshot, beside the raw file, in one run: fio
# random 4 KiB and sequential 1 MiB at qd16 (O_DIRECT, libaio, fsync at the end), and the peer
# bench's sequential pass (1 MiB psync, one write at a time, the whole device), on a device written
# whole; how much of the difference storage each pass used, and the CPU time the serving process
# took for it. Give several builds as LABEL=BINDIR to compare them side by side (an older build:
# `git worktree add` and `make`).
# usage: bench/first-touch.sh [--size-mib N] [--runs N] [--dir DIR] [LABEL=BINDIR ...]
set -euo pipefail
size=1024 runs=2 dir=/var/tmp builds=()
while (($#)); do
  case $1 in
    --size-mib) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *=*) builds+=("$1"); shift ;;
    *) echo "first-touch.sh: unknown option $1 (EINVAL)" >&2; exit 2 ;;
  esac
done
((${#builds[@]})) || builds=("blksnapfs=$(cd "$(dirname "$0")/.." && pwd)/out/bin")
command -v fio >/dev/null || { echo "first-touch.sh: fio is missing (ENOENT): apt-get install fio" >&2; exit 1; }
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory first-touch "$dir"

fill() { rm -f "$work/disk.img"; fio --name=fill --filename="$work/disk.img" --rw=write --bs=1M --size="${size}M" --output=/dev/null; }

# fio_mibs FILE RW BS IO_MIB ENGINE: MiB/s of one pass from a clean page cache (libaio: 16 in flight)
fio_mibs() {
  sync; echo 3 > /proc/sys/vm/drop_caches
  local depth=16
  [[ $5 == psync ]] && depth=1
  fio --name=touch --filename="$1" --rw="$2" --bs="$3" --iodepth="$depth" --ioengine="$5" --direct=1 --size="${size}M" \
      --io_size="$4M" --randrepeat=1 --end_fsync=1 --output-format=terse --terse-version=3 2>/dev/null \
    | awk -F';' '{ printf "%.1f", $48 / 1024 }'
}

# cpu_ticks PID: the user and system clock ticks the process has used
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# through_live BINDIR RW BS IO_MIB ENGINE: "MiB/s used_MiB cpu_ticks" with a fresh daemon and a taken snapshot
through_live() {
  fill
  rm -rf "$work/storage"/*
  start_taken_daemon "$1" "$size"
  local mibs used before ticks
  before=$(cpu_ticks "$pid")
  mibs=$(fio_mibs "$work/mnt/d/live" "$2" "$3" "$4" "$5")
  used=$(sed -n 's/^storage_used_bytes: //p' "$work/mnt/d/info")
  ticks=$(($(cpu_ticks "$pid") - before))
  stop_daemon
  echo "$mibs $((used / 1048576)) $ticks"
}

printf '| %-25s | %-10s | %8s | %8s | %14s | %9s |\n' workload build "MiB/s" "/ raw" "storage MiB" "CPU ticks"
printf '|---|---|---|---|---|---|\n'
for w in "randwrite 4k $((size / 16)) libaio" "write 1M $((size / 2)) libaio" "write 1M $size psync"; do
  set -- $w
  label="$1 $2 qd16, ${3} MiB"
  [[ $4 == psync ]] && label="$1 $2 psync, ${3} MiB"
  for run in $(seq "$runs"); do
    fill
    raw=$(fio_mibs "$work/disk.img" "$1" "$2" "$3" "$4")
    printf '| %-25s | %-10s | %8s | %8s | %14s | %9s |\n' "$label" raw "$raw" 1.00 - -
    for build in "${builds[@]}"; do
      read -r mibs used ticks < <(through_live "${build#*=}" "$1" "$2" "$3" "$4")
      printf '| %-25s | %-10s | %8s | %8s | %14s | %9s |\n' "$label" "${build%%=*}" "$mibs" \
        "$(awk -v a="$mibs" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')" "$used" "$ticks"
    done
  done
done
