#!/usr/bin/env bash
# BlkSnapFs on a real kernel: the nbd and dm frontends of the native daemon (out/bin), snapshots
# through them, attach/detach under a write load with the filesystem mounted, overflow, a killed
# daemon, and a killed serving process whose successor reconnects /dev/nbdN. Prints fio figures
# and the takeover stall for the closing note (not asserted).
# vm: --scratch 1G --scratch 1G --timeout 1500 --mem 2048
# vm-prepare: make -s out/bin/blksnapfs out/bin/blksnap
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

BIN=$PWD/out/bin
export PATH=$BIN:$PATH

# start_daemon DIR [-o options]: a daemon with its socket, mount and exports under DIR. The sockets go
# in DIR/run, which the daemon makes 0700: DIR is a tmpfs root, 1777, where it refuses to put sockets.
start_daemon() {
  local d=$1
  shift
  # A mount point a killed daemon left dead fails even stat (ENOTCONN): the daemon recovers it.
  mkdir -p "$d/mnt" 2>/dev/null || true
  blksnapfs "$d/mnt" -o "ControlSocket=$d/run/control.sock,Nbd:SocketDirectory=$d/run/nbd,Nbd:TimeoutSeconds=${NBD_TIMEOUT:-30},Nbd:ReconnectTimeoutSeconds=${NBD_RECONNECT:-60},Chunk:MinimumShift=16,DiffStorage:MinimumSectors=65536${1:+,$1}"
  export BLKSNAPFS_SOCKET=$d/run/control.sock
  t_defer stop_daemon "$d"
}

stop_daemon() {
  local pid
  # The oldest is the supervisor; SIGTERM to it stops the serving process cleanly too.
  pid=$(pgrep -o -f "blksnapfs $1/mnt" || true)
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  umount_retry "$1/mnt"
}

info() { sed -n "s/^$2: //p" "$1/mnt/$3/info"; }

md5_tree() { (cd "$1" && find . -type f | sort | xargs md5sum); }

# nbd frontend: /dev/nbdN is the device; snapshot; the image holds the pre-take files.
nbd_snapshot() {
  local d nbd id
  d=$(scratch_dir 700M)
  truncate -s 256M "$d/disk.img"
  start_daemon "$d"
  blksnap attach -d "$d/disk.img" --frontend nbd --name disk
  nbd=$(info "$d" nbd_device disk)
  [[ $nbd == /dev/nbd* ]] || die "no nbd device in info"
  mkfs.ext4 -q "$nbd"
  mount_dev "$nbd" "$d/fs"
  # No sync and no fsfreeze by hand: the take freezes the file system through /dev/nbdN, so
  # what is still only in the page cache is in the image too.
  id=$(blksnap snapshot_create -d disk -f "$d" -l 300M)
  cp -r /usr/share/doc/bash "$d/fs/docs"
  head -c 20M /dev/urandom >"$d/fs/big"
  md5_tree "$d/fs" >"$d/before"
  blksnap snapshot_take -i "$id" 2>"$d/take.err"
  [[ ! -s $d/take.err ]] || die "take warned: $(cat "$d/take.err")"
  rm -rf "$d/fs/docs"; head -c 30M /dev/urandom >"$d/fs/big"; sync
  mount_dev "$(loop_attach "$d/mnt/disk/image")" "$d/snap"
  diff <(md5_tree "$d/snap") "$d/before"
  umount_retry "$d/snap"
  # the image export serves the same bytes as the image file
  nbdcopy "$(info "$d" image_export disk)" "$d/image.raw"
  cmp "$d/image.raw" "$d/mnt/disk/image"
  blksnap snapshot_destroy -i "$id"
  umount_retry "$d/fs"
  blksnap detach -d disk
  [[ $(cat "/sys/block/${nbd#/dev/}/size") == 0 ]] || die "$nbd still connected after detach"
}

