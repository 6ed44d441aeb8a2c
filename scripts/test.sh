#!/usr/bin/env bash
# Runs every xunit project and prints one closing line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
for proj in tests/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  echo "== $name"
  dotnet test "$proj" -c Release --no-build --logger "trx;LogFileName=$name.trx" \
    --results-directory "$results" --logger "console;verbosity=normal" 2>&1 | tee "$results/$name.log" \
    | grep -E '^\s*(Failed|Passed|Skipped) |error|Error Message|Stack Trace|at BlkSnapFs|seed|^(Passed|Failed)!' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
# One test-naming convention: a sentence in PascalCase, no underscores (.editorconfig says so).
if misnamed=$(grep -rnE --include='*.cs' -B3 '^\s+public (async Task|void|Task) \w*_\w*\(' tests | grep -A3 -E '\[(Fact|Theory)' | grep -E 'public (async Task|void|Task) \w*_'); then
  echo "test names must be PascalCase sentences without underscores (EINVAL):" >&2
  echo "$misnamed" >&2
  status=1
fi
# The bench's report parser (python), whose tests guard the results file's columns.
echo "== bench/peers report.py"
python3 -m unittest discover -s bench/peers -q || status=1
# One pass over the results: failures (message and first stack lines) go to stderr, so a log's
# tail names them; the counts go to stdout.
read -r passed failed skipped < <(python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
p = f = s = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    root = ET.parse(path).getroot()
    for r in root.findall(".//{*}UnitTestResult"):
        if r.get("outcome") not in ("Failed", "Error", "Timeout"): continue
        print(f"FAILED {r.get('testName')} ({r.get('duration')})", file=sys.stderr)
        for tag in ("Message", "StackTrace"):
            e = r.find(".//{*}" + tag)
            if e is not None and e.text:
                for line in e.text.strip().splitlines()[:12]: print("    " + line.rstrip(), file=sys.stderr)
    c = root.find(".//{*}Counters")
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    s += int(c.get("notExecuted", 0))
print(p, f, s)
PY
)
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] || status=1
[ "$passed" -gt 0 ] || status=1
exit $status
