#!/usr/bin/env bash
# Soak test for "no orphans": ROUNDS times (default 1000), start samplehost with a plugin
# whose grandchild escapes (setsid, double fork, death signal cleared, new process group),
# SIGKILL the host mid-call, and check within 2 s that pihost and the grandchild are gone.
# Usage: tests/orphan_soak.sh [ROUNDS] [CONTAINMENT]   (build first: ./build.sh)
set -euo pipefail
rounds=${1:-1000}
containment=${2:-auto}
root=$(cd "$(dirname "$0")/.." && pwd)
samplehost="$root/build/bin/samplehost"
plugin="$root/build/lib/plugins/libplugin_escape.so"
[ -x "$samplehost" ] && [ -f "$plugin" ] || { echo "build first: ./build.sh" >&2; exit 2; }

alive() {  # running, not a zombie
  local state
  state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

survivors=0
for ((round = 1; round <= rounds; round++)); do
  out=$(mktemp)
  "$samplehost" --json --containment "$containment" -l "$plugin" -- 20000 >"$out" 2>/dev/null &
  host=$!
  pihost="" escaped=""
  for _ in $(seq 200); do
    pihost=$(grep -o '"event":"started","pid":[0-9]*' "$out" | grep -o '[0-9]*$' || true)
    escaped=$(grep -o 'escaped [0-9]*' "$out" | grep -o '[0-9]*$' || true)
    [ -n "$pihost" ] && [ -n "$escaped" ] && break
    sleep 0.01
  done
  kill -KILL "$host"  # the host we started, by its pid
  wait "$host" 2>/dev/null || true
  rm -f "$out"
  if [ -z "$pihost" ] || [ -z "$escaped" ]; then
    echo "round $round: the host did not report its child in time" >&2
    survivors=$((survivors + 1))
    continue
  fi
  for _ in $(seq 200); do
    alive "$pihost" || alive "$escaped" || break
    sleep 0.01
  done
  if alive "$pihost" || alive "$escaped"; then
    echo "round $round: pihost $pihost or grandchild $escaped outlived the host" >&2
    kill -KILL "$pihost" "$escaped" 2>/dev/null || true  # ours: started for this round
    survivors=$((survivors + 1))
  fi
done
echo "$rounds rounds, $survivors with survivors"
[ "$survivors" -eq 0 ]
