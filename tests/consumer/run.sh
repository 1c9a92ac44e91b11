#!/usr/bin/env bash
# The consumer test: installs the build tree BUILD into a fresh prefix, then configures,
# builds and runs tests/consumer against it with CMake (find_package) and compiles it once
# more with pkg-config. With --system instead of a build tree, it uses what is installed on
# the system (the Debian packages).
# With --subdirectory or --fetchcontent, it builds isolator from SOURCE inside the consumer's
# own build instead (tests/consumer-subproject).
# Usage: run.sh BUILD_DIR|--system [PREFIX_PATH_FOR_DEPENDENCIES]
#        run.sh --subdirectory|--fetchcontent SOURCE_DIR PREFIX_PATH_FOR_DEPENDENCIES
set -euo pipefail
build=$1
deps=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/isolator-consumer-XXXXXX")
# Searchable by others: as root, the sandboxed child runs as uid 65534 and loads the
# consumer's plugin from here (docs/sandbox.md).
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

if [ "$build" = --subdirectory ] || [ "$build" = --fetchcontent ]; then
  source_dir=$2
  deps=${3:-}
  cmake -S "$here/../consumer-subproject" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DISOLATOR_USE="${build#--}" -DISOLATOR_SOURCE_DIR="$source_dir" \
    ${deps:+-DCMAKE_PREFIX_PATH="$deps"} >/dev/null
  cmake --build "$work/build" >/dev/null
  "$work/build/consumer"
  exit 0
fi

prefix_path=$deps
if [ "$build" != --system ]; then
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
  prefix_path="$work/prefix${deps:+;$deps}"
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
fi
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  ${prefix_path:+-DCMAKE_PREFIX_PATH="$prefix_path"} >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"

# pkg-config: the same program, compiled and linked by hand.
c++ -std=c++20 "$here/main.cpp" -DGREETER="\"$work/build/libgreeter.so\"" \
  $(pkg-config --cflags --libs isolator) -o "$work/consumer-pc"
"$work/consumer-pc"
