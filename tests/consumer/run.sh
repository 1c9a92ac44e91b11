#!/usr/bin/env bash
# The consumer test: installs the build tree BUILD into a fresh prefix, then configures,
# builds and runs tests/consumer against it with CMake (find_package) and compiles it once
# more with pkg-config. Usage: run.sh BUILD_DIR [PREFIX_PATH_FOR_DEPENDENCIES]
set -euo pipefail
build=$1
deps=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/isolator-consumer-XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix${deps:+;$deps}" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"

# pkg-config: the same program, compiled and linked by hand.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
c++ -std=c++20 "$here/main.cpp" -DGREETER="\"$work/build/libgreeter.so\"" \
  $(pkg-config --cflags --libs isolator) -o "$work/consumer-pc"
"$work/consumer-pc"
