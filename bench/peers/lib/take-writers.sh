# The take-pause probe, shared by experiments/pause.sh and pausefs.sh: a writer.py on each of some
# files doing 4 KiB O_DIRECT writes in a tight loop and timestamping each, a take while they write,
# and the longest write overlapping the take command against the longest outside it.

# start_writers PREFIX FILE...: a writer on each file for 4 s (output PREFIXn.txt, pids in PREFIX.pids);
# returns once all are writing
start_writers() {
  local prefix=$1 n=0 f j ready; shift
  : > "$prefix.pids"
  for f in "$@"; do
    rm -f "$prefix$n.txt.ready"
    "$py" "$here/writer.py" "$f" 4 "$prefix$n.txt" 2>>"$tools_log" &
    remember_pid $!; echo $! >> "$prefix.pids"; n=$((n + 1))
  done
  for _ in $(seq 400); do
    ready=1
    for ((j = 0; j < n; j++)); do [ -e "$prefix$j.txt.ready" ] || ready=0; done
    [ $ready = 1 ] && break
    sleep 0.02
  done
}
# wait_writers PREFIX: until start_writers' writers are done (they are this shell's children)
wait_writers() {
  local p
  while read -r p; do wait "$p" || true; stop_pid "$p"; done < "$1.pids"
}
# take_window DIR ID: takes snapshot ID of DIR's daemon; prints the command's start and end (µs)
take_window() {
  local t0 t1
  t0=$(now_us)
  bsfs "$1" snapshot_take -i "$2" >/dev/null
  t1=$(now_us)
  echo "$t0 $t1"
}
# writes_around PREFIX T0 T1: "pause baseline writes take_ms": the longest write overlapping the take
# window (ms), the longest outside it, how many writes, and the window's length (ms)
writes_around() {
  cat "$1"?.txt | awk -v a="${2}000" -v b="${3}000" -v us=$(($3 - $2)) '
    $1 == "count" { n += $2; next }
    { d = ($2 - $1) / 1e6; if ($1 < b && $2 > a) { if (d > take) take = d } else if (d > base) base = d }
    END { printf "%.3f %.3f %d %.1f\n", take, base, n, us / 1000 }'
}
