#!/usr/bin/env bash
# Kernel-test VM lane: boots Debian's kernel in qemu with the host's root filesystem
# (9p, read-only, under a RAM overlay) and runs one command there, so tests can use
# nbd, device-mapper, loop, FUSE and real file systems that this machine's kernel lacks.
#
#   tests/kernel/vm.sh build [--refresh]
#   tests/kernel/vm.sh run [options] -- COMMAND [ARG...]
#   tests/kernel/vm.sh accel | info | clean
#
# See docs/kernel-tests.md for the whole story.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${VM_WORK_DIR:-$HERE/work}
VMDIR=$WORK/vm
PROG=vm.sh
QEMU=${VM_QEMU:-qemu-system-x86_64}
# shellcheck source=../../scripts/apt.sh
source "$HERE/../../scripts/apt.sh"

# Modules the initramfs loads itself (enough to reach the 9p root and the output ports).
INITRD_MODULES=(virtio_pci virtio_blk virtio_console 9pnet_virtio 9p overlay)
# Modules loaded before the command runs, so their /dev nodes exist (others load on demand:
# the kernel's own requests, e.g. mount -t xfs, go through the chroot's modprobe).
PRELOAD_MODULES="loop nbd dm-mod fuse"
# Host tools the lane needs, as COMMAND:PACKAGE (the VM runs the host's own binaries).
HOST_TOOLS=(qemu-system-x86_64:qemu-system-x86 busybox:busybox-static depmod:kmod cpio:cpio
            nbd-client:nbd-client dmsetup:dmsetup mkfs.ext4:e2fsprogs mkfs.xfs:xfsprogs fio:fio
            nbdkit:nbdkit losetup:mount xz:xz-utils)

die() { echo "$PROG: error: $*" >&2; exit 2; }
note() { [[ ${quiet:-0} == 1 ]] || echo "$PROG: $*" >&2; }

usage() {
  cat <<'EOF'
usage: tests/kernel/vm.sh build [--refresh]
       tests/kernel/vm.sh run [options] -- COMMAND [ARG...]
       tests/kernel/vm.sh accel | info | clean

build             download Debian's kernel (apt-get download) and build the initramfs into
                  tests/kernel/work/vm (idempotent; --refresh re-resolves the newest kernel)
run               boot the VM, run COMMAND in the host's cwd, stream its stdout/stderr,
                  exit with COMMAND's status (124: timeout, 125: the VM failed)
  --timeout SEC   kill the VM after SEC seconds (default 600, env VM_TIMEOUT)
  --mem MIB       guest memory (default 2048, env VM_MEM)
  --cpus N        guest vCPUs (default 2, env VM_CPUS)
  --disk FILE     attach FILE as a raw virtio disk: /dev/vda, /dev/vdb... in order
  --scratch SIZE  attach a new sparse raw disk of SIZE (e.g. 256M), deleted afterwards
  --rw DIR        mount host DIR writable at the same path (results come back this way)
  --env NAME[=V]  pass NAME (from the host, or =V) into the command's environment
  --modprobe M    also load module M before the command (repeatable)
  --console       stream the kernel console to stderr too (debugging)
  --quiet         no vm.sh progress lines on stderr
accel             print the accelerator runs will use (kvm or tcg), probing KVM if need be
info              print the kernel and paths in use
clean             remove tests/kernel/work
EOF
}

# ---------------------------------------------------------------- build

