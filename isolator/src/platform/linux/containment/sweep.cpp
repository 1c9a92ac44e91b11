// Removes what hosts that died without cleaning up left behind: cgroups (after killing what
// is still in them) and private directories. A host is dead when no process runs with the
// pid and start time in the name, so a reused pid cannot keep a dead host's leftovers alive.
#include "backend.hpp"
#include "cgroupfs.hpp"

#include "log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <mutex>
#include <thread>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

// Another host may sweep the same leftovers at the same time (two hosts starting together),
// so an entry can vanish in the middle of an iteration. Every iteration here advances with an
// error code: a vanished entry ends that loop only. (A range-for's increment throws, which
// ended the whole sweep, the private directories' included: fault 194.)
void kill_everything_below(const fs::path& dir) {
  cgroupfs::write(dir / "cgroup.kill", "1");  // v2; harmless where it does not exist
  for (int round = 0; round < 50; ++round) {
    bool any = false;
    std::error_code error;
    for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
      std::error_code ignored;
      if (!it->is_directory(ignored)) continue;
      // Members of a cgroup of ours are ours to kill, whatever their pid.
      for (int pid : cgroupfs::procs(it->path())) {
        ::kill(pid, SIGKILL);
        any = true;
      }
    }
    for (int pid : cgroupfs::procs(dir)) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void sweep_cgroups_under(const fs::path& base) {
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const auto name = entry.path().filename().string();
    std::error_code ignored;
    if (!entry.is_directory(ignored) || !cgroupfs::names_a_dead_host(name)) continue;
    kill_everything_below(entry.path());
    if (auto problem = cgroupfs::remove_tree(entry.path()); problem.empty()) {
      log().info("removed the cgroup {} of a host that is gone", entry.path().string());
    } else {
      log().warn("cannot remove the stale cgroup {}: {}", entry.path().string(), problem);
    }
  }
}

void sweep_private_directories(const fs::path& base) {
  std::error_code error;
  for (fs::directory_iterator it(base, error), end; !error && it != end; it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const auto name = entry.path().filename().string();
    struct stat st {};
    // Ours; for a root host also the sandbox user's (a sandboxed child's private directory
    // is handed to that user).
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        (st.st_uid != ::geteuid() && ::geteuid() != 0)) {
      continue;
    }
    if (!cgroupfs::names_a_dead_host(name)) continue;
    std::error_code removing;
    fs::remove_all(entry.path(), removing);  // removes links, never follows them
    if (!removing) log().info("removed the private directory {} of a host that is gone", entry.path().string());
  }
}

}  // namespace

void sweep_stale_once(const fs::path& private_base, const fs::path& cgroup_v2_base) {
  static std::once_flag once;
  std::call_once(once, [&] {
    try {
      const auto hierarchies = cgroupfs::Hierarchies::read();
      for (const char* controller : {"memory", "pids", "cpu", "cpuacct", "freezer"}) {
        if (auto dir = hierarchies.v1_directory(controller)) sweep_cgroups_under(*dir);
      }
      if (!cgroup_v2_base.empty()) {
        sweep_cgroups_under(cgroup_v2_base);
      } else if (auto dir = hierarchies.v2_directory()) {
        sweep_cgroups_under(*dir);
      }
      sweep_private_directories(private_base);
    } catch (const std::exception& e) {
      log().warn("the sweep of stale cgroups and directories stopped early: {}", e.what());
    }
  });
}

}  // namespace isolator::detail
