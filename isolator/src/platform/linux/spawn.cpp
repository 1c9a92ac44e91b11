#include "spawn.hpp"

#include "descriptor_hint.hpp"
#include "platform/child_process.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <pthread.h>

namespace isolator::detail {
namespace {

constexpr std::size_t child_stack_bytes = 64 * 1024;

using CloneFunction = int (*)(int (*)(void*), void*, int, void*, ...);

// A WritableBind as the child reads it: C strings only, and the detached copy of the path's
// mount the child takes before anything covers it.
struct BindStep {
  const char* path = nullptr;
  bool directory = true;
  const char* const* make_first = nullptr;
  std::size_t make_first_count = 0;
  int tree = -1;
};

// A RootStep as the child reads it, with the detached copy of a bind's source.
struct RootStepC {
  RootStep::Kind kind = RootStep::Kind::directory;
  const char* target = nullptr;
  const char* source = nullptr;
  bool writable = false;
  int tree = -1;
};

// The sandbox (sandbox.hpp) as the child reads it.
struct SandboxSteps {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const char* uid_map = nullptr;
  const char* gid_map = nullptr;
  int namespaces = 0;
  const char* const* hide = nullptr;
  std::size_t hide_count = 0;
  const char* const* fresh = nullptr;
  std::size_t fresh_count = 0;
  const char* fresh_options = "mode=1777";  // SandboxPlan::fresh_tmpfs_options
  BindStep* binds = nullptr;
  const char* const* read_only_again = nullptr;
  std::size_t read_only_again_count = 0;
  const char* const* hide_last = nullptr;  // SandboxPlan::hide_last
  std::size_t hide_last_count = 0;
  std::size_t bind_count = 0;
  const char* workdir = nullptr;
  // Hardening::strict: the new root (StrictRoot); null mount point without it.
  const char* root_mount_point = nullptr;
  const char* old_root = nullptr;
  RootStepC* root_steps = nullptr;
  std::size_t root_step_count = 0;
  char* const* init_argv = nullptr;
  void* second_stack_top = nullptr;  // for the init, then for pihost (after the init's exec)
  CloneFunction clone = nullptr;
};

// Everything the child needs, prepared by the parent: between clone and exec the child
// shares the parent's memory and may neither allocate nor take a lock, so it only reads this
// and makes raw system calls. It reports a failure by writing `error` and `step` here.
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  const char* workdir = nullptr;
  const int* cgroup_procs = nullptr;
  std::size_t cgroup_procs_count = 0;
  const ResourceLimit* rlimits = nullptr;
  std::size_t rlimits_count = 0;
  const cpu_set_t* affinity = nullptr;
  bool new_network = false;
  bool new_user = false;
  const char* uid_map = nullptr;
  const char* gid_map = nullptr;
  const sock_fprog* seccomp = nullptr;    // null: no filter
  const SandboxSteps* sandbox = nullptr;  // null: pihost is the cloned child itself
  int error = 0;
  const char* step = nullptr;
  const char* subject = nullptr;  // the path the failed step was about, if any
  bool sandbox_step = false;      // the failed step was one of the sandbox's
  pid_t worker_pid = 0;           // sandbox: pihost, the host's child (0 until it exists)
  pid_t init_pid = 0;             // sandbox: the PID namespace's init, the host's child too
};

// The kernel's own sigaction layout, for rt_sigaction without libc (or a sanitizer's
// interceptor) in between.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  std::uint64_t mask;
};