ensure_host_packages() {
  local t missing=()
  for t in "${HOST_TOOLS[@]}"; do
    PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
  done
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  ((${#missing[@]})) || return 0
  note "installing host packages: ${missing[*]}"
  apt_get update -q >/dev/null || die "apt-get update failed"
  apt_get install -y -q --no-install-recommends "${missing[@]}" qemu-system-common >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# Prints the kernel package to use: $VM_KERNEL_PKG, else what linux-image-amd64 depends on.
resolve_kernel_pkg() {
  if [[ -n ${VM_KERNEL_PKG:-} ]]; then echo "$VM_KERNEL_PKG"; return; fi
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [[ -z $pkg ]]; then
    apt_get update -q >/dev/null 2>&1 || die "apt-get update failed"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [[ -n $pkg ]] || die "cannot resolve a kernel package (apt-cache depends linux-image-amd64 gave nothing)"
  echo "$pkg"
}

# Changes when the initramfs would differ (bump BUILD_FORMAT when do_build changes what it makes).
BUILD_FORMAT=3
build_stamp() { { echo "$BUILD_FORMAT ${INITRD_MODULES[*]}"; cat "$HERE/init.sh"; } | sha256sum | cut -c1-16; }

do_build() {
  local refresh=0
  while (($#)); do
    case $1 in
      --refresh) refresh=1 ;;
      -h|--help) usage; exit 0 ;;
      *) die "build: unknown option $1" ;;
    esac
    shift
  done
  mkdir -p "$WORK"
  exec 8>"$WORK/.lock"
  flock 8 || die "cannot lock $WORK/.lock"
  ensure_host_packages

  local stamp pkg
  stamp="$(build_stamp)"
  if [[ $refresh == 0 && -z ${VM_KERNEL_PKG:-} && -f $VMDIR/stamp ]]; then
    pkg=$(<"$VMDIR/package")
    if [[ $(<"$VMDIR/stamp") == "$stamp $pkg" && -f $VMDIR/vmlinuz && -f $VMDIR/initrd.img ]]; then
      exec 8>&-
      return 0
    fi
  else
    pkg=$(resolve_kernel_pkg)
  fi
  [[ -f $VMDIR/stamp && $(<"$VMDIR/stamp") == "$stamp $pkg" ]] && { exec 8>&-; return 0; }

  # 1. The kernel package, downloaded once into work/debs and extracted into work/kernel/PKG.
  local debs=$WORK/debs kdir=$WORK/kernel/$pkg deb
  mkdir -p "$debs"
  deb=$(ls "$debs/${pkg}_"*.deb 2>/dev/null | tail -n1 || true)
  if [[ -z $deb ]]; then
    note "downloading $pkg"
    (cd "$debs" && apt_get download -q "$pkg" >/dev/null 2>"$debs/download.log") \
      || { cat "$debs/download.log" >&2; die "apt-get download $pkg failed"; }
    deb=$(ls "$debs/${pkg}_"*.deb 2>/dev/null | tail -n1 || true)
    [[ -n $deb ]] || die "apt-get download $pkg produced no .deb in $debs"
  fi
  if [[ ! -d $kdir/lib/modules ]]; then
    note "extracting $(basename "$deb")"
    rm -rf "$kdir.tmp"; mkdir -p "$WORK/kernel"
    dpkg -x "$deb" "$kdir.tmp" || die "dpkg -x $deb failed"
    local v
    v=$(ls "$kdir.tmp/lib/modules")
    depmod -b "$kdir.tmp" "$v" || die "depmod for $v failed"
    rm -rf "$kdir"
    mv "$kdir.tmp" "$kdir"
  fi
  local kver
  kver=$(ls "$kdir/lib/modules")
  [[ -f $kdir/boot/vmlinuz-$kver ]] || die "no vmlinuz-$kver in $kdir/boot"

  # 2. The initramfs: static busybox, /init, and the modules needed to reach the 9p root.
  note "building initramfs for $kver"
  local root=$WORK/initrd.tmp
  rm -rf "$root"
  mkdir -p "$root"/{bin,dev,proc,sys,lib/modules,xfer,lower,ram,newroot}
  cp /bin/busybox "$root/bin/busybox"
  file -L "$root/bin/busybox" 2>/dev/null | grep -q static \
    || ldd "$root/bin/busybox" 2>&1 | grep -q 'not a dynamic' \
    || die "/bin/busybox is not static (install busybox-static)"
  local a
  for a in $("$root/bin/busybox" --list); do
    [[ $a == busybox ]] || ln -s busybox "$root/bin/$a"
  done
  install -m 0755 "$HERE/init.sh" "$root/init"
  local m line path seen=" "
  : >"$root/lib/modules/load.list"
  local deps
  for m in "${INITRD_MODULES[@]}"; do
    deps=$(modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>&1) || die "module $m: $deps"
    while read -r line; do
      [[ $line == insmod\ * ]] || continue   # "builtin NAME" needs nothing
      line=${line#insmod }
      path=${line%% *}
      [[ $seen == *" $path "* ]] && continue
      seen+="$path "
      cp "$path" "$root/lib/modules/"
      basename "$path" >>"$root/lib/modules/load.list"
    done <<<"$deps"
  done
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$WORK/initrd.img.tmp" \
    || die "cpio of the initramfs failed"
  rm -rf "$root"

  mkdir -p "$VMDIR"
  cp "$kdir/boot/vmlinuz-$kver" "$VMDIR/vmlinuz"
  # The uncompressed ELF kernel boots through its PVH entry point: that skips the BIOS and the
  # xz decompression, which take 5-10 s under TCG. Kept only if it really is an ELF image.
  rm -f "$VMDIR/vmlinux"
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VMDIR/vmlinuz" 2>/dev/null | head -n1 | cut -d: -f1 || true)
  if [[ -n $off ]] && xz -dc --single-stream <(tail -c +$((off + 1)) "$VMDIR/vmlinuz") >"$VMDIR/vmlinux.tmp" 2>/dev/null \
     && [[ $(head -c4 "$VMDIR/vmlinux.tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
    mv "$VMDIR/vmlinux.tmp" "$VMDIR/vmlinux"
  else
    rm -f "$VMDIR/vmlinux.tmp"
    note "could not extract an uncompressed vmlinux; booting the bzImage (slower)"
  fi
  mv "$WORK/initrd.img.tmp" "$VMDIR/initrd.img"
  echo "$kver" >"$VMDIR/kernel-version"
  echo "$pkg" >"$VMDIR/package"
  dpkg-deb -f "$deb" Version >"$VMDIR/package-version"
  echo "$kdir/lib/modules/$kver" >"$VMDIR/modules-dir"
  echo "$stamp $pkg" >"$VMDIR/stamp"
  note "built: Linux $kver ($pkg $(<"$VMDIR/package-version")) in $VMDIR"
  exec 8>&-
}

# ---------------------------------------------------------------- accelerator

# A writable /dev/kvm is not proof that KVM runs a guest: on some hosts qemu aborts at once
# (`failed to set MSR 0x10a`, exit 134) or starts and the guest never prints anything. So KVM is
# used only after a short boot of this lane's own kernel and initramfs printed a marker under it.
# The answer is kept in $VM_ACCEL_CACHE when set (run-tests.sh sets one per run), so a run probes
# once. VM_ACCEL=kvm|tcg skips the probe.
KVM_DEVICE=${VM_KVM_DEVICE:-/dev/kvm}
KVM_PROBE_TIMEOUT=${VM_KVM_PROBE_TIMEOUT:-20}
KVM_PROBE_MARKER=vm-kvm-probe-ok

# Prints kvm or tcg; says once, on stderr, why KVM was not taken when it was there.
choose_accel() {
  case ${VM_ACCEL:-auto} in
    kvm|tcg) echo "$VM_ACCEL"; return ;;
    auto) ;;
    *) die "VM_ACCEL=$VM_ACCEL: want kvm, tcg or auto (EINVAL)" ;;
  esac
  if [[ ! -w $KVM_DEVICE ]]; then echo tcg; return; fi
  if [[ -n ${VM_ACCEL_CACHE:-} && -s $VM_ACCEL_CACHE ]]; then cat "$VM_ACCEL_CACHE"; return; fi
  local answer=kvm why
  if ! why=$(probe_kvm); then
    answer=tcg
    echo "$PROG: KVM unusable here: $why; using TCG" >&2
  fi
  [[ -n ${VM_ACCEL_CACHE:-} ]] && echo "$answer" >"$VM_ACCEL_CACHE"
  echo "$answer"
}

# Boots the lane's VM under KVM with a command that prints the marker. Success: the marker came
# back. Failure: prints one line saying what went wrong (qemu's own error, or the timeout).
probe_kvm() {
  local log out rc=0 line
  log=$(mktemp "$WORK/kvm-probe.XXXXXX")
  out=$(VM_ACCEL=kvm VM_ACCEL_CACHE='' "$HERE/vm.sh" run -q --mem 256 --cpus 1 --timeout "$KVM_PROBE_TIMEOUT" \
          -- echo "$KVM_PROBE_MARKER" 2>"$log") || rc=$?
  if [[ $rc == 0 && $out == *"$KVM_PROBE_MARKER"* ]]; then rm -f "$log"; return 0; fi
  if [[ $rc == 124 ]]; then
    line="the guest printed nothing in ${KVM_PROBE_TIMEOUT}s"
  elif line=$(grep -m1 -oE 'qemu exit [0-9]+' "$log"); then
    local why
    why=$(grep -m1 -iE 'qemu\|.*(error|assert|fail)' "$log" || grep -m1 'qemu|' "$log" || true)
    why=${why#*qemu| }
    line+=${why:+: $why}
  else
    line="the probe boot exited $rc without the marker"
  fi
  rm -f "$log"
  echo "$line"
  return 1
}

# ---------------------------------------------------------------- run

tmp=; qpid=; readers=(); tailpid=
cleanup() {
  local p
  if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
    kill "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  for p in "${readers[@]}" $tailpid; do kill "$p" 2>/dev/null || true; done
  for p in "${readers[@]}" $tailpid; do wait "$p" 2>/dev/null || true; done
  [[ -n $tmp && -d $tmp ]] && rm -rf "$tmp"
  return 0
}

q() { printf '%q' "$1"; }

do_run() {
  local timeout=${VM_TIMEOUT:-600} mem=${VM_MEM:-2048} cpus=${VM_CPUS:-2} console=0
  local disks=() rws=() envs=() modprobe=$PRELOAD_MODULES
  quiet=0
  while (($#)); do
    case $1 in
      --timeout) timeout=${2:?--timeout needs seconds}; shift ;;
      --mem) mem=${2:?--mem needs MiB}; shift ;;
      --cpus) cpus=${2:?--cpus needs a count}; shift ;;
      --disk) [[ -f ${2:-} || -b ${2:-} ]] || die "--disk ${2:-}: no such file"; disks+=("$(realpath "$2")"); shift ;;
      --scratch) disks+=("scratch:${2:?--scratch needs a size}"); shift ;;
      --rw) [[ -d ${2:-} ]] || die "--rw ${2:-}: no such directory"; rws+=("$(realpath "$2")"); shift ;;
      --env) envs+=("${2:?--env needs NAME or NAME=VALUE}"); shift ;;
      --modprobe) modprobe+=" ${2:?--modprobe needs a module}"; shift ;;
      --console) console=1 ;;
      --quiet|-q) quiet=1 ;;
      -h|--help) usage; exit 0 ;;
      --) shift; break ;;
      *) die "run: unknown option $1 (the command goes after --)" ;;
    esac
    shift
  done
  (($#)) || die "run: no command (usage: vm.sh run [options] -- COMMAND...)"
  [[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout must be a positive integer"
  [[ $mem =~ ^[0-9]+$ ]] || die "--mem must be MiB"
  command -v "$QEMU" >/dev/null || ensure_host_packages

  do_build
  local kver pkgver modules
  kver=$(<"$VMDIR/kernel-version"); pkgver=$(<"$VMDIR/package-version"); modules=$(<"$VMDIR/modules-dir")

  local kernel=$VMDIR/vmlinux
  [[ -f $kernel && ${VM_BZIMAGE:-0} != 1 ]] || kernel=$VMDIR/vmlinuz

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  tmp=$(mktemp -d "$WORK/run.XXXXXX")

  # Exchange directory: vm.conf (for /init), cmd.sh (the command), rc and times (back).
  local rwconf="" i=0 d loglevel="quiet loglevel=4"
  [[ $console == 1 ]] && loglevel="loglevel=7"
  local qargs=(-nodefaults -no-user-config -no-reboot -display none -monitor none
               -m "$mem" -smp "$cpus"
               -kernel "$kernel" -initrd "$VMDIR/initrd.img"
               -append "console=ttyS0 panic=-1 oops=panic printk.time=1 rdinit=/init $loglevel ${VM_APPEND:-}"
               -serial "file:$tmp/console.log"
               -virtfs "local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap"
               -virtfs "local,path=$tmp,mount_tag=xfer,security_model=none,multidevs=remap"
               -device virtio-serial-pci
               -chardev "pipe,id=vmout,path=$tmp/out" -device "virtserialport,chardev=vmout,name=vm.stdout"
               -chardev "pipe,id=vmerr,path=$tmp/err" -device "virtserialport,chardev=vmerr,name=vm.stderr")
  local accel
  accel=$(choose_accel) || exit 2
  if [[ $accel == kvm ]]; then
    qargs+=(-machine "pc,accel=kvm" -cpu host)
  else
    qargs+=(-machine "pc,accel=tcg" -cpu max)
  fi
  for d in "${rws[@]}"; do
    i=$((i + 1))
    qargs+=(-virtfs "local,path=${d//,/,,},mount_tag=rw$i,security_model=none,multidevs=remap")
    rwconf+="rw$i $d"$'\n'
  done
  i=0
  for d in "${disks[@]}"; do
    if [[ $d == scratch:* ]]; then
      i=$((i + 1))
      truncate -s "${d#scratch:}" "$tmp/scratch$i.img" || die "--scratch ${d#scratch:}: bad size"
      d=$tmp/scratch$i.img
    fi
    qargs+=(-drive "file=${d//,/,,},format=raw,if=virtio,cache=writeback,discard=unmap")
  done

  local insmod="" m
  for m in $modprobe; do
    insmod+=$(modprobe -d "${modules%/lib/modules/*}" -S "$kver" --show-depends "$m" 2>&1) \
      || die "--modprobe $m: $insmod"
    insmod+=$'\n'
  done
  {
    echo "VM_MODULES=$(q "$modules")"
    echo "VM_RAM_SIZE=$(q "$((mem * 3 / 4))m")"
    echo "VM_HOSTNAME=blksnap-vm"
    echo "VM_TRACE=$console"
    echo "VM_INSMOD=$(q "$insmod")"
    echo "VM_RW=$(q "$rwconf")"
  } >"$tmp/vm.conf"

  local e name
  {
    echo "#!/bin/bash"
    echo "export PATH=$(q "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}")"
    echo "export HOME=$(q "${HOME:-/root}") USER=$(q "${USER:-root}") LOGNAME=$(q "${USER:-root}")"
    echo "export LANG=C.UTF-8 TERM=dumb TMPDIR=/tmp IN_KERNEL_VM=1"
    echo "export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1"
    echo "export DM_DISABLE_UDEV=1"
    for name in CI $(compgen -e | grep -E '^(BLKSNAP_|DOTNET_|NUGET_|KT_)' || true); do
      if [[ -n ${!name+x} ]]; then echo "export $name=$(q "${!name}")"; fi
    done
    for e in "${envs[@]}"; do
      if [[ $e == *=* ]]; then echo "export ${e%%=*}=$(q "${e#*=}")"
      elif [[ -n ${!e+x} ]]; then echo "export $e=$(q "${!e}")"; fi
    done
    echo "cd -- $(q "$PWD") || { echo 'vm.sh: cannot enter '$(q "$PWD")' inside the VM' >&2; exit 125; }"
    printf 'exec'; for e in "$@"; do printf ' %q' "$e"; done; echo
  } >"$tmp/cmd.sh"

  local s
  for s in out err; do mkfifo "$tmp/$s.in" "$tmp/$s.out"; done
  cat "$tmp/out.out" &
  readers+=($!)
  cat "$tmp/err.out" >&2 &
  readers+=($!)

  note "booting Linux $kver (Debian $pkgver), ${accel^^}, $cpus vCPU, $mem MiB, timeout ${timeout}s"
  local t0=$EPOCHREALTIME qrc=0
  timeout -k 5 "$timeout" "$QEMU" "${qargs[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
  qpid=$!
  if [[ $console == 1 ]]; then
    : >>"$tmp/console.log"
    tail -n +1 -f --pid="$qpid" "$tmp/console.log" >&2 &
    tailpid=$!
  fi
  wait "$qpid" || qrc=$?
  qpid=
  local t1=$EPOCHREALTIME
  # Unblock readers whose fifo never got a writer (qemu failed early), then drain them.
  for s in out err; do { exec 9<>"$tmp/$s.out"; exec 9>&-; } 2>/dev/null || true; done
  for s in "${readers[@]}"; do wait "$s" 2>/dev/null || true; done
  readers=()
  [[ -n $tailpid ]] && { wait "$tailpid" 2>/dev/null || true; tailpid=; }

  local total
  total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [[ $qrc == 124 || $qrc == 137 ]] && [[ ! -f $tmp/rc ]]; then
    echo "$PROG: TIMEOUT: the VM was killed after ${timeout}s (command: $*)" >&2
    echo "$PROG: last kernel console lines:" >&2
    tail -n 15 "$tmp/console.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
    exit 124
  fi
  if [[ ! -f $tmp/rc ]]; then
    echo "$PROG: VM FAILED: it stopped without the command's exit status (qemu exit $qrc, ${total}s)" >&2
    [[ -s $tmp/qemu.log ]] && sed 's/^/  qemu| /' "$tmp/qemu.log" >&2
    echo "$PROG: last kernel console lines:" >&2
    tail -n 40 "$tmp/console.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
    exit 125
  fi
  local rc
  rc=$(<"$tmp/rc")
  if [[ -f $tmp/init-error ]]; then
    echo "$PROG: VM FAILED: $(<"$tmp/init-error")" >&2
    tail -n 40 "$tmp/console.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
  fi
  if [[ -f $tmp/times ]]; then
    local b c
    read -r b c <"$tmp/times"
    note "$(awk -v b="$b" -v c="$c" -v t="$total" -v rc="$rc" 'BEGIN {
      printf "exit %s; boot %.1fs (guest uptime at start), command %.1fs, wall %.1fs", rc, b, c - b, t }')"
  fi
  [[ $rc =~ ^[0-9]+$ ]] || rc=125
  exit "$rc"
}

do_info() {
  [[ -f $VMDIR/stamp ]] || { echo "not built (run: tests/kernel/vm.sh build)"; return 0; }
  echo "kernel:   $(<"$VMDIR/kernel-version")"
  echo "package:  $(<"$VMDIR/package") $(<"$VMDIR/package-version")"
  echo "vmlinuz:  $VMDIR/vmlinuz"
  echo "initrd:   $VMDIR/initrd.img"
  echo "modules:  $(<"$VMDIR/modules-dir")"
  echo "accel:    ${VM_ACCEL:-auto} (auto: KVM if $KVM_DEVICE is writable and a probe boot under it works, else TCG)"
}

cmd=${1:-}
(($#)) && shift
case $cmd in
  build) do_build "$@" ;;
  run) do_run "$@" ;;
  info) do_info ;;
  accel) do_build; choose_accel ;;
  clean) rm -rf "$WORK" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
