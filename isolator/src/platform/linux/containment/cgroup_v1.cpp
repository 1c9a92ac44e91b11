// cgroup v1: one directory per controller hierarchy (memory, pids, cpu, cpuacct, freezer),
// each under this process's own cgroup in that hierarchy.
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
#include <map>
#include <thread>
#include <tuple>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

const char* const controllers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

std::chrono::microseconds ticks(std::uint64_t n) {
  static const long per_second = ::sysconf(_SC_CLK_TCK);
  return std::chrono::microseconds(static_cast<std::int64_t>(n) * 1'000'000 / per_second);
}

class CgroupV1Box final : public LinuxBox {
 public:
  explicit CgroupV1Box(std::map<std::string, fs::path> dirs)
      : dirs_(std::move(dirs)),
        oom_control_(file("memory", "memory.oom_control")),
        max_usage_(file("memory", "memory.max_usage_in_bytes")),
        cpu_usage_(file("cpuacct", "cpuacct.usage")),
        cpu_stat_(file("cpuacct", "cpuacct.stat")) {}

  ~CgroupV1Box() override {
    kill_all();
    for (auto* counters : {&oom_control_, &max_usage_, &cpu_usage_, &cpu_stat_}) counters->close();
    limits_.close();
    for (const auto& [controller, dir] : dirs_) {
      if (auto problem = cgroupfs::remove_tree(dir); !problem.empty()) {
        log().warn("cannot remove cgroup {} (the next host's sweep will): {}", dir.string(), problem);
      }
    }
  }

  void prepare(SpawnRequest& request) override {
    for (const auto& [counter, controller, name] :
         {std::tuple{&oom_control_, "memory", "memory.oom_control"},
          std::tuple{&max_usage_, "memory", "memory.max_usage_in_bytes"},
          std::tuple{&cpu_usage_, "cpuacct", "cpuacct.usage"},
          std::tuple{&cpu_stat_, "cpuacct", "cpuacct.stat"}}) {
      throw_if_out_of_descriptors(counter->open_error(), "open " + file(controller, name).string());
    }
    for (const auto& [controller, dir] : dirs_) {
      UniqueFd fd(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) {
        const int error = errno;
        throw StartError("cannot open " + (dir / "cgroup.procs").string() + ": " + std::strerror(error) +
                         out_of_descriptors_hint(error));
      }
      request.cgroup_procs.push_back(fd.get());
      procs_files_.push_back(std::move(fd));
    }
  }

