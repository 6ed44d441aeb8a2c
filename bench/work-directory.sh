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
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  for _ in $(seq 50); do pgrep -f "blksnapfs --config $work" >/dev/null || break; sleep 0.1; done
  rm -rf "$work"
}
