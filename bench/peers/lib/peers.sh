# The peers of the throughput experiment, each four functions of its directory DIR:
#   <peer>_setup DIR DEV SIZE_MIB, <peer>_snap DIR, <peer>_unsnap DIR, <peer>_teardown DIR.
# snap leaves the files to measure in DIR/state: image (read) and live (written).

raw_setup() { mkdir -p "$1"; state_set "$1/state" image "$2"; state_set "$1/state" live "$2"; }
raw_snap() { :; }
raw_unsnap() { :; }
raw_teardown() { :; }

blksnapfs_setup() {
  bsfs_write_config "$1" "dev=$2"
  state_set "$1/state" size_mib "$3"
  bsfs_start "$1"
}
blksnapfs_snap() {
  local id
  id=$(bsfs "$1" snapshot_create -d dev -f "$1/diff" -l "$(( $(state_get "$1/state" size_mib) * 2 ))M")
  bsfs "$1" snapshot_take -i "$id" >/dev/null
  state_set "$1/state" snapshot "$id"
  state_set "$1/state" image "$1/mnt/dev/image"
  state_set "$1/state" live "$1/mnt/dev/live"
}
blksnapfs_unsnap() { bsfs "$1" snapshot_destroy -i "$(state_get "$1/state" snapshot)" >/dev/null; }
blksnapfs_teardown() { bsfs_stop "$1"; }

# a new daemon and target per snapshot: the snapshot point is the filter's creation
qemu_setup() { mkdir -p "$1"; state_set "$1/state" dev "$2"; state_set "$1/state" size_mib "$3"; }
qemu_snap() {
  qsd_start "$1" "$(state_get "$1/state" dev)" "$(state_get "$1/state" size_mib)"
  state_set "$1/state" image "$1/image"
  state_set "$1/state" live "$1/live"
}
qemu_unsnap() { qsd_stop "$1"; }
qemu_teardown() { :; }

# passthrough, no copy-on-write: image and live are the same file
nbdkit_setup() {
  nbdkit_start "$1" "$2"
  state_set "$1/state" image "$1/mnt/dev"
  state_set "$1/state" live "$1/mnt/dev"
}
nbdkit_snap() { :; }
nbdkit_unsnap() { :; }
nbdkit_teardown() { nbdkit_stop "$1"; }
