# Take pause with file systems: the writers of experiments/pause.sh, now on a file in an ext4 on a loop
# over each `live`, with 32 MiB of buffered data left dirty in each just before the take: once with
# Take:Freeze=true (the default: the take freezes the three, which writes the dirty data out) and once
# with it off. The pause is again the longest write overlapping the take command.

# pausefs_mode DIR FREEZE: every run with one Take:Freeze setting
pausefs_mode() {
  local dir=$1 freeze=$2 mode run i id t0 t1 p c loops=()
  mode=$([ "$freeze" = true ] && echo freeze || echo nofreeze)
  bsfs_start "$dir" -o "Take:Freeze=$freeze"
  for i in 0 1 2; do
    loops+=("$(losetup -f --show "$dir/mnt/f$i/live")")
    mkdir -p "$dir/fs$i"; mount "${loops[i]}" "$dir/fs$i"; remember_mounts "$dir/fs$i"
    fallocate -l 4M "$dir/fs$i/w"
  done
  for run in $(seq "$runs"); do
    log "take pause with file systems, Take:Freeze=$freeze, run $run"
    id=$(bsfs "$dir" snapshot_create -d f0 -d f1 -d f2 -f "$dir/diff" -l 1G)
    start_writers "$dir/writes" "$dir"/fs{0,1,2}/w
    for i in 0 1 2; do head -c 32M /dev/urandom > "$dir/fs$i/dirty"; done
    sleep 0.5
    read -r t0 t1 <<<"$(take_window "$dir" "$id")"
    wait_writers "$dir/writes"
    read -r p _ _ c <<<"$(writes_around "$dir/writes" "$t0" "$t1")"
    log "  take window $t0..$t1 us: pause $p ms, command $c ms"
    record pausefs 256 blksnapfs "pause_take_${mode}_ms" "$run" "$p" ms
    record pausefs 256 blksnapfs "take_command_${mode}_ms" "$run" "$c" ms
    bsfs "$dir" snapshot_destroy -i "$id" >/dev/null
  done
  for i in 0 1 2; do umount "$dir/fs$i"; losetup -d "${loops[i]}"; done
  bsfs_stop "$dir"
}

run_pause_fs() {
  local dir=$work/pausefs i
  mkdir -p "$dir"
  for i in 0 1 2; do truncate -s 256M "$dir/f$i.img"; mkfs.ext4 -q -F "$dir/f$i.img"; done
  bsfs_write_config "$dir" "f0=$dir/f0.img" "f1=$dir/f1.img" "f2=$dir/f2.img"
  pausefs_mode "$dir" true
  pausefs_mode "$dir" false
  rm -f "$dir"/f?.img "$dir"/writes?.txt*
}
