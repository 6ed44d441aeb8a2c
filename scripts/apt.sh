# shellcheck shell=bash
# apt_get ARGS...: apt-get, waiting for another apt's locks instead of failing. Fresh machines
# often run apt in the background just after boot; `-o DPkg::Lock::Timeout` makes install wait
# for the dpkg lock, but `apt-get update` ignores it for the lists lock (apt 2.6), so a lock
# error is also retried until APT_LOCK_WAIT seconds (default 600) have passed.
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}

apt_get() {
  local deadline=$((SECONDS + APT_LOCK_WAIT)) err rc said=0
  err=$(mktemp)
  while :; do
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" 2>"$err" || rc=$?
    ((rc != 0)) && grep -qE 'Could not get lock|Unable to lock' "$err" && ((SECONDS < deadline)) || break
    ((said)) || echo "apt: another apt holds its lock ($(grep -m1 -oE 'held by process [0-9]+[^.]*' "$err" || echo busy)); waiting up to ${APT_LOCK_WAIT}s" >&2
    said=1
    sleep 2
  done
  grep -v '^debconf: delaying package configuration' "$err" >&2 || true
  rm -f "$err"
  return "$rc"
}
