#!/usr/bin/env bash
# Body of `npm test`. Makes sure the system pieces the integration tests need are present
# (Debian packages; a cached Debian trixie root with Dask 2024.12.1), mounts /proc in that
# root for the run, then runs vitest and exits with its code. Whatever cannot be set up is
# reported here, and the tests needing it skip with a reason (test/dask/cluster.ts
# `available`). Idempotent; silent when everything is already in place.
# Extra arguments go to vitest: `npm test -- test/dask-cluster.test.ts`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'npm test: %s\n' "$*" >&2; }

cache="${XDG_CACHE_HOME:-${HOME:?}/.cache}/effect-dask"
# Keep in sync with root2024 in test/dask/cluster.ts (EFFECT_DASK_ROOT_2024 overrides both).
root="${EFFECT_DASK_ROOT_2024:-$cache/trixie-dask-2024.12}"
want_version=2024.12.1
is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true

# Undone on any exit, including Ctrl-C: the /proc mount of this run, an unfinished build.
mounted=""
build_pid=""
build_dir=""
cleanup() {
  if [ -n "$build_pid" ]; then
    kill -TERM "$build_pid" 2>/dev/null
    wait "$build_pid" 2>/dev/null
    unmount_below "$build_dir"
    rm -rf --one-file-system "$build_dir"
    build_pid=""
  fi
  if [ -n "$mounted" ]; then
    umount "$mounted" 2>/dev/null || umount -l "$mounted" 2>/dev/null || true
    mounted=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- 1. Debian packages -------------------------------------------------------------------
# python3-distributed: Dask 2022.12.1 (/usr/bin/dask-scheduler, dask-worker, /usr/bin/python3).
# python3-lz4: the 2022 scheduler then lz4-compresses relayed data, a path the client handles.
# chromium: browser test. debootstrap: only to build the 2024 root, so not needed once cached.
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in python3-distributed python3-lz4 chromium debootstrap; do
    if [ "$p" = debootstrap ] && [ -x "$root/usr/bin/dask-scheduler" ]; then continue; fi
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
else
  say "not a Debian system (no dpkg-query): cannot install python3-distributed, chromium, debootstrap;" \
    "tests that need a missing piece will skip"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if $is_root && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt-get) ..."
    apt_log="$(mktemp)"
    if DEBIAN_FRONTEND=noninteractive apt-get update >"$apt_log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >>"$apt_log" 2>&1; then
      rm -f "$apt_log"
    else
      tail -n 20 "$apt_log" >&2
      rm -f "$apt_log"
      say "apt-get failed; tests that need ${missing[*]} will skip"
    fi
  else
    say "missing ${missing[*]} and cannot install them (needs root and apt-get);" \
      "tests that need them will skip"
  fi
fi

# --- 2. Dask 2024.12.1 root (debootstrap trixie, cached) ----------------------------------
# Runs a command inside a root with /proc mounted in a private mount namespace: nothing to
# unmount afterwards, even if killed.
in_root() {
  local dir="$1"
  shift
  unshare --mount sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$dir" "$@"
}

# The Debian archive apt uses on this machine (never a hard-coded host).
debian_mirror() {
  apt-get indextargets --no-release-info --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' 2>/dev/null |
    awk '$1 == "deb" && $2 !~ /-/ && $3 ~ /\/debian\/?$/ { print $3; exit }'
}

