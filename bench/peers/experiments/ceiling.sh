# The copy I/O alone of the first-touch writes: the I/O a copy-before-write snapshot cannot avoid,
# run by fio with no waiting between its parts, all at once, from a page cache just dropped as the
# peers' passes are. Its MiB/s is the writes' bytes ÷ the longest job: how fast a first touch could
# go on this machine if nothing ever waited, the scale for the first-touch ratios.
# - Random (the 4 KiB writes at qd16): O_DIRECT reads of the blocks the writes overwrite (16 in
#   flight: each write waits for one; BlkSnapFs copies the 4 KiB blocks a write overwrites, not its
#   chunk), their sequential store, and the writes themselves.
# - Sequential (the 1 MiB writes, one at a time): a buffered sequential read of the device (as the
#   daemon reads the original on the fuse frontend, with the kernel's read-ahead), its sequential
#   store, and the writes themselves, O_DIRECT as the raw peer's.

# ceiling_fio DIR IO_MIB JOBS...: runs the jobs (with a store file DIR/store) from a clean page cache
# and prints the writes' MiB/s (IO_MIB written)
ceiling_fio() {
  local dir=$1 io_mib=$2 report=$1/fio.json; shift 2
  rm -f "$dir/store"
  drop_caches
  fio --output-format=json --output="$report" "$@" 2>>"$tools_log" \
    || { log "failed: copy I/O alone (fio)"; tail -5 "$tools_log" >&2; return 1; }
  fio_report_mib_s "$report" "$io_mib"
  rm -f "$dir/store" "$report"
}

# run_ceiling DIR DEV SIZE_MIB RAND_MIB RUN
run_ceiling() {
  local dir=$1/ceiling dev=$2 size=$3 rand_mib=$4 run=$5 v
  mkdir -p "$dir"
  v=$(ceiling_fio "$dir" "$rand_mib" \
    --name=copy-read --filename="$dev" --rw=randread --bs=4k --size="$size"M --io_size="$rand_mib"M \
      --direct=1 --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 \
    --name=copy-store --filename="$dir/store" --rw=write --bs=4k --size="$rand_mib"M --ioengine=psync \
    --name=writes --filename="$dev" --rw=randwrite --bs=4k --size="$size"M --io_size="$rand_mib"M --direct=1 \
      --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 --end_fsync=1)
  record ceiling "$size" - write_rand_first "$run" "$v" MiB/s
  v=$(ceiling_fio "$dir" "$size" \
    --name=copy-read --filename="$dev" --rw=read --bs=256k --size="$size"M --ioengine=psync \
    --name=copy-store --filename="$dir/store" --rw=write --bs=256k --size="$size"M --ioengine=psync --end_fsync=1 \
    --name=writes --filename="$dev" --rw=write --bs=1M --size="$size"M --direct=1 --ioengine=psync --end_fsync=1)
  record ceiling "$size" - write_seq_first "$run" "$v" MiB/s
}
