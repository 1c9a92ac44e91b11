#include "program_runner.hpp"

#include "call_runner.hpp"
#include "host_watch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace pihost {

namespace wire = isolator::wire;
using wire::Failed;
using wire::FailureReason;

namespace {

// A descriptor that closes itself.
struct Descriptor {
  int fd = -1;
  Descriptor() = default;
  explicit Descriptor(int d) : fd(d) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::string error_text(const std::string& what, int error) { return what + ": " + std::strerror(error); }

// The program's stdin: its input bytes in a memory file (a regular file, read from its start,
// so no thread has to feed a pipe and a program may seek it), or /dev/null.
int stdin_for(const std::string& input, std::string& error) {
  if (input.empty()) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int failure = errno;
      error = error_text("open /dev/null for the program's stdin", failure);
    }
    return fd;
  }
  const int fd = ::memfd_create("isolator-stdin", MFD_CLOEXEC);
  if (fd < 0) {
    const int failure = errno;
    error = error_text("memfd_create for the program's stdin", failure);
    return -1;
  }
  std::size_t done = 0;
  while (done < input.size()) {
    const ssize_t n = ::write(fd, input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int failure = n < 0 ? errno : ENOSPC;
      error = error_text("writing the program's stdin (" + std::to_string(input.size()) + " bytes)", failure);
      ::close(fd);
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

// pihost's environment with `overrides` ("NAME=value") set over it.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> entries;
  for (char** e = environ; *e != nullptr; ++e) entries.emplace_back(*e);
  for (const auto& entry : overrides) {
    const auto name_end = entry.find('=');
    const std::string_view name(entry.data(), name_end == std::string::npos ? entry.size() : name_end + 1);
    bool replaced = false;
    for (auto& existing : entries) {
      if (std::string_view(existing).substr(0, name.size()) == name) {
        existing = entry;
        replaced = true;
        break;
      }
    }
    if (!replaced) entries.push_back(entry);
  }
  return entries;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string signal_text(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name != nullptr ? "SIG" + std::string(name) : "signal " + std::to_string(signal);
}

// What the keeper reported: its lines as they come.
class Report {
 public:
  explicit Report(int fd) : fd_(fd) {}
  /// The next line, without its newline; empty at end-of-file (the keeper is gone).
  std::string next_line() {
    while (true) {
      if (const auto end = buffered_.find('\n'); end != std::string::npos) {
        std::string line = buffered_.substr(0, end);
        buffered_.erase(0, end + 1);
        return line;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return {};
      buffered_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffered_;
};

}  // namespace

void ProgramRunner::run(wire::Run& run) {
  try {
    execute(run);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pihost: cannot complete call %llu: %s\n", static_cast<unsigned long long>(run.id),
                 e.what());
    leave(wire::exit_internal_error);
  }
}

void ProgramRunner::execute(wire::Run& run) {
  std::fflush(nullptr);
  const std::size_t frame = channel_.max_frame_bytes();
  const std::string program = run.argv.empty() ? std::string() : run.argv.front();
  const auto refuse = [&](FailureReason reason, std::string message) {
    channel_.send(Failed{run.id, reason, bounded_message(std::move(message), frame), {}, {}, 0});
  };
  if (run.argv.empty()) {
    refuse(FailureReason::program_not_found, "the command has no argv[0]");
    return;
  }
  if (!run.directory.empty()) {
    struct stat st {};
    const bool found = ::stat(run.directory.c_str(), &st) == 0;
    const int error = found ? 0 : errno;
    const bool enterable = found && S_ISDIR(st.st_mode) && ::access(run.directory.c_str(), X_OK) == 0;
    if (!enterable) {
      const std::string why = !found                   ? std::string(std::strerror(error))
                              : !S_ISDIR(st.st_mode) ? std::string("it is not a directory")
                                                     : std::string("this user may not enter it (no search permission)");
      refuse(FailureReason::program_start_failed,
             "the working directory '" + run.directory + "' for '" + program + "' cannot be used: " + why +
                 " (the child sees the host's files read-only, as its own user, and a sandbox may hide some)");
      return;
    }
  }
  std::string error;
  Descriptor input(stdin_for(run.input, error));
  run.input.clear();
  run.input.shrink_to_fit();
  if (input.fd < 0) {
    refuse(FailureReason::program_start_failed, error);
    return;
  }
  int pipe_ends[2];
  if (::pipe2(pipe_ends, O_CLOEXEC) != 0) {
    const int failure = errno;
    refuse(FailureReason::program_start_failed, error_text("pipe2 for the program's keeper", failure));
    return;
  }
  Descriptor report_read(pipe_ends[0]);
  Descriptor report_write(pipe_ends[1]);

  // The program's environment travels on the keeper's command line: the keeper itself runs
  // with pihost's (program_keeper.hpp).
  auto environment = environment_with(run.environment);
  std::vector<std::string> keeper_args{"pihost", std::string(wire::flag_keep_program), std::to_string(::getpid()),
                                       std::to_string(run.cpu_limit_ms), std::to_string(environment.size())};
  for (auto& entry : environment) keeper_args.push_back(std::move(entry));
  keeper_args.emplace_back("--");
  for (auto& arg : run.argv) keeper_args.push_back(std::move(arg));
  auto keeper_argv = pointers(keeper_args);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, report_write.fd, 3);
  if (!run.directory.empty()) posix_spawn_file_actions_addchdir_np(&actions, run.directory.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);  // pihost blocks its host-gone signal
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const auto began = std::chrono::steady_clock::now();
  pid_t keeper = 0;
  const int spawned =
      ::posix_spawn(&keeper, "/proc/self/exe", &actions, &attributes, keeper_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  report_write.reset();
  input.reset();
  if (spawned != 0) {
    refuse(FailureReason::program_start_failed,
           error_text("pihost could not start a process for '" + program +
                          "' (posix_spawn of /proc/self/exe; a process limit, Limits::max_pids?)",
                      spawned));
    return;
  }

  Report report(report_read.fd);
  std::string line = report.next_line();
  if (line == "started") {
    channel_.send(wire::Started{run.id});
    line = report.next_line();
  }
  int keeper_status = 0;
  while (::waitpid(keeper, &keeper_status, 0) < 0 && errno == EINTR) {
  }
  wire::Usage usage;
  usage.wall_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began)
                      .count();
  std::fflush(nullptr);

  std::istringstream fields(line);
  std::string word;
  fields >> word;
  std::string rest;
  std::getline(fields >> std::ws, rest);
  if (word == "exited" || word == "signalled") {
    std::istringstream numbers(rest);
    int value = 0;
    numbers >> value >> usage.cpu_user_us >> usage.cpu_sys_us >> usage.peak_rss_bytes;
    if (word == "exited") {
      channel_.send(wire::Result{run.id, value, usage, std::nullopt});
      return;
    }
    const std::int64_t cpu_us = usage.cpu_user_us + usage.cpu_sys_us;
    const std::int64_t limit_us = static_cast<std::int64_t>((run.cpu_limit_ms + 999) / 1000) * 1'000'000;
    if (run.cpu_limit_ms > 0 && (value == SIGXCPU || (value == SIGKILL && cpu_us >= limit_us))) {
      channel_.send(Failed{run.id, FailureReason::program_cpu_limit,
                           bounded_message("'" + program + "' used " + std::to_string(cpu_us / 1000) +
                                               " ms of CPU time, past its limit (RLIMIT_CPU of " +
                                               std::to_string(limit_us / 1'000'000) + " s, from " +
                                               std::to_string(run.cpu_limit_ms) + " ms), and was killed by " +
                                               signal_text(value),
                                           frame),
                           usage, {}, value});
      return;
    }
    channel_.send(Failed{run.id, FailureReason::program_signalled,
                         bounded_message("'" + program + "' was killed by " + signal_text(value), frame), usage, {},
                         value});
    return;
  }
  if (word == "not_found") {
    refuse(FailureReason::program_not_found, rest);
  } else if (word == "not_executable") {
    refuse(FailureReason::not_executable, rest);
  } else if (word == "failed") {
    refuse(FailureReason::program_start_failed, "the keeper of '" + program + "' failed: " + rest);
  } else if (WIFSIGNALED(keeper_status)) {
    // The keeper itself was killed (the OOM killer, or a process of the user's): so was the
    // program (its death signal). What the program started is reparented to pihost, the
    // next subreaper, and goes with the box (docs/programs.md, "What it does not cover").
    const int signal = WTERMSIG(keeper_status);
    channel_.send(Failed{run.id, FailureReason::program_signalled,
                         bounded_message("'" + program + "' ended with its keeper, which was killed by " +
                                             signal_text(signal),
                                         frame),
                         usage, {}, signal});
  } else {
    refuse(FailureReason::program_start_failed,
           "the keeper of '" + program + "' (pihost --keep-program) exited with code " +
               std::to_string(WEXITSTATUS(keeper_status)) +
               " without saying how the program did; pihost's stderr (Options::on_output) says why");
  }
}

}  // namespace pihost
