#include "kill.hpp"

#include "live.hpp"

#include "platform/linux/containment/cgroupfs.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace isolatorctl {

namespace {

// The file name of the program `pid` runs ("" when /proc does not say).
std::string executable_name(int pid) {
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error);
  return error ? std::string() : exe.filename().string();
}

}  // namespace

std::string kill_child(const Record& record) {
  const std::string who = "isolate " + record.id;
  if (record.pihost_pid <= 0) return who + " has no child yet: nothing to kill";
  if (!same_process(record.host_pid, record.host_start_time)) {
    return who + ": its host (pid " + std::to_string(record.host_pid) +
           ") no longer runs; run isolatorctl without arguments to sweep its record";
  }
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, record.pihost_pid, 0));
  if (pidfd < 0) {
    const int error = errno;
    if (error == ESRCH) return who + ": its child (pid " + std::to_string(record.pihost_pid) + ") no longer runs";
    return who + ": cannot open a pidfd for pid " + std::to_string(record.pihost_pid) + ": " + std::strerror(error) +
           " (pidfd_open needs Linux 5.3)";
  }
  // Checked after the pidfd is open: from here on the descriptor names this process, and the
  // check says it is the recorded one. A pid reused before the open fails the check.
  const auto stat = isolator::detail::cgroupfs::process_stat(record.pihost_pid);
  std::string refusal;
  if (!stat) {
    refusal = "its child (pid " + std::to_string(record.pihost_pid) + ") no longer runs";
  } else if (stat->start_time != record.pihost_start_time) {
    refusal = "pid " + std::to_string(record.pihost_pid) + " started at tick " + std::to_string(stat->start_time) +
              ", not at tick " + std::to_string(record.pihost_start_time) +
              " as the record says: it is another process now (the child was replaced, or the record is stale "
              "or forged); list again and use the current id";
  } else if (const auto exe = executable_name(record.pihost_pid); exe != "pihost") {
    refusal = "pid " + std::to_string(record.pihost_pid) + " runs '" + exe +
              "', not pihost; refusing to signal a process the record does not own";
  } else if (stat->parent != record.host_pid) {
    refusal = "pid " + std::to_string(record.pihost_pid) + " is a child of pid " + std::to_string(stat->parent) +
              ", not of the recorded host pid " + std::to_string(record.host_pid) +
              "; refusing to signal a process the record does not own";
  }
  if (refusal.empty() && ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) != 0) {
    const int error = errno;
    refusal = "cannot signal pid " + std::to_string(record.pihost_pid) + ": " + std::strerror(error) +
              (error == EPERM ? " (run isolatorctl as the host's user)" : "");
  }
  ::close(pidfd);
  return refusal.empty() ? std::string() : who + ": " + refusal;
}

}  // namespace isolatorctl
