#include "spawn.hpp"

#include <isolator/errors.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace isolator::detail {
namespace {

std::string spawn_problem(const std::filesystem::path& executable, int error) {
  return "cannot start " + executable.string() + ": " + std::strerror(error);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe(const std::filesystem::path& executable) {
  int fds[2];
  // Close-on-exec, so another thread's concurrent spawn never inherits them.
  if (::pipe2(fds, O_CLOEXEC) != 0) throw StartError(spawn_problem(executable, errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// posix_spawn's attribute and file-action objects, destroyed on every path out.
struct SpawnPlan {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attributes{};
  SpawnPlan() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnPlan() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnPlan(const SpawnPlan&) = delete;
  SpawnPlan& operator=(const SpawnPlan&) = delete;
};

// Every posix_spawn_* setup call returns an errno value; any failure aborts the spawn.
void check(int error, const std::filesystem::path& executable) {
  if (error != 0) throw StartError(spawn_problem(executable, error));
}

}  // namespace

SpawnedProcess spawn_process(const SpawnRequest& request) {
  const auto& exe = request.executable;
  Pipe out = make_pipe(exe);
  Pipe err = make_pipe(exe);

  SpawnPlan plan;
  check(posix_spawn_file_actions_addopen(&plan.actions, 0, "/dev/null", O_RDONLY, 0), exe);
  check(posix_spawn_file_actions_adddup2(&plan.actions, out.write.get(), 1), exe);
  check(posix_spawn_file_actions_adddup2(&plan.actions, err.write.get(), 2), exe);
  check(posix_spawn_file_actions_addchdir_np(&plan.actions, request.working_directory.c_str()),
        exe);
  check(posix_spawn_file_actions_addclosefrom_np(&plan.actions, 3), exe);

  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  check(posix_spawnattr_setsigmask(&plan.attributes, &none), exe);
  check(posix_spawnattr_setsigdefault(&plan.attributes, &all), exe);
  check(posix_spawnattr_setflags(&plan.attributes,
                                 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                     POSIX_SPAWN_SETSID),
        exe);

  std::vector<std::string> argv_strings{exe.string()};
  argv_strings.insert(argv_strings.end(), request.args.begin(), request.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = request.environment;
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  check(::posix_spawn(&pid, exe.c_str(), &plan.actions, &plan.attributes, argv.data(),
                      envp.data()),
        exe);
  // The child is ours and not yet reaped, so its pid cannot name anyone else here.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    const int error = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw StartError(std::string("pidfd_open failed (Linux 5.3 or later is required): ") +
                     std::strerror(error));
  }
  return SpawnedProcess{pid, std::move(pidfd), std::move(out.read), std::move(err.read)};
}

}  // namespace isolator::detail
