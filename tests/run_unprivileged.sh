#!/usr/bin/env bash
# The integration suite once more as an unprivileged user (nobody), when ctest runs as root.
# The paths a non-root host takes are otherwise never run here: no_network through a user
# namespace, RLIMIT_NPROC (root ignores it), a non-dumpable pihost whose /proc files become
# root's, cgroups it may not write (those tests skip and say why). The build is copied
# where nobody can read it (the checkout may sit in a private directory); the tests find
# the copy through ISOLATOR_TEST_BUILD_FROM/TO (tests/support/test_support.hpp).
# Usage: run_unprivileged.sh BUILD_DIR. Exit 77 (skipped) when not root or without setpriv.
set -euo pipefail
build=$(cd "$1" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: ctest already runs unprivileged (uid $(id -u)), so the main run covers these paths"
  exit 77
fi
if ! command -v setpriv >/dev/null; then
  echo "skipped: setpriv (util-linux) is not installed"
  exit 77
fi
copy=$(mktemp -d /tmp/unprivileged-run-XXXXXX)
tmp=$(mktemp -d /tmp/upr-XXXXXX)  # short: the tests nest directories and a socket in it
trap 'rm -rf "$copy" "$tmp"' EXIT
chmod 755 "$copy"
chmod 1777 "$tmp"
cp -a "$build/bin" "$build/lib" "$copy/"
cd "$tmp"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -u XDG_RUNTIME_DIR HOME="$tmp" TMPDIR="$tmp" \
  ISOLATOR_TEST_BUILD_FROM="$build" ISOLATOR_TEST_BUILD_TO="$copy" \
  "$copy/bin/isolator_integration_tests" --gtest_brief=1
