# Take pause: three devices, a writer on each `live` file (lib/take-writers.sh); `blksnap snapshot_take`
# of the three 2 s into a 4 s run. The pause is the longest write that overlaps the take command; the
# longest write outside it is the noise.
run_pause() {
  local dir=$work/pause run i id t0 t1 p b n c
  mkdir -p "$dir"
  for i in 0 1 2; do head -c 256M /dev/urandom > "$dir/p$i.img"; done
  bsfs_write_config "$dir" "p0=$dir/p0.img" "p1=$dir/p1.img" "p2=$dir/p2.img"
  bsfs_start "$dir"
  for run in $(seq "$runs"); do
    log "take pause, run $run"
    id=$(bsfs "$dir" snapshot_create -d p0 -d p1 -d p2 -f "$dir/diff" -l 1G)
    start_writers "$dir/writes" "$dir"/mnt/p{0,1,2}/live
    sleep 1.5
    read -r t0 t1 <<<"$(take_window "$dir" "$id")"
    wait_writers "$dir/writes"
    read -r p b n c <<<"$(writes_around "$dir/writes" "$t0" "$t1")"
    log "  take window $t0..$t1 us: $p $b $n $c"
    [ "$keep" = 1 ] && cp "$dir/writes0.txt" "$dir/writes0-run$run.txt"
    record pause 256 blksnapfs pause_take_ms "$run" "$p" ms
    record pause 256 blksnapfs pause_baseline_ms "$run" "$b" ms
    record pause 256 blksnapfs pause_writes "$run" "$n" count
    record pause 256 blksnapfs take_command_ms "$run" "$c" ms
    bsfs "$dir" snapshot_destroy -i "$id" >/dev/null
  done
  bsfs_stop "$dir"
  rm -f "$dir"/p?.img "$dir"/writes?.txt*
}
