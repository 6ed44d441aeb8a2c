#!/usr/bin/env bash
# Builds out/blksnapfs_VERSION_amd64.deb with dpkg-deb from the native binaries in OUT/bin.
set -euo pipefail
out=${1:-out}
version=$("$out/bin/blksnap" version 2>/dev/null || echo 2.0.0.0)
version=${version%.0}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr >/dev/null
mkdir -p "$stage/DEBIAN" "$stage/lib/systemd/system"
mv "$stage/etc/systemd/system/blksnapfs.service" "$stage/lib/systemd/system/"
rmdir -p "$stage/etc/systemd/system" 2>/dev/null || true
size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: blksnapfs
Version: $version
Architecture: amd64
Maintainer: BlkSnapFs developers <blksnapfs@localhost>
Depends: fuse3, libc6
Recommends: nbd-client, dmsetup
Installed-Size: $size
Section: admin
Priority: optional
Description: block device snapshots and change tracking in user space
 blksnapfs tracks which blocks of a device change, takes coherent snapshots of
 several devices at once with copy-on-write into a growable difference storage,
 and presents images, change maps and events as files in a FUSE mount.
 blksnap is its control tool, with the upstream blksnap command set.
CONTROL
echo /etc/blksnapfs/blksnapfs.json > "$stage/DEBIAN/conffiles"
deb="$out/blksnapfs_${version}_amd64.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
