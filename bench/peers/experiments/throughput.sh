# Throughput: each peer's image reads and live writes on one device of dense random data, runs
# interleaving the peers; after each write burst the image is checked; after the peers of each run,
# the chunk I/O alone (experiments/ceiling.sh).

# check_image DIR SIZE PEER RUN WHAT EXPECTED: read the image twice, in 1 MiB reads and with md5sum's
# small reads. A peer's image is correct when it still reads as the device did before the snapshot
# (no-snapshot peers: when it reads as the backing file does after the writes); DIR/pre.sums holds
# the per-MiB sums it should have.
check_image() {
  local dir=$1 size=$2 peer=$3 run=$4 what=$5 expected=$6 image got stream why
  image=$(state_get "$dir/$peer/state" image)
  drop_caches
  got=$(checksum "$image" "$dir/got.sums")
  drop_caches
  stream=$(md5sum < "$image" | cut -d' ' -f1)
  if [ "$got" = "$expected" ] && [ "$stream" = "$expected" ]; then
    record throughput "$size" "$peer" "correct_$what" "$run" 1 bool
    return
  fi
  why=$("$py" "$here/blocksum.py" --diff "$dir/pre.sums" "$dir/got.sums")
  [ "$got" = "$expected" ] && why="1 MiB reads match; md5sum's stream of small reads differs"
  [ "$got" != "$expected" ] && [ "$stream" = "$expected" ] && why="$why (md5sum's small reads match)"
  record throughput "$size" "$peer" "correct_$what" "$run" 0 bool "$why"
  log "  !! $peer: image differs from the device before the snapshot ($what): $why"
}

# throughput_peer DIR DEV SIZE RAND_MIB PEER RUN: every pass of one peer in one run
throughput_peer() {
  local dir=$1 dev=$2 size=$3 rand_mib=$4 peer=$5 run=$6 pdir=$1/$5 pre
  local -a row=(throughput "$size" "$peer")
  "${peer}_setup" "$pdir" "$dev" "$size"
  # 1. image read, untouched snapshot
  drop_caches; pre=$(checksum "$dev" "$dir/pre.sums")
  "${peer}_snap" "$pdir"
  local image live v
  image=$(state_get "$pdir/state" image); live=$(state_get "$pdir/state" live)
  drop_caches; v=$(wall_mib_s "$size" read_buffered "$image"); record "${row[@]}" read_buffered_untouched "$run" "$v" MiB/s
  drop_caches; v=$(wall_mib_s "$size" read_direct "$image"); record "${row[@]}" read_direct_untouched "$run" "$v" MiB/s
  # 2. live write, sequential 1 MiB: first touch (copy-on-write), then rewrite; then the image check
  drop_caches; v=$(fio_mib_s fio_seq "$live" "$size"); record "${row[@]}" write_seq_first "$run" "$v" MiB/s
  v=$(fio_mib_s fio_seq "$live" "$size"); record "${row[@]}" write_seq_rewrite "$run" "$v" MiB/s
  case $peer in raw|nbdkit) drop_caches; pre=$(checksum "$dev" "$dir/pre.sums") ;; esac
  check_image "$dir" "$size" "$peer" "$run" after_seq_writes "$pre"
  "${peer}_unsnap" "$pdir"
  # 2b. random 4 KiB writes, iodepth 16, on a new snapshot: first touch, then the same offsets again
  "${peer}_snap" "$pdir"
  drop_caches; v=$(fio_mib_s fio_rand "$live" "$size" "$rand_mib"); record "${row[@]}" write_rand_first "$run" "$v" MiB/s
  v=$(fio_mib_s fio_rand "$live" "$size" "$rand_mib"); record "${row[@]}" write_rand_rewrite "$run" "$v" MiB/s
  "${peer}_unsnap" "$pdir"
  # 1b. image read after half of the chunks were copied, and the image check
  drop_caches; pre=$(checksum "$dev" "$dir/pre.sums")
  "${peer}_snap" "$pdir"
  v=$(fio_mib_s fio_half "$live" "$size"); record "${row[@]}" write_half_first "$run" "$v" MiB/s
  drop_caches; v=$(wall_mib_s "$size" read_buffered "$image"); record "${row[@]}" read_buffered_half "$run" "$v" MiB/s
  drop_caches; v=$(wall_mib_s "$size" read_direct "$image"); record "${row[@]}" read_direct_half "$run" "$v" MiB/s
  case $peer in raw|nbdkit) drop_caches; pre=$(checksum "$dev" "$dir/pre.sums") ;; esac
  check_image "$dir" "$size" "$peer" "$run" after_half_writes "$pre"
  "${peer}_unsnap" "$pdir"
  "${peer}_teardown" "$pdir"
}

# run_throughput SIZE_MIB
run_throughput() {
  local size=$1 dir=$work/throughput-$1 dev rand_mib run peer
  dev=$dir/device.img
  rand_mib=$(( size / 16 )); [ $rand_mib -gt 128 ] && rand_mib=128; [ $rand_mib -lt 16 ] && rand_mib=16
  mkdir -p "$dir"
  log "device: $size MiB of random data in $dev"
  head -c "${size}M" /dev/urandom > "$dev"
  for run in $(seq "$runs"); do
    record throughput "$size" - rand_io_mib "$run" "$rand_mib" MiB
    for peer in $peers; do
      log "size $size MiB, run $run, $peer"
      throughput_peer "$dir" "$dev" "$size" "$rand_mib" "$peer" "$run"
    done
    if skipped ceiling; then continue; fi
    log "size $size MiB, run $run, chunk I/O alone"
    run_ceiling "$dir" "$dev" "$size" "$rand_mib" "$run"
  done
  rm -f "$dev"
}