__attribute__((no_sanitize("address", "undefined", "thread"))) [[noreturn]] void child_fail(
    ChildPlan* plan, const char* step) {
  plan->error = errno;
  plan->step = step;
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

__attribute__((no_sanitize("address", "undefined", "thread"))) [[noreturn]] void sandbox_fail(
    ChildPlan* plan, const char* step) {
  plan->sandbox_step = true;
  child_fail(plan, step);
}

__attribute__((no_sanitize("address", "undefined", "thread"))) [[noreturn]] void sandbox_fail_at(
    ChildPlan* plan, const char* step, const char* subject) {
  plan->subject = subject;
  sandbox_fail(plan, step);
}

// Where the strict profile's pivot_root put the host's root, as the new root names it.
constexpr const char old_root_inside[] = "/.old-root";

// Writes `text` to the /proc file `path` of the calling process.
__attribute__((no_sanitize("address", "undefined", "thread"))) bool write_proc(const char* path,
                                                                               const char* text) {
  const long fd = ::syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::size_t length = 0;
  while (text[length] != '\0') ++length;
  const bool written = ::syscall(SYS_write, fd, text, length) == static_cast<long>(length);
  ::syscall(SYS_close, fd);
  return written;
}

__attribute__((no_sanitize("address", "undefined", "thread"))) bool move_fd(int from, int to) {
  if (from == to) return ::syscall(SYS_fcntl, to, F_SETFD, 0) == 0;  // keep it across exec
  return ::syscall(SYS_dup3, from, to, 0) == to;
}

char* const no_environment[] = {nullptr};

// The PID namespace's init (PID 1), sharing the helper's memory until its exec: it gives the
// namespace its own /proc, then becomes `pihost --pid-namespace-init`.
__attribute__((no_sanitize("address", "undefined", "thread"))) int init_main(void* argument) {
  auto* plan = static_cast<ChildPlan*>(argument);
  if (::syscall(SYS_mount, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    sandbox_fail(plan, "mount its own /proc");
  }
  // The strict profile kept the host's old root until now: the kernel lets a user namespace
  // mount a proc only while one is in its view.
  if (plan->sandbox->old_root != nullptr && ::syscall(SYS_umount2, old_root_inside, MNT_DETACH) != 0) {
    sandbox_fail(plan, "detach the host's root from its own");
  }
  ::syscall(SYS_execve, plan->path, plan->sandbox->init_argv, no_environment);
  child_fail(plan, "exec its PID namespace's init");
}

// pihost, PID 2 of the namespace and the host's own child (CLONE_PARENT).
__attribute__((no_sanitize("address", "undefined", "thread"))) int worker_main(void* argument) {
  auto* plan = static_cast<ChildPlan*>(argument);
  // Its own session and process group: the host signals the group by pihost's pid.
  if (::syscall(SYS_setsid) < 0) child_fail(plan, "setsid");
  if (plan->seccomp != nullptr &&
      ::syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan->seccomp, 0UL, 0UL) != 0) {
    child_fail(plan, "install its seccomp filter");
  }
  ::syscall(SYS_execve, plan->path, plan->argv, plan->envp);
  child_fail(plan, "exec");
}

__attribute__((no_sanitize("address", "undefined", "thread"))) bool make_directory(const char* path) {
  return ::syscall(SYS_mkdirat, AT_FDCWD, path, 0755) == 0 || errno == EEXIST;
}

#if !defined(OPEN_TREE_CLONE)
#define OPEN_TREE_CLONE 1
#endif
#if !defined(MOVE_MOUNT_F_EMPTY_PATH)
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

// The default sandbox's filesystem: the host's, read-only, with the cgroup filesystems
// hidden, fresh tmpfs where planned, and the writable paths put back writable.
__attribute__((no_sanitize("address", "undefined", "thread"))) void make_host_files_read_only(
    ChildPlan* plan) {
  const SandboxSteps& box = *plan->sandbox;
  // The writable paths, taken as detached copies of their mounts before the mounts below
  // make them read-only or cover them; put back in place last.
  for (std::size_t i = 0; i < box.bind_count; ++i) {
    BindStep& bind = box.binds[i];
    bind.tree = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, bind.path, OPEN_TREE_CLONE | O_CLOEXEC));
    if (bind.tree < 0) sandbox_fail_at(plan, "take a writable path (open_tree, Linux 5.2)", bind.path);
  }
  mount_attr read_only{};
  read_only.attr_set = MOUNT_ATTR_RDONLY;
  if (::syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &read_only, sizeof(read_only)) != 0) {
    sandbox_fail(plan, "make the host's files read-only (mount_setattr, Linux 5.12)");
  }
  for (std::size_t i = 0; i < box.hide_count; ++i) {
    if (::syscall(SYS_mount, "isolator-hidden", box.hide[i], "tmpfs",
                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") != 0) {
      sandbox_fail(plan, "hide the cgroup filesystem");
    }
  }
  for (std::size_t i = 0; i < box.fresh_count; ++i) {
    if (::syscall(SYS_mount, "isolator-tmp", box.fresh[i], "tmpfs", MS_NOSUID | MS_NODEV, box.fresh_options) != 0) {
      sandbox_fail(plan, "mount a private tmpfs");
    }
  }
  for (std::size_t i = 0; i < box.bind_count; ++i) {
    const BindStep& bind = box.binds[i];
    for (std::size_t d = 0; d < bind.make_first_count; ++d) {
      if (!make_directory(bind.make_first[d])) sandbox_fail(plan, "make a mount point for a writable path");
    }
    if (!bind.directory) {
      const long file = ::syscall(SYS_openat, AT_FDCWD, bind.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (file < 0) sandbox_fail(plan, "make a mount point for a writable file");
      ::syscall(SYS_close, file);
    }
    if (::syscall(SYS_move_mount, bind.tree, "", AT_FDCWD, bind.path, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      sandbox_fail(plan, "put a writable path back in place");
    }
    ::syscall(SYS_close, bind.tree);
  }
  for (std::size_t i = 0; i < box.read_only_again_count; ++i) {
    const char* path = box.read_only_again[i];
    if (::syscall(SYS_mount, path, path, nullptr, MS_BIND, nullptr) != 0 ||
        ::syscall(SYS_mount_setattr, AT_FDCWD, path, 0U, &read_only, sizeof(read_only)) != 0) {
      sandbox_fail(plan, "make pihost's directory read-only again");
    }
  }
  for (std::size_t i = 0; i < box.hide_last_count; ++i) {
    if (::syscall(SYS_mount, "isolator-hidden", box.hide_last[i], "tmpfs",
                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555") != 0) {
      sandbox_fail_at(plan, "hide isolatorctl's records", box.hide_last[i]);
    }
  }
}

// Hardening::strict: builds the new root on a tmpfs over the mount point (StrictRoot) and
// makes it the root. The binds are taken first, while every source is still in view.
__attribute__((no_sanitize("address", "undefined", "thread"))) void enter_strict_root(ChildPlan* plan) {
  const SandboxSteps& box = *plan->sandbox;
  mount_attr read_only{};
  read_only.attr_set = MOUNT_ATTR_RDONLY;
  for (std::size_t i = 0; i < box.root_step_count; ++i) {
    RootStepC& step = box.root_steps[i];
    if (step.kind != RootStep::Kind::bind) continue;
    step.tree = static_cast<int>(
        ::syscall(SYS_open_tree, AT_FDCWD, step.source, OPEN_TREE_CLONE | AT_RECURSIVE | O_CLOEXEC));
    if (step.tree < 0) sandbox_fail_at(plan, "take a path it is shown (open_tree, Linux 5.2)", step.source);
    if (!step.writable && ::syscall(SYS_mount_setattr, step.tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
                                    &read_only, sizeof(read_only)) != 0) {
      sandbox_fail_at(plan, "make a path it is shown read-only (mount_setattr, Linux 5.12)", step.source);
    }
  }
  if (::syscall(SYS_mount, "isolator-root", box.root_mount_point, "tmpfs", MS_NOSUID | MS_NODEV,
                "mode=0755,size=64k") != 0) {
    sandbox_fail(plan, "mount the tmpfs of its own root");
  }
  for (std::size_t i = 0; i < box.root_step_count; ++i) {
    RootStepC& step = box.root_steps[i];
    switch (step.kind) {
      case RootStep::Kind::directory:
        if (!make_directory(step.target)) sandbox_fail_at(plan, "make a directory of its root", step.target);
        break;
      case RootStep::Kind::file: {
        // O_CREAT without write access: an existing file (inside a bind) is fine as it is.
        const long file = ::syscall(SYS_openat, AT_FDCWD, step.target, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
        if (file < 0) sandbox_fail_at(plan, "make a mount point for a file of its root", step.target);
        ::syscall(SYS_close, file);
        break;
      }
      case RootStep::Kind::symlink:
        if (::syscall(SYS_symlinkat, step.source, AT_FDCWD, step.target) != 0)
          sandbox_fail_at(plan, "make a link of its root", step.target);
        break;
      case RootStep::Kind::tmpfs:
        if (::syscall(SYS_mount, "isolator-tmp", step.target, "tmpfs", MS_NOSUID | MS_NODEV, step.source) !=
            0)
          sandbox_fail_at(plan, "mount a private tmpfs", step.target);
        break;
      case RootStep::Kind::bind:
        if (::syscall(SYS_move_mount, step.tree, "", AT_FDCWD, step.target, MOVE_MOUNT_F_EMPTY_PATH) != 0)
          sandbox_fail_at(plan, "show a path in its root (move_mount)", step.source);
        ::syscall(SYS_close, step.tree);
        step.tree = -1;
        break;
    }
  }
  if (::syscall(SYS_mount_setattr, AT_FDCWD, box.root_mount_point, 0U, &read_only, sizeof(read_only)) != 0) {
    sandbox_fail(plan, "make its own root read-only");
  }
  if (::syscall(SYS_pivot_root, box.root_mount_point, box.old_root) != 0)
    sandbox_fail(plan, "enter its own root (pivot_root)");
  if (::syscall(SYS_chdir, "/") != 0) sandbox_fail(plan, "enter its own root");
}

// The sandboxed spawn, after the common steps (cgroups, rlimits, stdio, working directory,
// no_new_privs): namespaces, mounts, capabilities, then the init and pihost. Exits when
// pihost has exec'ed, which releases the host's thread.
__attribute__((no_sanitize("address", "undefined", "thread"))) [[noreturn]] void sandbox_main(
    ChildPlan* plan) {
  const SandboxSteps& box = *plan->sandbox;
  if (box.switch_user) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) sandbox_fail(plan, "drop its supplementary groups");
    if (::syscall(SYS_setresgid, box.gid, box.gid, box.gid) != 0)
      sandbox_fail(plan, "become the sandbox group");
    if (::syscall(SYS_setresuid, box.uid, box.uid, box.uid) != 0)
      sandbox_fail(plan, "become the sandbox user");
    // The change of user made it undumpable, which would leave its /proc files root's.
    ::syscall(SYS_prctl, PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
  }
  if (::syscall(SYS_unshare, CLONE_NEWUSER) != 0) sandbox_fail(plan, "enter a user namespace");
  if (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", box.uid_map) ||
      !write_proc("/proc/self/gid_map", box.gid_map)) {
    sandbox_fail(plan, "map its user in its user namespace");
  }
  if (::syscall(SYS_unshare, box.namespaces) != 0)
    sandbox_fail(plan, "enter its own mount, PID, IPC and cgroup namespaces");
  if (::syscall(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    sandbox_fail(plan, "make its mounts private");
  }
  if (box.root_mount_point != nullptr) {
    enter_strict_root(plan);
  } else {
    make_host_files_read_only(plan);
  }
  if (::syscall(SYS_chdir, box.workdir) != 0)
    sandbox_fail(plan, "enter its working directory in the sandbox");
  // What exec could give back: nothing. (Exec as a non-root user of the namespace already
  // leaves the permitted and effective sets empty.)
  for (unsigned long capability = 0; capability < 64; ++capability) {
    if (::syscall(SYS_prctl, PR_CAPBSET_DROP, capability, 0UL, 0UL, 0UL) != 0 && errno == EINVAL) break;
  }
  ::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) child_fail(plan, "close inherited descriptors");
  const std::uint64_t no_signals = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, nullptr, sizeof(no_signals));

  // The first process of the new PID namespace is its init; it shares this memory (and the
  // second stack) until its exec, for which this helper waits (CLONE_VFORK).
  // Like pihost below, it is the host thread's child (CLONE_PARENT), which reaps it: it never
  // becomes a zombie of whatever process would adopt it once this helper is gone.
  const int init = box.clone(init_main, box.second_stack_top, CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD,
                             plan);
  if (init < 0) sandbox_fail(plan, "start its PID namespace's init");
  plan->init_pid = init;
  if (plan->step != nullptr) ::syscall(SYS_exit_group, 127);
  // pihost: the host thread's child, not this helper's, so the host reads its status.
  const int worker = box.clone(worker_main, box.second_stack_top,
                               CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, plan);
  if (worker < 0) {
    ::syscall(SYS_kill, init, SIGKILL);
    // ENOMEM: the namespace's init has already exited (a pihost of another build, which does
    // not know --pid-namespace-init, exits at once).
    child_fail(plan, errno == ENOMEM ? "start pihost, because its PID namespace's init (pihost "
                                       "--pid-namespace-init) had already exited (is pihost from this build?)"
                                     : "start pihost");
  }
  plan->worker_pid = worker;
  if (plan->step != nullptr) {
    ::syscall(SYS_kill, init, SIGKILL);
    ::syscall(SYS_exit_group, 127);
  }
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

// Runs in the child, on its own small stack, until execve. It shares the host's memory, so
// no sanitizer may instrument it: their bookkeeping would run in the wrong process.
__attribute__((no_sanitize("address", "undefined", "thread"))) int child_main(void* argument) {
  auto* plan = static_cast<ChildPlan*>(argument);
  // Default dispositions for every signal: a handler of the host must never run here.
  KernelSigaction default_action{SIG_DFL, 0, nullptr, 0};
  for (int signal = 1; signal < 65; ++signal) {
    ::syscall(SYS_rt_sigaction, signal, &default_action, nullptr, sizeof(std::uint64_t));
  }
  if (::syscall(SYS_setsid) < 0) child_fail(plan, "setsid");
  // Into the cgroups before anything else of the child runs.
  for (std::size_t i = 0; i < plan->cgroup_procs_count; ++i) {
    if (::syscall(SYS_write, plan->cgroup_procs[i], "0", 1) != 1) {
      child_fail(plan, "join its cgroup");
    }
  }
  for (std::size_t i = 0; i < plan->rlimits_count; ++i) {
    const rlimit limit{plan->rlimits[i].value, plan->rlimits[i].value};
    if (::syscall(SYS_prlimit64, 0, plan->rlimits[i].resource, &limit, nullptr) != 0) {
      child_fail(plan, "set its rlimits");
    }
  }
  if (plan->affinity != nullptr &&
      ::syscall(SYS_sched_setaffinity, 0, sizeof(cpu_set_t), plan->affinity) != 0) {
    child_fail(plan, "set its CPU affinity");
  }
  if (!move_fd(plan->stdin_fd, 0) || !move_fd(plan->stdout_fd, 1) || !move_fd(plan->stderr_fd, 2)) {
    child_fail(plan, "set up its stdio");
  }
  if (::syscall(SYS_chdir, plan->workdir) != 0) child_fail(plan, "enter its working directory");
  // A fixed file mode mask, not whatever the host had; and no privileges gained through exec
  // (setuid or file-capability binaries a plugin might run).
  ::syscall(SYS_umask, 022);
  if (::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0)
    child_fail(plan, "set no_new_privs");
  if (plan->sandbox != nullptr) sandbox_main(plan);
  if (plan->new_user) {
    if (::syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNET) != 0)
      child_fail(plan, "enter new user and network namespaces");
    if (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", plan->uid_map) ||
        !write_proc("/proc/self/gid_map", plan->gid_map)) {
      child_fail(plan, "map its user in its user namespace");
    }
  } else if (plan->new_network && ::syscall(SYS_unshare, CLONE_NEWNET) != 0) {
    child_fail(plan, "enter a new network namespace");
  }
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) child_fail(plan, "close inherited descriptors");
  const std::uint64_t no_signals = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, nullptr, sizeof(no_signals));
  // Last: from here on the denied calls fail, for pihost and everything it runs.
  if (plan->seccomp != nullptr &&
      ::syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan->seccomp, 0UL, 0UL) != 0) {
    child_fail(plan, "install its seccomp filter");
  }
  ::syscall(SYS_execve, plan->path, plan->argv, plan->envp);
  child_fail(plan, "exec");
}

