# shellcheck shell=bash
# Sourced by the shell benches: `work_directory NAME DIR` makes $work under DIR and removes it at
# exit, with the mount at $work/mnt and any daemon started with a configuration in it.
work_directory() {
  work=$(mktemp -d "$2/blksnapfs-$1.XXXXXX")
  trap remove_work_directory EXIT
  # bash runs the EXIT trap on a signal only when the signal has a trap of its own
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

remove_work_directory() {
  stop_daemon
  rm -rf "$work"
}

# stop_daemon: unmounts $work/mnt if mounted and waits up to 5 s for the daemon of $work's configuration to end.
stop_daemon() {
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  for _ in $(seq 50); do pgrep -f "blksnapfs --config $work" >/dev/null || break; sleep 0.1; done
}

# start_taken_daemon BINDIR SIZE_MIB: a daemon serving $work/disk.img as device d on the fuse frontend at
# $work/mnt, with a snapshot taken (storage in $work/storage, limit twice the device); sets $pid to the
# serving process, the newest of the daemon's (its supervisor starts it).
start_taken_daemon() {
  mkdir -p "$work/mnt" "$work/storage"
  [[ -d $work/run ]] || mkdir -m 0700 "$work/run"
  printf '{"ControlSocket":"%s/run/control.sock","StateDirectory":"","Nbd":{"SocketDirectory":"%s/run/nbd"},"Devices":[{"Name":"d","Path":"%s/disk.img"}]}' \
    "$work" "$work" "$work" > "$work/config.json"
  "$1/blksnapfs" --config "$work/config.json" "$work/mnt"
  local id
  id=$("$1/blksnap" --socket "$work/run/control.sock" snapshot_create -d d -f "$work/storage" -l "$(($2 * 2))M")
  "$1/blksnap" --socket "$work/run/control.sock" snapshot_take -i "$id" >/dev/null
  pid=$(pgrep -n -f "blksnapfs --config $work")
}