  void kill_all() override {
    if (const auto* freezer = dir("freezer")) {
      // Frozen processes can neither fork nor exit, so the list is complete and every pid
      // in it stays theirs while they are killed.
      if (cgroupfs::write(*freezer / "freezer.state", "FROZEN").empty()) {
        for (int i = 0; i < 100 && cgroupfs::read(*freezer / "freezer.state").value_or("") != "FROZEN\n";
             ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        for (int pid : cgroupfs::procs(*freezer)) ::kill(pid, SIGKILL);
        cgroupfs::write(*freezer / "freezer.state", "THAWED");
        return;
      }
    }
    // No freezer: kill what is listed until nothing is (bounded: the pids limit bounds forks).
    for (const auto& [controller, path] : dirs_) {
      for (int round = 0; round < 100; ++round) {
        const auto pids = cgroupfs::procs(path);
        if (pids.empty()) break;
        for (int pid : pids) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return;
    }
  }

  // The statistics files are held open (CounterFile): reading them is a visible part of a
  // warm call's cost (docs/performance.md).
  void begin_call() override {
    if (const auto* memory = dir("memory")) {
      oom_baseline_ = oom_control_.read("oom_kill").value_or(0);
      cgroupfs::write(*memory / "memory.max_usage_in_bytes", "0");  // reset the peak
    }
    cpu_baseline_ns_ = cpu_usage_.read().value_or(0);
    if (cpu_stat_.refresh()) {  // one read for both
      user_baseline_ = cpu_stat_.value("user").value_or(0);
      system_baseline_ = cpu_stat_.value("system").value_or(0);
    }
  }

  bool oom_killed_since_begin() override { return oom_control_.read("oom_kill").value_or(0) > oom_baseline_; }

  std::chrono::microseconds cpu_since_begin() override {
    const auto now = cpu_usage_.read();
    if (!now) return std::chrono::microseconds(0);
    return std::chrono::microseconds(static_cast<std::int64_t>((*now - cpu_baseline_ns_) / 1000));
  }

  BoxUsage call_usage() override {
    BoxUsage usage;
    if (cpu_stat_.refresh()) {  // one read for both
      usage.cpu_user = ticks(cpu_stat_.value("user").value_or(user_baseline_) - user_baseline_);
      usage.cpu_sys = ticks(cpu_stat_.value("system").value_or(system_baseline_) - system_baseline_);
    }
    if (auto peak = max_usage_.read()) usage.peak_memory_bytes = static_cast<std::int64_t>(*peak);
    return usage;
  }

  std::vector<ChangedLimit> changed_limits() override { return limits_.changed(); }

  void set_call_limits(const CallLimits& limits) override {
    // Checked before anything is written: a refusal leaves every limit as it was.
    if (limits.memory_bytes) require("CallOptions::limits.memory_bytes", "memory");
    if (limits.max_pids) require("CallOptions::limits.max_pids", "pids");
    if (limits.cpu_time) require("CallOptions::limits.cpu_time", "cpuacct");
    if (limits.memory_bytes) {
      const std::string what = "CallOptions::limits.memory_bytes";
      const fs::path limit = *dir("memory") / "memory.limit_in_bytes";
      const fs::path memsw = *dir("memory") / "memory.memsw.limit_in_bytes";
      const std::string value = std::to_string(*limits.memory_bytes);
      const std::string expected = page_rounded(*limits.memory_bytes);
      // The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every
      // write: raising goes memory+swap first, lowering the memory limit first.
      std::uint64_t now = 0;
      try {
        now = std::stoull(OverriddenLimitFiles::current(what, limit));
      } catch (const std::logic_error&) {
      }
      const bool swap = fs::exists(memsw);
      if (swap && std::stoull(expected) > now) overridden_.set(what, memsw, value, expected, limits_);
      overridden_.set(what, limit, value, expected, limits_);
      if (swap && std::stoull(expected) <= now) overridden_.set(what, memsw, value, expected, limits_);
    }
    if (limits.max_pids) {
      const auto value = std::to_string(*limits.max_pids);
      overridden_.set("CallOptions::limits.max_pids", *dir("pids") / "pids.max", value, value, limits_);
    }
  }

  void restore_limits() override { overridden_.restore(limits_); }

  /// Watches a limit file make_box wrote, which read `set` (its first line) just after.
  void watch_limit(const fs::path& file, std::string set) { limits_.watch(file, std::move(set)); }

 private:
  const fs::path* dir(const std::string& controller) const {
    auto found = dirs_.find(controller);
    return found == dirs_.end() ? nullptr : &found->second;
  }

  // Throws LimitUnavailable unless this box has `controller`'s hierarchy.
  void require(const std::string& what, const std::string& controller) const {
    if (dir(controller) != nullptr) return;
    throw LimitUnavailable(what + ": there is no writable cgroup v1 '" + controller +
                           "' hierarchy for this process here; mount it, or make this process's cgroup in it "
                           "writable; the call was not run");
  }

  // A file of `controller`'s directory; without that controller, a path that cannot be
  // opened (the CounterFile then reads nothing).
  fs::path file(const std::string& controller, const char* name) const {
    const auto* d = dir(controller);
    return d == nullptr ? fs::path() : *d / name;
  }

  std::map<std::string, fs::path> dirs_;
  std::vector<UniqueFd> procs_files_;
  cgroupfs::CounterFile oom_control_;
  cgroupfs::CounterFile max_usage_;
  cgroupfs::CounterFile cpu_usage_;
  cgroupfs::CounterFile cpu_stat_;
  WatchedLimitFiles limits_;
  OverriddenLimitFiles overridden_;  // the call's overrides, put back after it
  std::uint64_t oom_baseline_ = 0;
  std::uint64_t cpu_baseline_ns_ = 0;
  std::uint64_t user_baseline_ = 0;
  std::uint64_t system_baseline_ = 0;
};

class CgroupV1Backend final : public Backend {
 public:
  explicit CgroupV1Backend(const cgroupfs::Hierarchies& hierarchies) {
    for (const char* controller : controllers) {
      const auto dir = hierarchies.v1_directory(controller);
      if (!dir) {
        problems_[controller] = std::string("no cgroup v1 '") + controller + "' hierarchy is mounted";
      } else if (::access(dir->c_str(), W_OK) != 0) {
        problems_[controller] = dir->string() + " is not writable: " + std::strerror(errno);
      } else {
        bases_[controller] = *dir;
      }
    }
  }

  // The host directories go with the last isolator of this process that used them (rmdir
  // fails harmlessly while another one still has children there).
  ~CgroupV1Backend() override {
    for (const auto& [controller, base] : bases_) ::rmdir((base / cgroupfs::host_tag()).c_str());
  }

  Containment kind() const override { return Containment::cgroup_v1; }

  BackendCheck check() const override {
    BackendCheck c;
    c.backend = kind();
    c.usable = has("memory") || has("pids") || has("freezer");
    if (c.usable) {
      c.detail = "cgroups under";
      for (const auto& [controller, dir] : bases_) c.detail += " " + dir.string();
    } else {
      c.detail = "no writable memory, pids or freezer hierarchy (" + problem("memory") + ")";
      c.fix = "run as a user who may create cgroups under its own v1 cgroups (root, or a "
              "delegated subtree), or use cgroup v2";
    }
    const std::string fix = "make this process's cgroup writable in that hierarchy";
    c.limits.push_back(limit_check(LimitKind::memory, has("memory"),
                                   "memory.limit_in_bytes and memory.memsw.limit_in_bytes", problem("memory"),
                                   fix));
    c.limits.push_back(limit_check(LimitKind::cpu, has("cpu"), "cpu.cfs_quota_us over cpu.cfs_period_us",
                                   problem("cpu"), fix));
    c.limits.push_back(limit_check(LimitKind::pids, has("pids"), "pids.max", problem("pids"), fix));
    c.limits.push_back(affinity_check());
    c.limits.push_back(limit_check(LimitKind::cpu_time, has("cpuacct"),
                                   "cpuacct.usage, watched by the host during each call", problem("cpuacct"),
                                   fix));
    return c;
  }

  std::unique_ptr<LinuxBox> make_box(const Limits& limits) override {
    const std::string child = cgroupfs::next_child_name();
    std::map<std::string, fs::path> dirs;
    for (const auto& [controller, base] : bases_) {
      const fs::path host_dir = base / cgroupfs::host_tag();
      fs::path failed;
      if (const int error = cgroupfs::make_child_dir(host_dir, child, failed); error != 0) {
        throw StartError("cannot create cgroup " + failed.string() + ": " + std::strerror(error) + " (make " +
                         base.string() + " writable, or choose another containment)");
      }
      dirs[controller] = host_dir / child;
    }
    auto box = std::make_unique<CgroupV1Box>(dirs);  // removes the directories if a limit fails
    // Every limit written is watched from here on (Box::changed_limits).
    const auto set = [&box](const fs::path& file, const std::string& value, const std::string& expected) {
      box->watch_limit(file, set_and_verify(file, value, expected));
    };
    if (limits.memory_bytes && dirs.count("memory")) {
      const auto value = std::to_string(*limits.memory_bytes);
      set(dirs["memory"] / "memory.limit_in_bytes", value, page_rounded(*limits.memory_bytes));
      // Swap too, where the kernel accounts it: memory + swap may not exceed the same limit.
      const auto memsw = dirs["memory"] / "memory.memsw.limit_in_bytes";
      if (fs::exists(memsw)) {
        int error = 0;
        if (auto problem = cgroupfs::write(memsw, value, &error); !problem.empty()) {
          throw_if_out_of_descriptors(error, "cap swap in " + memsw.string());
          log().warn("swap is not capped: {}", problem);
        } else if (auto back = cgroupfs::read(memsw)) {
          box->watch_limit(memsw, std::string(first_line(*back)));
        }
      }
    }
    if (limits.max_pids && dirs.count("pids")) {
      set(dirs["pids"] / "pids.max", std::to_string(*limits.max_pids), std::to_string(*limits.max_pids));
    }
    if (limits.cpu_percent && dirs.count("cpu")) {
      const auto quota = cpu_quota_us(*limits.cpu_percent);
      set(dirs["cpu"] / "cpu.cfs_period_us", std::to_string(cpu_period_us), std::to_string(cpu_period_us));
      set(dirs["cpu"] / "cpu.cfs_quota_us", std::to_string(quota), std::to_string(quota));
    }
    return box;
  }

 private:
  bool has(const std::string& controller) const { return bases_.count(controller) > 0; }
  std::string problem(const std::string& controller) const {
    auto found = problems_.find(controller);
    return found == problems_.end() ? "" : found->second;
  }

  std::map<std::string, fs::path> bases_;
  std::map<std::string, std::string> problems_;
};

}  // namespace

std::unique_ptr<Backend> make_cgroup_v1_backend(const cgroupfs::Hierarchies& hierarchies) {
  return std::make_unique<CgroupV1Backend>(hierarchies);
}

}  // namespace isolator::detail
