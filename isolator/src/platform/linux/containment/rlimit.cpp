// The rlimit fallback: no cgroup. Limits are rlimits set in the child before exec; the tree
// is killed through pihost's process group and pihost's own cleanup of its descendants.
#include "backend.hpp"
#include "limit_files.hpp"
#include "limit_watch.hpp"

#include "../proc_usage.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
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
      if (read && now.rlim_max == limit.value) continue;  // the usual case: no name to build
      const int error = read ? 0 : errno;
      // Exited, not yet reaped: a dead process holds no limit (and its pid is not reused
      // before the host reaps it).
      if (error == ESRCH) continue;
      const auto found = read ? std::optional<std::uint64_t>(now.rlim_max) : std::nullopt;
      if (auto change = compare_rlimit(name(limit.resource), limit.value, found, error)) {
        changes.push_back(std::move(*change));
      }
    }
    return changes;
  }

 private:
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
