// What can be enforced on this machine, and why not: the self-check behind
// `samplehost --check`.
#pragma once

#include <isolator/limits.hpp>
#include <isolator/options.hpp>

#include <string>
#include <vector>

namespace isolator {

/// One limit under one backend.
struct LimitCheck {
  std::string limit;     ///< "memory", "cpu", "pids", "affinity", "cpu-time"
  bool enforceable = false;
  std::string how;       ///< the mechanism ("memory.max", "RLIMIT_AS", ...) or why not
  std::string fix;       ///< what to do to make it enforceable, when it is not
};

struct BackendCheck {
  Containment backend = Containment::rlimit;
  bool usable = false;
  std::string detail;  ///< where its cgroups go, or why it cannot be used
  std::string fix;     ///< what to do to make it usable, when it is not
  std::vector<LimitCheck> limits;
};

struct ProbeReport {
  std::vector<BackendCheck> backends;  ///< cgroup v2, cgroup v1, rlimit, in that order
  /// The measures of Options::hardening: "no-network" and "deny-syscalls", whether this
  /// machine provides each, how, and the fix when it does not.
  std::vector<LimitCheck> hardening;
  Containment chosen = Containment::rlimit;  ///< what Options::containment selects here
  std::string why_chosen;

  /// A readable multi-line report, one backend after another.
  std::string to_text() const;
};

/// Checks every backend against `options` (its containment, limits and cgroup base) without
/// creating anything. Never throws for what it finds; each problem is in the report.
ProbeReport probe(const Options& options = {});

}  // namespace isolator