# dm frontend over a virtio disk: attach and detach while writes run on the mounted fs.
dm_attach_under_load() {
  local d id writer mib=96
  d=$(scratch_dir 512M)
  test -b /dev/vda || die "/dev/vda missing"
  dm_create kt-data "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0"
  mkfs.ext4 -q -F /dev/mapper/kt-data
  mount_dev /dev/mapper/kt-data "$d/fs"
  cp -r /usr/share/doc/coreutils "$d/fs/docs"
  sync
  md5_tree "$d/fs/docs" >"$d/before"
  head -c "${mib}M" /dev/urandom >"$d/src"
  start_daemon "$d"
  (for i in $(seq 0 $((mib - 1))); do
     dd if="$d/src" of="$d/fs/data" bs=1M count=1 skip="$i" seek="$i" conv=notrunc,fsync status=none
   done) &
  writer=$!
  t_defer kill "$writer"
  while [[ $(stat -c %s "$d/fs/data" 2>/dev/null || echo 0) -lt $((mib << 18)) ]]; do sleep 0.05; done
  blksnap attach -d /dev/vda --frontend dm --name kt-data
  dmsetup table kt-data | grep -q "linear 43:" || die "kt-data does not go through nbd: $(dmsetup table kt-data)"
  echo "attached at $(( $(stat -c %s "$d/fs/data") >> 20 )) MiB"
  id=$(blksnap snapshot_create -d kt-data -f "$d" -l 400M)
  # the take freezes the mounted ext4 through /dev/mapper/kt-data, under the writer
  blksnap snapshot_take -i "$id" 2>"$d/take.err"
  [[ ! -s $d/take.err ]] || die "take warned: $(cat "$d/take.err")"
  rm -rf "$d/fs/docs"
  # frozen at the take (ext4_freeze flushes the journal), so the image needs no recovery
  ! dumpe2fs -h "$d/mnt/kt-data/image" 2>/dev/null | grep -q needs_recovery || die "the image needs journal recovery: not frozen at take"
  mount_dev "$(loop_attach "$d/mnt/kt-data/image")" "$d/snap" ro,norecovery
  diff <(md5_tree "$d/snap/docs") "$d/before"
  umount_retry "$d/snap"
  while [[ $(stat -c %s "$d/fs/data") -lt $((mib * 3 << 18)) ]]; do sleep 0.05; done
  blksnap snapshot_destroy -i "$id"
  blksnap detach -d kt-data
  dmsetup table kt-data | grep -q "linear $(printf '%d:%d' "0x$(stat -L -c %t /dev/vda)" "0x$(stat -L -c %T /dev/vda)") 0" \
    || die "kt-data not back on the original: $(dmsetup table kt-data)"
  echo "detached at $(( $(stat -c %s "$d/fs/data") >> 20 )) MiB"
  wait "$writer"
  sync
  cmp "$d/src" "$d/fs/data"
  umount_retry "$d/fs"
  fsck.ext4 -n -f /dev/mapper/kt-data
  dm_remove kt-data
  mount -o ro /dev/vda "$d/fs"
  cmp "$d/src" "$d/fs/data"
  umount "$d/fs"
}

# Overflow through the kernel path: the snapshot dies, the original keeps every write.
nbd_overflow() {
  local d nbd id
  d=$(scratch_dir 600M)
  truncate -s 128M "$d/disk.img"
  start_daemon "$d" "DiffStorage:MinimumSectors=8192"
  blksnap attach -d "$d/disk.img" --frontend nbd --name small
  nbd=$(info "$d" nbd_device small)
  id=$(blksnap snapshot_create -d small -f "$d" -l 8M)
  blksnap snapshot_take -i "$id"
  head -c 128M /dev/urandom >"$d/src"
  dd if="$d/src" of="$nbd" bs=1M oflag=direct status=none
  cmp "$d/src" "$nbd"
  cmp "$d/src" "$d/disk.img"
  blksnap snapshot_waitevent -i "$id" -t 5000 | tee "$d/ev"
  blksnap snapshot_info -d small | grep -q "error_code=-28" || die "snapshot not corrupted with ENOSPC"
  if dd if="$d/mnt/small/image" of=/dev/null bs=1M count=1 status=none 2>/dev/null; then die "corrupted image still reads"; fi
  blksnap snapshot_destroy -i "$id"
  blksnap detach -d small
}

