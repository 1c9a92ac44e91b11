// The rlimit fallback: no cgroup. Limits are rlimits set in the child before exec; the tree
// is killed through pihost's process group and pihost's own cleanup of its descendants.
#include "backend.hpp"
#include "limit_files.hpp"
#include "limit_watch.hpp"

#include "../proc_usage.hpp"

#include <isolator/errors.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace isolator::detail {
namespace {

// RLIMIT_NPROC does not bind a process with CAP_SYS_RESOURCE or CAP_SYS_ADMIN (root).
bool nproc_binds() { return ::geteuid() != 0; }

class RlimitBox final : public LinuxBox {
 public:
  explicit RlimitBox(const Limits& limits) : limits_(limits) {
    if (limits_.memory_bytes) set_.push_back({RLIMIT_AS, *limits_.memory_bytes});
    if (limits_.max_pids) set_.push_back({RLIMIT_NPROC, *limits_.max_pids});
  }

  void prepare(SpawnRequest& request) override {
    request.rlimits.insert(request.rlimits.end(), set_.begin(), set_.end());
  }

  void adopt(int pid) override { pid_ = pid; }

  void kill_all() override {}  // pihost's group and pihost's own cleanup do this

  // The baseline serves only the per-call CPU-time limit: without one, nothing is read
  // (a /proc read is a visible part of a warm call's cost).
  void begin_call() override {
    if (limits_.cpu_time_per_call) baseline_ = read_process_usage(pid_);
  }

  bool oom_killed_since_begin() override { return false; }  // pihost reports bad_alloc itself

  std::chrono::microseconds cpu_since_begin() override {
    const auto now = read_process_usage(pid_);
    return (now.cpu_user + now.cpu_sys) - (baseline_.cpu_user + baseline_.cpu_sys);
  }

  BoxUsage call_usage() override { return {}; }  // pihost's rusage figures stand

  // pihost's own hard limits, read from here with prlimit (one system call each; the same
  // user may read them). Processes pihost started keep their own and are not read.
  // Tighter than the hard limit: only the soft one moves, which any process may do (and the
  // plugin may undo, up to the hard limit: docs/limits.md says so). Looser: both, which takes
  // CAP_SYS_RESOURCE; the hard limit is then watched at the override until it is put back.
  void set_call_limits(const CallLimits& limits) override {
    if (limits.max_pids && !nproc_binds()) {
      throw LimitUnavailable(
          "CallOptions::limits.max_pids: the rlimit backend's RLIMIT_NPROC does not bind root "
          "(CAP_SYS_RESOURCE/CAP_SYS_ADMIN); run the host as an unprivileged user, or use a cgroup backend; the "
          "call was not run");
    }
    // The CPU watch reads pihost's figures only when a limit asks for them (begin_call).
    if (limits.cpu_time && !limits_.cpu_time_per_call) baseline_ = read_process_usage(pid_);
    if (limits.memory_bytes) override_limit(RLIMIT_AS, *limits.memory_bytes, "CallOptions::limits.memory_bytes");
    if (limits.max_pids) {
      try {
        override_limit(RLIMIT_NPROC, *limits.max_pids, "CallOptions::limits.max_pids");
      } catch (const LimitUnavailable&) {
        restore_limits();  // the memory override above, if any
        throw;
      }
    }
  }

  void restore_limits() override {
    std::string first_problem;
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (::prlimit(pid_, static_cast<__rlimit_resource>(it->resource), &it->before, nullptr) != 0 &&
          errno != ESRCH && first_problem.empty()) {
        first_problem = name(it->resource) + ": " + std::strerror(errno);
      }
    }
    saved_.clear();
    if (!first_problem.empty()) {
      throw StartError("cannot put back the isolator's limit after a call's override: " + first_problem);
    }
  }

  std::vector<ChangedLimit> changed_limits() override {
    std::vector<ChangedLimit> changes;
    for (const auto& limit : set_) {
      rlimit now{};
      bool read = ::prlimit(pid_, static_cast<__rlimit_resource>(limit.resource), nullptr, &now) == 0;
      if (!read && errno == EPERM) {
        // A sandboxed pihost of another user (a root host's, without CAP_SYS_RESOURCE):
        // /proc/PID/limits is readable by everyone.
        if (const auto hard = hard_limit_from_proc(limit.resource)) {
          now.rlim_max = *hard;
          read = true;
        } else {
          errno = EPERM;
        }
      }
      if (read && now.rlim_max == expected_hard(limit)) continue;  // the usual case: no name to build
      const int error = read ? 0 : errno;
      // Exited, not yet reaped: a dead process holds no limit (and its pid is not reused
      // before the host reaps it).
      if (error == ESRCH) continue;
      const auto found = read ? std::optional<std::uint64_t>(now.rlim_max) : std::nullopt;
      if (auto change = compare_rlimit(name(limit.resource), expected_hard(limit), found, error)) {
        changes.push_back(std::move(*change));
      }
    }
    return changes;
  }

