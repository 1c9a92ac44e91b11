// Small, checked helpers for cgroup file systems and /proc: where this process's cgroups
// are, reading and writing control files, naming what a host creates.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::detail::cgroupfs {

/// Where this process is in every cgroup hierarchy: /proc/self/mountinfo and
/// /proc/self/cgroup, read once. Choosing a backend asks a dozen questions, and reading the
/// two files costs tens of microseconds each time, a visible part of a cold call; read one
/// snapshot and ask it. A snapshot does not follow the process into another cgroup.
class Hierarchies {
 public:
  /// Reads both files now (a file that cannot be read gives no hierarchies).
  static Hierarchies read();

  /// The same from the texts of the two files (for tests).
  static Hierarchies parse(std::string_view mountinfo, std::string_view cgroup);

  /// The errno of the first of the two files read() could not read, or 0. A file that could
  /// not be read looks like a machine without cgroups; a caller that would choose a weaker
  /// containment for it checks this first (EMFILE is no reason to confine less).
  int read_error() const { return read_error_; }

  /// This process's cgroup directory in the v1 hierarchy of `controller` ("memory",
  /// "pids"...), or nothing when that controller is not mounted as v1.
  std::optional<std::filesystem::path> v1_directory(std::string_view controller) const;

  /// This process's cgroup directory in the cgroup v2 hierarchy, or nothing without one.
  std::optional<std::filesystem::path> v2_directory() const;

  /// Where every cgroup hierarchy (v1 or v2) is mounted.
  std::vector<std::filesystem::path> mount_points() const;

 private:
  struct Mount {
    std::filesystem::path point;
    std::string root;  // the path of the mount's root inside the hierarchy
    bool v2 = false;
    std::string super_options;  // v1: the controllers, among other options
  };
  struct Membership {
    std::string controllers;  // "" for cgroup v2, "memory" or "cpu,cpuacct" for v1
    std::string path;
  };
  std::optional<std::string> own_path(std::string_view controller) const;

  std::vector<Mount> mounts_;
  std::vector<Membership> memberships_;
  int read_error_ = 0;
};

/// The whole content of a (small) file; nothing when it cannot be read, with its errno in
/// `*error` when `error` is given.
std::optional<std::string> read(const std::filesystem::path& file, int* error = nullptr);

/// Writes `value` in one write(2). Returns "" on success, else "PATH: errno text", with the
/// errno in `*error` when `error` is given.
std::string write(const std::filesystem::path& file, const std::string& value, int* error = nullptr);

/// The pids listed in `dir`/cgroup.procs.
std::vector<int> procs(const std::filesystem::path& dir);

/// What /proc/PID/stat says of a process's identity: its parent (field 4) and its start time
/// (clock ticks after boot, field 22), which with the pid names one process.
struct ProcessStat {
  int parent = 0;
  std::uint64_t start_time = 0;
};

/// `pid`'s ProcessStat, or nothing when the process does not exist or the file cannot be read.
std::optional<ProcessStat> process_stat(int pid);

/// The start time of `pid` (process_stat), or nothing.
std::optional<std::uint64_t> start_time(int pid);

/// "isolator-<pid>-<starttime>": the prefix of everything this host process creates.
const std::string& host_tag();

/// "child-<n>", unique in this process: every isolator of a host shares the host's cgroup
/// directory, so the numbering must be shared too.
std::string next_child_name();

/// When `name` starts with a host tag whose process no longer runs (pid gone, or reused by
/// a process with another start time): true.
bool names_a_dead_host(const std::string& name);

/// mkdir of `host_dir` (which may exist) and then of `host_dir`/`child`. Another isolator
/// of this process may remove an empty `host_dir` in between (the last one out removes it),
/// so that is retried. Returns 0 or the errno of the mkdir that failed, and sets `failed` to
/// the path it could not make.
int make_child_dir(const std::filesystem::path& host_dir, const std::string& child,
                   std::filesystem::path& failed);

/// rmdir of `dir` and the directories below it, deepest first, retrying while the kernel
/// answers EBUSY (it does so for a moment after the last process left). Returns "" or what
/// could not be removed.
std::string remove_tree(const std::filesystem::path& dir);

}  // namespace isolator::detail::cgroupfs
