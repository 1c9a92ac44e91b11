// Shared helpers for the integration tests: where the test plugins and fakes are, options
// that work in every build (sanitizers included), and probes of the host process.
#pragma once

#include "temp_dir.hpp"

#include <isolator/isolator.hpp>
#include <isolator/probe.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace isolator::test {

/// Where something the build made is: `path` in the build tree, or the same path below the
/// copy tests/run_unprivileged.sh made for a user who cannot reach the build tree (it sets
/// ISOLATOR_TEST_BUILD_FROM to the build tree and ISOLATOR_TEST_BUILD_TO to the copy).
inline std::string built(const std::string& path) {
  const char* from = std::getenv("ISOLATOR_TEST_BUILD_FROM");
  const char* to = std::getenv("ISOLATOR_TEST_BUILD_TO");
  if (from == nullptr || to == nullptr || path.rfind(from, 0) != 0) return path;
  return to + path.substr(std::string(from).size());
}

/// The test plugin built from tests/plugins/NAME.*
inline std::string plugin(const std::string& name) {
  return built(std::string(ISOLATOR_TEST_PLUGIN_DIR) + "/libplugin_" + name + ".so");
}

inline std::string pihost() { return built(ISOLATOR_TEST_PIHOST); }
inline std::string fake_pihost() { return built(ISOLATOR_TEST_FAKE_PIHOST); }
inline std::string samplehost() { return built(ISOLATOR_TEST_SAMPLEHOST); }
inline std::string isolatorctl() { return built(ISOLATOR_TEST_ISOLATORCTL); }

/// Options for a test isolator. Under the sanitizers, the child's plugins must die of their
/// own signals (not of the sanitizer's report) and a plugin's exit() must keep its code.
inline Options options() {
  Options o;
  o.pihost_path = pihost();
#ifdef ISOLATOR_TEST_SANITIZED
  o.environment.emplace_back(
      "ASAN_OPTIONS",
      "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:handle_sigill=0:detect_leaks=0:allow_user_segv_handler=1:disable_coredump=0");
  o.environment.emplace_back("UBSAN_OPTIONS", "halt_on_error=1");
  // A race in pihost ends it with code 66, which fails the test that saw it.
  o.environment.emplace_back(
      "TSAN_OPTIONS",
      "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:handle_sigill=0:halt_on_error=1:exitcode=66:disable_coredump=0");
#endif
  return o;
}

/// Options that run the fake pihost in `mode` (see tests/fakes/fake_pihost.cpp).
inline Options fake_options(const std::string& mode) {
  Options o = options();
  o.pihost_path = fake_pihost();
  o.environment.emplace_back("FAKE_PIHOST_MODE", mode);
  return o;
}

inline int count_open_fds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory's own fd
}

/// True while `pid` exists, zombie included (a zombie is a child nobody reaped).
inline bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

/// Options for a test isolator confined by `containment` with `limits`, refusing to start
/// without them.
inline Options confined(Containment containment, const Limits& limits = {}) {
  Options o = options();
  o.containment = containment;
  o.limits = limits;
  o.require_limits = true;
  return o;
}

/// Whether this process has CAP_SYS_RESOURCE (root on some machines does not): without it,
/// the rlimits of another user's process (a root host's sandboxed pihost) cannot be read or
/// set, nor a hard rlimit raised.
inline bool has_cap_sys_resource() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long effective = 0;
  while (status != nullptr && std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "CapEff: %llx", &effective) == 1) break;
  }
  if (status != nullptr) std::fclose(status);
  return (effective >> 24) & 1;  // CAP_SYS_RESOURCE
}

/// The backend's name as a C identifier, for test names ("cgroup_v2").
inline std::string identifier(Containment containment) {
  std::string name(to_string(containment));
  for (auto& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

/// Why `containment` cannot enforce `limits` on this machine, or "" when it can: a test
/// that needs it skips with this reason.
inline std::string cannot(Containment containment, const Limits& limits = {}) {
  const auto report = probe(confined(containment, limits));
  for (const auto& backend : report.backends) {
    if (backend.backend != containment) continue;
    if (!backend.usable) return backend.detail;
    for (const auto& limit : backend.limits) {
      const bool requested = limit.kind && limits.is_set(*limit.kind);
      if (requested && !limit.enforceable) return limit.limit + ": " + limit.how;
    }
  }
  return "";
}

/// This process's resident set size (VmRSS), in bytes.
inline long long resident_bytes() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  char line[256];
  long long kib = 0;
  while (status != nullptr && std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "VmRSS: %lld kB", &kib) == 1) break;
  }
  if (status != nullptr) std::fclose(status);
  return kib * 1024;
}