 private:
  struct Saved {
    int resource;
    rlimit before;      // soft and hard before the override
    rlim_t hard_now;    // the hard limit the override left
  };

  // Sets pihost's `resource` to `value` for one call (see set_call_limits), after saving
  // what it was.
  void override_limit(int resource, std::uint64_t value, const std::string& what) {
    const auto r = static_cast<__rlimit_resource>(resource);
    rlimit before{};
    if (::prlimit(pid_, r, nullptr, &before) != 0) {
      const int error = errno;
      throw LimitUnavailable(
          what + ": cannot read " + name(resource) + ": " + std::strerror(error) +
          (error == EPERM ? " (pihost runs as another user, the sandbox's for a root host "
                            "(Options::protection.root_host_uid), and another user's limits take CAP_SYS_RESOURCE, "
                            "which this host lacks: give the host CAP_SYS_RESOURCE, or use a cgroup backend)"
                          : std::string()) +
          "; the call was not run");
    }
    rlimit wanted = before;
    wanted.rlim_cur = value;
    if (value > before.rlim_max) wanted.rlim_max = value;
    if (::prlimit(pid_, r, &wanted, nullptr) != 0) {
      const int error = errno;
      throw LimitUnavailable(
          what + ": cannot set " + name(resource) + " to " + rlimit_text(value) + ": " + std::strerror(error) +
          (error == EPERM ? " (raising it above the hard limit, " + rlimit_text(before.rlim_max) +
                                ", takes CAP_SYS_RESOURCE: give the host that capability, or raise the isolator's "
                                "own limit in Options::limits)"
                          : std::string()) +
          "; the call was not run");
    }
    saved_.push_back(Saved{resource, before, wanted.rlim_max});
  }

  // The hard limit `limit` must read now: the override's while one is set, else the box's.
  std::uint64_t expected_hard(const ResourceLimit& limit) const {
    for (const auto& saved : saved_) {
      if (saved.resource == limit.resource) return saved.hard_now;
    }
    return limit.value;
  }

  // The hard limit of `resource` in /proc/PID/limits ("Max address space  SOFT  HARD  bytes").
  std::optional<rlim_t> hard_limit_from_proc(int resource) const {
    std::ifstream limits("/proc/" + std::to_string(pid_) + "/limits");
    const std::string label = resource == RLIMIT_AS ? "Max address space" : "Max processes";
    std::string line;
    while (std::getline(limits, line)) {
      if (line.rfind(label, 0) != 0) continue;
      std::istringstream fields(line.substr(label.size()));
      std::string soft, hard;
      if (!(fields >> soft >> hard)) return std::nullopt;
      if (hard == "unlimited") return RLIM_INFINITY;
      try {
        return static_cast<rlim_t>(std::stoull(hard));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::string name(int resource) const {
    return std::string(resource == RLIMIT_AS ? "RLIMIT_AS" : "RLIMIT_NPROC") + " (hard) of pid " +
           std::to_string(pid_);
  }

  Limits limits_;
  std::vector<ResourceLimit> set_;  // what prepare() has the child set, soft and hard
  std::vector<Saved> saved_;        // a call's overrides, put back after it
  int pid_ = 0;
  ResourceUsage baseline_;
};

class RlimitBackend final : public Backend {
 public:
  Containment kind() const override { return Containment::rlimit; }

  BackendCheck check() const override {
    BackendCheck c;
    c.backend = kind();
    c.usable = true;
    c.detail = "rlimits on pihost, its process group and pihost's cleanup of its descendants";
    c.limits.push_back(limit_check(LimitKind::memory, true,
                                   "RLIMIT_AS: address space per process, not the group's memory", "", ""));
    c.limits.push_back(limit_check(LimitKind::cpu, false, "", "a CPU share needs the cgroup cpu controller",
                                   "use a cgroup backend"));
    c.limits.push_back(limit_check(LimitKind::pids, nproc_binds(),
                                   "RLIMIT_NPROC: counts every process of the user, not only the child's",
                                   "RLIMIT_NPROC does not bind root (CAP_SYS_RESOURCE/CAP_SYS_ADMIN)",
                                   "run the host as an unprivileged user, or use a cgroup backend"));
    c.limits.push_back(affinity_check());
    c.limits.push_back(limit_check(LimitKind::cpu_time, true,
                                   "pihost's CPU time in /proc, watched by the host during each call "
                                   "(its descendants are not counted)",
                                   "", ""));
    return c;
  }

  std::unique_ptr<LinuxBox> make_box(const Limits& limits) override {
    return std::make_unique<RlimitBox>(limits);
  }
};

}  // namespace

std::unique_ptr<Backend> make_rlimit_backend() { return std::make_unique<RlimitBackend>(); }

}  // namespace isolator::detail
