#!/usr/bin/env bash
# Runs kernel-lane tests: each guest script (default: tests/kernel/guest/*.sh) in its own VM
# boot, and with --self-check first the checks of vm.sh itself (exit status, --rw, timeout).
# Closes with one line: "kernel-tests: N passed, N failed".
#
#   tests/kernel/run-tests.sh [--self-check] [GUEST_SCRIPT...]
#
# A guest script may carry, in its first lines:
#   # vm: OPTIONS         extra `vm.sh run` options (e.g. --scratch 512M --timeout 900 --mem 1536)
#   # vm-prepare: CMD     a host command run from the repo root before the boot (e.g. a dotnet build)
set -euo pipefail
cd "$(dirname "$0")/../.."
VM=tests/kernel/vm.sh

self_check=0
scripts=()
for a in "$@"; do
  case $a in
    --self-check) self_check=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "run-tests.sh: error: unknown option $a" >&2; exit 2 ;;
    *) [[ -f $a ]] || { echo "run-tests.sh: error: no such guest script: $a" >&2; exit 2; }
       scripts+=("$a") ;;
  esac
done
((${#scripts[@]})) || scripts=(tests/kernel/guest/*.sh)

passed=0
failed=0
summary=()
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

pass() { passed=$((passed + 1)); summary+=("PASS $1"); echo "kernel-test: PASS $1"; }
fail() { failed=$((failed + 1)); summary+=("FAIL $1"); echo "kernel-test: FAIL $1"; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

t=$EPOCHREALTIME
if $VM build; then
  echo "kernel-tests: VM ready ($($VM info | sed -n 's/^kernel: *//p'), build check $(secs_since "$t")s)"
else
  fail "vm-build"
  echo "kernel-tests: $passed passed, $failed failed"
  exit 1
fi

# One accelerator for the whole run: vm.sh probes KVM once and every boot after reads the answer.
export VM_ACCEL_CACHE=$logs/accel
t=$EPOCHREALTIME
accel=$($VM accel)
echo "kernel-tests: accelerator ${accel^^} (chosen in $(secs_since "$t")s)"

if ((self_check)); then
  # A KVM that fails to start, or starts and never boots, ends in a TCG run, not a red lane.
  # A fake qemu misbehaves only when asked for KVM; /dev/kvm is stood in for by a writable file.
  printf '%s\n' '#!/bin/bash' \
    'if [[ " $* " == *accel=kvm* ]]; then' \
    '  case $FAKE_KVM in' \
    '    abort) echo "qemu-system-x86_64: kvm_buf_set_msrs: Assertion failed (fake)" >&2; kill -ABRT $$ ;;' \
    '    hang) exec sleep 3600 ;;' \
    '  esac' \
    'fi' \
    'exec qemu-system-x86_64 "$@"' >"$logs/fake-qemu"
  chmod +x "$logs/fake-qemu"
  : >"$logs/fake-kvm"
  for mode in abort hang; do
    t=$EPOCHREALTIME
    rc=0
    out=$(FAKE_KVM=$mode VM_QEMU=$logs/fake-qemu VM_KVM_DEVICE=$logs/fake-kvm VM_KVM_PROBE_TIMEOUT=10 \
          VM_ACCEL_CACHE='' VM_ACCEL='' $VM run -q -- echo booted 2>"$logs/kvm-$mode.err") || rc=$?
    if [[ $rc == 0 && $out == booted ]] && grep -q '^vm.sh: KVM unusable here: .*; using TCG$' "$logs/kvm-$mode.err"; then
      pass "vm-kvm-$mode-falls-back-to-tcg ($(grep -m1 -o 'KVM unusable here: .*' "$logs/kvm-$mode.err"), $(secs_since "$t")s)"
    else
      cat "$logs/kvm-$mode.err" >&2
      fail "vm-kvm-$mode-falls-back-to-tcg (exit $rc, output '$out')"
    fi
  done

  # Package installs wait for another apt's locks (fresh machines run apt just after boot).
  t=$EPOCHREALTIME
  python3 -c 'import fcntl, sys, time
locks = [open(p, "a") for p in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock")]
for f in locks: fcntl.lockf(f, fcntl.LOCK_EX)
print("held", flush=True); time.sleep(6)' >"$logs/locker.out" &
  locker=$!
  for _ in $(seq 50); do [[ -s $logs/locker.out ]] && break; sleep 0.1; done
  rc=0
  bash -c 'source scripts/apt.sh; apt_get update -q' >/dev/null 2>"$logs/apt.err" || rc=$?
  wait "$locker" || true
  waited=$(secs_since "$t")
  if [[ $rc == 0 ]] && grep -q 'waiting up to' "$logs/apt.err"; then
    pass "apt-waits-for-the-lock (${waited}s)"
  else
    cat "$logs/apt.err" >&2
    fail "apt-waits-for-the-lock (exit $rc)"
  fi

  # Exit status and a writable share come back from the guest.
  share=$(mktemp -d "$PWD/tests/kernel/work/share.XXXXXX")
  t=$EPOCHREALTIME
  rc=0
  $VM run -q --rw "$share" -- bash -c 'echo "from $(uname -r)" >"$1/hello"; exit 7' _ "$share" || rc=$?
  if [[ $rc == 7 && $(cat "$share/hello" 2>/dev/null) == "from $(cat tests/kernel/work/vm/kernel-version)" ]]; then
    pass "vm-exit-status-and-rw-share ($(secs_since "$t")s)"
  else
    fail "vm-exit-status-and-rw-share (exit $rc, want 7; hello: $(cat "$share/hello" 2>/dev/null || echo missing))"
  fi
  rm -rf "$share"

  # A command that outlives --timeout: exit 124 and a clear message.
  t=$EPOCHREALTIME
  rc=0
  $VM run -q --timeout 15 -- sleep 600 2>"$logs/timeout.err" || rc=$?
  if [[ $rc == 124 ]] && grep -q TIMEOUT "$logs/timeout.err"; then
    pass "vm-timeout ($(secs_since "$t")s)"
  else
    cat "$logs/timeout.err" >&2
    fail "vm-timeout (exit $rc, want 124)"
  fi
fi

for s in "${scripts[@]}"; do
  name=$(basename "$s" .sh)
  opts=$(sed -n '1,12{s/^# vm: *//p}' "$s" | head -n1)
  prep_ok=1
  while IFS= read -r prep; do
    [[ -n $prep ]] || continue
    echo "kernel-tests: $name: preparing: $prep"
    if ! bash -c "$prep"; then
      fail "$name (vm-prepare failed: $prep)"
      prep_ok=0
      break
    fi
  done < <(sed -n '1,12{s/^# vm-prepare: *//p}' "$s")
  ((prep_ok)) || continue

  echo "kernel-tests: $name: booting (vm.sh run $opts -- $s)"
  t=$EPOCHREALTIME
  rc=0
  # shellcheck disable=SC2086 # options are words by design
  $VM run $opts -- "$s" 2>&1 | tee "$logs/$name.log" || rc=${PIPESTATUS[0]}
  p=$(grep -c '^kernel-test: PASS ' "$logs/$name.log" || true)
  f=$(grep -c '^kernel-test: FAIL ' "$logs/$name.log" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  while read -r _ verdict case rest; do
    summary+=("$verdict $name/$case $rest")
    # A failed case's first reason goes into the summary too: a CI page that shows only the
    # tail of a long run still says why.
    if [[ $verdict == FAIL ]]; then
      summary+=("    $(grep -m1 -E "^  \[$case\] (FAILED: |kernel-test: .* command failed)" "$logs/$name.log" | sed "s/^  \[$case\] //" | cut -c1-300 || true)")
    fi
  done < <(grep -E '^kernel-test: (PASS|FAIL) ' "$logs/$name.log")
  if [[ $rc != 0 && $f == 0 ]] || [[ $rc == 124 || $rc == 125 ]] || [[ $((p + f)) == 0 ]]; then
    fail "$name (vm.sh exit $rc after $(secs_since "$t")s)"
  fi
  echo "kernel-tests: $name: $p passed, $f failed, exit $rc, $(secs_since "$t")s"
done

echo "kernel-tests: summary"
printf '  %s\n' "${summary[@]}"
echo "kernel-tests: $passed passed, $failed failed"
[[ $failed == 0 && $passed -gt 0 ]]