# Unmounts anything left mounted below $1 (debootstrap mounts /proc, /sys while it works).
unmount_below() {
  awk -v p="$1" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

build_root() {
  local mirror tmp start version
  if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
    say "debootstrap is not installed: Dask 2024.12 tests will skip"
    return 1
  fi
  mirror="$(debian_mirror)"
  if [ -z "$mirror" ]; then
    say "no Debian archive found in the apt sources: Dask 2024.12 tests will skip"
    return 1
  fi
  mkdir -p "$cache"
  # One builder at a time; a concurrent run waits, then finds the root ready.
  exec 9>"$cache/.lock"
  flock 9
  if [ -x "$root/usr/bin/dask-scheduler" ]; then exec 9>&-; return 0; fi
  # Leftovers of an interrupted build are never reused.
  for old in "$root".tmp.*; do
    [ -e "$old" ] || continue
    unmount_below "$old"
    rm -rf --one-file-system "$old"
  done
  tmp="$(mktemp -d "$root.tmp.XXXXXX")"
  start=$SECONDS
  say "building the Dask $want_version root (debootstrap trixie from $mirror; a few minutes, once) ..."
  # In the background so that Ctrl-C reaches the trap at once (a foreground debootstrap
  # catches SIGINT itself and bash would carry on); cleanup stops it and removes $tmp.
  build_dir="$tmp"
  PATH="/usr/sbin:/sbin:$PATH" debootstrap --variant=minbase --include=python3-distributed,python3-numpy \
    trixie "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 &
  build_pid=$!
  wait "$build_pid"
  local status=$?
  build_pid=""
  if [ "$status" -ne 0 ]; then
    tail -n 20 "$cache/debootstrap.log" >&2
    say "debootstrap failed (log: $cache/debootstrap.log): Dask 2024.12 tests will skip"
    unmount_below "$tmp"
    rm -rf --one-file-system "$tmp"
    exec 9>&-
    return 1
  fi
  unmount_below "$tmp"
  version="$(in_root "$tmp" /usr/bin/python3 -c 'import distributed; print(distributed.__version__)' 2>&1)"
  if [ "$version" != "$want_version" ]; then
    say "trixie root has distributed '$version', expected $want_version: Dask 2024.12 tests will skip"
    rm -rf --one-file-system "$tmp"
    exec 9>&-
    return 1
  fi
  mv -T "$tmp" "$root"
  exec 9>&-
  say "Dask $want_version root ready in $((SECONDS - start)) s: $root"
}

if [ ! -x "$root/usr/bin/dask-scheduler" ]; then
  if $is_root; then
    build_root || true
  else
    say "not root: cannot build the Dask 2024.12 root (debootstrap, chroot); Dask 2024.12 tests will skip"
  fi
fi

# numpy in the root (the 2022.12 side has it through python3-distributed's dependencies); a root
# cached before numpy was in the include list gets it here, once. Without it the numpy test skips.
if $is_root && [ -x "$root/usr/bin/dask-scheduler" ] && [ ! -d "$root/usr/lib/python3/dist-packages/numpy" ]; then
  say "installing python3-numpy in the Dask $want_version root ..."
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  in_root "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-numpy' \
    >"$cache/numpy.log" 2>&1 || say "could not install python3-numpy in the root (log: $cache/numpy.log): the numpy test on 2024.12 will skip"
  exec 9>&-
fi

# --- 3. /proc inside the root for this run -------------------------------------------------
# psutil (imported by distributed) reads /proc. Only unmount what this run mounted.
if $is_root && [ -x "$root/usr/bin/dask-scheduler" ] && ! mountpoint -q "$root/proc"; then
  if mount -t proc proc "$root/proc"; then
    mounted="$root/proc"
  else
    say "could not mount /proc in $root: Dask 2024.12 tests will skip"
  fi
fi

# --- 4. Tests -----------------------------------------------------------------------------
# The JSON report gives a plain closing line ("N passed, N failed, N skipped") that any CI reads.
# A suite that failed with no failed test of its own (it did not load, a hook threw) counts as
# one failure, and a run that exits non-zero (unhandled errors, no report) never reads "0 failed".
mkdir -p test-output
rm -f test-output/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@"
code=$?
node -e 'const code = Number(process.argv[1])
  let r = {}
  try { r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8")) } catch {}
  const broken = (r.testResults ?? []).filter((s) =>
    s.status === "failed" && !(s.assertionResults ?? []).some((t) => t.status === "failed"))
  for (const s of broken) console.log(`failed to run: ${s.name}`)
  let failed = (r.numFailedTests ?? 0) + broken.length
  if (code !== 0 && failed === 0) {
    console.log(`vitest exited with ${code} without a failed test (unhandled errors or no report)`)
    failed = 1
  }
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  console.log(`\nTests: ${r.numPassedTests ?? 0} passed, ${failed} failed, ${skipped} skipped`)' "$code" ||
  printf '\nTests: 0 passed, 1 failed, 0 skipped\n'
exit $code