# TRIM through /dev/nbdN (blkdiscard; fstrim on a mounted file system sends the same): NBD_CMD_TRIM
# reaches the original as a hole, the range reads zeros, and the snapshot's image keeps what it held.
nbd_discard() {
  local d nbd id before after
  d=$(scratch_dir 400M)
  truncate -s 64M "$d/disk.img"
  start_daemon "$d"
  blksnap attach -d "$d/disk.img" --frontend nbd --name trimmed
  nbd=$(info "$d" nbd_device trimmed)
  [[ $(cat "/sys/block/${nbd#/dev/}/queue/discard_max_bytes") != 0 ]] || die "$nbd offers no discard"
  head -c 64M /dev/urandom >"$d/src"
  dd if="$d/src" of="$nbd" bs=1M oflag=direct status=none
  id=$(blksnap snapshot_create -d trimmed -f "$d" -l 32M)
  blksnap snapshot_take -i "$id"
  before=$(stat -c %b "$d/disk.img")
  blkdiscard -o 4M -l 4M "$nbd"
  after=$(stat -c %b "$d/disk.img")
  echo "the original's 512-byte blocks: $before before the discard, $after after"
  ((before - after >= 8192)) || die "the discard of 4 MiB left the original's blocks at $after (from $before)"
  cmp -n 4194304 <(dd if="$nbd" bs=1M skip=4 count=4 iflag=direct status=none) /dev/zero || die "the discarded range of $nbd does not read zeros"
  cmp <(dd if="$d/mnt/trimmed/image" bs=1M skip=4 count=4 status=none) <(dd if="$d/src" bs=1M skip=4 count=4 status=none) \
    || die "the image lost what the discarded range held"
  cmp -n 4194304 "$nbd" "$d/src" && cmp -i 8388608 "$nbd" "$d/src" || die "the discard reached outside its range"
  blksnap snapshot_destroy -i "$id"
  blksnap detach -d trimmed
}

# kill -9 of the whole daemon (supervisor and serving process) while writes run: I/O on /dev/nbdN
# fails after the nbd timeout; nothing hangs forever; the next start takes the device up again.
killed_daemon() {
  local d nbd writer start
  d=$(scratch_dir 300M)
  truncate -s 64M "$d/disk.img"
  NBD_TIMEOUT=5 NBD_RECONNECT=5 start_daemon "$d"
  blksnap attach -d "$d/disk.img" --frontend nbd --name victim
  nbd=$(info "$d" nbd_device victim)
  (while dd if=/dev/urandom of="$nbd" bs=1M count=8 oflag=direct status=none; do :; done) &
  writer=$!
  sleep 1
  pkill -9 -f "blksnapfs $d/mnt"
  start=$SECONDS
  while kill -0 "$writer" 2>/dev/null && ((SECONDS - start < 60)); do sleep 0.5; done
  kill -0 "$writer" 2>/dev/null && die "writer still blocked $((SECONDS - start)) s after the daemon died"
  echo "writer failed $((SECONDS - start)) s after kill -9"
  # The next start finds what the dead daemon left (a dead mount, a connected /dev/nbdN with a dead
  # socket): it mounts again and gives the same device a socket to its export.
  start_daemon "$d"
  [[ $(info "$d" nbd_device victim) == "$nbd" ]] || die "victim is not on $nbd after the restart"
  dd if=/dev/urandom of="$nbd" bs=1M count=4 oflag=direct status=none || die "$nbd does not work after the restart"
  blksnap detach -d victim
  [[ $(cat "/sys/block/${nbd#/dev/}/size") == 0 ]] || die "$nbd still connected after detach"
}

