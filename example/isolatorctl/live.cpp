#include "live.hpp"

#include "platform/child_process.hpp"
#include "platform/linux/containment/cgroupfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace isolatorctl {

namespace fs = std::filesystem;
namespace cgroupfs = isolator::detail::cgroupfs;

namespace {

std::optional<std::uint64_t> number_in(const fs::path& file) {
  const auto text = cgroupfs::read(file);
  if (!text) return std::nullopt;
  try {
    return std::stoull(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "usage_usec 1234" in a cgroup v2 cpu.stat.
std::optional<std::uint64_t> stat_field(const fs::path& file, const std::string& name) {
  const auto text = cgroupfs::read(file);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// The child's box as the cgroup it is in: its whole memory and CPU time, every process of
// the box counted, as the containment counts them. A figure whose controller the box did not
// enable (no memory limit asked for, say) stays empty.
void read_cgroup(int pid, const std::string& containment, Live& live) {
  const auto mountinfo = cgroupfs::read("/proc/self/mountinfo");
  const auto cgroup = cgroupfs::read("/proc/" + std::to_string(pid) + "/cgroup");
  if (!mountinfo || !cgroup) return;
  const auto hierarchies = cgroupfs::Hierarchies::parse(*mountinfo, *cgroup);
  if (containment == "cgroup-v2") {
    const auto dir = hierarchies.v2_directory();
    if (!dir) return;
    live.memory_bytes = number_in(*dir / "memory.current");
    if (const auto usec = stat_field(*dir / "cpu.stat", "usage_usec")) live.cpu = std::chrono::microseconds(*usec);
  } else {
    if (const auto dir = hierarchies.v1_directory("memory")) live.memory_bytes = number_in(*dir / "memory.usage_in_bytes");
    if (const auto dir = hierarchies.v1_directory("cpuacct")) {
      if (const auto ns = number_in(*dir / "cpuacct.usage")) live.cpu = std::chrono::microseconds(*ns / 1000);
    }
  }
  if (live.memory_bytes) live.memory_from = "cgroup";
  if (live.cpu) live.cpu_from = "cgroup";
}

// Without those figures from a cgroup: pihost and every process below it, as /proc lists
// them now (a process that already ended is not counted).
void read_process_tree(int pid, Live& live) {
  std::uint64_t memory = 0;
  std::chrono::microseconds cpu{0};
  std::vector<int> todo{pid};
  for (std::size_t i = 0; i < todo.size() && i < 4096; ++i) {
    const auto usage = isolator::detail::read_process_usage(todo[i]);
    memory += static_cast<std::uint64_t>(usage.rss_bytes);
    cpu += usage.cpu_user + usage.cpu_sys;
    std::error_code error;
    for (fs::directory_iterator task("/proc/" + std::to_string(todo[i]) + "/task", error), end;
         !error && task != end; task.increment(error)) {
      std::ifstream children(task->path() / "children");
      for (int child = 0; children >> child;) todo.push_back(child);
    }
  }
  if (!live.memory_bytes) {
    live.memory_bytes = memory;
    live.memory_from = "proc";
  }
  if (!live.cpu) {
    live.cpu = cpu;
    live.cpu_from = "proc";
  }
}

std::optional<std::chrono::milliseconds> uptime_of(std::uint64_t start_ticks) {
  std::ifstream file("/proc/uptime");
  double seconds = 0;
  if (!(file >> seconds)) return std::nullopt;
  const double started = static_cast<double>(start_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return std::chrono::milliseconds(static_cast<std::int64_t>((seconds - started) * 1000));
}

}  // namespace

bool same_process(int pid, std::uint64_t start_time, int parent) {
  const auto stat = cgroupfs::process_stat(pid);
  return stat && stat->start_time == start_time && (parent == 0 || stat->parent == parent);
}

Live read_live(const Record& record, const fs::path& dir) {
  Live live;
  live.host_running = same_process(record.host_pid, record.host_start_time);
  live.child_running = live.host_running && record.pihost_pid > 0 &&
                       same_process(record.pihost_pid, record.pihost_start_time, record.host_pid);
  // The counter is read through the file: the same page the host's mapping writes.
  // O_NONBLOCK and a regular file: a FIFO planted under the counter's name must not hang it.
  const int fd = ::open((dir / (record.id + ".calls")).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    std::uint64_t calls = 0;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        ::pread(fd, &calls, sizeof calls, 0) == static_cast<ssize_t>(sizeof calls)) {
      live.calls = calls;
    }
    ::close(fd);
  }
  if (!live.child_running) return live;
  live.child_uptime = uptime_of(record.pihost_start_time);
  if (record.containment.rfind("cgroup", 0) == 0) read_cgroup(record.pihost_pid, record.containment, live);
  if (!live.memory_bytes || !live.cpu) read_process_tree(record.pihost_pid, live);
  // The pid was checked before the figures were read: if it ended meanwhile, say so.
  if (!same_process(record.pihost_pid, record.pihost_start_time, record.host_pid)) {
    Live gone;
    gone.host_running = live.host_running;
    gone.calls = live.calls;
    live = gone;
  }
  return live;
}

}  // namespace isolatorctl
