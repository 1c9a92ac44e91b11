// Per-call limit overrides (CallOptions::limits) in a cgroup's control files: each file's
// value is saved before the override is written, and put back after the call, in the reverse
// order (so that pairs the kernel keeps ordered, cgroup v1's memory limit under its
// memory+swap limit, are put back in an order it accepts).
#pragma once

#include "limit_watch.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace isolator::detail {

class OverriddenLimitFiles {
 public:
  /// Writes `value` to `file` and reads it back (it must start with `expected`), after saving
  /// the first line the file holds; `watched` then expects what was read back. `what` names
  /// the override in a refusal ("CallOptions::limits.memory_bytes"). When the kernel refuses,
  /// puts back every file this call's overrides changed and throws LimitUnavailable naming
  /// `what`, the file and the kernel's answer; when one cannot be put back, throws
  /// StartError (the child must be replaced).
  void set(const std::string& what, const std::filesystem::path& file, const std::string& value,
           const std::string& expected, WatchedLimitFiles& watched);

  /// Puts every saved file back, last first, each read back and expected by `watched`
  /// again; forgets them. Throws StartError naming the first that cannot be put back
  /// (after trying every one).
  void restore(WatchedLimitFiles& watched);

  /// The first line `file` holds now; throws LimitUnavailable naming `what` when it cannot
  /// be read (the override needs it: a v1 memory override compares against it).
  static std::string current(const std::string& what, const std::filesystem::path& file);

 private:
  struct Saved {
    std::filesystem::path file;
    std::string before;  // its first line before the override
  };
  std::vector<Saved> saved_;
};

}  // namespace isolator::detail
