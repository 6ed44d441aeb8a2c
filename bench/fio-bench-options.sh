# shellcheck shell=bash
# Sourced by the fio benches: `fio_bench_options NAME SIZE_MIB RUNTIME PASSES "$@"` sets $size,
# $runtime, $passes, $dir and $bin from --size-mib, --runtime, --passes, --dir and --bin, with
# those defaults (/var/tmp and out/bin for the last two); an unknown option exits 2 (EINVAL).
fio_bench_options() {
  local name=$1
  size=$2 runtime=$3 passes=$4 dir=/var/tmp bin=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/out/bin
  shift 4
  while (($#)); do
    case $1 in
      --size-mib) size=$2; shift 2 ;;
      --runtime) runtime=$2; shift 2 ;;
      --passes) passes=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --bin) bin=$2; shift 2 ;;
      *) echo "$name: unknown option $1 (EINVAL)" >&2; exit 2 ;;
    esac
  done
}

# median: the median of the numbers in stdin, separated by spaces or newlines, to one decimal.
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
