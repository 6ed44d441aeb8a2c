#!/usr/bin/env bash
# What the write-ahead marking of persistent change tracking costs: fio through `live` with
# StateDirectory set and with it empty (tracking in memory only), beside the raw backing file,
# in one run. Random 4 KiB at qd16 and sequential 1 MiB, O_DIRECT, tracking on, no snapshot.
# Each BlkSnapFs pass starts a fresh daemon on a fresh file, so every write is a first touch for
# the marks (the costly case: after a take the marks start over the same way).
# usage: bench/state-cost.sh [--size-mib N] [--runtime SEC] [--passes N] [--dir DIR] [--bin DIR]
set -euo pipefail
# shellcheck source=fio-bench-options.sh
source "$(dirname "$0")/fio-bench-options.sh"
fio_bench_options state-cost.sh 1024 20 2 "$@"
command -v fio >/dev/null || { echo "state-cost.sh: fio is missing (ENOENT): apt-get install fio" >&2; exit 1; }
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory state-cost "$dir"
mkdir -p "$work/mnt" "$work/state"

# fio_mibs TARGET RW BS: MiB/s of one fio pass, from a clean page cache to an fsync at the end
# (the daemon writes the original through the page cache, so that is where its writes land).
fio_mibs() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  fio --name=cost --end_fsync=1 --filename="$1" --rw="$2" --bs="$3" --iodepth=16 --ioengine=libaio --direct=1 \
      --size="${size}M" --runtime="$runtime" --time_based=0 --output-format=terse --terse-version=3 2>/dev/null \
    | awk -F';' '{ printf "%.1f", $48 / 1024 }'
}

fresh_file() { rm -f "$work/disk.img"; truncate -s "${size}M" "$work/disk.img"; fallocate -l "${size}M" "$work/disk.img"; }

# through_live STATE_DIRECTORY RW BS
through_live() {
  fresh_file
  rm -rf "$work/state"/*
  printf '{"ControlSocket":"%s/control.sock","StateDirectory":"%s","Devices":[{"Name":"d","Path":"%s/disk.img"}]}' \
    "$work" "$1" "$work" > "$work/config.json"
  "$bin/blksnapfs" --config "$work/config.json" "$work/mnt"
  fio_mibs "$work/mnt/d/live" "$2" "$3"
  umount "$work/mnt"
  for _ in $(seq 50); do pgrep -f "blksnapfs --config $work" >/dev/null || break; sleep 0.1; done
}

printf '%-18s %10s %-22s %-22s %s\n' workload "raw MiB/s" "memory MiB/s" "state MiB/s" "state/memory"
best() { tr ' ' '\n' | sed '/^$/d' | sort -g | tail -n 1; }
for w in "randwrite 4k" "write 1M"; do
  set -- $w
  fresh_file
  raw=$(fio_mibs "$work/disk.img" "$1" "$2")
  # Alternating, $passes each: a pass's neighbour (writeback of the one before) moves single figures,
  # so the table gives the median and the best of each side.
  memory="" state=""
  for ((i = 1; i <= passes; i++)); do
    m=$(through_live "" "$1" "$2"); s=$(through_live "$work/state" "$1" "$2")
    memory+=" $m" state+=" $s"
    echo "  pass $i: $1 $2 memory $m state $s" >&2
  done
  mm=$(median <<<"$memory") sm=$(median <<<"$state") mb=$(best <<<"$memory") sb=$(best <<<"$state")
  printf '%-18s %10s %-22s %-22s %s\n' "$1 $2 qd16" "$raw" "$mm (best $mb)" "$sm (best $sb)" \
    "$(awk -v a="$sm" -v b="$mm" -v c="$sb" -v d="$mb" 'BEGIN { printf "%.2f (best %.2f)", a / b, c / d }')"
done
