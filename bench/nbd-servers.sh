# shellcheck shell=bash
# Sourced by the NBD benches: a daemon serving one nbd-frontend device, nbdkit's file plugin beside it,
# and the figure of a fio pass.

# nbd_device_daemon NAME BIN DIR SIZE_MIB: BIN's daemon serving DIR/disk.img (SIZE_MIB of random data)
# as device d, tracking on, nbd frontend with no /dev/nbd; prints its live export's URI.
nbd_device_daemon() {
  local name=$1 bin=$2 d=$3 uri
  mkdir -p "$d/mnt" "$d/run"
  head -c "$4M" /dev/urandom >"$d/disk.img"
  # Tracking kept on disk as in production, under DIR so that nothing stays behind.
  printf '{"ControlSocket":"%s/run/control.sock","StateDirectory":"%s/tracking","Devices":[{"Name":"d","Path":"%s/disk.img","Frontend":"nbd","NbdDevice":"none"}]}' \
    "$d" "$d" "$d" >"$d/config.json"
  "$bin/blksnapfs" --config "$d/config.json" "$d/mnt"
  uri=$(sed -n 's/^live_export: //p' "$d/mnt/d/info")
  [[ $uri == nbd+unix* ]] || { echo "$name: no live export in $d/mnt/d/info ($uri) (ENOENT)" >&2; return 1; }
  echo "$uri"
}

# start_nbdkit NAME SOCKET FILE [OPTION...]: nbdkit's file plugin serving FILE on SOCKET, in place of one
# started before; its pid in $nbdkit_pid, its log at SOCKET.log.
nbdkit_pid=
start_nbdkit() {
  local name=$1 socket=$2 file=$3
  shift 3
  stop_nbdkit
  rm -f "$socket"
  nbdkit --foreground --unix "$socket" "$@" file "$file" >>"$socket.log" 2>&1 &
  nbdkit_pid=$!
  for _ in $(seq 100); do [[ -S $socket ]] && return; sleep 0.05; done
  echo "$name: nbdkit did not start (ETIMEDOUT): $(cat "$socket.log")" >&2
  exit 1
}

stop_nbdkit() { [[ -z $nbdkit_pid ]] || { kill "$nbdkit_pid" 2>/dev/null || true; wait "$nbdkit_pid" 2>/dev/null || true; nbdkit_pid=; }; }

# fio_mib_per_s RW: MiB/s from fio's terse report (version 3) on stdin, written or read as RW says.
fio_mib_per_s() { awk -F';' -v rw="$1" '/^3;/ { printf "%.1f", (rw ~ /write/ ? $48 : $7) / 1024 }'; }
