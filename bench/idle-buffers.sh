#!/usr/bin/env bash
# The serving process's VmRSS through a sequential first touch and after it, as the run buffers its
# device's snapshot kept go back once no run has been copied for 10-20 s (ChunkBuffers.IdleRelease).
# usage: bench/idle-buffers.sh [--dir DIR] [BINDIR]
set -euo pipefail
dir=/var/tmp
[[ ${1:-} == --dir ]] && { dir=$2; shift 2; }
bin=${1:-$(cd "$(dirname "$0")/.." && pwd)/out/bin}
command -v fio >/dev/null || { echo "idle-buffers.sh: fio is missing (ENOENT): apt-get install fio" >&2; exit 1; }
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory idle-buffers "$dir"
fio --name=fill --filename="$work/disk.img" --rw=write --bs=1M --size=1024M --output=/dev/null
start_taken_daemon "$bin" 1024
rss() { awk '/VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }
echo "snapshot taken: $(rss)"
fio --name=touch --filename="$work/mnt/d/live" --rw=write --bs=1M --iodepth=16 --ioengine=libaio --direct=1 \
    --size=1024M --io_size=512M --end_fsync=1 --output=/dev/null
echo "right after 512 MiB of 1 MiB first-touch writes (qd16): $(rss)"
for s in 5 13 25; do
  sleep $((s - ${last:-0})); last=$s
  echo "$s s later: $(rss)"
done
