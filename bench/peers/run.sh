#!/usr/bin/env bash
# BlkSnapFs against its peers on the same data in the same run: the raw backing file,
# qemu-storage-daemon (copy-before-write + snapshot-access over FUSE exports) and nbdkit+nbdfuse.
# Writes bench/RESULTS.md and bench/results.png (ratios). Needs root (drop_caches, FUSE mounts).
#
#   bench/peers/run.sh [--sizes "1024 8192"] [--runs 3] [--quick] [--bin DIR] [--dir DIR]
#                      [--peers "raw blksnapfs qemu nbdkit"] [--skip "pause pausefs memory latency engine ceiling"]
#                      [--results FILE] [--chart FILE] [--keep] [--also EARLIER.tsv]
#                      [--set Section:Key=VALUE ...]   (BlkSnapFs settings other than the defaults)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sizes="1024 8192"
runs=3
bin=$repo/out/bin
base=/var/tmp
peers="raw blksnapfs qemu nbdkit"
skip=""
results=$repo/bench/RESULTS.md
chart=$repo/bench/results.png
keep=0
also=()   # earlier runs' TSV files to put in the same report (e.g. an 8 GiB set run separately)
settings=()  # BlkSnapFs settings for every daemon the bench starts (-o Section:Key=VALUE)
cmdline="bench/peers/run.sh $*"

while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) sizes=256; runs=1; shift ;;
    --bin) bin=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --chart) chart=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --also) also+=("$2"); shift 2 ;;
    --set) settings+=(-o "$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches, FUSE mounts)" >&2; exit 1; }
for tool in qemu-storage-daemon qemu-img nbdkit nbdfuse fio gnuplot python3 "$bin/blksnapfs" "$bin/blksnap"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install qemu-system-common qemu-utils nbdkit libnbd-bin fio gnuplot-nox; make out/bin/blksnapfs out/bin/blksnap)" >&2; exit 1; }
done

