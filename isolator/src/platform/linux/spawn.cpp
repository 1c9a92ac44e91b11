#include "spawn.hpp"

#include "platform/child_process.hpp"

#include <isolator/errors.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include <csignal>
#include <cstring>
#include <pthread.h>

namespace isolator::detail {
namespace {

constexpr std::size_t child_stack_bytes = 64 * 1024;

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
  const sock_fprog* seccomp = nullptr;  // null: no filter
  int error = 0;
  const char* step = nullptr;
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
using CloneFunction = int (*)(int (*)(void*), void*, int, void*, ...);
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
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED);  // our child: reap it
    throw StartError(spawn_problem(exe, std::string("the child could not ") + plan.step, plan.error));
  }
  return SpawnedProcess{pid, std::move(owned_pidfd), std::move(out.read), std::move(err.read)};
}

}  // namespace isolator::detail
