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
mkdir -p "$work/mnt" "$work/run"
nbdkit_pid=
stop_nbdkit() { [[ -z $nbdkit_pid ]] || { kill "$nbdkit_pid" 2>/dev/null || true; wait "$nbdkit_pid" 2>/dev/null || true; nbdkit_pid=; }; }
trap 'stop_nbdkit; remove_work_directory' EXIT

head -c "${size}M" /dev/urandom >"$work/disk.img"
# Tracking kept on disk as in production, in the work directory so that nothing stays behind.
printf '{"ControlSocket":"%s/run/control.sock","StateDirectory":"%s/tracking","Devices":[{"Name":"d","Path":"%s/disk.img","Frontend":"nbd","NbdDevice":"none"}]}' \
  "$work" "$work" "$work" >"$work/config.json"
"$bin/blksnapfs" --config "$work/config.json" "$work/mnt"
export BLKSNAPFS_SOCKET=$work/run/control.sock
field() { sed -n "s/^$1: //p" "$work/mnt/d/info"; }
live=$(field live_export)
[[ $live == nbd+unix* ]] || { echo "nbd-exports.sh: no live export in info ($live) (ENOENT)" >&2; exit 1; }

# start_nbdkit [--readonly]: nbdkit's file plugin on the same file, on a socket of its own at $peer_uri.
peer_uri="nbd+unix:///?socket=$work/run/nbdkit.sock"
start_nbdkit() {
  stop_nbdkit
  rm -f "$work/run/nbdkit.sock"
  nbdkit --foreground --unix "$work/run/nbdkit.sock" "$@" file "$work/disk.img" >>"$work/nbdkit.log" 2>&1 &
  nbdkit_pid=$!
  for _ in $(seq 100); do [[ -S $work/run/nbdkit.sock ]] && return; sleep 0.05; done
  echo "nbd-exports.sh: nbdkit did not start (ETIMEDOUT): $(cat "$work/nbdkit.log")" >&2
  exit 1
}

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
        | awk -F';' -v rw="$1" '/^3;/ { printf "%.1f", (rw ~ /write/ ? $48 : $7) / 1024 }' ;;
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
  start_nbdkit "$@"
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
