#!/usr/bin/env bash
# Where BlkSnapFs spends a workload: one daemon, one device, a taken snapshot; for each workload
# its MiB/s, the daemon's CPU time and context switches (perf stat), and the read/write requests the
# daemon makes (strace: count and size per file). Optional: daemon options, to compare settings.
#
#   bench/peers/profile.sh [--size MiB] [--bin DIR] [--dir DIR] [--no-strace] [-- -o Key=Value ...]
# e.g. bench/peers/profile.sh --size 512 -- -o Chunk:MinimumShift=16
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
size=512 bin=$repo/out/bin base=/var/tmp use_strace=1
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --no-strace) use_strace=0; shift ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d "$base/blksnapfs-profile.XXXXXX")
mkdir -p "$work/bin" "$work/mnt" "$work/diff"
cp "$bin/blksnapfs" "$bin/blksnap" "$work/bin/"; [ -e "$bin/blksnapfs.json" ] && cp "$bin/blksnapfs.json" "$work/bin/"
bin=$work/bin
export BLKSNAPFS_SOCKET=$work/control.sock
daemon= tracer=
cleanup() {
  set +e
  [ -n "$tracer" ] && kill "$tracer" 2>/dev/null
  grep -qs " $work/mnt fuse" /proc/mounts && { fusermount3 -u "$work/mnt" || umount -l "$work/mnt"; }
  [ -n "$daemon" ] && { kill "$daemon" 2>/dev/null; sleep 0.3; kill -9 "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

head -c "${size}M" /dev/urandom > "$work/dev.img"
printf '{ "ControlSocket": "%s", "LogLevel": "Warning", "Nbd": { "SocketDirectory": "%s" }, "Devices": [ { "Name": "dev", "Path": "%s", "Frontend": "fuse" } ] }\n' \
  "$BLKSNAPFS_SOCKET" "$work" "$work/dev.img" > "$work/c.json"
"$bin/blksnapfs" --config "$work/c.json" "$work/mnt" -f "$@" > "$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 200); do grep -qs " $work/mnt fuse" /proc/mounts && break; sleep 0.05; done
echo "daemon pid $daemon, options: ${*:-(defaults)}; $size MiB device"

snap() { id=$("$bin/blksnap" snapshot_create -d dev -f "$work/diff" -l "$((size * 2))M"); "$bin/blksnap" snapshot_take -i "$id" >/dev/null; }
unsnap() { "$bin/blksnap" snapshot_destroy -i "$id" >/dev/null; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
fdname() { readlink "/proc/$daemon/fd/$1" 2>/dev/null | sed "s|$work/||" || echo "fd$1"; }

measure() { # NAME MIB -- command...
  local name=$1 mib=$2; shift 3
  local t0 t1 stat=$work/perf.txt
  drop
  if [ $use_strace = 1 ]; then
    strace -f -qq -e trace=pread64,pwrite64,preadv,pwritev,read,write,readv,writev -e signal=none -p "$daemon" -o "$work/strace.txt" 2>/dev/null &
    tracer=$!; sleep 0.5
  fi
  t0=${EPOCHREALTIME/./}
  perf stat -x, -e task-clock,context-switches,cpu-migrations -p "$daemon" -o "$stat" -- "$@" >/dev/null 2>&1
  t1=${EPOCHREALTIME/./}
  if [ $use_strace = 1 ]; then kill "$tracer"; wait "$tracer" 2>/dev/null || true; tracer=; fi
  printf '%-22s %8.1f MiB/s (under %s)  daemon CPU %s ms, %s context switches\n' "$name" \
    "$(awk -v m="$mib" -v us=$((t1 - t0)) 'BEGIN{print m * 1e6 / us}')" "$([ $use_strace = 1 ] && echo strace || echo perf stat)" \
    "$(awk -F, '/task-clock/ {printf "%.0f", $1}' "$stat")" "$(awk -F, '/context-switches/ {print $1}' "$stat")"
  if [ $use_strace = 1 ]; then
    # requests per file descriptor and size, the most frequent first
    grep -oE '(pread64|pwrite64|preadv|pwritev|readv|writev|read|write)\([0-9]+, .*= [0-9]+' "$work/strace.txt" |
      sed -E 's/^([a-z0-9]+)\(([0-9]+), .* = ([0-9]+)$/\1 \2 \3/' | sort | uniq -c | sort -rn | head -6 |
      while read -r n call fd bytes; do printf '    %7d × %-8s %8d B  %s\n' "$n" "$call" "$bytes" "$(fdname "$fd")"; done
  fi
}

snap
measure "image read buffered" "$size" -- dd if="$work/mnt/dev/image" of=/dev/null bs=1M
measure "seq 1M first touch" "$size" -- fio --name=s --filename="$work/mnt/dev/live" --rw=write --bs=1M --size="${size}M" --direct=1 --ioengine=psync --end_fsync=1 --output=/dev/null
measure "seq 1M rewrite" "$size" -- fio --name=s --filename="$work/mnt/dev/live" --rw=write --bs=1M --size="${size}M" --direct=1 --ioengine=psync --end_fsync=1 --output=/dev/null
unsnap; snap
rio=$((size / 16))
measure "rand 4K first touch" "$rio" -- fio --name=r --filename="$work/mnt/dev/live" --rw=randwrite --bs=4k --size="${size}M" --io_size="${rio}M" --direct=1 --ioengine=libaio --iodepth=16 --randseed=42 --end_fsync=1 --output=/dev/null
measure "rand 4K rewrite" "$rio" -- fio --name=r --filename="$work/mnt/dev/live" --rw=randwrite --bs=4k --size="${size}M" --io_size="${rio}M" --direct=1 --ioengine=libaio --iodepth=16 --randseed=42 --end_fsync=1 --output=/dev/null
unsnap; snap
fio --name=h --filename="$work/mnt/dev/live" --rw=write:1M --bs=1M --size="${size}M" --direct=1 --ioengine=psync --end_fsync=1 --output=/dev/null
measure "image read buf, ½" "$size" -- dd if="$work/mnt/dev/image" of=/dev/null bs=1M
measure "image read direct, ½" "$size" -- dd if="$work/mnt/dev/image" of=/dev/null bs=1M iflag=direct
unsnap
echo "daemon threads: $(awk '/^Threads/ {print $2}' "/proc/$daemon/status"), RSS $(awk '/^VmRSS/ {print $2 / 1024}' "/proc/$daemon/status") MiB"
