# Starting and stopping the programs measured. Each instance lives in a directory of its own that
# holds its files and its state file (DIR/state: pids, paths). Uses bin, settings (the --set options)
# and work from run.sh.

# bsfs_write_config DIR NAME=PATH...: a daemon configuration with these devices on the fuse frontend
bsfs_write_config() {
  local dir=$1 first=1 d; shift
  mkdir -p "$dir"
  {
    # The tracking state goes in the work directory too, so the bench leaves nothing in /var/lib/blksnapfs.
    printf '{ "ControlSocket": "%s", "StateDirectory": "%s", "LogLevel": "Warning", "Nbd": { "SocketDirectory": "%s" }, "Devices": [' \
      "$dir/control.sock" "$dir/tracking" "$dir/nbd"
    for d in "$@"; do
      [ $first = 1 ] || printf ','
      first=0
      printf ' { "Name": "%s", "Path": "%s", "Frontend": "fuse" }' "${d%%=*}" "${d#*=}"
    done
    printf ' ] }\n'
  } > "$dir/config.json"
}
# bsfs_start DIR [OPTION...]: the daemon of DIR/config.json in the foreground (a background job),
# mounted on DIR/mnt, with the run's --set options and these. DIR/state gets daemon_pid, the process
# started (its supervisor), and serving_pid, the one serving, as the daemon itself reports it.
bsfs_start() {
  local dir=$1; shift
  mkdir -p "$dir/mnt" "$dir/diff"
  "$bin/blksnapfs" --config "$dir/config.json" "${settings[@]}" "$@" "$dir/mnt" -f >>"$work/blksnapfs.log" 2>&1 &
  remember_pid $!; remember_mounts "$dir/mnt"
  state_set "$dir/state" daemon_pid $!
  wait_mounted "$dir/mnt"
  # The mount appears a moment before the control socket answers (the daemon mounts, starts its FUSE
  # workers, then listens), so a daemon_info right after the mount can find no socket yet.
  local info="" _
  for _ in $(seq 200); do info=$(bsfs "$dir" daemon_info 2>/dev/null) && break; sleep 0.05; done
  [ -n "$info" ] || { log "the daemon of $dir did not answer on $dir/control.sock"; return 1; }
  state_set "$dir/state" serving_pid "$(sed -n 's/^pid=//p' <<<"$info")"
}
bsfs_stop() { umount_fuse "$1/mnt"; stop_pid "$(state_get "$1/state" daemon_pid)"; }
bsfs() { local dir=$1; shift; "$bin/blksnap" "$@" --socket "$dir/control.sock"; }  # DIR COMMAND ARGS...: blksnap against DIR's daemon
bsfs_info() { sed -n "s/^$3: //p" "$1/mnt/$2/info"; }  # DIR DEVICE FIELD: one field of the device's info file

# qsd_start DIR DEV SIZE_MIB: file -> copy-before-write (qcow2 target) -> snapshot-access, FUSE exports DIR/live and DIR/image
qsd_start() {
  local dir=$1 dev=$2 size=$3
  mkdir -p "$dir"
  rm -f "$dir/target.qcow2"; qemu-img create -q -f qcow2 "$dir/target.qcow2" "${size}M"
  : > "$dir/live"; : > "$dir/image"
  qemu-storage-daemon \
    --blockdev "driver=file,node-name=base,filename=$dev,aio=threads" \
    --blockdev "driver=qcow2,node-name=target,file.driver=file,file.filename=$dir/target.qcow2" \
    --blockdev "driver=copy-before-write,node-name=cbw,file=base,target=target" \
    --blockdev "driver=snapshot-access,node-name=snap,file=cbw" \
    --export "type=fuse,id=live,node-name=cbw,mountpoint=$dir/live,writable=on" \
    --export "type=fuse,id=image,node-name=snap,mountpoint=$dir/image,writable=off" \
    >>"$work/qsd.log" 2>&1 &
  remember_pid $!; remember_mounts "$dir/live" "$dir/image"
  state_set "$dir/state" qsd_pid $!
  wait_mounted "$dir/live"; wait_mounted "$dir/image"
}
qsd_stop() { umount_fuse "$1/image"; umount_fuse "$1/live"; stop_pid "$(state_get "$1/state" qsd_pid)"; rm -f "$1/target.qcow2"; }

# nbdkit_start DIR DEV: nbdkit's file plugin on DIR/nbd.sock, nbdfuse (multi-conn) on DIR/mnt/dev
nbdkit_start() {
  local dir=$1 dev=$2
  mkdir -p "$dir/mnt"
  nbdkit --foreground --unix "$dir/nbd.sock" file "$dev" >>"$work/nbdkit.log" 2>&1 &
  remember_pid $!; state_set "$dir/state" nbdkit_pid $!
  for _ in $(seq 100); do [ -S "$dir/nbd.sock" ] && break; sleep 0.05; done
  nbdfuse "$dir/mnt/dev" --unix "$dir/nbd.sock" >>"$work/nbdkit.log" 2>&1 &
  remember_pid $!; remember_mounts "$dir/mnt"; state_set "$dir/state" nbdfuse_pid $!
  wait_mounted "$dir/mnt"
}
nbdkit_stop() {
  umount_fuse "$1/mnt"
  stop_pid "$(state_get "$1/state" nbdfuse_pid)"; stop_pid "$(state_get "$1/state" nbdkit_pid)"
  rm -f "$1/nbd.sock"
}
