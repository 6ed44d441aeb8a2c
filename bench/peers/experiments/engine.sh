# The engine bench (bench/BlkSnapFs.Bench): the engine in process, no FUSE, beside the raw file. It
# prints lines of the results file with its header; they are appended as they are.
run_engine() {
  local dir=$work/engine
  mkdir -p "$dir"
  log "engine bench (bench/BlkSnapFs.Bench)"
  # built first, so that only the bench's own lines reach its output
  if ! (cd "$repo" && dotnet build bench/BlkSnapFs.Bench -c Release -nologo -v q -clp:ErrorsOnly &&
        timeout 900 dotnet run --no-build --project bench/BlkSnapFs.Bench -c Release -- --size-mib 256 --runs "$runs" --dir "$dir" \
          > "$dir/engine.tsv") >> "$dir/engine.log" 2>&1; then
    log "  engine bench failed (see $dir/engine.log): $(tail -3 "$dir/engine.log" | tr '\n' ' ')"
    return 0
  fi
  append_results "$dir/engine.tsv"
  log "  writes held at take: $(median $(awk -F'\t' '$4 == "take_hold_ms" { print $6 }' "$dir/engine.tsv")) ms median"
}