/// Every cgroup and private directory on this machine named for host process `pid`
/// ("isolator-<pid>-..."), in the places an isolator creates them.
inline std::vector<std::string> things_named_for(int pid) {
  std::vector<std::filesystem::path> places{std::filesystem::temp_directory_path(),
                                            "/sys/fs/cgroup/unified",
                                            "/sys/fs/cgroup/pids",
                                            "/sys/fs/cgroup/cpu",
                                            "/sys/fs/cgroup/cpuacct",
                                            "/sys/fs/cgroup/freezer"};
  std::FILE* own = std::fopen("/proc/self/cgroup", "r");
  char line[512];
  while (own != nullptr && std::fgets(line, sizeof(line), own) != nullptr) {
    const std::string text(line);
    if (const auto at = text.find(":memory:"); at != std::string::npos) {
      const std::string path = text.substr(at + 8, text.find('\n') - at - 8);
      places.push_back(std::filesystem::path("/sys/fs/cgroup/memory") /
                       std::filesystem::path(path).relative_path());
    }
  }
  if (own != nullptr) std::fclose(own);
  const std::string prefix = "isolator-" + std::to_string(pid) + "-";
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& place : places) {
    for (const auto& entry : std::filesystem::directory_iterator(place, error)) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) found.push_back(entry.path().string());
    }
  }
  return found;
}

/// The isolator cgroup directories of `pid`, one per hierarchy, from /proc/PID/cgroup (v1
/// hierarchies mounted at /sys/fs/cgroup/CONTROLLERS; v2 at /sys/fs/cgroup/unified on a
/// hybrid machine like this one, at /sys/fs/cgroup on a pure v2 one).
inline std::vector<std::filesystem::path> cgroup_dirs_of(int pid) {
  const std::string v2_mount = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")
                                   ? "/sys/fs/cgroup"
                                   : "/sys/fs/cgroup/unified";
  std::vector<std::filesystem::path> dirs;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (path.find("isolator-") == std::string::npos) continue;
    const std::string mount = controllers.empty() ? v2_mount : "/sys/fs/cgroup/" + controllers;
    dirs.emplace_back(mount + path);
  }
  return dirs;
}

/// True while `pid` runs: false once it is gone or a zombie (a dead orphan may wait a while
/// for its new parent to reap it; it is dead all the same).
// The pid, as this process sees it, of the process that is `inner` in the PID namespace of
// `member` (the plugin reports its pid as its own namespace numbers it); 0 when none is.
inline int outer_pid(int member, int inner) {
  std::error_code error;
  const auto namespace_of = [&](int pid) {
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", error).string();
  };
  const std::string wanted = namespace_of(member);
  if (wanted.empty()) return 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (namespace_of(pid) != wanted) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream numbers(line.substr(6));
      int last = 0;
      for (int n = 0; numbers >> n;) last = n;
      if (last == inner) return pid;
    }
  }
  return 0;
}

/// Why the default sandbox (Options::protection) cannot be made here, or empty when it can.
inline std::string sandbox_unavailable() {
  for (const auto& check : probe(options()).protection) {
    if (check.limit == "sandbox") return check.enforceable ? "" : check.how;
  }
  return "probe() does not report the sandbox";
}

/// Why a root host's sandboxed child cannot run as Options::protection.root_host_uid here
/// (that user cannot reach pihost, e.g. a checkout in a 0700 directory), or empty when it can
/// (or the host is not root).
inline std::string other_uid_unavailable() {
  for (const auto& check : probe(options()).protection) {
    if (check.limit == "other-uid" && !check.enforceable) return check.how;
  }
  return "";
}

inline bool process_alive(int pid) {
  std::FILE* stat = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (stat == nullptr) return false;
  char buffer[512] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, stat);
  std::fclose(stat);
  const std::string text(buffer, n);
  const auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return false;
  const char state = text[close + 2];
  return state != 'Z' && state != 'X';
}

