#!/usr/bin/env bash
# What an incremental `blksnap backup` saves: a device written whole, then 1 % of its tracking
# blocks rewritten at random. In one run: a full backup of the first snapshot, the incremental of
# the second on it (from the FUSE image and pulled over its NBD image export), and nbdcopy of the
# whole second image to null: (what a client without the dirty bitmap must read). Caches are
# dropped before each pass, so every byte read comes from the disk.
# usage: bench/backup.sh [--size-mib N] [--percent P] [--dir DIR] [--bin DIR]
set -euo pipefail
size=8192 percent=1 dir=/var/tmp bin=$(cd "$(dirname "$0")/.." && pwd)/out/bin
while (($#)); do
  case $1 in
    --size-mib) size=$2; shift 2 ;;
    --percent) percent=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "backup.sh: unknown option $1 (EINVAL)" >&2; exit 2 ;;
  esac
done
for tool in fio nbdcopy qemu-img python3; do
  command -v $tool >/dev/null || { echo "backup.sh: $tool is missing (ENOENT): scripts/setup.sh installs it" >&2; exit 1; }
done
need=$(( size * 5 / 2 ))
free=$(df -m --output=avail "$dir" | tail -1)
((free > need)) || { echo "backup.sh: $dir has $free MiB free, the run needs $need MiB (ENOSPC)" >&2; exit 1; }
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory backup-bench "$dir"
mkdir -p "$work/mnt" "$work/storage"
blksnap() { "$bin/blksnap" --socket "$work/control.sock" "$@"; }
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
info() { sed -n "s/^$1: //p" "$work/mnt/d/info"; }

echo "backup.sh: writing ${size} MiB of incompressible data" >&2
truncate -s "${size}M" "$work/disk.img"
fio --name=fill --filename="$work/disk.img" --rw=write --bs=1M --size="${size}M" --ioengine=psync \
    --refill_buffers --buffer_compress_percentage=0 --end_fsync=1 --output=/dev/null
printf '{"ControlSocket":"%s/control.sock","StateDirectory":"","Nbd":{"SocketDirectory":"%s/nbd"},"Devices":[{"Name":"d","Path":"%s/disk.img"}]}' \
  "$work" "$work" "$work" > "$work/config.json"
"$bin/blksnapfs" --config "$work/config.json" "$work/mnt"

take() {
  local id
  id=$(blksnap snapshot_create -d d -f "$work/storage" -l "$((size / 4))M")
  blksnap snapshot_take -i "$id" >/dev/null
  echo "$id"
}

first=$(take)
cold
full=$(blksnap backup -d d -o "$work/full.qcow2" --json)
blksnap snapshot_destroy -i "$first" >/dev/null

block=$(blksnap cbtinfo -d d --json | field block_size)
blocks=$(blksnap cbtinfo -d d --json | field block_count)
changed=$(( blocks * percent / 100 ))
echo "backup.sh: rewriting $changed of $blocks blocks of $block bytes" >&2
python3 - "$work/mnt/d/live" "$block" "$blocks" "$changed" <<'EOF'
import os, random, sys
path, block, blocks, changed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(1)
fd = os.open(path, os.O_WRONLY)
for index in rng.sample(range(blocks), changed):
    os.pwrite(fd, os.urandom(block), index * block)
os.fsync(fd)
os.close(fd)
EOF

second=$(take)
export_uri=$(info image_export)
cold
incremental=$(blksnap backup -d d -o "$work/inc.qcow2" --base "$work/full.qcow2" --json)
cold
remote=$(blksnap backup -d d -o "$work/inc-remote.qcow2" --base "$work/full.qcow2" --from "$export_uri" --json)
cold
start=$(date +%s.%N)
nbdcopy "$export_uri" null:
nbdcopy_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
capacity=$(info capacity)
qemu-img compare -q "$work/inc.qcow2" "$work/mnt/d/image" || { echo "backup.sh: the incremental chain differs from the image (EIO)" >&2; exit 1; }
blksnap snapshot_destroy -i "$second" >/dev/null

full_s=$(echo "$full" | field seconds)
row() { # NAME SECONDS BYTES_READ
  printf '| %s | %.2f | %.1f | %.3f | %.3f |\n' "$1" "$2" "$(awk -v b="$3" 'BEGIN { print b / 1048576 }')" \
    "$(awk -v s="$2" -v f="$full_s" 'BEGIN { print s / f }')" "$(awk -v s="$2" -v n="$nbdcopy_s" 'BEGIN { print s / n }')"
}
echo "device ${size} MiB, ${percent} % of ${blocks} blocks of ${block} bytes rewritten (${changed})"
echo
echo "| pass | seconds | MiB read | time / full backup | time / nbdcopy |"
echo "|---|---|---|---|---|"
row "full backup (qcow2, FUSE image)" "$full_s" "$(echo "$full" | field bytes_read)"
row "incremental (qcow2, FUSE image)" "$(echo "$incremental" | field seconds)" "$(echo "$incremental" | field bytes_read)"
row "incremental (qcow2, --from NBD)" "$(echo "$remote" | field seconds)" "$(echo "$remote" | field bytes_read)"
row "nbdcopy of the whole image to null:" "$nbdcopy_s" "$capacity"
