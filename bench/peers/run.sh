#!/usr/bin/env bash
# BlkSnapFs against its peers on the same data in the same run: the raw backing file,
# qemu-storage-daemon (copy-before-write + snapshot-access over FUSE exports) and nbdkit+nbdfuse.
# Writes bench/RESULTS.md and bench/results.png (ratios). Needs root (drop_caches, FUSE mounts).
#
#   bench/peers/run.sh [--sizes "1024 8192"] [--runs 3] [--quick] [--bin DIR] [--dir DIR]
#                      [--peers "raw blksnapfs qemu nbdkit"] [--skip "pause pausefs memory latency engine ceiling"]
#                      [--results FILE] [--chart FILE] [--tsv FILE] [--keep] [--also EARLIER.tsv]
#                      [--set Section:Key=VALUE ...]   (BlkSnapFs settings other than the defaults)
#
# Each experiment is a file of experiments/; every figure is a line of the results file (columns in
# bench/README.md), which report.py turns into the report.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sizes="1024 8192"
runs=3
bin=$repo/out/bin
base=/var/tmp
peers="raw blksnapfs qemu nbdkit"
skip=""
results=$repo/bench/RESULTS.md
chart=$repo/bench/results.png
last_tsv=$here/last-results.tsv
keep=0
also=()      # earlier runs' results files to put in the same report (e.g. an 8 GiB set run separately)
settings=()  # BlkSnapFs settings for every daemon the bench starts (-o Section:Key=VALUE)
cmdline="bench/peers/run.sh $*"

while [ $# -gt 0 ]; do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) sizes=256; runs=1; shift ;;
    --bin) bin=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --skip) skip=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --chart) chart=$2; shift 2 ;;
    --tsv) last_tsv=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --also) also+=("$2"); shift 2 ;;
    --set) settings+=(-o "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches, FUSE mounts)" >&2; exit 1; }
for tool in qemu-storage-daemon qemu-img nbdkit nbdfuse fio gnuplot python3 "$bin/blksnapfs" "$bin/blksnap"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install qemu-system-common qemu-utils nbdkit libnbd-bin fio gnuplot-nox; make out/bin/blksnapfs out/bin/blksnap)" >&2; exit 1; }
done

py=$(command -v /usr/bin/python3 || command -v python3)
work=$(mktemp -d "$base/blksnapfs-bench.XXXXXX")
# the binaries are copied so that a rebuild during the run does not change what is measured
mkdir -p "$work/bin"
cp "$bin/blksnapfs" "$bin/blksnap" "$work/bin/"
[ -e "$bin/blksnapfs.json" ] && cp "$bin/blksnapfs.json" "$work/bin/"
build_info="blksnapfs sha256 $(sha256sum "$bin/blksnapfs" | cut -c1-12), built $(date -u -r "$bin/blksnapfs" '+%Y-%m-%d %H:%M UTC'); repo at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/')"
bin=$work/bin
tsv=$work/results.tsv
tools_log=$work/tools.log
readonly here repo sizes runs base peers skip results chart last_tsv keep also settings py work bin tsv tools_log

for f in "$here"/lib/*.sh "$here"/experiments/*.sh; do source "$f"; done
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
skipped() { [[ " $skip " == *" $1 "* ]]; }

echo "$TSV_HEADER" > "$tsv"
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(now_us)
for size in $sizes; do run_throughput "$size"; done
skipped pause || run_pause
skipped pausefs || run_pause_fs
skipped memory || run_memory
skipped latency || run_latency
skipped engine || run_engine
elapsed=$(( ($(now_us) - t_start) / 1000000 ))

for f in "${also[@]}"; do append_results "$f"; done
[ ${#also[@]} -gt 0 ] && cmdline="$cmdline (with the earlier results in ${also[*]})"
"$py" "$here/report.py" --tsv "$tsv" --results "$results" --chart "$chart" --command "$cmdline" \
  --started "$started_at" --elapsed "$elapsed" --data-dir "$base" --build "$build_info" \
  --settings "$(printf '%s ' "${settings[@]}" | sed 's/-o //g; s/ $//')"
cp "$tsv" "$last_tsv"
if [ -e "$chart" ]; then log "wrote $results, $chart and $last_tsv"; else log "wrote $results and $last_tsv"; fi
