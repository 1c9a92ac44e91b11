// The containment backends behind one interface: cgroup v2, cgroup v1 and rlimits. One
// Backend per isolator; one Box per child.
#pragma once

#include "../spawn.hpp"
#include "cgroupfs.hpp"

#include <isolator/limits.hpp>
#include <isolator/probe.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

/// Kernel figures a Box can read for the child as a whole (all its processes).
struct BoxUsage {
  std::optional<std::chrono::microseconds> cpu_user;
  std::optional<std::chrono::microseconds> cpu_sys;
  std::optional<std::int64_t> peak_memory_bytes;  ///< since the last begin_call, where known
};

/// Confines one child, from before its exec to after its death. The destructor kills
/// whatever is still inside and removes what the box created (retrying while the kernel
/// says busy).
class Box {
 public:
  virtual ~Box() = default;

  /// Adds to the spawn what places the child in the box before it execs (cgroup.procs
  /// files to write, rlimits to set).
  virtual void prepare(SpawnRequest& request) = 0;

  /// Tells the box pihost's pid once spawned (the rlimit box reads its usage from /proc).
  virtual void adopt(int pid) { (void)pid; }

  /// Kills every process in the box (cgroup.kill, or freeze/kill/thaw). Safe to repeat.
  virtual void kill_all() = 0;

  /// Takes the per-call baselines (OOM count, CPU) and resets the peak memory where the
  /// kernel allows.
  virtual void begin_call() = 0;

  /// True when the kernel OOM-killed a process of the box since begin_call.
  virtual bool oom_killed_since_begin() = 0;

  /// CPU time used since begin_call by every process of the box (user + system).
  virtual std::chrono::microseconds cpu_since_begin() = 0;

  /// What the kernel says the call used; unknown figures stay empty.
  virtual BoxUsage call_usage() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Containment kind() const = 0;

  /// Whether this backend can run here at all, and where (or why not, and the fix), and
  /// which limits it can enforce here. Which of them are requested is the caller's business.
  virtual BackendCheck check() const = 0;

  /// A new box for the next child, with every requested limit that this backend can
  /// enforce set and read back. Throws StartError naming the file, the errno text and the fix.
  virtual std::unique_ptr<Box> make_box(const Limits& limits) = 0;
};

/// The backend named by `containment`, or for `automatic` the strongest that can run here
/// and enforces the most of `limits` (cgroup v2, then v1, then rlimit). `why` receives the
/// reason for the choice, naming each stronger backend refused and why.
std::unique_ptr<Backend> select_backend(Containment containment, const Limits& limits,
                                        const std::filesystem::path& cgroup_v2_base,
                                        std::string& why);

std::unique_ptr<Backend> make_cgroup_v2_backend(const std::filesystem::path& base,
                                                const cgroupfs::Hierarchies& hierarchies);
std::unique_ptr<Backend> make_cgroup_v1_backend(const cgroupfs::Hierarchies& hierarchies);
std::unique_ptr<Backend> make_rlimit_backend();

/// Removes the cgroups and private directories of hosts that are gone (their pid no longer
/// runs with the start time in the name), killing what is left in those cgroups. Runs once
/// per process; never throws (problems are logged).
void sweep_stale_once(const std::filesystem::path& private_base,
                      const std::filesystem::path& cgroup_v2_base);

}  // namespace isolator::detail
