# shellcheck shell=bash
# Helpers for guest test scripts (tests/kernel/guest/*.sh), sourced inside the VM.
#
#   source "$(dirname "$0")/../lib.sh"
#   t_case NAME FUNCTION [ARG...]   run one case; prints "kernel-test: PASS NAME (1.2s)"
#   t_done                          print the guest's summary, exit 1 if any case failed
#
# A case runs in a subshell with `set -Eeuo pipefail`; its output is shown only when it
# fails (or always with KT_VERBOSE=1). Register cleanups with `t_defer CMD...`: they run,
# last first, when the case ends, whatever happened. The VM is discarded afterwards, but
# cases share one boot, so leave nbd devices, dm devices, mounts and daemons as you found them.

[[ ${IN_KERNEL_VM:-} == 1 ]] || { echo "lib.sh: not inside the kernel-test VM (use tests/kernel/vm.sh run)" >&2; exit 2; }

KT_PASSED=0
KT_FAILED=0
KT_LOGDIR=$(mktemp -d /tmp/kt.XXXXXX)

_kt_now() { local u; read -r u _ </proc/uptime; echo "$u"; }

# Cleanup stack of the running case: a file, so t_defer also works inside $(...).
t_defer() { printf '%q ' "$@" >>"$KT_DEFER_FILE"; echo >>"$KT_DEFER_FILE"; }
_kt_run_defer() {
  local line
  [[ -s $KT_DEFER_FILE ]] || return 0
  while IFS= read -r line; do eval "$line" || true; done < <(tac "$KT_DEFER_FILE")
  : >"$KT_DEFER_FILE"
}

t_case() {
  local name=$1 t0 t1 rc log
  shift
  log=$KT_LOGDIR/$name.log
  export KT_DEFER_FILE=$KT_LOGDIR/$name.defer
  : >"$KT_DEFER_FILE"
  t0=$(_kt_now)
  set +e
  (
    set -Eeuo pipefail
    trap '_kt_run_defer' EXIT
    trap 'echo "kernel-test: $name: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
    "$@"
  ) >"$log" 2>&1 </dev/null
  rc=$?
  set -e
  t1=$(_kt_now)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [[ $rc == 0 ]]; then
    KT_PASSED=$((KT_PASSED + 1))
    [[ ${KT_VERBOSE:-0} == 1 ]] && sed "s/^/  [$name] /" "$log"
    echo "kernel-test: PASS $name (${secs}s)"
  else
    KT_FAILED=$((KT_FAILED + 1))
    sed "s/^/  [$name] /" "$log"
    echo "kernel-test: FAIL $name (${secs}s, exit $rc)"
  fi
}

t_done() {
  echo "kernel-test: guest $(basename "$0"): $KT_PASSED passed, $KT_FAILED failed"
  rm -rf "$KT_LOGDIR"
  [[ $KT_FAILED == 0 ]]
}

# ---- small building blocks

die() { echo "FAILED: $*" >&2; exit 1; }

# wait_for TEST-EXPRESSION... : polls `test ARGS` for up to $WAIT_SECS (default 20) seconds.
wait_for() {
  local i
  for ((i = 0; i < ${WAIT_SECS:-20} * 10; i++)); do
    test "$@" && return 0
    sleep 0.1
  done
  die "timed out waiting for: test $*"
}

# start_nbdkit SOCKET PLUGIN [ARGS...]: nbdkit on a Unix socket, stopped when the case ends.
start_nbdkit() {
  local sock=$1
  shift
  t_defer kill_pidfile "$sock.pid"
  nbdkit --unix "$sock" --pidfile "$sock.pid" "$@" || die "nbdkit $* did not start"
  wait_for -S "$sock"
}

kill_pidfile() {
  local pid
  [[ -f $1 ]] || return 0
  pid=$(<"$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# nbd_attach SOCKET DEVICE [nbd-client options...]: connects /dev/nbdN to an NBD server on a
# Unix socket (netlink mode unless -L / -nonetlink is given), disconnected when the case ends.
nbd_attach() {
  local sock=$1 dev=$2
  shift 2
  nbd-client -u "$sock" "$dev" -N "${NBD_EXPORT:-}" -t "${NBD_TIMEOUT:-30}" "$@" >/dev/null \
    || die "nbd-client $sock $dev failed"
  t_defer nbd_detach "$dev"
  local i
  for ((i = 0; i < 200; i++)); do
    [[ $(cat "/sys/block/${dev##*/}/size") != 0 ]] && return 0
    sleep 0.1
  done
  die "$dev has size 0 after nbd-client"
}

nbd_detach() {
  nbd-client -d "$1" >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 50; i++)); do
    [[ $(cat "/sys/block/${1##*/}/size" 2>/dev/null || echo 0) == 0 ]] && return 0
    sleep 0.1
  done
}

# dm_create NAME TABLE: a device-mapper device, removed when the case ends.
dm_create() {
  dmsetup create "$1" --table "$2" || die "dmsetup create $1 failed"
  t_defer dm_remove "$1"
  wait_for -b "/dev/mapper/$1"
}

dm_remove() {
  local i
  for ((i = 0; i < 20; i++)); do
    dmsetup remove "$1" 2>/dev/null && return 0
    dmsetup info "$1" >/dev/null 2>&1 || return 0
    sleep 0.2
  done
  dmsetup remove --force "$1" || true
}

# loop_attach FILE: prints the loop device over FILE, detached when the case ends.
loop_attach() {
  local dev
  dev=$(losetup --show -f "$1") || die "losetup $1 failed"
  t_defer losetup -d "$dev"
  echo "$dev"
}

# mount_dev DEVICE DIR [mount options]: mounts, unmounted when the case ends.
mount_dev() {
  mkdir -p "$2"
  mount ${3:+-o "$3"} "$1" "$2" || die "mount $1 $2 failed"
  t_defer umount_retry "$2"
}

umount_retry() {
  mountpoint -q "$1" || return 0
  local i
  for ((i = 0; i < 20; i++)); do umount "$1" 2>/dev/null && return 0; sleep 0.2; done
  umount -l "$1"
}

# A scratch directory on a fresh tmpfs (not the overlay), removed when the case ends.
scratch_dir() {
  local d
  d=$(mktemp -d /tmp/scratch.XXXXXX)
  mount -t tmpfs -o size="${1:-512M}" scratch "$d"
  t_defer rm -rf "$d"
  t_defer umount_retry "$d"
  echo "$d"
}
