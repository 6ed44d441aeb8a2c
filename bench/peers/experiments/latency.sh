# Command latency: wall time of 20 runs each of `blksnap version` and `blksnap snapshot_info -d DEV`
# against a daemon holding a taken snapshot.
run_latency() {
  local dir=$work/latency id cmd i t0 t1 ms
  mkdir -p "$dir"
  truncate -s 256M "$dir/lat.img"
  bsfs_write_config "$dir" "cl=$dir/lat.img"
  bsfs_start "$dir"
  id=$(bsfs "$dir" snapshot_create -d cl -f "$dir/diff" -l 1G)
  bsfs "$dir" snapshot_take -i "$id" >/dev/null
  for cmd in version snapshot_info; do
    local -a args=("$cmd") samples=()
    [ "$cmd" = snapshot_info ] && args+=(-d cl)
    for i in $(seq 20); do
      t0=$(now_us)
      bsfs "$dir" "${args[@]}" >/dev/null
      t1=$(now_us)
      ms=$(awk -v us=$((t1 - t0)) 'BEGIN { printf "%.2f", us / 1000 }')
      samples+=("$ms")
      result_line latency 256 blksnapfs "latency_$cmd" "$i" "$ms" ms
    done
    log "  blksnap $cmd: $(median "${samples[@]}") ms median"
  done
  bsfs "$dir" snapshot_destroy -i "$id" >/dev/null
  bsfs_stop "$dir"
  rm -f "$dir/lat.img"
}
