// Shared helpers for the integration tests: where the test plugins and fakes are, options
// that work in every build (sanitizers included), and probes of the host process.
#pragma once

#include <isolator/isolator.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace isolator::test {

/// The test plugin built from tests/plugins/NAME.*
inline std::string plugin(const std::string& name) {
  return std::string(ISOLATOR_TEST_PLUGIN_DIR) + "/libplugin_" + name + ".so";
}

inline std::string fake_pihost() { return ISOLATOR_TEST_FAKE_PIHOST; }

/// Options for a test isolator. Under the sanitizers, the child's plugins must die of their
/// own signals (not of ASan's report) and a plugin's exit() must keep its code.
inline Options options() {
  Options o;
  o.pihost_path = ISOLATOR_TEST_PIHOST;
#ifdef ISOLATOR_TEST_SANITIZED
  o.environment.emplace_back(
      "ASAN_OPTIONS", "handle_segv=0:handle_sigbus=0:handle_abort=0:detect_leaks=0:allow_user_segv_handler=1");
  o.environment.emplace_back("UBSAN_OPTIONS", "halt_on_error=1");
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

/// True while `pid` runs: false once it is gone or a zombie (a dead orphan may wait a while
/// for its new parent to reap it; it is dead all the same).
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

/// A fresh directory under the build's temporary directory, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "isolator-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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

}  // namespace isolator::test
