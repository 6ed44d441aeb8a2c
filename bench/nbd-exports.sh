#!/usr/bin/env bash
# The NBD exports' own speed beside nbdkit's file plugin on the same file, with the same clients, in
# one run: the live export (tracking on, no snapshot) against `nbdkit file`, and the image export of
# an untouched snapshot against `nbdkit file --readonly`. Clients: fio's nbd engine (4 KiB random and
# 1 MiB sequential at qd16), nbdcopy (whole export to null:) and qemu-img convert (to a null target).
# Each figure is the median of --passes passes, ours and nbdkit's alternating, each first in every other
# pass; ratio = ours / nbdkit.
# usage: bench/nbd-exports.sh [--size-mib N] [--runtime SEC] [--passes N] [--dir DIR] [--bin DIR]
set -euo pipefail
# shellcheck source=fio-bench-options.sh
source "$(dirname "$0")/fio-bench-options.sh"
fio_bench_options nbd-exports.sh 1024 15 3 "$@"
for tool in fio nbdkit nbdcopy qemu-img; do
  command -v "$tool" >/dev/null || { echo "nbd-exports.sh: $tool is missing (ENOENT): scripts/setup.sh installs it" >&2; exit 1; }
done
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory nbd-exports "$dir"
# shellcheck source=nbd-servers.sh
source "$(dirname "$0")/nbd-servers.sh"
trap 'stop_nbdkit; remove_work_directory' EXIT

live=$(nbd_device_daemon nbd-exports.sh "$bin" "$work" "$size")
export BLKSNAPFS_SOCKET=$work/run/control.sock
field() { sed -n "s/^$1: //p" "$work/mnt/d/info"; }

# nbdkit's file plugin on the same file, on a socket of its own at $peer_uri.
peer_uri="nbd+unix:///?socket=$work/run/nbdkit.sock"

# MiB/s of one client run against URI. Caches dropped first: both servers read the file through the page cache.
measure() {
  local client=$1 uri=$2 t0 t1
  sync
  echo 3 >/proc/sys/vm/drop_caches
  case $client in
    fio-*)
      set -- ${client#fio-}
      fio --name=nbd --ioengine=nbd --uri="$uri" --rw="$1" --bs="$2" --iodepth=16 --size="${size}M" \
          --runtime="$runtime" --time_based=0 --output-format=terse --terse-version=3 2>/dev/null \
        | fio_mib_per_s "$1" ;;
    nbdcopy|qemu-img)
      t0=$EPOCHREALTIME
      if [[ $client == nbdcopy ]]; then
        nbdcopy "$uri" null:
      else
        qemu-img convert -n -f raw --target-image-opts "$uri" "driver=null-co,size=$((size << 20))"
      fi
      t1=$EPOCHREALTIME
      awk -v a="$t0" -v b="$t1" -v s="$size" 'BEGIN { printf "%.1f", s / (b - a) }' ;;
  esac
}


printf '%-8s %-22s %14s %14s %7s\n' export client "ours MiB/s" "nbdkit MiB/s" ratio
# row EXPORT CLIENT OUR_URI NBDKIT_OPTIONS...
row() {
  local export=$1 client=$2 ours_uri=$3 ours="" peer="" i o p
  shift 3
  start_nbdkit nbd-exports.sh "$work/run/nbdkit.sock" "$work/disk.img" "$@"
  for ((i = 1; i <= passes; i++)); do
    # Which server goes first alternates: this VM's disk drifts over minutes, and whichever ran second was
    # faster for 4 pairs in a row, then slower for 4 (bench/RESULTS-nbd-exports.md, stop 27).
    if ((i % 2)); then
      o=$(measure "$client" "$ours_uri"); p=$(measure "$client" "$peer_uri")
    else
      p=$(measure "$client" "$peer_uri"); o=$(measure "$client" "$ours_uri")
    fi
    ours+=" $o" peer+=" $p"
    echo "  pass $i: $export $client ours $o nbdkit $p" >&2
  done
  o=$(median <<<"$ours") p=$(median <<<"$peer")
  printf '%-8s %-22s %14s %14s %7s\n' "$export" "$client" "$o" "$p" "$(awk -v a="$o" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"
}

for client in "fio-randread 4k" "fio-randwrite 4k" "fio-read 1M" "fio-write 1M" nbdcopy qemu-img; do
  row live "$client" "$live"
done
# The snapshot after the live rows: their writes would fill its difference storage.
id=$("$bin/blksnap" snapshot_create -d d)
"$bin/blksnap" snapshot_take -i "$id" >/dev/null
image=$(field image_export)
[[ $image == nbd+unix* ]] || { echo "nbd-exports.sh: no image export in info ($image) (ENOENT)" >&2; exit 1; }
for client in "fio-randread 4k" "fio-read 1M" nbdcopy qemu-img; do
  row image "$client" "$image" --readonly
done
stop_nbdkit
"$bin/blksnap" snapshot_destroy -i "$id"
umount "$work/mnt"
