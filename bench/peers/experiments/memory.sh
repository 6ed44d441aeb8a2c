# Memory: a sparse 1 TiB device, a snapshot taken, then one 4 KiB write into every 100th BlkSnapFs chunk
# (1 % of the chunks copied; the chunk size is the one the daemon reports). qemu's copy-before-write
# cluster is the qcow2 target's 64 KiB, so it gets the same writes (fewer copied bytes).
readonly MEMORY_MIB=$((1024 * 1024))
rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
fio_one_percent() { # FILE CHUNK_BYTES: 4 KiB into the start of every 100th chunk of 1 TiB
  local stride=$((100 * $2)) ios=$(( ((1 << 40) / $2 + 99) / 100 ))
  fio --name=pct --filename="$1" --rw=write:$(( (stride - 4096) / 1024 ))k --bs=4k --size=1T --number_ios=$ios --direct=1 \
      --ioengine=libaio --iodepth=16 --end_fsync=1 --output=/dev/null 2>>"$tools_log"
}

memory_blksnapfs() { # DIR DEV: leaves the chunk size in DIR/state as chunk_bytes
  local dir=$1/blksnapfs id pid chunk
  log "memory: blksnapfs with a sparse 1 TiB device"
  bsfs_write_config "$dir" "big=$2"
  bsfs_start "$dir"
  pid=$(state_get "$dir/state" serving_pid)
  record memory $MEMORY_MIB blksnapfs rss_idle_mib 1 "$(rss_mib "$pid")" MiB
  id=$(bsfs "$dir" snapshot_create -d big -f "$dir/diff" -l 20G)
  bsfs "$dir" snapshot_take -i "$id" >/dev/null
  record memory $MEMORY_MIB blksnapfs rss_taken_mib 1 "$(rss_mib "$pid")" MiB
  chunk=$(bsfs_info "$dir" big chunk_size)
  state_set "$1/state" chunk_bytes "$chunk"
  record memory $MEMORY_MIB blksnapfs chunk_bytes 1 "$chunk" bytes
  fio_one_percent "$dir/mnt/big/live" "$chunk"
  record memory $MEMORY_MIB blksnapfs rss_mib 1 "$(rss_mib "$pid")" MiB
  record memory $MEMORY_MIB blksnapfs rss_peak_mib 1 "$(hwm_mib "$pid")" MiB
  record memory $MEMORY_MIB blksnapfs threads 1 "$(awk '/^Threads/ { print $2 }' "/proc/$pid/status")" count
  bsfs "$dir" snapshot_destroy -i "$id" >/dev/null
  bsfs_stop "$dir"
  rm -rf "$dir/diff"
}

memory_qemu() { # DIR DEV CHUNK_BYTES
  local dir=$1/qemu pid
  log "memory: qemu-storage-daemon with the same device"
  qsd_start "$dir" "$2" $MEMORY_MIB
  pid=$(state_get "$dir/state" qsd_pid)
  fio_one_percent "$dir/live" "$3"
  record memory $MEMORY_MIB qemu rss_mib 1 "$(rss_mib "$pid")" MiB
  record memory $MEMORY_MIB qemu rss_peak_mib 1 "$(hwm_mib "$pid")" MiB
  qsd_stop "$dir"
}

memory_nbdkit() { # DIR DEV CHUNK_BYTES
  local dir=$1/nbdkit total
  log "memory: nbdkit+nbdfuse with the same device"
  nbdkit_start "$dir" "$2"
  fio_one_percent "$dir/mnt/dev" "$3"
  total=$(awk -v a="$(rss_mib "$(state_get "$dir/state" nbdkit_pid)")" -v b="$(rss_mib "$(state_get "$dir/state" nbdfuse_pid)")" \
    'BEGIN { printf "%.1f", a + b }')
  record memory $MEMORY_MIB nbdkit rss_mib 1 "$total" MiB
  nbdkit_stop "$dir"
}

run_memory() {
  local dir=$work/memory dev=$work/memory/sparse-1t.img chunk
  mkdir -p "$dir"
  truncate -s 1T "$dev"
  memory_blksnapfs "$dir" "$dev"
  chunk=$(state_get "$dir/state" chunk_bytes)
  if [[ " $peers " == *" qemu "* ]]; then memory_qemu "$dir" "$dev" "$chunk"; fi
  if [[ " $peers " == *" nbdkit "* ]]; then memory_nbdkit "$dir" "$dev" "$chunk"; fi
  rm -f "$dev"
}
