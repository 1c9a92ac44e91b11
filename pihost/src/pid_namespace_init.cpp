#include "pid_namespace_init.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace pihost {
namespace {

// pihost's pid in the namespace: the spawner starts it right after the init.
constexpr pid_t pihost_pid = 2;
// How long pihost may take to appear (the spawner starts it right after this init's exec).
constexpr int appear_tries = 10'000;

void reap_orphans() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

void be_pid_namespace_init() {
  // Nothing of the host's: no descriptor (its stdout and stderr would keep the host's pipes
  // open), no ptrace by the plugin's processes (same user, but not dumpable).
  ::syscall(SYS_close_range, 0U, ~0U, 0U);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  int pidfd = -1;
  for (int tries = 0; tries < appear_tries && pidfd < 0; ++tries) {
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pihost_pid, 0));
    if (pidfd < 0) ::usleep(1000);
  }
  if (pidfd < 0) ::_exit(1);  // pihost never came: the spawn failed, nothing to guard
  while (true) {
    pollfd ended{pidfd, POLLIN, 0};
    const int ready = ::poll(&ended, 1, 1000);
    reap_orphans();
    if (ready > 0) ::_exit(0);  // pihost is gone: the kernel ends the rest of the namespace
  }
}

}  // namespace pihost
