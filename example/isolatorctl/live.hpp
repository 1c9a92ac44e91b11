// What the kernel says now about the processes a record names: whether they still run (the
// same processes: pid and start time), and the child's memory, CPU time and uptime, from its
// cgroup when it has one and from /proc otherwise; and the slot's calls counter. Nothing
// here believes the record beyond using its pids as the place to look.
#pragma once

#include "record.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace isolatorctl {

struct Live {
  bool host_running = false;   ///< the host pid runs with the recorded start time
  bool child_running = false;  ///< pihost's pid runs with its recorded start time, a child of the host
  std::optional<std::uint64_t> memory_bytes;  ///< the child's box (cgroup) or process tree (/proc)
  std::optional<std::chrono::microseconds> cpu;  ///< the same, user + system
  std::optional<std::chrono::milliseconds> child_uptime;
  /// Where each figure came from: "cgroup" (the box, every process in it) or "proc" (pihost
  /// and the processes below it now, where the box has no such figure: an rlimit box, or a
  /// cgroup without that controller enabled); "" when the child does not run.
  std::string memory_from;
  std::string cpu_from;
  std::optional<std::uint64_t> calls;  ///< the slot's calls counter
};

/// Reads the live figures for `record`, published in `dir`. Never throws.
Live read_live(const Record& record, const std::filesystem::path& dir);

/// True when `pid` runs with start time `start_time` and, when `parent` is not 0, is that
/// process's child.
bool same_process(int pid, std::uint64_t start_time, int parent = 0);

}  // namespace isolatorctl
