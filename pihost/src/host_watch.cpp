#include "host_watch.hpp"

#include "crash_capture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace pihost {
namespace {

using isolator::wire::exit_host_gone;

constexpr int watch_fd_floor = 100;
constexpr int kill_rounds = 50;

// The parent of `pid` from /proc/PID/stat, or 0 when it is gone.
pid_t parent_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  std::FILE* stat = std::fopen(path, "re");
  if (stat == nullptr) return 0;
  char buffer[512];
  const std::size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, stat);
  std::fclose(stat);
  buffer[n] = '\0';
  const char* close = std::strrchr(buffer, ')');  // the name may hold anything
  int parent = 0;
  char state = 0;
  if (close == nullptr || std::sscanf(close + 1, " %c %d", &state, &parent) != 2) return 0;
  return parent;
}

// pid -> parent pid of every process, from /proc.
std::map<pid_t, pid_t> process_parents() {
  std::map<pid_t, pid_t> parents;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return parents;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (const pid_t parent = parent_of(static_cast<pid_t>(pid)); parent > 0) {
      parents[static_cast<pid_t>(pid)] = parent;
    }
  }
  ::closedir(proc);
  return parents;
}

std::vector<std::pair<pid_t, pid_t>> descendants(pid_t root, const std::map<pid_t, pid_t>& parents) {
  std::vector<std::pair<pid_t, pid_t>> found;  // (pid, its parent)
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, ppid] : parents) {
      if (ppid == parent) {
        found.emplace_back(pid, ppid);
        frontier.push_back(pid);
      }
    }
  }
  return found;
}

// A write to a pipe whose reader (the dead host) is gone must fail with EPIPE in this
// thread, not kill pihost before it has cleaned up.
void block_sigpipe_in_this_thread() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

void watch(pid_t host_pid, int host_pidfd) {
  crash::give_alternate_stack();
  block_sigpipe_in_this_thread();
  sigset_t gone;
  sigemptyset(&gone);
  sigaddset(&gone, host_gone_signal());
  const timespec no_wait{0, 0};
  while (true) {
    // The pidfd turns readable the moment the host exits; the death signal is the backup
    // layer (and the only one if no pidfd could be had).
    pollfd watched{host_pidfd, POLLIN, 0};
    const int ready = host_pidfd >= 0 ? ::poll(&watched, 1, 250) : 0;
    if (host_pidfd < 0) ::usleep(250'000);
    if (ready > 0 || ::sigtimedwait(&gone, nullptr, &no_wait) > 0 || ::getppid() != host_pid) {
      std::fprintf(stderr, "pihost: host %d is gone; stopping everything\n", host_pid);
      leave(exit_host_gone);
    }
  }
}

}  // namespace

int host_gone_signal() { return SIGRTMAX - 3; }

void guard_against_orphans(pid_t host_pid) {
  sigset_t gone;
  sigemptyset(&gone);
  sigaddset(&gone, host_gone_signal());
  pthread_sigmask(SIG_BLOCK, &gone, nullptr);  // before any thread: all inherit it
  if (::prctl(PR_SET_PDEATHSIG, host_gone_signal()) != 0) std::perror("pihost: PR_SET_PDEATHSIG");
  // The host may have died before the prctl above, which then never fires.
  if (::getppid() != host_pid) {
    std::fprintf(stderr, "pihost: host %d is gone before the start finished\n", host_pid);
    std::_Exit(exit_host_gone);
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) std::perror("pihost: PR_SET_CHILD_SUBREAPER");
  std::atexit(kill_descendants);  // a plugin's exit() still cleans up
}

void start_host_watch(pid_t host_pid) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, host_pid, 0));
  if (pidfd >= 0) {
    if (const int high = ::fcntl(pidfd, F_DUPFD_CLOEXEC, watch_fd_floor); high >= 0) {
      ::close(pidfd);
      pidfd = high;
    }
  }
  std::thread(watch, host_pid, pidfd).detach();
}

// The children of every thread of `pid`, from /proc/PID/task/TID/children.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks_path = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = ::opendir(tasks_path.c_str());
  if (tasks == nullptr) return children;  // gone
  while (const dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    std::FILE* file = std::fopen((tasks_path + "/" + task->d_name + "/children").c_str(), "re");
    if (file == nullptr) continue;
    long child = 0;
    while (std::fscanf(file, "%ld", &child) == 1) children.push_back(static_cast<pid_t>(child));
    std::fclose(file);
  }
  ::closedir(tasks);
  return children;
}

// pihost's descendants with their parents: from each process's children files, so the cost
// grows with the descendants, not with every process on the machine; by a scan of all of
// /proc where the kernel lacks those files (CONFIG_PROC_CHILDREN).
std::vector<std::pair<pid_t, pid_t>> descendants_of(pid_t root) {
  static const bool children_files =
      ::access(("/proc/self/task/" + std::to_string(::gettid()) + "/children").c_str(), R_OK) == 0;
  if (!children_files) return descendants(root, process_parents());
  std::vector<std::pair<pid_t, pid_t>> found;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty() && found.size() < 65536) {  // bounded, as a pids limit would be
    const pid_t parent = frontier.back();
    frontier.pop_back();
    for (const pid_t child : children_of(parent)) {
      found.emplace_back(child, parent);
      frontier.push_back(child);
    }
  }
  return found;
}

void kill_descendants() {
  const pid_t self = ::getpid();
  for (int round = 0; round < kill_rounds; ++round) {
    const auto found = descendants_of(self);
    if (found.empty()) return;
    for (const auto& [pid, parent] : found) {
      // Through a pidfd, after checking that the pid still belongs to the same process (its
      // parent unchanged): never a signal to a pid that could have been reused.
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) continue;
      const pid_t now = parent_of(pid);
      if (now == parent || now == self) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      ::close(pidfd);
    }
    // Orphans were reparented to us (we are their subreaper): reap what died.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    ::usleep(1000);
  }
}

void leave(int code) {
  block_sigpipe_in_this_thread();
  std::fflush(nullptr);
  kill_descendants();
  std::_Exit(code);
}

}  // namespace pihost