py=$(command -v /usr/bin/python3 || command -v python3)
work=$(mktemp -d "$base/blksnapfs-bench.XXXXXX")
# the binaries are copied so that a rebuild during the run does not change what is measured
mkdir -p "$work/bin"
cp "$bin/blksnapfs" "$bin/blksnap" "$work/bin/"
[ -e "$bin/blksnapfs.json" ] && cp "$bin/blksnapfs.json" "$work/bin/"
build_info="blksnapfs sha256 $(sha256sum "$bin/blksnapfs" | cut -c1-12), built $(date -u -r "$bin/blksnapfs" '+%Y-%m-%d %H:%M UTC'); repo at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/')"
bin=$work/bin
tsv=$work/results.tsv
: > "$tsv"
pids=()      # processes this script started
mounts=()    # FUSE mount points this script made
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {
  set +e
  trap - EXIT INT TERM
  for m in "${mounts[@]}"; do
    if grep -qs " $m fuse" /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m"; fi
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for m in "${mounts[@]}"; do grep -qs " $m fuse" /proc/mounts && umount -l "$m"; done
  if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

mounted() { grep -qs " $1 fuse" /proc/mounts; }
wait_mounted() { for _ in $(seq 200); do mounted "$1" && return 0; sleep 0.05; done; echo "mount $1 did not appear" >&2; return 1; }
umount_fuse() { mounted "$1" && { fusermount3 -u "$1" 2>/dev/null || umount "$1"; }; return 0; }
stop_pid() {  # stop one process we started, by its pid, and forget it
  local p=$1 i
  kill "$p" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  local keep_pids=() q
  for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep_pids+=("$q"); done
  pids=("${keep_pids[@]}")
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now_us() { echo "${EPOCHREALTIME/./}"; }
# record SIZE PEER METRIC RUN VALUE UNIT
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$tsv"; log "  $2 $3 run$4: $5 $6"; }
# timed MiB SIZE PEER METRIC RUN -- command...: records MiB/s
timed() {
  local mib=$1 size=$2 peer=$3 metric=$4 run=$5; shift 6
  local t0 t1
  t0=$(now_us)
  "$@" >/dev/null 2>>"$work/tools.log" || { log "failed: $*"; tail -5 "$work/tools.log" >&2; return 1; }
  t1=$(now_us)
  record "$size" "$peer" "$metric" "$run" "$(awk -v m="$mib" -v us=$((t1 - t0)) 'BEGIN{printf "%.1f", m * 1e6 / us}')" MiB/s
}
# timed_fio SIZE PEER METRIC RUN -- fio_workload...: records MiB/s from fio's own report: bytes over the
# job's runtime, which includes its end_fsync but not fio's start-up (about 0.4 s here, the same for every
# peer; counted, it pulls the ratios of short passes toward 1)
timed_fio() {
  local size=$1 peer=$2 metric=$3 run=$4; shift 5
  rm -f "$work/fio.json"
  FIO_REPORT=$work/fio.json "$@" 2>>"$work/tools.log" || { log "failed: $*"; tail -5 "$work/tools.log" >&2; return 1; }
  record "$size" "$peer" "$metric" "$run" "$(fio_mib_s "$work/fio.json")" MiB/s
}
fio_mib_s() { # FIO_JSON [MIB]: bytes moved (or MIB) ÷ the longest job runtime, MiB/s
  "$py" -c 'import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
mib = float(sys.argv[2]) if len(sys.argv) > 2 else sum(j[d]["io_bytes"] for j in jobs for d in ("read", "write")) / 2**20
print(f"{mib / (max(j['"'"'job_runtime'"'"'] for j in jobs) / 1000):.1f}")' "$@"
}
checksum() { "$py" "$here/blocksum.py" "$1" "${2:-$work/pre.sums}"; }  # FILE [LIST]: per-MiB md5s kept in LIST

# ---------------------------------------------------------------- workloads
read_buffered() { dd if="$1" of=/dev/null bs=1M status=none; }
read_direct() { dd if="$1" of=/dev/null bs=1M iflag=direct status=none; }
fio_seq() {  # FILE SIZE_MIB: sequential 1 MiB O_DIRECT writes over the whole device, fsync at the end
  fio --name=seq --filename="$1" --rw=write --bs=1M --size="$2"M --direct=1 --ioengine=psync \
      --end_fsync=1 --randseed=7 --output-format=json --output="${FIO_REPORT:-/dev/null}"
}
fio_half() { # FILE SIZE_MIB: every other MiB written, so half of any chunk size <= 1 MiB gets copied
  fio --name=half --filename="$1" --rw=write:1M --bs=1M --size="$2"M --direct=1 --ioengine=psync \
      --end_fsync=1 --output-format=json --output="${FIO_REPORT:-/dev/null}"
}
fio_rand() { # FILE SIZE_MIB IO_MIB: random 4 KiB O_DIRECT writes, iodepth 16, the same offsets each call
  fio --name=rand --filename="$1" --rw=randwrite --bs=4k --size="$2"M --io_size="$3"M --direct=1 \
      --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 --end_fsync=1 --runtime=300 \
      --output-format=json --output="${FIO_REPORT:-/dev/null}"
}

# ---------------------------------------------------------------- peers
# Each peer: <peer>_setup SIZE DEV, <peer>_snap (sets IMG and LIVE), <peer>_unsnap, <peer>_teardown.
raw_setup() { :; }
raw_snap() { IMG=$DEV; LIVE=$DEV; }
raw_unsnap() { :; }
raw_teardown() { :; }

bsfs_write_config() { # FILE SOCKET NAME=PATH...
  local cfg=$1 sock=$2 first=1 d; shift 2
  {
    printf '{ "ControlSocket": "%s", "LogLevel": "Warning", "Nbd": { "SocketDirectory": "%s" }, "Devices": [' "$sock" "$work/nbd"
    for d in "$@"; do
      [ $first = 1 ] || printf ','
      first=0
      printf ' { "Name": "%s", "Path": "%s", "Frontend": "fuse" }' "${d%%=*}" "${d#*=}"
    done
    printf ' ] }\n'
  } > "$cfg"
}
bsfs_start() { # MOUNT CONFIG: starts the daemon in the foreground (background job), sets BSFS_PID
  mkdir -p "$1"
  "$bin/blksnapfs" --config "$2" "${settings[@]}" "$1" -f >>"$work/blksnapfs.log" 2>&1 &
  BSFS_PID=$!; pids+=("$BSFS_PID"); mounts+=("$1")
  wait_mounted "$1"
}
bsfs_stop() { umount_fuse "$1"; stop_pid "$BSFS_PID"; }
blksnapfs_setup() {
  export BLKSNAPFS_SOCKET=$work/bsfs.sock
  bsfs_write_config "$work/bsfs.json" "$BLKSNAPFS_SOCKET" "dev=$DEV"
  bsfs_start "$work/bsfs" "$work/bsfs.json"
}
blksnapfs_snap() {
  mkdir -p "$work/diff"
  SNAP_ID=$("$bin/blksnap" snapshot_create -d dev -f "$work/diff" -l "$((SIZE_MIB * 2))M")
  "$bin/blksnap" snapshot_take -i "$SNAP_ID" >/dev/null
  IMG=$work/bsfs/dev/image; LIVE=$work/bsfs/dev/live
}
blksnapfs_unsnap() { "$bin/blksnap" snapshot_destroy -i "$SNAP_ID" >/dev/null; }
blksnapfs_teardown() { bsfs_stop "$work/bsfs"; }

qsd_start() { # DEV SIZE_MIB PREFIX: file -> copy-before-write (qcow2 target) -> snapshot-access, FUSE exports; sets QSD_PID
  local dev=$1 size=$2 p=$3
  rm -f "$p.qcow2"; qemu-img create -q -f qcow2 "$p.qcow2" "${size}M"
  : > "$p.live"; : > "$p.image"
  qemu-storage-daemon \
    --blockdev "driver=file,node-name=base,filename=$dev,aio=threads" \
    --blockdev "driver=qcow2,node-name=target,file.driver=file,file.filename=$p.qcow2" \
    --blockdev "driver=copy-before-write,node-name=cbw,file=base,target=target" \
    --blockdev "driver=snapshot-access,node-name=snap,file=cbw" \
    --export "type=fuse,id=live,node-name=cbw,mountpoint=$p.live,writable=on" \
    --export "type=fuse,id=image,node-name=snap,mountpoint=$p.image,writable=off" \
    >>"$work/qsd.log" 2>&1 &
  QSD_PID=$!; pids+=("$QSD_PID"); mounts+=("$p.live" "$p.image")
  wait_mounted "$p.live"; wait_mounted "$p.image"
}
qsd_stop() { umount_fuse "$1.image"; umount_fuse "$1.live"; stop_pid "$QSD_PID"; rm -f "$1.qcow2"; }
qemu_setup() { :; }
qemu_snap() { qsd_start "$DEV" "$SIZE_MIB" "$work/qsd"; IMG=$work/qsd.image; LIVE=$work/qsd.live; }
qemu_unsnap() { qsd_stop "$work/qsd"; }
qemu_teardown() { :; }

nbdkit_start() { # DEV MOUNTDIR: nbdkit file plugin on a unix socket, nbdfuse (multi-conn) on MOUNTDIR/dev
  local dev=$1 m=$2
  mkdir -p "$m"
  nbdkit --foreground --unix "$m.sock" file "$dev" >>"$work/nbdkit.log" 2>&1 &
  NBDKIT_PID=$!; pids+=("$NBDKIT_PID")
  for _ in $(seq 100); do [ -S "$m.sock" ] && break; sleep 0.05; done
  nbdfuse "$m/dev" --unix "$m.sock" >>"$work/nbdkit.log" 2>&1 &
  NBDFUSE_PID=$!; pids+=("$NBDFUSE_PID"); mounts+=("$m")
  wait_mounted "$m"
}
nbdkit_stop() { umount_fuse "$1"; stop_pid "$NBDFUSE_PID"; stop_pid "$NBDKIT_PID"; rm -f "$1.sock"; }
nbdkit_setup() { nbdkit_start "$DEV" "$work/nbd-fuse"; }
nbdkit_snap() { IMG=$work/nbd-fuse/dev; LIVE=$IMG; }
nbdkit_unsnap() { :; }
nbdkit_teardown() { nbdkit_stop "$work/nbd-fuse"; }
fn() { [ "$1" = blksnapfs ] && echo "blksnapfs_$2" || echo "$1_$2"; }

# a peer's image is correct when it still reads as the device did before the snapshot (no-snapshot
# peers: when it reads as the backing file does after the writes)
check_image() { # SIZE PEER RUN WHAT EXPECTED: read the image twice, in 1 MiB reads and with md5sum's small reads
  local got stream what
  drop_caches
  got=$(checksum "$IMG" "$work/got.sums")
  drop_caches
  stream=$(md5sum < "$IMG" | cut -d' ' -f1)
  if [ "$got" = "$5" ] && [ "$stream" = "$5" ]; then record "$1" "$2" "correct_$4" "$3" 1 ok
  else
    what=$("$py" "$here/blocksum.py" --diff "$work/pre.sums" "$work/got.sums")
    [ "$got" = "$5" ] && what="1 MiB reads match; md5sum's stream of small reads differs"
    [ "$got" != "$5" ] && [ "$stream" = "$5" ] && what="$what (md5sum's small reads match)"
    record "$1" "$2" "correct_$4" "$3" 0 mismatch
    printf '%s\t%s\t%s\t%s\t0\t%s\n' "$1" "$2" "detail_$4" "$3" "$what" >> "$tsv"
    log "  !! $2: image differs from the device before the snapshot ($4): $what"
  fi
}

# The chunk I/O alone of random first-touch writes: the I/O a snapshot with BlkSnapFs's chunk size cannot
# avoid, run by fio with no waiting between its parts, all at once: random reads of every chunk the
# writes touch (O_DIRECT, 16 in flight: each of fio's 16 writes waits for at most one chunk), their
# store (buffered, sequential) and the 4 KiB writes themselves. Touched chunks are the expected count
# for W distinct 4 KiB blocks spread over B: chunks x (1 - (1 - W/B)^(blocks per chunk)).
chunk_shift() { # SIZE_MIB: the chunk shift BlkSnapFs picks for the size (default or --set Chunk:MinimumShift)
  local minimum=18 s
  for s in "${settings[@]}"; do [[ $s == Chunk:MinimumShift=* ]] && minimum=${s#*=}; done
  awk -v b="$(( $1 * 1048576 ))" -v m="$minimum" 'BEGIN { s = m; while (b / 2^s > 2097152) s++; print s }'
}
run_ceiling() { # SIZE_MIB RAND_MIB RUN
  local size=$1 rand_mib=$2 run=$3 chunk copy_mib
  chunk=$((1 << $(chunk_shift "$size")))
  copy_mib=$(awk -v size="$size" -v w="$rand_mib" -v c="$chunk" 'BEGIN {
    blocks = size * 256; chunks = size * 1048576 / c; touched = chunks * (1 - (1 - w * 256 / blocks) ^ (c / 4096))
    printf "%d", touched * c / 1048576 + 0.5 }')
  rm -f "$work/ceiling-store"
  drop_caches
  fio --output-format=json --output="$work/fio.json" \
    --name=copy-read --filename="$DEV" --rw=randread --bs="$chunk" --size="$size"M --io_size="$copy_mib"M \
      --direct=1 --ioengine=libaio --iodepth=16 \
    --name=copy-store --filename="$work/ceiling-store" --rw=write --bs="$chunk" --size="$copy_mib"M --ioengine=psync \
    --name=writes --filename="$DEV" --rw=randwrite --bs=4k --size="$size"M --io_size="$rand_mib"M --direct=1 \
      --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 --end_fsync=1 2>>"$work/tools.log" \
    || { log "failed: chunk I/O alone (fio)"; tail -5 "$work/tools.log" >&2; return 1; }
  record "$size" ceiling write_rand_first "$run" "$(fio_mib_s "$work/fio.json" "$rand_mib")" MiB/s
  record "$size" ceiling copy_mib "$run" "$copy_mib" MiB
  rm -f "$work/ceiling-store"
}

run_throughput() { # SIZE_MIB
  SIZE_MIB=$1
  local size=$SIZE_MIB rand_mib run peer pre
  rand_mib=$(( size / 16 )); [ $rand_mib -gt 128 ] && rand_mib=128; [ $rand_mib -lt 16 ] && rand_mib=16
  DEV=$work/dev-$size.img
  log "device: $size MiB of random data in $DEV"
  head -c "${size}M" /dev/urandom > "$DEV"
  record "$size" all rand_io_mib 0 "$rand_mib" MiB
  for run in $(seq "$runs"); do
    for peer in $peers; do
      log "size $size MiB, run $run, $peer"
      $(fn "$peer" setup)
      # 1. image read, untouched snapshot
      drop_caches; pre=$(checksum "$DEV")
      $(fn "$peer" snap)
      drop_caches; timed "$size" "$size" "$peer" read_buffered_untouched "$run" -- read_buffered "$IMG"
      drop_caches; timed "$size" "$size" "$peer" read_direct_untouched "$run" -- read_direct "$IMG"
      # 2. live write, sequential 1 MiB: first touch (copy-on-write), then rewrite; then the image check
      drop_caches; timed_fio "$size" "$peer" write_seq_first "$run" -- fio_seq "$LIVE" "$size"
      timed_fio "$size" "$peer" write_seq_rewrite "$run" -- fio_seq "$LIVE" "$size"
      case $peer in raw|nbdkit) drop_caches; pre=$(checksum "$DEV") ;; esac
      check_image "$size" "$peer" "$run" after_seq_writes "$pre"
      $(fn "$peer" unsnap)
      # 2b. random 4 KiB writes, iodepth 16, on a new snapshot: first touch, then the same offsets again
      $(fn "$peer" snap)
      drop_caches; timed_fio "$size" "$peer" write_rand_first "$run" -- fio_rand "$LIVE" "$size" "$rand_mib"
      timed_fio "$size" "$peer" write_rand_rewrite "$run" -- fio_rand "$LIVE" "$size" "$rand_mib"
      $(fn "$peer" unsnap)
      # 1b. image read after half of the chunks were copied, and the image check
      drop_caches; pre=$(checksum "$DEV")
      $(fn "$peer" snap)
      timed_fio "$size" "$peer" write_half_first "$run" -- fio_half "$LIVE" "$size"
      drop_caches; timed "$size" "$size" "$peer" read_buffered_half "$run" -- read_buffered "$IMG"
      drop_caches; timed "$size" "$size" "$peer" read_direct_half "$run" -- read_direct "$IMG"
      case $peer in raw|nbdkit) drop_caches; pre=$(checksum "$DEV") ;; esac
      check_image "$size" "$peer" "$run" after_half_writes "$pre"
      $(fn "$peer" unsnap)
      $(fn "$peer" teardown)
    done
    [[ " $skip " == *" ceiling "* ]] || { log "size $size MiB, run $run, chunk I/O alone"; run_ceiling "$size" "$rand_mib" "$run"; }
  done
  rm -f "$DEV"
}

# ---------------------------------------------------------------- 3. take pause
# Three devices, a writer on each `live` file doing 4 KiB O_DIRECT writes in a tight loop and
# timestamping each (writer.py); `blksnap snapshot_take` of the three 2 s into a 4 s run. The pause is
# the longest write that overlaps the take command; the longest write outside it is the noise.
# pause_writers PREFIX FILE...: a writer.py on each file for 4 s (output PREFIXn.txt), in FIO_PIDS;
# returns once all are writing.
pause_writers() {
  local prefix=$1 n=0 f j ready; shift
  FIO_PIDS=()
  for f in "$@"; do
    rm -f "$prefix$n.txt.ready"
    "$py" "$here/writer.py" "$f" 4 "$prefix$n.txt" 2>>"$work/tools.log" &
    FIO_PIDS+=($!); pids+=($!); n=$((n + 1))
  done
  for _ in $(seq 400); do
    ready=1
    for ((j = 0; j < n; j++)); do [ -e "$prefix$j.txt.ready" ] || ready=0; done
    [ $ready = 1 ] && break
    sleep 0.02
  done
}

# take_under_writers ID PREFIX: takes snapshot ID while pause_writers' writers run and waits for
# them (in this shell: they are its children). Sets TAKE_LINE to "pause baseline writes take_ms":
# the longest write overlapping the take command, the longest outside it, how many writes, and
# the command's wall time (ms).
take_under_writers() {
  local t0 t1 p
  t0=$(now_us)
  "$bin/blksnap" snapshot_take -i "$1" >/dev/null
  t1=$(now_us)
  for p in "${FIO_PIDS[@]}"; do wait "$p" || true; stop_pid "$p"; done
  TAKE_LINE=$(cat "$2"?.txt | awk -v a="${t0}000" -v b="${t1}000" -v us=$((t1 - t0)) '
    $1 == "count" { n += $2; next }
    { d = ($2 - $1) / 1e6; if ($1 < b && $2 > a) { if (d > take) take = d } else if (d > base) base = d }
    END { printf "%.3f %.3f %d %.1f\n", take, base, n, us / 1000 }')
  log "  take window ${t0}..${t1} us: $TAKE_LINE"
}

run_pause() {
  local run i id cfg=$work/pause.json p n c
  export BLKSNAPFS_SOCKET=$work/pause.sock
  for i in 0 1 2; do head -c 256M /dev/urandom > "$work/pause$i.img"; done
  bsfs_write_config "$cfg" "$BLKSNAPFS_SOCKET" "p0=$work/pause0.img" "p1=$work/pause1.img" "p2=$work/pause2.img"
  bsfs_start "$work/pm" "$cfg"
  mkdir -p "$work/diff"
  for run in $(seq "$runs"); do
    log "take pause, run $run"
    id=$("$bin/blksnap" snapshot_create -d p0 -d p1 -d p2 -f "$work/diff" -l 1G)
    pause_writers "$work/slow" "$work"/pm/p{0,1,2}/live
    sleep 1.5
    take_under_writers "$id" "$work/slow"
    read -r p i n c <<<"$TAKE_LINE"
    [ "$keep" = 1 ] && cp "$work"/slow0.txt "$work/slow0-run$run.txt"
    record 3x256 blksnapfs pause_take_ms "$run" "$p" ms
    record 3x256 blksnapfs pause_baseline_ms "$run" "$i" ms
    record 3x256 blksnapfs pause_writes "$run" "$n" count
    record 3x256 blksnapfs take_command_ms "$run" "$c" ms
    "$bin/blksnap" snapshot_destroy -i "$id" >/dev/null
  done
  bsfs_stop "$work/pm"
  rm -f "$work"/pause*.img "$work"/slow?.txt*
}

# ---------------------------------------------------------------- 3b. take pause with file systems
# The same three writers, now on a file in an ext4 on a loop over each `live`, with 32 MiB of
# buffered data left dirty in each just before the take: once with Take:Freeze=true (the
# default: the take freezes the three, which writes the dirty data out) and once with it off.
# The pause is again the longest write overlapping the take command.
run_pause_fs() {
  local run i id cfg=$work/pausefs.json p c freeze loops=()
  export BLKSNAPFS_SOCKET=$work/pausefs.sock
  for i in 0 1 2; do truncate -s 256M "$work/pausefs$i.img"; mkfs.ext4 -q -F "$work/pausefs$i.img"; done
  bsfs_write_config "$cfg" "$BLKSNAPFS_SOCKET" "f0=$work/pausefs0.img" "f1=$work/pausefs1.img" "f2=$work/pausefs2.img"
  for freeze in true false; do
    settings+=(-o "Take:Freeze=$freeze")
    bsfs_start "$work/pfm" "$cfg"
    unset 'settings[-1]' 'settings[-1]'
    loops=()
    for i in 0 1 2; do
      loops+=("$(losetup -f --show "$work/pfm/f$i/live")")
      mkdir -p "$work/pfs$i"; mount "${loops[i]}" "$work/pfs$i"; mounts+=("$work/pfs$i")
      fallocate -l 4M "$work/pfs$i/w"
    done
    mkdir -p "$work/diff"
    for run in $(seq "$runs"); do
      log "take pause with file systems, Take:Freeze=$freeze, run $run"
      id=$("$bin/blksnap" snapshot_create -d f0 -d f1 -d f2 -f "$work/diff" -l 1G)
      pause_writers "$work/slowfs" "$work"/pfs{0,1,2}/w
      for i in 0 1 2; do head -c 32M /dev/urandom > "$work/pfs$i/dirty"; done
      sleep 0.5
      take_under_writers "$id" "$work/slowfs"
      read -r p _ _ c <<<"$TAKE_LINE"
      local mode; mode=$([ "$freeze" = true ] && echo freeze || echo nofreeze)
      record 3x256fs blksnapfs "pause_take_${mode}_ms" "$run" "$p" ms
      record 3x256fs blksnapfs "take_command_${mode}_ms" "$run" "$c" ms
      "$bin/blksnap" snapshot_destroy -i "$id" >/dev/null
    done
    for i in 0 1 2; do umount "$work/pfs$i"; losetup -d "${loops[i]}"; done
    bsfs_stop "$work/pfm"
  done
  rm -f "$work"/pausefs*.img "$work"/slowfs?.txt*
}

# ---------------------------------------------------------------- 4. memory
# A sparse 1 TiB device, a snapshot taken, then one 4 KiB write into every 100th chunk (1 % of the
# chunks copied). BlkSnapFs chunks here: 2^40 / Chunk.MaximumCount (2^21) = 512 KiB; qemu's
# copy-before-write cluster is the qcow2 target's 64 KiB, so it gets the same writes (fewer copied bytes).
rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
fio_one_percent() { # FILE: 4 KiB into every 100th 512 KiB chunk of 1 TiB
  fio --name=pct --filename="$1" --rw=write:$((100 * 512 - 4))k --bs=4k --size=1T --number_ios=20972 --direct=1 \
      --ioengine=libaio --iodepth=16 --end_fsync=1 --output=/dev/null
}
run_memory() {
  local dev=$work/sparse-1t.img id
  rm -f "$dev"; truncate -s 1T "$dev"
  log "memory: blksnapfs with a sparse 1 TiB device"
  export BLKSNAPFS_SOCKET=$work/mem.sock
  bsfs_write_config "$work/mem.json" "$BLKSNAPFS_SOCKET" "big=$dev"
  bsfs_start "$work/mm" "$work/mem.json"
  record 1T blksnapfs rss_idle_mib 1 "$(rss_mib "$BSFS_PID")" MiB
  mkdir -p "$work/diff"
  id=$("$bin/blksnap" snapshot_create -d big -f "$work/diff" -l 20G)
  "$bin/blksnap" snapshot_take -i "$id" >/dev/null
  record 1T blksnapfs rss_taken_mib 1 "$(rss_mib "$BSFS_PID")" MiB
  fio_one_percent "$work/mm/big/live" 2>>"$work/tools.log"
  record 1T blksnapfs rss_mib 1 "$(rss_mib "$BSFS_PID")" MiB
  record 1T blksnapfs rss_peak_mib 1 "$(hwm_mib "$BSFS_PID")" MiB
  record 1T blksnapfs threads 1 "$(awk '/^Threads/ { print $2 }' "/proc/$BSFS_PID/status")" count
  "$bin/blksnap" snapshot_destroy -i "$id" >/dev/null
  bsfs_stop "$work/mm"
  rm -rf "$work/diff"; mkdir -p "$work/diff"
  if [[ " $peers " == *" qemu "* ]]; then
    log "memory: qemu-storage-daemon with the same device"
    qsd_start "$dev" $((1024 * 1024)) "$work/qm"
    fio_one_percent "$work/qm.live" 2>>"$work/tools.log"
    record 1T qemu rss_mib 1 "$(rss_mib "$QSD_PID")" MiB
    record 1T qemu rss_peak_mib 1 "$(hwm_mib "$QSD_PID")" MiB
    qsd_stop "$work/qm"
  fi
  if [[ " $peers " == *" nbdkit "* ]]; then
    nbdkit_start "$dev" "$work/nm"
    fio_one_percent "$work/nm/dev" 2>>"$work/tools.log"
    record 1T nbdkit rss_mib 1 "$(awk -v a="$(rss_mib "$NBDKIT_PID")" -v b="$(rss_mib "$NBDFUSE_PID")" 'BEGIN{printf "%.1f", a + b}')" MiB
    nbdkit_stop "$work/nm"
  fi
  rm -f "$dev"
}

# ---------------------------------------------------------------- 5. command latency
run_latency() {
  local dev=$work/lat.img i t0 t1 cmd id
  truncate -s 256M "$dev"
  export BLKSNAPFS_SOCKET=$work/cl.sock
  bsfs_write_config "$work/cl.json" "$BLKSNAPFS_SOCKET" "cl=$dev"
  bsfs_start "$work/cl" "$work/cl.json"
  mkdir -p "$work/diff"
  id=$("$bin/blksnap" snapshot_create -d cl -f "$work/diff" -l 1G)
  "$bin/blksnap" snapshot_take -i "$id" >/dev/null
  for cmd in version snapshot_info; do
    for i in $(seq 20); do
      t0=$(now_us)
      if [ $cmd = version ]; then "$bin/blksnap" version >/dev/null; else "$bin/blksnap" snapshot_info -d cl >/dev/null; fi
      t1=$(now_us)
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' cmd blksnapfs "latency_$cmd" "$i" "$(awk -v us=$((t1 - t0)) 'BEGIN{printf "%.2f", us / 1000}')" ms >> "$tsv"
    done
    log "  blksnap $cmd: $(awk -F'\t' -v m="latency_$cmd" '$3 == m { print $5 }' "$tsv" | sort -n | sed -n 10p) ms median"
  done
  "$bin/blksnap" snapshot_destroy -i "$id" >/dev/null
  bsfs_stop "$work/cl"
  rm -f "$dev"
}

# ---------------------------------------------------------------- engine bench (writes held at take)
run_engine() {
  local out=$work/engine.txt
  log "engine bench (bench/BlkSnapFs.Bench): writes held at take"
  if (cd "$repo" && timeout 900 dotnet run --project bench/BlkSnapFs.Bench -c Release -- --size-mib 256 --runs "$runs" --dir "$work") > "$out" 2>&1; then
    local line; line=$(grep -m1 'writes held at take' "$out" || true)
    if [ -n "$line" ]; then
      local nums; nums=($(echo "${line#*take:}" | grep -oE '[0-9]+(\.[0-9]+)?'))
      local i
      for i in 0 1 2; do [ -n "${nums[$i]:-}" ] && record engine blksnapfs engine_held_ms $((i + 1)) "${nums[$i]}" ms; done
    fi
  else
    log "  engine bench failed (see $out): $(tail -3 "$out" | tr '\n' ' ')"
  fi
  cp "$out" "$work/engine-output.txt" 2>/dev/null || true
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(now_us)
for size in $sizes; do run_throughput "$size"; done
[[ " $skip " == *" pause "* ]] || run_pause
[[ " $skip " == *" pausefs "* ]] || run_pause_fs
[[ " $skip " == *" memory "* ]] || run_memory
[[ " $skip " == *" latency "* ]] || run_latency
[[ " $skip " == *" engine "* ]] || run_engine
elapsed=$(( ($(now_us) - t_start) / 1000000 ))

for f in "${also[@]}"; do cat "$f" >> "$tsv"; done
[ ${#also[@]} -gt 0 ] && cmdline="$cmdline (with the earlier results in ${also[*]})"
"$py" "$here/report.py" --tsv "$tsv" --results "$results" --chart "$chart" --command "$cmdline" \
  --started "$started" --elapsed "$elapsed" --runs "$runs" --data-dir "$base" \
  --engine-output "$work/engine-output.txt" --build "$build_info" \
  --settings "$(printf '%s ' "${settings[@]}" | sed 's/-o //g; s/ $//')"
cp "$tsv" "$here/last-results.tsv"
log "wrote $results, $chart and $here/last-results.tsv (all lines: size peer metric run value unit)"
