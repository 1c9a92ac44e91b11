// cgroup v2: one directory per child under <base>/isolator-<pid>-<start>, where <base> is a
// delegated directory (Options::cgroup_v2_base, or this process's own cgroup).
#include "backend.hpp"
#include "call_limit_files.hpp"
#include "cgroupfs.hpp"
#include "counter_file.hpp"
#include "limit_files.hpp"
#include "limit_watch.hpp"

#include "../descriptor_hint.hpp"
#include "log.hpp"

#include <isolator/errors.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <sstream>
#include <thread>
#include <utility>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

bool listed(const std::string& list, const std::string& word) {
  std::istringstream words(list);
  std::string w;
  while (words >> w) {
    if (w == word) return true;
  }
  return false;
}

class CgroupV2Box final : public LinuxBox {
 public:
  // `limits`: the isolator's, which say which controllers are on for the child (make_box).
  CgroupV2Box(fs::path dir, const Limits& limits)
      : dir_(std::move(dir)),
        memory_events_(dir_ / "memory.events"),
        cpu_stat_(dir_ / "cpu.stat"),
        isolator_memory_(limits.memory_bytes),
        pids_on_(limits.max_pids.has_value()) {}

  ~CgroupV2Box() override {
    kill_all();
    memory_events_.close();
    cpu_stat_.close();
    limits_.close();
    if (auto problem = cgroupfs::remove_tree(dir_); !problem.empty()) {
      log().warn("cannot remove cgroup {} (the next host's sweep will): {}", dir_.string(), problem);
    }
  }

