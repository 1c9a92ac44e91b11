// What can be enforced on this machine, and why not: the self-check behind
// `samplehost --check`.
#pragma once

#include <isolator/limits.hpp>
#include <isolator/options.hpp>

#include <optional>
#include <string>
#include <vector>

namespace isolator {

/// One limit under one backend (or one hardening measure).
struct LimitCheck {
  /// The limit's name, to_string(*kind): "memory", "cpu", "pids", "affinity", "cpu-time";
  /// or the hardening measure's: "no-network", "deny-syscalls"; or the protection's:
  /// "sandbox", "other-uid". For display: code that
  /// needs to know which limit this is uses `kind`.
  std::string limit;
  bool enforceable = false;  ///< whether it can be enforced (provided) here
  std::string how;           ///< the mechanism ("memory.max", "RLIMIT_AS", ...) or why not
  std::string fix;           ///< what to do to make it enforceable, when it is not
  /// Which limit this is; empty for a hardening measure. Last, so that the aggregate
  /// initialisation of the fields above stays valid.
  std::optional<LimitKind> kind = std::nullopt;
};

/// One containment backend on this machine.
struct BackendCheck {
  Containment backend = Containment::rlimit;  ///< which backend
  bool usable = false;                        ///< whether it can confine a child here
  std::string detail;                         ///< where its cgroups go, or why it cannot be used
  std::string fix;                            ///< what to do to make it usable, when it is not
  std::vector<LimitCheck> limits;             ///< each limit under this backend
};

/// What probe() found: every backend, the one Options would choose, the hardening measures.
struct ProbeReport {
  std::vector<BackendCheck> backends;  ///< cgroup v2, cgroup v1, rlimit, in that order
  /// The measures of Options::hardening: "no-network" and "deny-syscalls", whether this
  /// machine provides each, how, and the fix when it does not.
  std::vector<LimitCheck> hardening;
  /// Options::protection, the sandbox on by default: "sandbox" (whether this machine can make
  /// its namespaces and mounts, found by starting pihost under them once per process) and,
  /// when the host runs as root, "other-uid" (whether the sandbox user can reach pihost).
  /// Empty when Options::protection.trusted_plugin is set.
  std::vector<LimitCheck> protection;
  Containment chosen = Containment::rlimit;  ///< what Options::containment selects here
  std::string why_chosen;                    ///< the reason for that choice

  /// A readable multi-line report, one backend after another, then the choice, the hardening
  /// measures and the protection.
  std::string to_text() const;
};

/// Checks every backend against `options` (its containment, limits and cgroup base) without
/// creating anything. Never throws for what it finds; each problem is in the report. The
/// one exception: when this process has no file descriptor left to read the cgroup files
/// with, it throws StartError saying so and the fix, rather than report cgroups as absent.
/// It does not validate `options` (create() does). May be called from any thread,
/// concurrently.
ProbeReport probe(const Options& options = {});

}  // namespace isolator
