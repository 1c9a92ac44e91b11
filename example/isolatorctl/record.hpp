// One isolator record as isolatorctl reads it (docs/isolatorctl.md has the format), and its
// validation. A record is written by a process of the same user, which may be a plugin run
// without the sandbox: nothing in it is trusted until parse_record() has checked it, and a
// checked record is still only a claim about pids, which live.hpp and kill.hpp check again
// against /proc before they use it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolatorctl {

/// The record format this isolatorctl reads.
inline constexpr int record_format = 1;

struct Record {
  std::string id;    ///< its file name without ".json": "isolator-<host pid>-<host start>-<n>"
  std::string kind;  ///< "isolator" or "pool"
  std::uint32_t uid = 0;
  int host_pid = 0;
  std::uint64_t host_start_time = 0;  ///< clock ticks after boot, /proc/PID/stat field 22
  std::string host_executable;
  std::string containment;  ///< "cgroup-v2", "cgroup-v1", "rlimit", ...
  std::optional<std::uint64_t> memory_bytes;
  std::optional<double> cpu_percent;
  std::optional<std::uint32_t> max_pids;
  std::optional<std::int64_t> cpu_time_per_call_ms;
  std::vector<int> cpu_affinity;
  std::int64_t created_unix_ms = 0;
  // The slot's current child, when it has had one.
  int pihost_pid = 0;
  std::uint64_t pihost_start_time = 0;
  std::int64_t pihost_started_unix_ms = 0;
};

/// The record in `text`, read from the file named `id` + ".json" by a user of uid `uid`; or
/// what is wrong with it, naming the field. Checks: JSON, format 1, the id matching the file
/// name and the host pid and start time it encodes, the uid being the reader's, pids
/// positive, known kinds, every limit of its type and range, and names free of control
/// characters. Never throws.
struct Parsed {
  std::optional<Record> record;
  std::string error;  ///< set when `record` is not
};
Parsed parse_record(std::string_view text, std::string_view id, std::uint32_t uid);

}  // namespace isolatorctl