# kill -9 of the serving process (its supervisor lives on) under fio --verify on mounted ext4, through
# /dev/nbdN and through /dev/mapper/NAME, then a daemon_restart: each successor gives the waiting nbd
# devices a new socket (NBD_CMD_RECONFIGURE); fio sees no error, fsck is clean, the stall per kill
# is printed.
worker_killed() {
  local d nbd fio_nbd fio_dm prober pid next i kills=${KT_KILLS:-5}
  d=$(scratch_dir 700M)
  truncate -s 256M "$d/disk.img"
  test -b /dev/vda || die "/dev/vda missing"
  dm_create kt-crash "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0"
  mkfs.ext4 -q -F /dev/mapper/kt-crash
  mount_dev /dev/mapper/kt-crash "$d/dmfs"
  start_daemon "$d" "LogFile=$d/daemon.log"
  blksnap attach -d "$d/disk.img" --frontend nbd --name victim
  blksnap attach -d /dev/vda --frontend dm --name kt-crash
  nbd=$(info "$d" nbd_device victim)
  mkfs.ext4 -q "$nbd"
  mount_dev "$nbd" "$d/fs"
  verify() { fio --name="$1" --directory="$2" --rw=randwrite --bs=4k --size=$((kills * 5))M --iodepth=8 --ioengine=libaio --direct=1 \
               --verify=crc32c --verify_fatal=1 --do_verify=1 --output="$d/$1.out" >/dev/null 2>"$d/$1.err"; }
  verify nbd "$d/fs" & fio_nbd=$!
  verify dm "$d/dmfs" & fio_dm=$!
  # The stall a user sees: a 4 KiB O_DIRECT read of /dev/mapper/kt-crash every 10 ms, each completion time-stamped.
  (while :; do dd if=/dev/mapper/kt-crash of=/dev/null bs=4k count=1 iflag=direct status=none; date +%s%N; sleep 0.01; done) >"$d/probe" &
  prober=$!
  t_defer kill "$prober"
  for ((i = 1; i <= kills; i++)); do
    sleep 2
    pid=$(blksnap daemon_info | sed -n 's/^pid=//p')
    date +%s%N >>"$d/kills"
    kill -9 "$pid"
    next=
    for _ in $(seq 300); do
      next=$(blksnap daemon_info 2>/dev/null | sed -n 's/^pid=//p' || true)
      [[ -n $next && $next != "$pid" ]] && break
      sleep 0.1
    done
    [[ -n $next && $next != "$pid" ]] || die "no serving process answers 30 s after kill $i; the log: $(tail -n 20 "$d/daemon.log")"
  done
  # and a planned handover (an upgrade) under the same writers
  pid=$next
  blksnap daemon_restart | grep -q "hands over" || die "daemon_restart did not answer"
  for _ in $(seq 300); do
    next=$(blksnap daemon_info 2>/dev/null | sed -n 's/^pid=//p' || true)
    [[ -n $next && $next != "$pid" ]] && break
    sleep 0.1
  done
  [[ -n $next && $next != "$pid" ]] || die "no serving process answers 30 s after daemon_restart; the log: $(tail -n 20 "$d/daemon.log")"
  wait "$fio_nbd" || die "fio on $nbd failed across the kills: $(cat "$d/nbd.err" "$d/nbd.out"; tail -n 20 "$d/daemon.log")"
  wait "$fio_dm" || die "fio on /dev/mapper/kt-crash failed across the kills: $(cat "$d/dm.err" "$d/dm.out"; tail -n 20 "$d/daemon.log")"
  kill "$prober"
  # per kill: from the last probe read before it to the first after it
  awk 'NR == FNR { k[++n] = $1; next } { p[++m] = $1 }
       END { for (i = 1; i <= n; i++) { a = 0; for (j = 1; j <= m; j++) { if (p[j] <= k[i]) a = p[j]; else { if (a) printf "%.0f\n", (p[j] - a) / 1e6; break } } } }' \
    "$d/kills" "$d/probe" | sort -n >"$d/stalls"
  awk -v t="${NBD_TIMEOUT:-30}" '{ s[NR] = $1 } END { printf "dm I/O stall per kill (ms, %d kills, Nbd:TimeoutSeconds=%s): median %d, max %d; all:", NR, t, s[int((NR + 1) / 2)], s[NR]
       for (i = 1; i <= NR; i++) printf " %d", s[i]; print "" }' "$d/stalls"
  # where the stall goes: from the supervisor seeing the kill to the successor's new socket for kt-crash
  awk 'function ms(t, a) { split(t, a, ":"); return ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 }
       /ended \(signal 9\); starting another/ { k = ms($1) } /kt-crash: gave \/dev\/nbd[0-9]+ a socket/ && k { printf "%.0f\n", ms($1) - k; k = 0 }' \
    "$d/daemon.log" | sort -n >"$d/takeovers"
  awk '{ s[NR] = $1 } END { printf "takeover (supervisor sees the kill -> kt-crash has a new socket, ms, %d): median %d, max %d\n", NR, s[int((NR + 1) / 2)], s[NR] }' "$d/takeovers"
  echo "connections the kernel dropped on a slow request (a new socket each): $(grep -c "dropped /dev/nbd" "$d/daemon.log" || true)"
  local restarts
  restarts=$(blksnap daemon_info | sed -n 's/^restarts=//p')
  [[ $restarts == "$((kills + 1))" ]] || die "restarts is $restarts, not $((kills + 1)); the log's errors: $(grep -E "fail|error|crit" "$d/daemon.log" | tail -n 10)"
  [[ $(info "$d" tracking_start victim) == restored_clean ]] || die "victim's tracking start is $(info "$d" tracking_start victim), not restored_clean after the handover"
  umount_retry "$d/fs"
  fsck.ext4 -n -f "$nbd"
  umount_retry "$d/dmfs"
  fsck.ext4 -n -f /dev/mapper/kt-crash
  blksnap detach -d victim
  blksnap detach -d kt-crash
}

