#!/usr/bin/env bash
# The project's one entry point.
#
#   ./build.sh                    install what is missing, build, run samplehost on samplelib
#   ./build.sh test               build, then run every test through ctest
#   ./build.sh test --sanitize    the same under AddressSanitizer + UndefinedBehaviorSanitizer
#                                 (separate build tree: build-sanitize/)
#   ./build.sh test --tsan        the same under ThreadSanitizer (build tree: build-tsan/)
#   ./build.sh fuzz [SECONDS]     run each libFuzzer target for SECONDS (default 60) from the
#                                 seed corpus (clang; build tree: build-fuzz/)
#   ./build.sh docs               the API reference of the public headers with Doxygen, into
#                                 build/docs/api/html (a warning fails it)
#   ./build.sh package            build the Debian packages isolator and isolator-dev
#                                 (/usr prefix; build tree: build-package/, .debs in it)
#   ./build.sh package --check    the same, then install them with apt-get, build and run
#                                 tests/consumer against them, and remove them again
#   ./build.sh bench              build and run the benchmarks beside their floors and Python's
#                                 process pool; writes build/bench-results.json and prints the table
#
# Idempotent: packages are installed only when missing, CMake configures once, and Ninja
# rebuilds only what changed.
set -euo pipefail

root=$(cd "$(dirname "$0")" && pwd)
deps="$root/.deps"

# Debian 12 packages. Asio's any_completion_handler first appears in Boost 1.81 (Debian's
# default Boost is 1.74); --no-install-recommends keeps apt from pulling ~35 unrelated Boost
# parts.
apt_packages=(
  cmake ninja-build g++ pkg-config
  libboost1.81-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev libcli11-dev
  libdw-dev
)

# Only for ./build.sh bench, and ./build.sh fuzz.
bench_packages=(libbenchmark-dev python3)
fuzz_packages=(clang-14 libclang-rt-14-dev)
package_packages=(dpkg-dev file)
docs_packages=(doxygen)