/// What `stop` did to calls in flight: how many completed with `shutdown`, and how long
/// after `stop` began the last of them completed.
struct StopOutcome {
  std::size_t completed_with_shutdown = 0;
  std::chrono::nanoseconds until_all_completed{0};
};

/// Runs `stop` (a shutdown) on a thread of its own while waiting for every call in `pending`.
template <class Stop>
StopOutcome stop_with_calls_in_flight(Stop stop, std::vector<std::future<CallResult>>& pending) {
  StopOutcome outcome;
  const auto started = std::chrono::steady_clock::now();
  std::thread stopper(stop);
  for (auto& call : pending) {
    const auto r = call.get();
    outcome.completed_with_shutdown += !r.ok() && r.failure->kind == FailureKind::shutdown;
  }
  outcome.until_all_completed = std::chrono::steady_clock::now() - started;
  stopper.join();
  return outcome;
}

/// A pihost behind a shell script that, while `slow()` or `failing()` holds, starts it two
/// seconds late or not at all (exit 1); otherwise it runs the real one. Set the switches
/// after create() to make restarts, recycling or late starts misbehave.
class SwitchedPihost {
 public:
  SwitchedPihost() {
    const auto slow = (dir_.path() / "slow").string();
    const auto fail = (dir_.path() / "fail").string();
    std::FILE* script = std::fopen(path().c_str(), "w");
    std::fprintf(script, "#!/bin/sh\n[ -e %s ] && exit 1\n[ -e %s ] && sleep 2\nexec %s \"$@\"\n",
                 fail.c_str(), slow.c_str(), pihost().c_str());
    std::fclose(script);
    std::filesystem::permissions(path(), std::filesystem::perms::owner_all);
  }
  std::filesystem::path path() const { return dir_.path() / "pihost"; }
  void slow(bool on) const { set(on, "slow"); }
  void failing(bool on) const { set(on, "fail"); }

 private:
  void set(bool on, const char* name) const {
    const auto switch_file = dir_.path() / name;
    if (on) {
      std::FILE* created = std::fopen(switch_file.c_str(), "w");
      if (created != nullptr) std::fclose(created);
    } else {
      std::filesystem::remove(switch_file);
    }
  }
  TempDir dir_;
};

/// The library's I/O threads in this process now: they are named "isolator-io" (a
/// sanitizer's own threads, say, are not).
inline std::size_t library_threads() {
  std::size_t count = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    count += name == "isolator-io";
  }
  return count;
}

/// Points $TMPDIR at `dir` (and hides $XDG_RUNTIME_DIR, which would take precedence) for
/// the scope, so that the private directories of the isolators created meanwhile land there.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const std::filesystem::path& dir)
      : saved_tmpdir_(saved("TMPDIR")), saved_runtime_dir_(saved("XDG_RUNTIME_DIR")) {
    ::unsetenv("XDG_RUNTIME_DIR");
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    restore("TMPDIR", saved_tmpdir_);
    restore("XDG_RUNTIME_DIR", saved_runtime_dir_);
  }
  ScopedTmpdir(const ScopedTmpdir&) = delete;
  ScopedTmpdir& operator=(const ScopedTmpdir&) = delete;

 private:
  static std::optional<std::string> saved(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
  }
  static void restore(const char* name, const std::optional<std::string>& value) {
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  std::optional<std::string> saved_tmpdir_;
  std::optional<std::string> saved_runtime_dir_;
};

/// Whether process `pid` is in a PID namespace below this process's, as a sandboxed pihost
/// is: its "NSpid:" line in /proc/PID/status has more than one number. (Unlike
/// /proc/PID/ns/pid, the status file needs no ptrace access to a child of another user.)
inline bool in_a_pid_namespace_of_its_own(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream numbers(line.substr(6));
    int count = 0;
    for (long n = 0; numbers >> n;) ++count;
    return count > 1;
  }
  return false;
}

/// Why `options`, which set a memory limit, cannot start in this build, or "": under a
/// sanitizer the rlimit backend's RLIMIT_AS kills pihost at start (the sanitizer's shadow
/// takes terabytes of address space).
inline std::string sanitizer_forbids_memory_limit([[maybe_unused]] const Options& options) {
#ifdef ISOLATOR_TEST_SANITIZED
  if (probe(options).chosen == Containment::rlimit) return "a sanitizer reserves terabytes of address space (RLIMIT_AS)";
#endif
  return "";
}

}  // namespace isolator::test
