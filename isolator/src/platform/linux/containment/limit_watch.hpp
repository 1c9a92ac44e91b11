// The limits a box set, watched: a plugin with the privilege (root) can write its own
// cgroup's limit files or raise its hard rlimits, and a raised limit would stay for every
// later call. So each limit is read again at call boundaries and compared with what it read
// when the box set it.
//
// The comparisons are pure functions of their arguments (tested without a cgroup); the
// watcher holds each control file open, so a check is one pread(2) per file, with no path
// walk: it runs on every warm call (docs/performance.md says what it costs).
#pragma once

#include "../unique_fd.hpp"
#include "platform/child_process.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::detail {

/// The first line of a control file's text, without its newline: what a limit is compared
/// by ("67108864\n" reads as "67108864", "max 100000\n" as "max 100000").
std::string_view first_line(std::string_view text);

/// A limit `name` that read `set` (a first line) when it was set, against what it reads now:
/// `found` (the file's text; its first line counts), or nothing when it could not be read
/// (`read_errno` says why; an unreadable limit cannot be vouched for, so it counts as changed).
/// Returns the change, or nothing when the first lines are equal. Pure.
std::optional<ChangedLimit> compare_limit(const std::string& name, std::string_view set,
                                          std::optional<std::string_view> found, int read_errno = 0);

/// An rlimit value as text: the number, or "unlimited" for RLIM_INFINITY.
std::string rlimit_text(std::uint64_t value);

/// The hard limit `name` that was set to `set`, against the hard limit found now (nothing
/// when it could not be read; `read_errno` says why). Only the hard limit counts: every
/// process may move its soft limit below it, while raising it takes CAP_SYS_RESOURCE. Pure.
std::optional<ChangedLimit> compare_rlimit(const std::string& name, std::uint64_t set,
                                           std::optional<std::uint64_t> hard_found, int read_errno = 0);

/// The control files a cgroup box wrote, each held open with the first line it read back
/// when written. Not thread-safe: a box is read on the isolator's I/O thread.
class WatchedLimitFiles {
 public:
  /// Watches `file`, whose first line read `set` when the box wrote it. A file that cannot
  /// be opened now is reported by every check.
  void watch(const std::filesystem::path& file, std::string set);

  /// From now on `file` must read `set`: a per-call override, or the value put back after
  /// it. Watches the file (as watch()) when it is not watched yet.
  void expect(const std::filesystem::path& file, std::string set);

  /// Reads every watched file again: those whose first line is no longer what was set
  /// (named by their path). Empty when none is watched.
  std::vector<ChangedLimit> changed() const;

  /// Closes the files (before their cgroup is removed).
  void close() { files_.clear(); }

 private:
  struct Watched {
    std::filesystem::path file;
    std::string set;
    UniqueFd fd;
    int open_errno = 0;  // why fd could not be opened
  };
  std::vector<Watched> files_;
};

}  // namespace isolator::detail