log() { printf '[build.sh] %s\n' "$*" >&2; }
die() { printf '[build.sh] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install these packages yourself, or run as root)"
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_lists_fresh=0
apt_update_once() {
  if [ "$apt_lists_fresh" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_lists_fresh=1
  fi
}

install_packages() {
  local missing=()
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update_once
  log "installing: ${missing[*]}"
  # Installing libboost1.81-dev removes the 1.74 -dev packages (they conflict); that is intended.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# msgpack-cxx is header-only, but Debian's libmsgpack-cxx-dev depends on the Boost 1.74
# libboost-dev, which conflicts with libboost1.81-dev. So its .deb is fetched from Debian's
# archive and unpacked into .deps/ instead of being installed.
fetch_msgpack() {
  local dest="$deps/msgpack"
  [ -f "$dest/usr/include/msgpack.hpp" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download libmsgpack-cxx-dev >/dev/null 2>&1); then
    apt_update_once
    (cd "$tmp" && apt-get download libmsgpack-cxx-dev 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
      die "could not download libmsgpack-cxx-dev from the Debian archive"
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  dpkg -x "$tmp"/libmsgpack-cxx-dev_*.deb "$dest"
  rm -rf "$tmp"
  [ -f "$dest/usr/include/msgpack.hpp" ] || die "libmsgpack-cxx-dev unpacked without msgpack.hpp"
  log "msgpack-cxx headers unpacked into $dest"
}

# Installs the packages just built, builds and runs tests/consumer against them, and removes
# them again, whatever happens: the system is left as it was found.
check_packages() {
  local dir=$1
  if is_installed isolator || is_installed isolator-dev; then
    die "isolator packages are already installed; the check installs and removes its own, so remove those first (apt-get remove isolator isolator-dev)"
  fi
  log "installing the packages, building tests/consumer against them, then removing them"
  trap 'as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq isolator isolator-dev >/dev/null 2>&1 || true' EXIT
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$dir"/isolator_*.deb "$dir"/isolator-dev_*.deb
  [ -x /usr/libexec/isolator/pihost ] || die "the isolator package did not install /usr/libexec/isolator/pihost"
  local records
  records=$(mktemp -d)
  /usr/bin/isolatorctl --json --dir "$records" | grep -q '"isolates":\[\]' ||
    die "the isolator package's /usr/bin/isolatorctl is missing or does not list an empty records directory"
  rmdir "$records"
  "$root/tests/consumer/run.sh" --system || die "tests/consumer failed against the installed packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq isolator isolator-dev >/dev/null
  trap - EXIT
  log "packages: installed cleanly, tests/consumer built and ran against them, removed"
}

configure_and_build() {
  local dir=$1; shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_PREFIX_PATH="$deps/msgpack/usr" \
      -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@"
  fi
  cmake --build "$dir"
}

main() {
  local cmd=${1:-run}
  if [ $# -gt 0 ]; then shift; fi
  local dir="$root/build" extra=() seconds=60 check=0
  for arg in "$@"; do
    case "$arg" in
      [0-9]*) [ "$cmd" = fuzz ] || die "a number of seconds goes with ./build.sh fuzz"; seconds=$arg ;;
      --sanitize) dir="$root/build-sanitize"; extra=(-DISOLATOR_SANITIZE=ON) ;;
      --check) [ "$cmd" = package ] || die "--check goes with ./build.sh package"; check=1 ;;
      --tsan)
        dir="$root/build-tsan"; extra=(-DISOLATOR_SANITIZE_THREAD=ON)
        # A race fails the test that ran into it, at once.
        export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
        ;;
      *) die "unknown option '$arg' (usage: ./build.sh [test [--sanitize|--tsan]] | bench | fuzz [SECONDS] | package [--check] | docs)" ;;
    esac
  done

  install_packages "${apt_packages[@]}"
  fetch_msgpack

  case "$cmd" in
    run)
      configure_and_build "$dir" "${extra[@]}"
      log "running: samplehost -- hello from isolator"
      "$dir/bin/samplehost" -- hello from isolator
      ;;
    test)
      configure_and_build "$dir" "${extra[@]}"
      ctest --test-dir "$dir" --output-on-failure --timeout 120 -j "$(nproc)"
      ;;
    fuzz)
      install_packages "${fuzz_packages[@]}"
      dir="$root/build-fuzz"
      if [ ! -f "$dir/CMakeCache.txt" ]; then
        CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_PREFIX_PATH="$deps/msgpack/usr" -DISOLATOR_FUZZ=ON \
          -DISOLATOR_BUILD_TESTS=OFF -DISOLATOR_BUILD_EXAMPLES=OFF
      fi
      cmake --build "$dir" --target fuzz_seeds fuzz_frames_from_child fuzz_frames_from_host
      local side
      for side in child host; do
        local corpus="$dir/corpus/$side" artifacts="$dir/artifacts/$side/"
        mkdir -p "$corpus" "$artifacts"
        "$dir/bin/fuzz_seeds" "$corpus"
        log "fuzzing the frames from the $side for $seconds s"
        # Fails (and keeps the input in $artifacts) on a crash, a leak, a timeout or an
        # allocation past the limits; copy it into fuzz/regressions/ with the fix.
        "$dir/bin/fuzz_frames_from_$side" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
          -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$artifacts" \
          "$corpus" "$root/fuzz/regressions" || die "fuzz_frames_from_$side failed: see above and $artifacts"
      done
      ;;
    docs)
      install_packages "${docs_packages[@]}"
      mkdir -p "$root/build/docs/api"
      (cd "$root" && ISOLATOR_DOCS_OUT="$root/build/docs/api" doxygen docs/api/Doxyfile) ||
        die "doxygen reported the problems above (every public declaration needs its comment)"
      log "API reference: $root/build/docs/api/html/index.html"
      ;;
    package)
      install_packages "${package_packages[@]}"
      dir="$root/build-package"
      configure_and_build "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DISOLATOR_BUILD_TESTS=OFF
      (cd "$dir" && cpack -G DEB)
      log "packages: $(cd "$dir" && ls -1 ./*.deb | tr '\n' ' ')(install with: apt-get install $dir/isolator*.deb)"
      if [ "$check" -eq 1 ]; then check_packages "$dir"; fi
      ;;
    bench)
      install_packages "${bench_packages[@]}"
      configure_and_build "$dir" "${extra[@]}"
      cmake -S "$root" -B "$dir" -DISOLATOR_BUILD_BENCH=ON >/dev/null
      cmake --build "$dir" --target isolator_bench
      log "running the benchmarks (about 3 minutes; keep the machine otherwise idle)"
      "$dir/bin/isolator_bench" --benchmark_out="$dir/bench-results.json" --benchmark_out_format=json
      log "running the Python peer"
      python3 "$root/bench/python_peer.py" > "$dir/bench-python.json"
      python3 "$root/bench/report.py" "$dir/bench-results.json" "$dir/bench-python.json" "$dir/bench-table.md"
      log "results: $dir/bench-results.json, table: $dir/bench-table.md"
      ;;
    *) die "unknown command '$cmd' (usage: ./build.sh [test [--sanitize|--tsan]] | bench | fuzz [SECONDS] | package [--check] | docs)" ;;
  esac
}

main "$@"
