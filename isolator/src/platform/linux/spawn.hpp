// Starts a process with vfork semantics (clone with CLONE_VM|CLONE_VFORK, as posix_spawn
// does: no copy of the host's page tables, so a large host spawns as fast as a small one),
// confined before it executes anything of its own, with a clean slate and its stdout and
// stderr on pipes.
//
// Between clone and exec the child, in this order: resets every signal to its default
// disposition, starts a new session (no controlling terminal), joins the given cgroups, sets
// the given rlimits (soft and hard), sets its CPU affinity, puts /dev/null on stdin and the
// pipes on stdout and stderr, enters the working directory, sets umask 022 and no_new_privs,
// enters its new user and network namespaces if asked, closes every descriptor from 3
// up (whatever its close-on-exec flag), unblocks all signals, installs its seccomp filter if
// asked, and execs with exactly the
// given environment. Only raw system calls run there: nothing allocates or locks.
#pragma once

#include "hardening.hpp"
#include "sandbox.hpp"
#include "unique_fd.hpp"

#include <isolator/errors.hpp>

#include <sched.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

struct ResourceLimit {
  int resource = 0;  ///< RLIMIT_AS, RLIMIT_NPROC, ...
  rlim_t value = 0;  ///< set as both the soft and the hard limit
};

struct SpawnRequest {
  std::filesystem::path executable;
  std::vector<std::string> args;         ///< argv[1..]; argv[0] is the executable's path
  std::vector<std::string> environment;  ///< "NAME=value" entries, the child's whole environment
  std::filesystem::path working_directory;
  std::vector<int> cgroup_procs;  ///< open cgroup.procs files the child writes itself into
  std::vector<ResourceLimit> rlimits;
  std::optional<cpu_set_t> affinity;
  HardeningPlan hardening;  ///< namespaces and the seccomp filter, applied last before exec
  /// The default sandbox (sandbox.hpp), or null for none. With it the child set up here is a
  /// short-lived helper: it makes the namespaces and mounts, starts the PID namespace's
  /// init, then pihost as the calling thread's own child, and exits.
  const SandboxPlan* sandbox = nullptr;
};

/// A spawn that failed while making the sandbox (a namespace, a mount, the user switch): the
/// machine does not provide it. Any other failure is a plain StartError, and so is a sandbox
/// step that failed for want of descriptors, memory or processes (EMFILE, ENFILE, ENOMEM,
/// EAGAIN): that says nothing about the machine, and must not turn the sandbox off.
class SandboxSetupError : public StartError {
 public:
  using StartError::StartError;
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd pidfd;        ///< the child's pidfd (close-on-exec); it stays valid after it dies
  UniqueFd stdout_read;  ///< read end of the child's stdout (close-on-exec, blocking)
  UniqueFd stderr_read;  ///< read end of the child's stderr
  /// Sandboxed only: the pidfd of the PID namespace's init, also the calling thread's child.
  /// It exits when pihost does; whoever holds this must reap it (reap_init()).
  UniqueFd init_pidfd;
};

/// Reaps a sandbox's init once its pihost has ended and been reaped (the init's exit waits
/// until every process of its namespace is reaped, pihost included): SIGKILL (it may still be
/// about to exit on its own), then its status, through the pidfd. Safe to call with an empty
/// pidfd.
void reap_init(UniqueFd& init_pidfd);

/// Spawns the process from the calling thread (which becomes its parent for
/// PR_SET_PDEATHSIG). Throws StartError naming the executable, the step that failed (joining
/// the cgroup, exec...) and the errno text; a child that failed is reaped before the throw.
/// Needs Linux 5.3 or later (CLONE_PIDFD).
SpawnedProcess spawn_process(const SpawnRequest& request);

}  // namespace isolator::detail