# The serving process stopped (SIGSTOP) for longer than Nbd:TimeoutSeconds, as a stalled disk or a
# process paged out under memory pressure would hold it: the kernel gives up on the connection
# (shuts its socket, requeues the request); once the process runs again it gives /dev/nbdN a new
# socket, and the writer sees no error. Without that it would wait out Nbd:ReconnectTimeoutSeconds
# and then fail.
worker_stopped() {
  local d nbd writer pid
  d=$(scratch_dir 400M)
  truncate -s 128M "$d/disk.img"
  NBD_TIMEOUT=2 NBD_RECONNECT=60 start_daemon "$d" "LogFile=$d/daemon.log"
  blksnap attach -d "$d/disk.img" --frontend nbd --name stalled
  nbd=$(info "$d" nbd_device stalled)
  (while dd if=/dev/urandom of="$nbd" bs=64k count=16 oflag=direct status=none; do :; done) &
  writer=$!
  t_defer kill "$writer"
  sleep 1
  pid=$(blksnap daemon_info | sed -n 's/^pid=//p')
  kill -STOP "$pid"
  sleep 5
  kill -CONT "$pid"
  for _ in $(seq 200); do grep -q "dropped $nbd's connection" "$d/daemon.log" && break; sleep 0.1; done
  grep "dropped $nbd's connection" "$d/daemon.log" || die "no new socket 20 s after the process went on: $(tail -n 5 "$d/daemon.log")"
  timeout 30 dd if=/dev/urandom of="$nbd" bs=1M count=4 oflag=direct status=none || die "$nbd does not take writes after the new socket"
  kill -0 "$writer" 2>/dev/null || die "the writer failed across the stop"
  [[ $(blksnap daemon_info | sed -n 's/^pid=//p') == "$pid" ]] || die "the serving process was replaced; it should have gone on"
  kill "$writer"
  blksnap detach -d stalled
  [[ $(cat "/sys/block/${nbd#/dev/}/size") == 0 ]] || die "$nbd still connected after detach"
}

# On a kernel without FUSE_NOTIFY_RESEND (this lane's 6.1) a request the dead serving process had
# read cannot be given to its successor: a reader parked on `events` when the process is killed
# keeps the connection busy, so the successor aborts it. The reader gets an error, nothing waits for ever.
stuck_request_aborted() {
  local d id reader pid
  d=$(scratch_dir 200M)
  truncate -s 16M "$d/disk.img"
  start_daemon "$d" "LogFile=$d/daemon.log"
  blksnap attach -d "$d/disk.img" --name small
  id=$(blksnap snapshot_create -d small)
  (if cat "$d/mnt/small/events" >"$d/events.out" 2>"$d/events.err"; then echo 0; else echo 1; fi >"$d/events.rc") &
  reader=$!
  sleep 1
  kill -0 "$reader" 2>/dev/null || die "the events reader did not park: $(cat "$d/events.err")"
  pid=$(blksnap daemon_info | sed -n 's/^pid=//p')
  kill -9 "$pid"
  for _ in $(seq 300); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$reader" 2>/dev/null && die "the parked reader still waits 30 s after the kill"
  echo "reader: exit $(cat "$d/events.rc"): $(cat "$d/events.err")"
  [[ $(cat "$d/events.rc") == 1 ]] || die "the parked reader ended without an error"
  grep -q "Software caused connection abort\|Transport endpoint is not connected" "$d/events.err" || die "the reader's error: $(cat "$d/events.err")"
  grep -q "some stay unanswered: aborting the connection" "$d/daemon.log" || die "no abort in the log: $(tail -n 5 "$d/daemon.log")"
  for _ in $(seq 100); do pgrep -f "blksnapfs $d/mnt" >/dev/null || break; sleep 0.1; done
  pgrep -f "blksnapfs $d/mnt" >/dev/null && die "the supervisor did not stop after the abort"
  umount -l "$d/mnt"
}