  void prepare(SpawnRequest& request) override {
    throw_if_out_of_descriptors(memory_events_.open_error(), "open " + (dir_ / "memory.events").string());
    throw_if_out_of_descriptors(cpu_stat_.open_error(), "open " + (dir_ / "cpu.stat").string());
    procs_file_.reset(::open((dir_ / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!procs_file_) {
      const int error = errno;
      throw StartError("cannot open " + (dir_ / "cgroup.procs").string() + ": " + std::strerror(error) +
                       out_of_descriptors_hint(error));
    }
    request.cgroup_procs.push_back(procs_file_.get());
  }

  void kill_all() override {
    // cgroup.kill (Linux 5.14) kills every process at once, forks in flight included.
    if (cgroupfs::write(dir_ / "cgroup.kill", "1").empty()) return;
    if (cgroupfs::write(dir_ / "cgroup.freeze", "1").empty()) {
      cgroupfs::CounterFile events(dir_ / "cgroup.events");
      for (int i = 0; i < 100 && events.read("frozen").value_or(0) != 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      for (int pid : cgroupfs::procs(dir_)) ::kill(pid, SIGKILL);
      cgroupfs::write(dir_ / "cgroup.freeze", "0");
    }
  }

  // Each file is read once per call here and once in call_usage(), from descriptors held
  // open: these readings are a visible part of a warm call's cost (docs/performance.md).
  void begin_call() override {
    oom_baseline_ = memory_events_.read("oom_kill").value_or(0);
    cpu_stat_.refresh();
    usage_baseline_ = cpu_stat_.value("usage_usec").value_or(0);
    user_baseline_ = cpu_stat_.value("user_usec").value_or(0);
    system_baseline_ = cpu_stat_.value("system_usec").value_or(0);
  }

  bool oom_killed_since_begin() override {
    return memory_events_.read("oom_kill").value_or(0) > oom_baseline_;
  }

  std::chrono::microseconds cpu_since_begin() override {
    const auto now = cpu_stat_.read("usage_usec").value_or(0);
    return std::chrono::microseconds(static_cast<std::int64_t>(now - usage_baseline_));
  }

  BoxUsage call_usage() override {
    BoxUsage usage;
    if (!cpu_stat_.refresh()) return usage;
    if (auto user = cpu_stat_.value("user_usec")) {
      usage.cpu_user = std::chrono::microseconds(static_cast<std::int64_t>(*user - user_baseline_));
    }
    if (auto system = cpu_stat_.value("system_usec")) {
      usage.cpu_sys = std::chrono::microseconds(static_cast<std::int64_t>(*system - system_baseline_));
    }
    return usage;  // memory.peak cannot be reset per call on most kernels: pihost's VmHWM stands
  }

  std::vector<ChangedLimit> changed_limits() override { return limits_.changed(); }

  // A controller is on for the child's cgroup when this isolator's limits asked for it
  // (make_box). It may be on through another isolator of this process too (the host
  // directory is shared), but an override must not depend on that.
  void set_call_limits(const CallLimits& limits) override {
    if (limits.memory_bytes) {
      const std::string what = "CallOptions::limits.memory_bytes";
      require(what, isolator_memory_.has_value(), "memory", "memory_bytes");
      // Below what the child holds, the kernel would OOM-kill it rather than refuse.
      const auto wanted = std::stoull(page_rounded(*limits.memory_bytes));
      if (const auto used = memory_current(); used && *used > wanted) {
        throw LimitUnavailable(what + ": the child uses " + std::to_string(*used) + " bytes already (" +
                               (dir_ / "memory.current").string() + "), more than " + std::to_string(wanted) +
                               "; the kernel would OOM-kill it; the call was not run");
      }
      overridden_.set(what, dir_ / "memory.max", std::to_string(*limits.memory_bytes),
                      page_rounded(*limits.memory_bytes), limits_);
      if (fs::exists(dir_ / "memory.swap.max")) overridden_.set(what, dir_ / "memory.swap.max", "0", "0", limits_);
      memory_overridden_ = true;
    }
    if (limits.max_pids) {
      const std::string what = "CallOptions::limits.max_pids";
      try {
        require(what, pids_on_, "pids", "max_pids");
      } catch (const LimitUnavailable&) {
        restore_limits();  // the memory override above, if any
        throw;
      }
      overridden_.set(what, dir_ / "pids.max", std::to_string(*limits.max_pids), std::to_string(*limits.max_pids),
                      limits_);
    }
  }

  void restore_limits() override {
    // After a looser call the child may hold more than the isolator's limit: lowering it
    // would OOM-kill the child between calls, with no call to tell. It is replaced instead.
    if (std::exchange(memory_overridden_, false) && isolator_memory_) {
      const auto limit = std::stoull(page_rounded(*isolator_memory_));
      if (const auto used = memory_current(); used && *used > limit) {
        throw StartError("after a call with its own memory limit the child holds " + std::to_string(*used) +
                         " bytes, more than the isolator's limit of " + std::to_string(limit) +
                         ", which would OOM-kill it");
      }
    }
    overridden_.restore(limits_);
  }

  /// Watches a limit file make_box wrote, which read `set` (its first line) just after.
  void watch_limit(const fs::path& file, std::string set) { limits_.watch(file, std::move(set)); }

 private:
  // Throws LimitUnavailable unless `on`: this isolator sets the `limit` of `controller`.
  void require(const std::string& what, bool on, const char* controller, const char* limit) const {
    if (on) return;
    throw LimitUnavailable(what + ": under cgroup v2 the '" + controller +
                           "' controller is on for a child only when its isolator sets that limit itself; set "
                           "Options::limits." +
                           limit + " (the call's override replaces it for the call); the call was not run");
  }

  // The child's memory use now (memory.current); none when it cannot be read.
  std::optional<std::uint64_t> memory_current() const {
    const auto text = cgroupfs::read(dir_ / "memory.current");
    if (!text) return std::nullopt;
    try {
      return std::stoull(*text);
    } catch (const std::logic_error&) {
      return std::nullopt;
    }
  }

  fs::path dir_;
  UniqueFd procs_file_;
  cgroupfs::CounterFile memory_events_;
  cgroupfs::CounterFile cpu_stat_;
  WatchedLimitFiles limits_;
  OverriddenLimitFiles overridden_;  // the call's overrides, put back after it
  const std::optional<std::uint64_t> isolator_memory_;  // Limits::memory_bytes
  const bool pids_on_;                                  // Limits::max_pids is set
  bool memory_overridden_ = false;
  std::uint64_t oom_baseline_ = 0;
  std::uint64_t usage_baseline_ = 0;
  std::uint64_t user_baseline_ = 0;
  std::uint64_t system_baseline_ = 0;
};

class CgroupV2Backend final : public Backend {
 public:
  CgroupV2Backend(const fs::path& configured, cgroupfs::Hierarchies hierarchies)
      : hierarchies_(std::move(hierarchies)) {
    if (!configured.empty()) {
      base_ = configured;
    } else if (auto own = hierarchies_.v2_directory()) {
      base_ = *own;
    } else {
      problem_ = "no cgroup v2 hierarchy is mounted";
      return;
    }
    if (::access(base_.c_str(), W_OK) != 0) {
      problem_ = base_.string() + " is not writable: " + std::strerror(errno);
      return;
    }
    int error = 0;
    available_ = cgroupfs::read(base_ / "cgroup.controllers", &error).value_or("");
    // Without a descriptor the controllers would look absent, and a weaker backend chosen.
    throw_if_out_of_descriptors(error, "read " + (base_ / "cgroup.controllers").string());
  }

  ~CgroupV2Backend() override {
    if (problem_.empty()) ::rmdir((base_ / cgroupfs::host_tag()).c_str());
  }

  Containment kind() const override { return Containment::cgroup_v2; }

  BackendCheck check() const override {
    BackendCheck c;
    c.backend = kind();
    c.usable = problem_.empty();
    c.detail = c.usable ? "cgroups under " + base_.string() + " (controllers offered: " +
                              (available_.empty() ? std::string("none") : trimmed(available_)) + ")"
                        : problem_;
    if (!c.usable) {
      c.fix = "run the host in a delegated cgroup: a systemd unit with Delegate=yes, "
              "`systemd-run --user --scope -p Delegate=yes ...`, or set Options::cgroup_v2_base "
              "to a writable cgroup v2 directory";
    }
    // The limits a controller of the same name enforces: memory, cpu, pids.
    const auto controller = [&](LimitKind kind, const std::string& how) {
      const std::string name(to_string(kind));
      const bool offered = c.usable && listed(available_, name);
      return limit_check(kind, offered, how,
                         c.usable ? "the '" + name + "' controller is not offered in " + base_.string() +
                                        "/cgroup.controllers"
                                  : problem_,
                         // Only worked out when it is needed: it reads /proc.
                         offered ? std::string()
                         : hierarchies_.v1_directory(name)
                             // A hybrid machine: the controller is bound to a v1 hierarchy and
                             // cannot be enabled in v2 at all.
                             ? "'" + name +
                                   "' is bound to cgroup v1 here (a hybrid hierarchy): use "
                                   "Containment::cgroup_v1 (or automatic), or boot with "
                                   "systemd.unified_cgroup_hierarchy=1 for pure cgroup v2"
                             : "enable '" + name + "' for the delegated subtree (systemd: Delegate=" + name +
                                   "; or write +" + name + " to the parent's cgroup.subtree_control)");
    };
    c.limits.push_back(controller(LimitKind::memory, "memory.max and memory.swap.max"));
    c.limits.push_back(controller(LimitKind::cpu, "cpu.max"));
    c.limits.push_back(controller(LimitKind::pids, "pids.max"));
    c.limits.push_back(affinity_check());
    c.limits.push_back(limit_check(LimitKind::cpu_time, c.usable,
                                   "cpu.stat usage_usec, watched by the host during each call", problem_,
                                   c.fix));
    return c;
  }

  std::unique_ptr<LinuxBox> make_box(const Limits& limits) override {
    const fs::path host_dir = base_ / cgroupfs::host_tag();
    const std::string child = cgroupfs::next_child_name();
    fs::path failed;
    if (const int error = cgroupfs::make_child_dir(host_dir, child, failed); error != 0) {
      throw StartError("cannot create cgroup " + failed.string() + ": " + std::strerror(error) +
                       " (the host needs a delegated cgroup v2 subtree: Delegate=yes)");
    }
    const fs::path dir = host_dir / child;
    try {
      enable_controllers(host_dir, limits);
    } catch (const StartError&) {
      // No box owns the directory yet (it is made once the controllers are on, so that it
      // opens their files): removed here.
      cgroupfs::remove_tree(dir);
      throw;
    }
    auto box = std::make_unique<CgroupV2Box>(dir, limits);
    int error = 0;
    const auto offered = cgroupfs::read(dir / "cgroup.controllers", &error).value_or("");
    throw_if_out_of_descriptors(error, "read " + (dir / "cgroup.controllers").string());
    for (const auto& [requested, name] :
         {std::pair{limits.memory_bytes.has_value(), "memory"},
          std::pair{limits.max_pids.has_value(), "pids"}, std::pair{limits.cpu_percent.has_value(), "cpu"}}) {
      if (requested && !listed(offered, name)) {
        throw StartError(std::string("the '") + name + "' controller is not available in " + dir.string() +
                         " (enable it for " + base_.string() + "'s subtree: systemd Delegate=yes, or +" +
                         name + " in the parent's cgroup.subtree_control)");
      }
    }
    // Every limit written is watched from here on (Box::changed_limits).
    const auto set = [&box](const fs::path& file, const std::string& value, const std::string& expected) {
      box->watch_limit(file, set_and_verify(file, value, expected));
    };
    if (limits.memory_bytes) {
      set(dir / "memory.max", std::to_string(*limits.memory_bytes), page_rounded(*limits.memory_bytes));
      if (fs::exists(dir / "memory.swap.max")) set(dir / "memory.swap.max", "0", "0");
    }
    if (limits.max_pids) {
      set(dir / "pids.max", std::to_string(*limits.max_pids), std::to_string(*limits.max_pids));
    }
    if (limits.cpu_percent) {
      const auto value = std::to_string(cpu_quota_us(*limits.cpu_percent)) + " " +
                         std::to_string(cpu_period_us);
      set(dir / "cpu.max", value, value);
    }
    return box;
  }

 private:
  // A cgroup gets a controller only if its parent enables it for its subtree: the base (which
  // may fail when the base holds processes and is not the root: "no internal processes"),
  // then the host directory, which holds none.
  void enable_controllers(const fs::path& host_dir, const Limits& limits) {
    std::vector<std::string> wanted;
    if (limits.memory_bytes) wanted.emplace_back("memory");
    if (limits.max_pids) wanted.emplace_back("pids");
    if (limits.cpu_percent) wanted.emplace_back("cpu");
    for (const fs::path& parent : {base_, host_dir}) {
      int error = 0;
      const auto offered = cgroupfs::read(parent / "cgroup.controllers", &error).value_or("");
      throw_if_out_of_descriptors(error, "read " + (parent / "cgroup.controllers").string());
      const auto enabled = cgroupfs::read(parent / "cgroup.subtree_control", &error).value_or("");
      throw_if_out_of_descriptors(error, "read " + (parent / "cgroup.subtree_control").string());
      for (const auto& name : wanted) {
        if (!listed(offered, name) || listed(enabled, name)) continue;
        if (auto problem = cgroupfs::write(parent / "cgroup.subtree_control", "+" + name, &error);
            !problem.empty()) {
          throw_if_out_of_descriptors(error, "enable the " + name + " controller in " + parent.string());
          log().debug("cannot enable the {} controller: {}", name, problem);
        }
      }
    }
  }

  static std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }

  cgroupfs::Hierarchies hierarchies_;  // where this process was when the backend was made
  fs::path base_;
  std::string problem_;
  std::string available_;
};

}  // namespace

std::unique_ptr<Backend> make_cgroup_v2_backend(const fs::path& base,
                                                const cgroupfs::Hierarchies& hierarchies) {
  return std::make_unique<CgroupV2Backend>(base, hierarchies);
}

}  // namespace isolator::detail
