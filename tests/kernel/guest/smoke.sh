#!/usr/bin/env bash
# Smoke tests of the kernel-test VM lane: modules, nbd, device-mapper table swap, dotnet.
# vm: --scratch 512M --timeout 900
# vm-prepare: dotnet build tests/kernel/probe/KernelProbe.csproj -c Release -o tests/kernel/work/probe -nologo -v q
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

# MAJOR:MINOR of a block device, as dmsetup table prints it.
devno() { printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"; }

modules() {
  uname -r
  modprobe nbd
  modprobe dm-mod
  grep -qw '^nbd' /proc/modules || die "nbd not loaded"
  grep -qw '^dm_mod' /proc/modules || die "dm_mod not loaded"
  test -b /dev/nbd0 || die "/dev/nbd0 missing"
  test -c /dev/mapper/control || die "/dev/mapper/control missing"
  test -b /dev/loop0 || die "/dev/loop0 missing"
  test -c /dev/fuse || die "/dev/fuse missing"
  dmsetup version
  dmsetup targets
}

# nbdkit (memory) on a Unix socket -> nbd-client (netlink) -> ext4 -> data survives a remount.
nbd_ext4() {
  local d
  d=$(scratch_dir 128M)
  start_nbdkit "$d/nbd.sock" memory 64M
  nbd_attach "$d/nbd.sock" /dev/nbd0
  [[ $(blockdev --getsize64 /dev/nbd0) == $((64 << 20)) ]] || die "nbd0 has the wrong size"
  mkfs.ext4 -q -F /dev/nbd0
  mount_dev /dev/nbd0 "$d/mnt"
  head -c 8M /dev/urandom >"$d/src"
  cp "$d/src" "$d/mnt/file"
  sync
  umount "$d/mnt"
  echo 3 >/proc/sys/vm/drop_caches
  mount /dev/nbd0 "$d/mnt"
  cmp "$d/src" "$d/mnt/file"
  umount "$d/mnt"
  fsck.ext4 -n -f /dev/nbd0
  nbd_detach /dev/nbd0
  [[ $(cat /sys/block/nbd0/size) == 0 ]] || die "nbd0 still connected after nbd-client -d"
}

# The same over the ioctl interface (nbd-client -nonetlink keeps a process in NBD_DO_IT).
nbd_ioctl() {
  local d
  d=$(scratch_dir 64M)
  start_nbdkit "$d/nbd.sock" memory 16M
  nbd_attach "$d/nbd.sock" /dev/nbd1 -nonetlink
  pgrep -f 'nbd-client.*/dev/nbd1' >/dev/null || die "no nbd-client process in ioctl mode"
  head -c 1M /dev/urandom >"$d/src"
  dd if="$d/src" of=/dev/nbd1 bs=64k seek=16 oflag=direct conv=fsync status=none
  dd if=/dev/nbd1 of="$d/back" bs=64k skip=16 count=16 iflag=direct status=none
  cmp "$d/src" "$d/back"
}

# dm-linear over a loop device; while a writer runs on the mounted ext4, the table is swapped
# (suspend/reload/resume) to /dev/nbd2, which nbdkit serves from the same backing file.
dm_swap() {
  local d loop sectors writer size_at_swap writes before mib=16
  d=$(scratch_dir 256M)
  truncate -s 128M "$d/disk.img"
  loop=$(loop_attach "$d/disk.img")
  sectors=$(blockdev --getsz "$loop")
  dm_create kt-swap "0 $sectors linear $loop 0"
  mkfs.ext4 -q /dev/mapper/kt-swap
  mount_dev /dev/mapper/kt-swap "$d/mnt"
  start_nbdkit "$d/nbd.sock" file "$d/disk.img"
  nbd_attach "$d/nbd.sock" /dev/nbd2
  head -c "${mib}M" /dev/urandom >"$d/src"

  # The writer goes round the file (same bytes at the same places) until told to stop, so the
  # swap always happens under writes however fast the machine is.
  (i=0
   while [[ ! -e $d/stop ]]; do
     dd if="$d/src" of="$d/mnt/data" bs=1M count=1 skip=$((i % mib)) seek=$((i % mib)) conv=notrunc,fsync status=none
     i=$((i + 1))
   done) &
  writer=$!
  t_defer kill "$writer"
  WAIT_SECS=60 wait_for -f "$d/mnt/data"
  while [[ $(stat -c %s "$d/mnt/data") -lt $((mib << 18)) ]]; do sleep 0.05; done

  dmsetup suspend kt-swap
  size_at_swap=$(stat -c %s "$d/mnt/data")
  dmsetup reload kt-swap --table "0 $sectors linear /dev/nbd2 0"
  dmsetup resume kt-swap
  dmsetup table kt-swap
  dmsetup table kt-swap | grep -q " $(devno /dev/nbd2) 0\$" || die "table does not point to nbd2"
  echo "swapped at $((size_at_swap >> 20)) MiB of $mib"
  kill -0 "$writer" 2>/dev/null || die "the writer had stopped before the swap"

  # Let it complete at least one whole pass after the swap, then stop it.
  while [[ $(stat -c %s "$d/mnt/data") -lt $((mib << 20)) ]]; do sleep 0.05; done
  before=$(awk '{print $5}' /sys/block/nbd2/stat)
  while [[ $(awk '{print $5}' /sys/block/nbd2/stat) -lt $((before + 2 * mib)) ]]; do sleep 0.05; done
  touch "$d/stop"
  wait "$writer"
  sync
  writes=$(awk '{print $5}' /sys/block/nbd2/stat)
  echo "nbd2 writes completed: $writes"
  [[ $writes -gt 0 ]] || die "no writes reached nbd2 after the swap"
  cmp "$d/src" "$d/mnt/data"
  umount "$d/mnt"
  fsck.ext4 -n -f /dev/mapper/kt-swap
  dm_remove kt-swap
  nbd_detach /dev/nbd2
  fsck.ext4 -n -f "$loop"
}

# dm-linear over the virtio scratch disk (/dev/vda, from --scratch) with xfs.
dm_virtio_xfs() {
  local d sectors
  test -b /dev/vda || die "/dev/vda missing (vm.sh --scratch/--disk)"
  d=$(mktemp -d)
  t_defer rm -rf "$d"
  sectors=$(blockdev --getsz /dev/vda)
  dm_create kt-vda "0 $sectors linear /dev/vda 0"
  mkfs.xfs -q -f /dev/mapper/kt-vda
  mount_dev /dev/mapper/kt-vda "$d/mnt"
  head -c 4M /dev/urandom >"$d/src"
  cp "$d/src" "$d/mnt/file"
  umount "$d/mnt"
  xfs_repair -n /dev/mapper/kt-vda
  dm_remove kt-vda
  xfs_repair -n /dev/vda
}

# dotnet runs in the chroot, and a small program does buffered and O_DIRECT I/O on /dev/nbd3
# and reads its size with BLKGETSIZE64. (`dotnet --info` works too, but takes 10-15 s here.)
dotnet_probe() {
  local d probe=tests/kernel/work/probe/KernelProbe.dll
  local t0=$SECONDS
  dotnet --list-runtimes
  echo "dotnet --list-runtimes: $((SECONDS - t0))s"
  test -f "$probe" || die "$probe missing (the runner builds it on the host)"
  d=$(scratch_dir 64M)
  start_nbdkit "$d/nbd.sock" memory 16M
  nbd_attach "$d/nbd.sock" /dev/nbd3
  t0=$SECONDS
  dotnet "$probe" /dev/nbd3 | tee "$d/probe.out"
  grep -q "BLKGETSIZE64 $((16 << 20)) bytes" "$d/probe.out" || die "probe saw the wrong device size"
  echo "probe: $((SECONDS - t0))s"
}

t_case modules modules
t_case nbd-ext4 nbd_ext4
t_case nbd-ioctl nbd_ioctl
t_case dm-swap dm_swap
t_case dm-virtio-xfs dm_virtio_xfs
t_case dotnet dotnet_probe
t_done
