#!/usr/bin/env bash
# FUSE over io_uring against /dev/fuse read/write, measured with libfuse's own implementation on this
# kernel: libfuse's passthrough_hp example (no passthrough, no splice) over a file of random data,
# started plainly, with `-o io_uring` (queue depth 8) and with queue depth 16, beside the file itself.
# Per pass: dd of the file in 1 MiB O_DIRECT reads, fio random 4 KiB reads and writes at qd16 (libaio,
# O_DIRECT), and how many io_uring descriptors the server held (0 means it fell back to /dev/fuse).
# The file is read into the page cache before each pass; O_DIRECT sends every request to the disk.
# usage: bench/fuse-io-uring.sh --libfuse SRC [--size-mib N] [--runs N] [--dir DIR]
#   SRC: a libfuse source tree with fuse-over-io-uring (3.18 or later), built here with meson
set -euo pipefail
size=1024 runs=3 dir=/var/tmp libfuse=
while (($#)); do
  case $1 in
    --libfuse) libfuse=$2; shift 2 ;;
    --size-mib) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "fuse-io-uring.sh: unknown option $1 (EINVAL)" >&2; exit 2 ;;
  esac
done
[[ -f $libfuse/lib/fuse_uring.c ]] || { echo "fuse-io-uring.sh: --libfuse '$libfuse' is not a libfuse tree with lib/fuse_uring.c (ENOENT)" >&2; exit 2; }
for tool in meson ninja fio fusermount3; do
  command -v "$tool" >/dev/null || { echo "fuse-io-uring.sh: $tool is missing (ENOENT): apt-get install meson ninja-build fio fuse3" >&2; exit 1; }
done
pkg-config --exists liburing || { echo "fuse-io-uring.sh: liburing is missing (ENOENT): apt-get install liburing-dev" >&2; exit 1; }
switch=/sys/module/fuse/parameters/enable_uring
[[ -w $switch ]] || { echo "fuse-io-uring.sh: $switch is not writable (EACCES): run as root on a kernel with CONFIG_FUSE_IO_URING" >&2; exit 1; }
# shellcheck source=work-directory.sh
source "$(dirname "$0")/work-directory.sh"
work_directory fuse-io-uring "$dir"
was=$(cat "$switch")
restore() { fusermount3 -uz "$work/mnt" 2>/dev/null || true; echo "$was" > "$switch"; remove_work_directory; }
trap restore EXIT
mkdir -p "$work/src" "$work/mnt"

meson setup "$work/build" "$libfuse" -Denable-io-uring=true -Dexamples=true -Dutils=false -Dtests=false >"$work/meson.log" 2>&1 \
  || { echo "fuse-io-uring.sh: meson setup failed (EIO); its log: $work/meson.log" >&2; exit 1; }
grep -q "io_uring support *: True" "$work/meson.log" || { echo "fuse-io-uring.sh: libfuse was configured without io_uring (ENOTSUP)" >&2; exit 1; }
ninja -C "$work/build" example/passthrough_hp >"$work/ninja.log" 2>&1 \
  || { echo "fuse-io-uring.sh: building passthrough_hp failed (EIO); its log: $work/ninja.log" >&2; exit 1; }
echo Y > "$switch"
dd if=/dev/urandom of="$work/src/dev.img" bs=1M count="$size" status=none

warm() { cat "$work/src/dev.img" > /dev/null; }
dd_mibs() { warm; dd if="$1" of=/dev/null bs=1M iflag=direct 2>&1 | awk '/copied/ { printf "%.0f", $1 / $(NF-3) / 1048576 }'; }
fio_mibs() {
  warm
  fio --name=t --filename="$1" --rw="$2" --bs=4k --iodepth=16 --ioengine=libaio --direct=1 --size="${size}M" \
      --io_size="$((size / 4))M" --output-format=terse --terse-version=3 2>/dev/null \
    | awk -F';' '{ printf "%.1f", ($7 + $48) / 1024 }'
}

# pass LABEL [passthrough_hp options]: one table row; LABEL raw measures the file itself
pass() {
  local label=$1 file=$work/src/dev.img server= rings=-
  shift
  if [[ $label != raw ]]; then
    "$work/build/example/passthrough_hp" --foreground --nopassthrough --nosplice "$@" "$work/src" "$work/mnt" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do mountpoint -q "$work/mnt" && break; sleep 0.1; done
    mountpoint -q "$work/mnt" || { echo "fuse-io-uring.sh: passthrough_hp $* did not mount (EIO); its log: $work/server.log" >&2; exit 1; }
    file=$work/mnt/dev.img
    rings=$(find "/proc/$server/fd" -lname 'anon_inode:\[io_uring\]' | wc -l)
  fi
  printf '| %d | %s | %s | %s | %s | %s |\n' "$run" "$label" "$(dd_mibs "$file")" "$(fio_mibs "$file" randread)" "$(fio_mibs "$file" randwrite)" "$rings"
  if [[ -n $server ]]; then fusermount3 -u "$work/mnt"; wait "$server"; fi
}

echo "| run | server | 1 MiB O_DIRECT read, MiB/s | randread 4 KiB qd16, MiB/s | randwrite 4 KiB qd16, MiB/s | io_uring fds |"
echo "|---|---|---|---|---|---|"
for run in $(seq "$runs"); do
  pass raw
  pass /dev/fuse
  pass "io_uring, depth 8" -o io_uring
  pass "io_uring, depth 16" -o io_uring -o io_uring_q_depth=16
done
