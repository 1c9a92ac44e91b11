// What a child may use, and which mechanism enforces it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace isolator {

/// The mechanism that confines the child. See docs/limits.md for what each enforces.
enum class Containment {
  automatic,  ///< the strongest backend that works here and enforces the requested limits
  cgroup_v2,  ///< a cgroup in a writable, delegated cgroup v2 subtree
  cgroup_v1,  ///< cgroups in the writable v1 hierarchies (memory, pids, cpu, cpuacct, freezer)
  rlimit,     ///< setrlimit on the child, and its process group: no cgroup needed
};

/// "automatic", "cgroup-v2", "cgroup-v1", "rlimit"; "unknown" for a value outside the enum.
/// Never throws; may be called from any thread.
std::string_view to_string(Containment containment);

/// One kind of limit: which field of Limits it is, and which entry of a probe's report
/// (LimitCheck::kind) says whether a backend can enforce it.
enum class LimitKind {
  memory,    ///< Limits::memory_bytes
  cpu,       ///< Limits::cpu_percent
  pids,      ///< Limits::max_pids
  affinity,  ///< Limits::cpu_affinity
  cpu_time,  ///< Limits::cpu_time_per_call
};

/// "memory", "cpu", "pids", "affinity", "cpu-time" (the names probe() reports in
/// LimitCheck::limit); "unknown" for a value outside the enum. Never throws; may be called
/// from any thread.
std::string_view to_string(LimitKind kind);

/// The LimitKind whose to_string is `name`; nothing for any other text. Never throws.
std::optional<LimitKind> parse_limit_kind(std::string_view name);

/// Limits on the child (pihost and everything it starts). Unset means unlimited.
/// ProcessIsolator::create throws OptionsError for memory_bytes under 1 MiB, a cpu_percent,
/// max_pids or cpu_time_per_call that is not positive, or a CPU outside 0..CPU_SETSIZE-1.
struct Limits {
  /// Memory. cgroups: the group's charged memory (anonymous memory and page cache), swap
  /// capped too where the kernel allows; going over is an OOM kill, reported `memory_limit`.
  /// rlimit: RLIMIT_AS, the address space of each process (not the same thing: mappings
  /// count, sharing does not), where an allocation fails instead.
  std::optional<std::uint64_t> memory_bytes;
  /// CPU bandwidth as a percentage of one CPU (50 = half a CPU, 200 = two). cgroups only.
  std::optional<double> cpu_percent;
  /// Most processes and threads at once. cgroups: the pids controller. rlimit: RLIMIT_NPROC,
  /// which counts every process of the user, not just the child's, and which root ignores.
  std::optional<std::uint32_t> max_pids;
  /// CPUs the child may run on (sched_setaffinity before exec); empty means all.
  std::vector<int> cpu_affinity;
  /// CPU time (user + system, all processes of the child) one call may use; past it the
  /// child is killed and the call fails with `cpu_limit`.
  std::optional<std::chrono::milliseconds> cpu_time_per_call;

  /// True when any limit is set.
  bool any() const {
    return memory_bytes || cpu_percent || max_pids || !cpu_affinity.empty() || cpu_time_per_call;
  }

  /// True when the limit of `kind` is set (requested).
  bool is_set(LimitKind kind) const {
    switch (kind) {
      case LimitKind::memory: return memory_bytes.has_value();
      case LimitKind::cpu: return cpu_percent.has_value();
      case LimitKind::pids: return max_pids.has_value();
      case LimitKind::affinity: return !cpu_affinity.empty();
      case LimitKind::cpu_time: return cpu_time_per_call.has_value();
    }
    return false;
  }
};

/// Limits for one call, over the isolator's (CallOptions::limits); in a CallResult, the
/// limits that applied to the call (CallResult::limits). Unset means: the isolator's limit
/// (in a result: no limit).
///
/// An override may be tighter or looser than the isolator's limit, within what the backend
/// can enforce (docs/limits.md, "Per-call limits"): it is set before the call is sent, read
/// back, watched during the call like the isolator's own, and put back before the next call.
/// A call that goes over its own override fails with the matching kind (`memory_limit`,
/// `cpu_limit`; a fork refused by the process count fails inside the method as it would
/// under the isolator's). An override the backend cannot enforce fails the call with
/// `limit_unavailable` without running it. The call throws Error, naming the field, for a
/// memory_bytes under 1 MiB, or a cpu_time or max_pids that is not positive.
struct CallLimits {
  /// As Limits::memory_bytes, for this call. cgroups: the child's memory limit is set to
  /// this (the cgroup v2 memory controller must be on for the child: it is when the
  /// isolator sets Limits::memory_bytes). rlimit: pihost's soft RLIMIT_AS (a plugin can raise
  /// it again up to the hard limit); above the hard limit, both (needs CAP_SYS_RESOURCE).
  std::optional<std::uint64_t> memory_bytes;
  /// As Limits::cpu_time_per_call, for this call: watched by the host under every backend
  /// that can read the child's CPU time.
  std::optional<std::chrono::milliseconds> cpu_time;
  /// As Limits::max_pids, for this call. cgroups: pids.max (the cgroup v2 pids controller
  /// must be on for the child: it is when the isolator sets Limits::max_pids). rlimit:
  /// RLIMIT_NPROC as for memory (it does not bind root: refused there).
  std::optional<std::uint32_t> max_pids;

  /// True when any is set.
  bool any() const { return memory_bytes || cpu_time || max_pids; }
};

}  // namespace isolator