// Errors that say the process or the system is short of something for a moment, not that a
// kind of step cannot be made here.
bool ran_out_of_resources(int error) { return out_of_descriptors(error) || error == ENOMEM || error == EAGAIN; }

std::string spawn_problem(const std::filesystem::path& executable, const std::string& what, int error) {
  return "cannot start " + executable.string() + ": " + what + ": " + std::strerror(error) +
         out_of_descriptors_hint(error);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe(const std::filesystem::path& executable) {
  int fds[2];
  // Close-on-exec, so another thread's concurrent spawn never inherits them.
  if (::pipe2(fds, O_CLOEXEC) != 0) throw StartError(spawn_problem(executable, "pipe", errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Blocks every signal in the calling thread for its lifetime, so that no handler runs in the
// child while it shares this thread's stack and memory.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t previous_{};
};

// glibc's clone(). ThreadSanitizer intercepts clone() and, for a clone without
// CLONE_THREAD, runs its fork bookkeeping in the child; with CLONE_VM that child shares the
// host's memory, so the bookkeeping corrupts the parent's own (TSan then misses every
// happens-before of the spawning thread, e.g. its join). Under TSan, glibc's clone is
// called directly: the child runs no instrumented code, so TSan need not know about it.
CloneFunction libc_clone() {
#if defined(__SANITIZE_THREAD__)
  static const auto function = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void* symbol = libc != nullptr ? ::dlsym(libc, "clone") : nullptr;
    return symbol != nullptr ? reinterpret_cast<CloneFunction>(symbol) : &::clone;
  }();
  return function;
#else
  return &::clone;
#endif
}

class ChildStack {
 public:
  ChildStack()
      : base_(::mmap(nullptr, child_stack_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {}
  ~ChildStack() {
    if (base_ != MAP_FAILED) ::munmap(base_, child_stack_bytes);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + child_stack_bytes; }

 private:
  void* base_;
};

}  // namespace

SpawnedProcess spawn_process(const SpawnRequest& request) {
  const auto& exe = request.executable;
  Pipe out = make_pipe(exe);
  Pipe err = make_pipe(exe);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) throw StartError(spawn_problem(exe, "open /dev/null", errno));

  std::vector<std::string> argv_strings{exe.string()};
  argv_strings.insert(argv_strings.end(), request.args.begin(), request.args.end());
  std::vector<std::string> env_strings = request.environment;
  const auto argv = pointers(argv_strings);
  const auto envp = pointers(env_strings);
  const std::string path = exe.string();
  const std::string workdir = request.working_directory.string();

  ChildPlan plan;
  plan.path = path.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.stdin_fd = null.get();
  plan.stdout_fd = out.write.get();
  plan.stderr_fd = err.write.get();
  plan.workdir = workdir.c_str();
  plan.cgroup_procs = request.cgroup_procs.data();
  plan.cgroup_procs_count = request.cgroup_procs.size();
  plan.rlimits = request.rlimits.data();
  plan.rlimits_count = request.rlimits.size();
  plan.affinity = request.affinity ? &*request.affinity : nullptr;
  const auto& hardening = request.hardening;
  plan.new_network = hardening.new_network;
  plan.new_user = hardening.new_user;
  plan.uid_map = hardening.uid_map.c_str();
  plan.gid_map = hardening.gid_map.c_str();
  sock_fprog seccomp{static_cast<unsigned short>(hardening.seccomp.size()),
                     const_cast<sock_filter*>(hardening.seccomp.data())};
  if (!hardening.seccomp.empty()) plan.seccomp = &seccomp;

  // The sandbox's steps, as C strings that live until the spawn returns.
  SandboxSteps box;
  std::vector<const char*> hide;
  std::vector<const char*> hide_last;
  std::vector<const char*> fresh;
  std::vector<const char*> read_only_again;
  std::vector<std::vector<const char*>> make_first;
  std::vector<BindStep> binds;
  std::vector<RootStepC> root_steps;
  std::vector<std::string> init_argv_strings;
  std::vector<char*> init_argv;
  std::optional<ChildStack> second_stack;
  if (request.sandbox != nullptr) {
    const SandboxPlan& sandbox = *request.sandbox;
    if (!second_stack.emplace().ok()) throw StartError(spawn_problem(exe, "mmap a stack", errno));
    box.switch_user = sandbox.switch_uid.has_value();
    box.uid = sandbox.switch_uid.value_or(0);
    box.gid = sandbox.switch_gid.value_or(0);
    box.uid_map = sandbox.uid_map.c_str();
    box.gid_map = sandbox.gid_map.c_str();
    box.namespaces = sandbox.namespaces;
    for (const auto& point : sandbox.hide) hide.push_back(point.c_str());
    for (const auto& point : sandbox.fresh_tmpfs) fresh.push_back(point.c_str());
    for (const auto& bind : sandbox.writable) {
      auto& directories = make_first.emplace_back();
      for (const auto& directory : bind.make_first) directories.push_back(directory.c_str());
    }
    for (std::size_t i = 0; i < sandbox.writable.size(); ++i) {
      const auto& bind = sandbox.writable[i];
      binds.push_back(
          BindStep{bind.path.c_str(), bind.directory, make_first[i].data(), make_first[i].size()});
    }
    for (const auto& point : sandbox.hide_last) hide_last.push_back(point.c_str());
    box.hide = hide.data();
    box.hide_count = hide.size();
    box.hide_last = hide_last.data();
    box.hide_last_count = hide_last.size();
    box.fresh = fresh.data();
    box.fresh_count = fresh.size();
    box.fresh_options = sandbox.fresh_tmpfs_options.c_str();
    box.binds = binds.data();
    box.bind_count = binds.size();
    for (const auto& point : sandbox.read_only_again) read_only_again.push_back(point.c_str());
    box.read_only_again = read_only_again.data();
    box.read_only_again_count = read_only_again.size();
    box.workdir = sandbox.workdir.c_str();
    if (sandbox.root.enabled) {
      for (const auto& step : sandbox.root.steps) {
        root_steps.push_back(RootStepC{step.kind, step.target.c_str(), step.source.c_str(), step.writable});
      }
      box.root_mount_point = sandbox.root.mount_point.c_str();
      box.old_root = sandbox.root.old_root.c_str();
      box.root_steps = root_steps.data();
      box.root_step_count = root_steps.size();
    }
    init_argv_strings = {exe.string(), std::string(wire::flag_pid_namespace_init)};
    init_argv = pointers(init_argv_strings);
    box.init_argv = init_argv.data();
    box.second_stack_top = second_stack->top();
    box.clone = libc_clone();
    plan.sandbox = &box;
  }

  ChildStack stack;
  if (!stack.ok()) throw StartError(spawn_problem(exe, "mmap a stack", errno));
  int pidfd = -1;
  pid_t pid = -1;
  int clone_error = 0;
  {
    AllSignalsBlocked blocked;
    // CLONE_VM|CLONE_VFORK: no copy of the host's page tables (a large host spawns as fast
    // as a small one), and this thread waits until the child has exec'ed or died.
    pid = libc_clone()(child_main, stack.top(), CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan,
                       &pidfd);
    clone_error = errno;
  }
  if (pid < 0) throw StartError(spawn_problem(exe, "clone", clone_error));
  UniqueFd owned_pidfd(pidfd);
  if (plan.step != nullptr) {
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED);      // our child: reap it
    if (plan.worker_pid > 0) ::waitpid(plan.worker_pid, nullptr, 0);  // ours too, and dead
    if (plan.init_pid > 0) {  // ours too; killed by the helper, or exits for want of pihost
      ::kill(plan.init_pid, SIGKILL);
      ::waitpid(plan.init_pid, nullptr, 0);
    }
    const std::string problem = spawn_problem(
        exe,
        std::string("the child could not ") + plan.step +
            (plan.subject != nullptr ? std::string(" (") + plan.subject + ")" : std::string()),
        plan.error);
    // A step of the sandbox that ran out of a resource (descriptors, memory, processes) says
    // nothing about what the machine provides: the start fails, and the next one makes the
    // sandbox again. Were it taken for "cannot be made here", the isolator would run its
    // plugins without the sandbox from then on.
    if (plan.sandbox_step && !ran_out_of_resources(plan.error)) throw SandboxSetupError(problem);
    throw StartError(problem);
  }
  if (plan.sandbox == nullptr) {
    return SpawnedProcess{pid, std::move(owned_pidfd), std::move(out.read), std::move(err.read), UniqueFd{}};
  }
  // The helper has exited (it released this thread by exiting, not by exec): reap it, and
  // take pihost, our own child, whose pid no other process can reap or reuse.
  siginfo_t helper{};
  ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &helper, WEXITED);
  UniqueFd worker_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, plan.worker_pid, 0)));
  UniqueFd init_pidfd(static_cast<int>(::syscall(SYS_pidfd_open, plan.init_pid, 0)));
  if (!worker_pidfd || !init_pidfd) {
    const int error = errno;
    for (const pid_t ours : {plan.worker_pid, plan.init_pid}) {
      ::kill(ours, SIGKILL);
      ::waitpid(ours, nullptr, 0);
    }
    throw StartError(spawn_problem(exe, "pidfd_open of pihost or its init", error));
  }
  SpawnedProcess spawned{plan.worker_pid, std::move(worker_pidfd), std::move(out.read), std::move(err.read),
                         UniqueFd{}};
  spawned.init_pidfd = std::move(init_pidfd);
  return spawned;
}

void reap_init(UniqueFd& init_pidfd) {
  if (!init_pidfd) return;
  ::syscall(SYS_pidfd_send_signal, init_pidfd.get(), SIGKILL, nullptr, 0);
  siginfo_t info{};
  ::waitid(P_PIDFD, static_cast<id_t>(init_pidfd.get()), &info, WEXITED);
  init_pidfd.reset();
}

}  // namespace isolator::detail
