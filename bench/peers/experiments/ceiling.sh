# The chunk I/O alone of random first-touch writes: the I/O a snapshot with BlkSnapFs's chunk size cannot
# avoid, run by fio with no waiting between its parts, all at once: random reads of every chunk the
# writes touch (O_DIRECT, 16 in flight: each of fio's 16 writes waits for at most one chunk), their
# store (buffered, sequential) and the 4 KiB writes themselves. Touched chunks are the expected count
# for W distinct 4 KiB blocks spread over B: chunks x (1 - (1 - W/B)^(blocks per chunk)).

# chunk_probe DIR DEV SIZE_MIB: a daemon with the run's settings on DEV, a snapshot taken, and the chunk
# size the device's info file reports, left in DIR/state as chunk_bytes
chunk_probe() {
  local dir=$1 id
  bsfs_write_config "$dir" "dev=$2"
  bsfs_start "$dir"
  id=$(bsfs "$dir" snapshot_create -d dev -f "$dir/diff" -l "$(( $3 * 2 ))M")
  bsfs "$dir" snapshot_take -i "$id" >/dev/null
  state_set "$dir/state" chunk_bytes "$(bsfs_info "$dir" dev chunk_size)"
  bsfs "$dir" snapshot_destroy -i "$id" >/dev/null
  bsfs_stop "$dir"
}

# run_ceiling DIR DEV SIZE_MIB RAND_MIB RUN
run_ceiling() {
  local dir=$1/ceiling dev=$2 size=$3 rand_mib=$4 run=$5 chunk copy_mib store report
  chunk_probe "$dir" "$dev" "$size"
  chunk=$(state_get "$dir/state" chunk_bytes)
  record ceiling "$size" blksnapfs chunk_bytes "$run" "$chunk" bytes
  copy_mib=$(awk -v size="$size" -v w="$rand_mib" -v c="$chunk" 'BEGIN {
    blocks = size * 256; chunks = size * 1048576 / c; touched = chunks * (1 - (1 - w * 256 / blocks) ^ (c / 4096))
    printf "%d", touched * c / 1048576 + 0.5 }')
  store=$dir/store; report=$dir/fio.json
  rm -f "$store"
  drop_caches
  fio --output-format=json --output="$report" \
    --name=copy-read --filename="$dev" --rw=randread --bs="$chunk" --size="$size"M --io_size="$copy_mib"M \
      --direct=1 --ioengine=libaio --iodepth=16 \
    --name=copy-store --filename="$store" --rw=write --bs="$chunk" --size="$copy_mib"M --ioengine=psync \
    --name=writes --filename="$dev" --rw=randwrite --bs=4k --size="$size"M --io_size="$rand_mib"M --direct=1 \
      --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 --end_fsync=1 2>>"$tools_log" \
    || { log "failed: chunk I/O alone (fio)"; tail -5 "$tools_log" >&2; return 1; }
  record ceiling "$size" - write_rand_first "$run" "$(fio_report_mib_s "$report" "$rand_mib")" MiB/s
  record ceiling "$size" - copy_mib "$run" "$copy_mib" MiB
  rm -f "$store"
}
