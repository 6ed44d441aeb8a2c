#!/bin/sh
# PID 1 of the kernel-test VM (busybox sh inside the initramfs that vm.sh builds).
#
# It mounts the host's root (9p tag "host", read-only) under a RAM overlay so the
# whole tree, /tmp included, looks writable (writes are discarded at power-off;
# /run is a fresh tmpfs so no host daemon's sockets leak in), mounts the per-run
# exchange directory (9p tag "xfer") and the --rw shares, loads modules, then runs
# /run/vm/cmd.sh in a chroot with stdout/stderr on two virtio-serial ports, writes
# the exit status to the exchange directory and powers off.

PATH=/bin
export PATH
P9="trans=virtio,version=9p2000.L,msize=512000"
R=/newroot

/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

msg() { local u; read -r u _ </proc/uptime 2>/dev/null; echo "vm-init: [$u] $*"; }
trace() { [ "${VM_TRACE:-0}" = 1 ] && msg "$@"; return 0; }
halt_now() { sync; poweroff -f; sleep 5; exit 1; }
fail() {
  msg "FAILED: $*"
  [ -d /xfer/. ] && { echo "vm-init: $*" >/xfer/init-error; echo 125 >/xfer/rc; }
  halt_now
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
while read -r mod args; do
  [ -n "$mod" ] || continue
  insmod "/lib/modules/$mod" $args 2>/dev/null || msg "insmod $mod failed (ignored)"
done </lib/modules/load.list

mkdir -p /xfer /lower /ram "$R"
mount -t 9p -o "$P9" xfer /xfer || fail "mount 9p share xfer (virtio-9p missing?)"
[ -f /xfer/vm.conf ] || fail "no /xfer/vm.conf"
. /xfer/vm.conf
trace "modules loaded, exchange mounted"

mount -t 9p -o "$P9,ro,cache=loose" host /lower || fail "mount 9p share host"
mount -t tmpfs -o "mode=0755,size=$VM_RAM_SIZE" ram /ram || fail "mount tmpfs for the overlay"
mkdir -p /ram/upper /ram/work
mount -t overlay -o lowerdir=/lower,upperdir=/ram/upper,workdir=/ram/work overlay "$R" \
  || fail "mount overlay of the host root"

trace "overlay root mounted"
mount -t proc proc "$R/proc" || fail "mount $R/proc"
mount -t sysfs sysfs "$R/sys" || fail "mount $R/sys"
mount -t devtmpfs devtmpfs "$R/dev" || fail "mount $R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
ln -sf /proc/self/fd "$R/dev/fd"
ln -sf /proc/self/fd/0 "$R/dev/stdin"
ln -sf /proc/self/fd/1 "$R/dev/stdout"
ln -sf /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=0755 run "$R/run" || fail "mount $R/run"
mkdir -p "$R/run/lock" "$R/run/vm"
chmod 1777 "$R/run/lock"
mount --bind /xfer "$R/run/vm" || fail "bind the exchange directory"
mount -t configfs configfs "$R/sys/kernel/config" 2>/dev/null
mount -t debugfs debugfs "$R/sys/kernel/debug" 2>/dev/null

# The kernel's own modules (the extracted Debian package on the host) at /lib/modules.
mkdir -p "$R/lib/modules/$(uname -r)" || fail "mkdir $R/lib/modules"
mount --bind "/lower$VM_MODULES" "$R/lib/modules/$(uname -r)" || fail "bind modules from $VM_MODULES"

# Writable shares: lines of "TAG PATH".
echo "$VM_RW" | while read -r tag path; do
  [ -n "$tag" ] || continue
  mkdir -p "$R$path" && mount -t 9p -o "$P9" "$tag" "$R$path" || { echo "$tag $path" >>/xfer/rw-failed; }
done
[ -f /xfer/rw-failed ] && fail "mount writable share $(cat /xfer/rw-failed)"

trace "shares mounted"
hostname "$VM_HOSTNAME"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

# The kernel's own module requests (mount -t xfs, dm targets, ...) go to the chroot's kmod.
printf '#!/bin/sh\nexec /bin/chroot %s /sbin/modprobe "$@"\n' "$R" >/bin/vm-modprobe
chmod 755 /bin/vm-modprobe
echo /bin/vm-modprobe >/proc/sys/kernel/modprobe
# Preloaded modules: "insmod PATH [ARGS]" lines resolved on the host (kmod --show-depends).
echo "$VM_INSMOD" | while read -r verb path args; do
  [ "$verb" = insmod ] || continue
  insmod "/lower$path" $args 2>/dev/null || grep -q "^$(basename "$path" .ko | tr - _) " /proc/modules \
    || msg "insmod $path failed"
done

trace "modules preloaded"
# Output ports, found by name (no udev here).
out=; err=
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  for d in /sys/class/virtio-ports/*; do
    [ -f "$d/name" ] || continue
    case "$(cat "$d/name")" in
      vm.stdout) out=/dev/${d##*/} ;;
      vm.stderr) err=/dev/${d##*/} ;;
    esac
  done
  [ -n "$out" ] && [ -n "$err" ] && [ -c "$out" ] && [ -c "$err" ] && break
  sleep 0.1
done
[ -c "$out" ] && [ -c "$err" ] || fail "virtio-serial output ports not found"

trace "starting the command"
read -r t0 _ </proc/uptime
chroot "$R" /usr/bin/env -i /bin/bash /run/vm/cmd.sh </dev/null >"$out" 2>"$err"
rc=$?
read -r t1 _ </proc/uptime
echo "$t0 $t1" >/xfer/times
echo "$rc" >/xfer/rc
trace "command exited $rc; powering off"
halt_now
