#!/usr/bin/env bash
# Two builds' live NBD exports side by side with `nbdkit file`, to measure a change to the NBD server:
# each build's daemon serves a device of its own (tracking on, no snapshot, nbd frontend with no
# /dev/nbd), nbdkit a file of its own, all of --size-mib random data. Each round runs one fio pass
# (nbd engine, qd16, --seconds, time based) against each of the three, the order reversed every
# other round; prints every round, then each server's figures (MiB/s) in the order of the rounds and their median.
# usage: bench/nbd-builds.sh --before BIN --after BIN [--rw RW] [--bs BS] [--rounds N] [--seconds S] [--size-mib N] [--dir DIR]
set -euo pipefail
before= after= rw=randwrite bs=4k rounds=6 seconds=5 size=512 dir=/dev/shm
while (($#)); do
  case $1 in
    --before) before=$2; shift 2 ;;
    --after) after=$2; shift 2 ;;
    --rw) rw=$2; shift 2 ;;
    --bs) bs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --size-mib) size=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "nbd-builds.sh: unknown option $1 (EINVAL)" >&2; exit 2 ;;
  esac
done
for build in "$before" "$after"; do
  [[ -n $build && -x $build/blksnapfs ]] || { echo "nbd-builds.sh: --before and --after must name directories holding blksnapfs ('$build') (ENOENT)" >&2; exit 2; }
done
for tool in fio nbdkit; do
  command -v "$tool" >/dev/null || { echo "nbd-builds.sh: $tool is missing (ENOENT): scripts/setup.sh installs it" >&2; exit 1; }
done
# shellcheck source=fio-bench-options.sh
source "$(dirname "$0")/fio-bench-options.sh"
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory nbd-builds "$dir"
# shellcheck source=nbd-servers.sh
source "$(dirname "$0")/nbd-servers.sh"
stop_all() {
  stop_nbdkit
  for side in before after; do mountpoint -q "$work/$side/mnt" && umount "$work/$side/mnt"; done
  remove_work_directory
}
trap stop_all EXIT

before_uri=$(nbd_device_daemon nbd-builds.sh "$before" "$work/before" "$size")
after_uri=$(nbd_device_daemon nbd-builds.sh "$after" "$work/after" "$size")
mkdir -p "$work/nbdkit"
head -c "${size}M" /dev/urandom >"$work/nbdkit/disk.img"
start_nbdkit nbd-builds.sh "$work/nbdkit/sock" "$work/nbdkit/disk.img"
nbdkit_uri="nbd+unix:///?socket=$work/nbdkit/sock"

pass() {
  fio --name=nbd-builds --ioengine=nbd --uri="$1" --rw="$rw" --bs="$bs" --iodepth=16 --size="${size}M" \
      --runtime="$seconds" --time_based=1 --output-format=terse --terse-version=3 2>/dev/null | fio_mib_per_s "$rw"
}

all_before="" all_after="" all_nbdkit=""
for ((i = 1; i <= rounds; i++)); do
  if ((i % 2)); then
    b=$(pass "$before_uri"); a=$(pass "$after_uri"); k=$(pass "$nbdkit_uri")
  else
    k=$(pass "$nbdkit_uri"); a=$(pass "$after_uri"); b=$(pass "$before_uri")
  fi
  all_before+=" $b" all_after+=" $a" all_nbdkit+=" $k"
  echo "round $i: before $b after $a nbdkit $k"
done
echo "$rw $bs, $rounds rounds of ${seconds} s, files in $dir (MiB/s):"
for side in before after nbdkit; do
  figures=all_$side
  echo "$side:${!figures} (median $(median <<<"${!figures}"))"
done
