# Shared by the experiments: logging, the results file, the registry of what the bench started
# (stopped on exit), per-experiment state files and the timed passes. Sourced by run.sh, which sets
# work (the work directory), tsv (the results file), tools_log, py and here.

# The results file's columns, documented in bench/README.md; the engine bench prints the same header.
readonly TSV_HEADER=$'experiment\tdevice_mib\tpeer\tmetric\trun\tvalue\tunit\tnote'

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# result_line EXPERIMENT DEVICE_MIB PEER METRIC RUN VALUE UNIT [NOTE]: one line of the results file;
# record: the same, logged
result_line() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:-}" >> "$tsv"; }
record() { result_line "$@"; log "  $1 $3 $4 run$5: $6 $7"; }
# append_results FILE: the lines of a results file with our header (another run's, the engine bench's)
append_results() {
  local header; header=$(head -n 1 "$1")
  [ "$header" = "$TSV_HEADER" ] || { log "$1: not a results file (its first line is '$header', expected '$TSV_HEADER')"; return 1; }
  tail -n +2 "$1" >> "$tsv"
}

# state_set FILE KEY VALUE and state_get FILE KEY: an experiment's state (paths, pids, ids) as KEY=VALUE lines
state_set() {
  { grep -v "^$2=" "$1" 2>/dev/null || true; printf '%s=%s\n' "$2" "$3"; } > "$1.new"
  mv "$1.new" "$1"
}
state_get() {
  local value; value=$(sed -n "s/^$2=//p" "$1")
  [ -n "$value" ] || { log "no $2 in $1"; return 1; }
  printf '%s\n' "$value"
}

# What this script started: stopped and unmounted on exit, Ctrl-C or failure.
started_pids=()
started_mounts=()
remember_pid() { started_pids+=("$1"); }
remember_mounts() { started_mounts+=("$@"); }
cleanup() {
  set +e
  trap - EXIT INT TERM
  local m p
  for m in "${started_mounts[@]}"; do
    if mounted "$m"; then fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m"; fi
  done
  for p in "${started_pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${started_pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for m in "${started_mounts[@]}"; do mounted "$m" && umount -l "$m"; done
  if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
stop_pid() {  # PID: stop one process we started and forget it
  local p=$1 i q rest=()
  kill "$p" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for q in "${started_pids[@]}"; do [ "$q" = "$p" ] || rest+=("$q"); done
  started_pids=("${rest[@]}")
}

mounted() { grep -qs " $1 fuse" /proc/mounts; }
wait_mounted() { for _ in $(seq 200); do mounted "$1" && return 0; sleep 0.05; done; log "mount $1 did not appear"; return 1; }
umount_fuse() { mounted "$1" && { fusermount3 -u "$1" 2>/dev/null || umount "$1"; }; return 0; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now_us() { echo "${EPOCHREALTIME/./}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
checksum() { "$py" "$here/blocksum.py" "$1" "$2"; }  # FILE LIST: the md5 of FILE; its per-MiB md5s kept in LIST

# wall_mib_s MIB COMMAND...: MiB/s of one command by wall clock
wall_mib_s() {
  local mib=$1 t0 t1; shift
  t0=$(now_us)
  "$@" >/dev/null 2>>"$tools_log" || { log "failed: $*"; tail -5 "$tools_log" >&2; return 1; }
  t1=$(now_us)
  awk -v m="$mib" -v us=$((t1 - t0)) 'BEGIN { printf "%.1f\n", m * 1e6 / us }'
}
# fio_mib_s WORKLOAD ARGS...: MiB/s of one fio workload from fio's own report: bytes over the job's
# runtime, which includes its end_fsync but not fio's start-up (about 0.4 s here, the same for every
# peer; counted, it pulls the ratios of short passes toward 1). The workload takes the report as its last argument.
fio_mib_s() {
  local report; report=$(mktemp "$work/fio.XXXXXX.json")
  "$@" "$report" 2>>"$tools_log" || { log "failed: $*"; tail -5 "$tools_log" >&2; return 1; }
  fio_report_mib_s "$report"
  rm -f "$report"
}
fio_report_mib_s() { # FIO_JSON [MIB]: bytes moved (or MIB) ÷ the longest job runtime, MiB/s
  "$py" -c 'import json, sys
jobs = json.load(open(sys.argv[1]))["jobs"]
mib = float(sys.argv[2]) if len(sys.argv) > 2 else sum(j[d]["io_bytes"] for j in jobs for d in ("read", "write")) / 2**20
print(f"{mib / (max(j['"'"'job_runtime'"'"'] for j in jobs) / 1000):.1f}")' "$@"
}
