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
# Failures are repeated last, message and first stack lines, so a log's tail names them.
python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for r in ET.parse(path).getroot().iter("{*}UnitTestResult"):
        if r.get("outcome") not in ("Failed", "Error", "Timeout"): continue
        print(f"FAILED {r.get('testName')} ({r.get('duration')})")
        for tag in ("Message", "StackTrace"):
            e = r.find(".//{*}" + tag)
            if e is not None and e.text:
                for line in e.text.strip().splitlines()[:12]: print("    " + line.rstrip())
PY
read -r passed failed skipped < <(python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}Counters")
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
