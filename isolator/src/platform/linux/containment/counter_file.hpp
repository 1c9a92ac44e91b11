// A cgroup statistics file (cpu.stat, memory.events, cpuacct.usage...) held open and read
// again from its start whenever fresh figures are needed.
//
// The kernel renders such a file afresh on every read from offset 0, so one pread(2) gives
// the current figures: no path walk, open and close per reading, which were a visible part
// of a warm call's cost (docs/performance.md). The descriptor is close-on-exec, and pihost
// closes whatever it inherits anyway. Not thread-safe: a box reads its files on the
// isolator's I/O thread.
#pragma once

#include "../unique_fd.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace isolator::detail::cgroupfs {

class CounterFile {
 public:
  /// Opens `file` for reading. A file that cannot be opened (a controller that is not
  /// enabled, say) is not an error: every refresh() of it then fails, and open_error() says
  /// why.
  explicit CounterFile(const std::filesystem::path& file);

  /// The errno of the failed open, or 0. A box fails its start when it is EMFILE or ENFILE:
  /// a controller that is off is no problem, a missing file for want of a descriptor would
  /// silently lose the OOM or CPU figures the call path relies on.
  int open_error() const { return open_error_; }

  /// Reads the file again. False when it cannot be read (never opened, or its cgroup gone);
  /// value() then finds nothing until a refresh succeeds.
  bool refresh();

  /// From the last refresh: the number after `key` on a "key value" line, or, with an empty
  /// key, the number the file starts with (cpuacct.usage, memory.max_usage_in_bytes).
  std::optional<std::uint64_t> value(std::string_view key = {}) const;

  /// refresh(), then value(key).
  std::optional<std::uint64_t> read(std::string_view key = {}) {
    return refresh() ? value(key) : std::nullopt;
  }

  /// Closes the file (before its cgroup is removed).
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  int open_error_ = 0;
  std::array<char, 4096> text_{};  // the statistics files read here are a few lines
  std::size_t size_ = 0;
};

}  // namespace isolator::detail::cgroupfs
