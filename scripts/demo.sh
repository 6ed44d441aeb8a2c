#!/usr/bin/env bash
# The main job on an embedded default: a small ext4 device behind the `live` frontend, a
# snapshot taken while files change, the image loop-mounted and compared, everything cleaned up.
set -euo pipefail
bin=${1:-$(cd "$(dirname "$0")/.." && pwd)/out/bin}
work=$(mktemp -d /tmp/blksnapfs-demo.XXXXXX)
export BLKSNAPFS_SOCKET=$work/control.sock
live_loop= image_loop=

cleanup() {
  set +e
  mountpoint -q "$work/snapshot" && umount "$work/snapshot"
  mountpoint -q "$work/fs" && umount "$work/fs"
  [ -n "$image_loop" ] && losetup -d "$image_loop"
  [ -n "$live_loop" ] && losetup -d "$live_loop"
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a 256 MiB device file with ext4 on it"
truncate -s 256M "$work/data.img"
mkfs.ext4 -q -L demo "$work/data.img"
cat > "$work/blksnapfs.json" <<JSON
{ "ControlSocket": "$work/control.sock", "Devices": [ { "Name": "data", "Path": "$work/data.img", "Frontend": "fuse" } ] }
JSON
mkdir -p "$work/mnt" "$work/fs" "$work/snapshot"

step "start the daemon: blksnapfs --config $work/blksnapfs.json $work/mnt"
"$bin/blksnapfs" --config "$work/blksnapfs.json" "$work/mnt"
ls -l "$work/mnt/data"

step "mount the device through its live file and write some files"
live_loop=$(losetup --find --show "$work/mnt/data/live")
mount "$live_loop" "$work/fs"
mkdir -p "$work/fs/docs"
for i in $(seq 1 20); do head -c $((i * 37 * 1024)) /dev/urandom > "$work/fs/docs/file$i.bin"; done
echo "the first version" > "$work/fs/docs/readme.txt"
sync
(cd "$work/fs" && find docs -type f | sort | xargs md5sum) > "$work/before.md5"

step "take a snapshot (filesystem frozen for the moment of the take)"
id=$("$bin/blksnap" snapshot_create -d data -f "$work" -l 1G)
echo "snapshot $id"
fsfreeze -f "$work/fs"
"$bin/blksnap" snapshot_take -i "$id"
fsfreeze -u "$work/fs"
"$bin/blksnap" snapshot_info -d data
ls -l "$work/mnt/data"

step "change the files after the take"
rm "$work/fs/docs/file3.bin" "$work/fs/docs/file7.bin"
echo "the second version" > "$work/fs/docs/readme.txt"
head -c 5M /dev/urandom > "$work/fs/docs/new.bin"
sync

step "loop-mount the snapshot image: it still holds the old files"
image_loop=$(losetup --find --show "$work/mnt/data/image")
mount "$image_loop" "$work/snapshot"
(cd "$work/snapshot" && md5sum --quiet -c "$work/before.md5") && echo "all $(wc -l < "$work/before.md5") files match the pre-take checksums"
echo "readme in the snapshot: $(cat "$work/snapshot/docs/readme.txt")"
echo "readme now:             $(cat "$work/fs/docs/readme.txt")"
diff -rq "$work/snapshot/docs" "$work/fs/docs" || true

step "change tracking"
"$bin/blksnap" cbtinfo -d data
"$bin/blksnap" readcbtmap -d data -f "$work/cbt.map"
echo "$(od -An -tu1 -v "$work/cbt.map" | tr -s ' ' '\n' | grep -c '^1$') of $(stat -c %s "$work/cbt.map") tracking blocks changed before the take"

step "clean up: unmount, destroy the snapshot (its storage goes), stop the daemon"
umount "$work/snapshot"; losetup -d "$image_loop"; image_loop=
"$bin/blksnap" snapshot_destroy -i "$id"
umount "$work/fs"; losetup -d "$live_loop"; live_loop=
umount "$work/mnt"
echo "demo passed"
