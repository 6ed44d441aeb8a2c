#!/usr/bin/env bash
# fuzz/run.sh TARGET|all SECONDS: builds the harness, instruments the BlkSnapFs assemblies with
# SharpFuzz, runs afl-fuzz on each target for SECONDS from fuzz/corpus/TARGET, prints its figures,
# and exits non-zero if afl-fuzz found a crash or a hang (findings in out/fuzz/findings/TARGET/default).
# Needs afl-fuzz (Debian afl++) and the sharpfuzz tool (dotnet tool SharpFuzz.CommandLine);
# scripts/setup.sh installs both. Env: FUZZ_TIMEOUT_MS (per run, default 5000), FUZZ_OUT (instead
# of out/fuzz, for runs side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(nbd-handshake nbd-transmission fuse-requests control config)
if (($# != 2)) || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: fuzz/run.sh TARGET|all SECONDS; targets: ${targets[*]}" >&2
  exit 2
fi
if [[ $1 == all ]]; then
  selected=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $1 "* ]]; then
  selected=("$1")
else
  echo "fuzz/run.sh: no target '$1' (EINVAL); targets: ${targets[*]}" >&2
  exit 2
fi
seconds=$2
timeout_ms=${FUZZ_TIMEOUT_MS:-5000}
export PATH="$PATH:$HOME/.dotnet/tools"
command -v afl-fuzz >/dev/null || { echo "fuzz/run.sh: afl-fuzz not found (ENOENT); run scripts/setup.sh" >&2; exit 1; }
command -v sharpfuzz >/dev/null || { echo "fuzz/run.sh: sharpfuzz not found (ENOENT); run scripts/setup.sh" >&2; exit 1; }

# A fresh copy each time: sharpfuzz instruments in place and refuses an assembly it already did.
out=${FUZZ_OUT:-out/fuzz}
bin=$out/bin
rm -rf "$bin"
dotnet build fuzz/BlkSnapFs.Fuzz -c Release -nologo -v q -clp:ErrorsOnly -o "$bin" >/dev/null
for dll in BlkSnapFs.Interop BlkSnapFs.Core BlkSnapFs.Nbd BlkSnapFs.Fuse blksnapfs; do
  sharpfuzz "$bin/$dll.dll" >/dev/null
done

# afl-fuzz runs dotnet, which has no afl instrumentation of its own: SharpFuzz speaks the fork-server
# protocol from inside. CI machines pipe core dumps and scale CPU frequency: neither matters here.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  AFL_NO_AFFINITY=1 AFL_FAST_CAL=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
status=0
for target in "${selected[@]}"; do
  findings=$out/findings/$target
  rm -rf "$findings"
  mkdir -p "$findings"
  echo "== fuzz $target for ${seconds}s (per-run timeout ${timeout_ms} ms)"
  rc=0
  afl-fuzz -i "fuzz/corpus/$target" -o "$findings" -t "$timeout_ms" -m none -V "$seconds" \
    -- dotnet "$bin/BlkSnapFs.Fuzz.dll" "$target" >"$findings/afl.log" 2>&1 || rc=$?
  stats=$findings/default/fuzzer_stats
  if [[ ! -f $stats ]]; then
    echo "fuzz $target: afl-fuzz did not start (exit $rc):" >&2
    tail -n 30 "$findings/afl.log" >&2
    status=1
    continue
  fi
  stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  crashes=$(find "$findings/default/crashes" -type f ! -name README.txt 2>/dev/null | wc -l)
  hangs=$(find "$findings/default/hangs" -type f 2>/dev/null | wc -l)
  echo "fuzz $target: execs $(stat execs_done), paths $(stat corpus_count), crashes $crashes, hangs $hangs," \
    "time $(($(stat last_update) - $(stat start_time)))s, $(stat execs_per_sec) execs/s, stability $(stat stability)"
  if ((crashes + hangs > 0)); then
    status=1
    for file in "$findings"/default/crashes/id* "$findings"/default/hangs/id*; do
      [[ -f $file ]] && echo "  finding: $file"
    done
    echo "  replay: dotnet $bin/BlkSnapFs.Fuzz.dll $target FILE..."
  fi
  if ((rc != 0)); then
    echo "fuzz $target: afl-fuzz exited $rc" >&2
    tail -n 20 "$findings/afl.log" >&2
    status=1
  fi
done
exit $status
