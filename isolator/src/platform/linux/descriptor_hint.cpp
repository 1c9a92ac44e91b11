// The seam's out_of_descriptors_hint on Linux: what a start that ran out of file descriptors
// says, with the figures a child needs here; and the Linux side's test for it.
#include "descriptor_hint.hpp"

#include <isolator/errors.hpp>

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace isolator::detail {
namespace {

// What the host holds for one running child, as measured (cgroup v1 hybrid, Linux 6.18) by
// tests/integration/descriptors_test.cpp (docs/limits.md, "File descriptors"; keep the three
// in step). Every backend: the channel socket, the pidfd, the stdout and stderr pipes, and in
// the default sandbox the pidfd of its PID namespace's init.
constexpr int per_child_rlimit = 5;
// + cgroup.procs, cpu.stat, and memory.events where the memory controller is enabled.
constexpr int per_child_cgroup_v2 = 8;
// + cgroup.procs in each of the five hierarchies (memory, pids, cpu, cpuacct, freezer), and
// memory.oom_control, memory.max_usage_in_bytes, cpuacct.usage, cpuacct.stat.
constexpr int per_child_cgroup_v1 = 14;
// An io_context: epoll, its eventfd interrupter, its timerfd.
constexpr int per_io_thread = 3;
// While one is spawned, on its I/O thread: the listening socket, the pipes' write ends and
// /dev/null.
constexpr int while_starting = 4;

std::string figures() {
  return "each child holds about " + std::to_string(per_child_rlimit) +
         " descriptors with containment rlimit, " + std::to_string(per_child_cgroup_v2) +
         " with cgroup-v2, " + std::to_string(per_child_cgroup_v1) + " with cgroup-v1, each I/O thread " +
         std::to_string(per_io_thread) +
         " (a ProcessIsolator has one, an IsolatorPool up to one per CPU), and up to " +
         std::to_string(while_starting) + " more per I/O thread while a child starts (docs/limits.md)";
}

std::string soft_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "";
  return ": its RLIMIT_NOFILE soft limit is " + std::to_string(limit.rlim_cur);
}

}  // namespace

bool out_of_descriptors(int error) { return error == EMFILE || error == ENFILE; }

void throw_if_out_of_descriptors(int error, const std::string& what) {
  if (out_of_descriptors(error)) {
    throw StartError("cannot " + what + ": " + std::strerror(error) + out_of_descriptors_hint(error));
  }
}

std::string out_of_descriptors_hint(int error) {
  if (error == EMFILE) {
    return "; this process ran out of file descriptors (EMFILE" + soft_limit() + "); " + figures() +
           "; raise the limit (`ulimit -n`, setrlimit(RLIMIT_NOFILE), LimitNOFILE= in a systemd unit) or "
           "start fewer children";
  }
  if (error == ENFILE) {
    return "; the system ran out of file descriptors (ENFILE: its file table, fs.file-max, is full); " +
           figures() + "; raise fs.file-max, close descriptors elsewhere, or start fewer children";
  }
  return "";
}

}  // namespace isolator::detail