# fio on /dev/nbdN with and without a snapshot, and on the raw virtio disk: figures only.
fio_figures() {
  local d nbd id
  d=$(scratch_dir 1200M)
  test -b /dev/vdb || die "/dev/vdb missing"
  start_daemon "$d"
  run_fio() {
    local label=$1 dev=$2 bs=$3 rw=$4
    fio --name="$label" --filename="$dev" --rw="$rw" --bs="$bs" --iodepth=16 --ioengine=libaio --direct=1 \
        --size=128M --runtime=8 --output-format=terse --terse-version=3 2>/dev/null \
      | awk -F';' -v l="$label" '{ printf "fio %-40s %8.1f MiB/s %8.0f IOPS\n", l, $48/1024, $49 }'
  }
  run_fio "raw vdb seq 1M write" /dev/vdb 1M write
  run_fio "raw vdb rand 4K write" /dev/vdb 4k randwrite
  blksnap attach -d /dev/vdb --frontend nbd --name vdb
  nbd=$(info "$d" nbd_device vdb)
  run_fio "nbd no snapshot seq 1M write" "$nbd" 1M write
  run_fio "nbd no snapshot rand 4K write" "$nbd" 4k randwrite
  id=$(blksnap snapshot_create -d vdb -f "$d" -l 1G)
  blksnap snapshot_take -i "$id"
  run_fio "nbd snapshot first-touch seq 1M write" "$nbd" 1M write
  run_fio "nbd snapshot rewrite seq 1M write" "$nbd" 1M write
  blksnap snapshot_destroy -i "$id"
  id=$(blksnap snapshot_create -d vdb -f "$d" -l 1G)
  blksnap snapshot_take -i "$id"
  run_fio "nbd snapshot first-touch rand 4K write" "$nbd" 4k randwrite
  run_fio "nbd snapshot rewrite rand 4K write" "$nbd" 4k randwrite
  blksnap snapshot_destroy -i "$id"
  blksnap detach -d vdb
}

# A file system that cannot freeze in time (a dm device of the user's stacked on /dev/nbdN,
# suspended without lockfs, so the freeze's own writes queue there) is taken unfrozen with a
# warning after Take:FreezeTimeoutSeconds; once the freeze gets through, the daemon thaws it.
freeze_timeout() {
  local d nbd id t0
  d=$(scratch_dir 400M)
  truncate -s 128M "$d/disk.img"
  start_daemon "$d" "Take:FreezeTimeoutSeconds=3"
  blksnap attach -d "$d/disk.img" --frontend nbd --name slow
  nbd=$(info "$d" nbd_device slow)
  dm_create kt-stack "0 $(blockdev --getsz "$nbd") linear $nbd 0"
  mkfs.ext4 -q /dev/mapper/kt-stack
  mount_dev /dev/mapper/kt-stack "$d/fs"
  head -c 8M /dev/urandom >"$d/fs/dirty"
  id=$(blksnap snapshot_create -d slow -f "$d" -l 200M)
  dmsetup suspend --nolockfs kt-stack
  t0=$SECONDS
  blksnap snapshot_take -i "$id" 2>"$d/take.err" || { dmsetup resume kt-stack; die "take failed: $(cat "$d/take.err")"; }
  dmsetup resume kt-stack
  cat "$d/take.err"
  grep -q "did not freeze within 3 s (ETIMEDOUT); taken unfrozen" "$d/take.err" || die "no timeout warning"
  ((SECONDS - t0 < 20)) || die "the take waited $((SECONDS - t0)) s"
  [[ -e $d/mnt/slow/image ]] || die "no image after the take"
  # the late freeze was thawed: writes go on
  timeout 60 sh -c "echo after > '$d/fs/after'; sync -f '$d/fs/after'" || die "the file system was left frozen"
  blksnap snapshot_destroy -i "$id"
  umount_retry "$d/fs"
  dm_remove kt-stack
  blksnap detach -d slow
}

KT_VERBOSE=1 t_case nbd-snapshot nbd_snapshot
KT_VERBOSE=1 t_case freeze-timeout freeze_timeout
KT_VERBOSE=1 t_case dm-attach-detach-under-load dm_attach_under_load
t_case nbd-overflow nbd_overflow
KT_VERBOSE=1 t_case nbd-discard nbd_discard
KT_VERBOSE=1 t_case killed-daemon killed_daemon
NBD_TIMEOUT=3 KT_KILLS=20 KT_VERBOSE=1 t_case worker-killed worker_killed
KT_VERBOSE=1 t_case worker-stopped worker_stopped
KT_VERBOSE=1 t_case stuck-request-aborted stuck_request_aborted
KT_VERBOSE=1 t_case fio-figures fio_figures
t_done
