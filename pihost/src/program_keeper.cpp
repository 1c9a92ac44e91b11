#include "program_keeper.hpp"

#include "host_watch.hpp"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace pihost {
namespace {

constexpr int report_fd = 3;
// What execvp uses when PATH is not set (glibc's confstr(_CS_PATH) is "/bin:/usr/bin"; the
// longer list finds what Debian puts in /usr/local as well).
constexpr const char* default_path = "/usr/local/bin:/usr/bin:/bin";
// The death signal: pihost is gone.
constexpr int parent_gone_signal = SIGTERM;
// How long the keeper goes on killing and reaping what a program left before it reports.
constexpr std::chrono::milliseconds cleanup_bound{5000};

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // pihost is gone: nobody to tell
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// One report line; a message's newlines become spaces (the reader splits on them).
void report(int fd, std::string_view word, std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  write_all(fd, std::string(word) + (message.empty() ? "" : " ") + message + "\n");
}

std::string quoted(std::string_view path) { return "'" + std::string(path) + "'"; }

// The interpreter a file asks for: "#!/x/y" on its first line, or an ELF's PT_INTERP. Empty
// when it names none (or cannot be read).
std::string interpreter_of(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char head[256] = {};
  const ssize_t n = ::pread(fd, head, sizeof(head) - 1, 0);
  std::string found;
  if (n > 2 && head[0] == '#' && head[1] == '!') {
    std::string_view line(head + 2, static_cast<std::size_t>(n - 2));
    line = line.substr(0, line.find('\n'));
    const auto start = line.find_first_not_of(" \t");
    if (start != std::string_view::npos) {
      line.remove_prefix(start);
      found = std::string(line.substr(0, line.find_first_of(" \t")));
    }
  } else if (n >= static_cast<ssize_t>(sizeof(Elf64_Ehdr)) && std::memcmp(head, ELFMAG, SELFMAG) == 0 &&
             head[EI_CLASS] == ELFCLASS64) {
    Elf64_Ehdr header{};
    std::memcpy(&header, head, sizeof(header));
    for (unsigned i = 0; i < header.e_phnum && i < 256; ++i) {
      Elf64_Phdr program{};
      const auto at = static_cast<off_t>(header.e_phoff + std::uint64_t{i} * header.e_phentsize);
      if (::pread(fd, &program, sizeof(program), at) != static_cast<ssize_t>(sizeof(program))) break;
      if (program.p_type != PT_INTERP || program.p_filesz == 0 || program.p_filesz > 4096) continue;
      found.resize(program.p_filesz);
      if (::pread(fd, found.data(), found.size(), static_cast<off_t>(program.p_offset)) !=
          static_cast<ssize_t>(found.size())) {
        found.clear();
      }
      found = found.c_str();  // without the terminating NUL
      break;
    }
  }
  ::close(fd);
  return found;
}

// Why execve(path) failed with `error`, as the report line's word and message.
std::pair<std::string_view, std::string> diagnose(const std::string& path, int error) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (error == ENOENT || error == ENOTDIR) {
    if (!exists) return {"not_found", "there is no file at " + quoted(path)};
    const std::string interpreter = interpreter_of(path);
    if (!interpreter.empty()) {
      return {"not_executable", quoted(path) + " needs the interpreter " + quoted(interpreter) +
                                    ", which is missing here (install it, or run the program with another)"};
    }
    return {"not_executable", "execve(" + quoted(path) + ") failed: " + std::strerror(error)};
  }
  if (error == EACCES) {
    if (exists && S_ISDIR(st.st_mode)) return {"not_executable", quoted(path) + " is a directory"};
    if (exists && !S_ISREG(st.st_mode)) return {"not_executable", quoted(path) + " is not a regular file"};
    if (exists && (st.st_mode & 0111) == 0) {
      char mode[16];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return {"not_executable", quoted(path) + " has no execute permission (mode " + mode +
                                    "; chmod +x it, or run it with its interpreter)"};
    }
    return {"not_executable", "execve(" + quoted(path) +
                                  ") was refused (EACCES): no search permission on a directory on its way, no "
                                  "execute permission for this user, or a filesystem mounted noexec"};
  }
  if (error == ENOEXEC) {
    return {"not_executable", quoted(path) +
                                  " is not a format this machine can run (no #! line and not an ELF executable "
                                  "for this architecture)"};
  }
  return {"not_executable", "execve(" + quoted(path) + ") failed: " + std::strerror(error)};
}

// The value of `name` in `envp`, or null.
const char* variable(char** envp, std::string_view name) {
  for (char** entry = envp; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.size() > name.size() && text.substr(0, name.size()) == name && text[name.size()] == '=') {
      return *entry + name.size() + 1;
    }
  }
  return nullptr;
}

// In the program's process: execs argv[0] with `envp`, looking a bare name up in its PATH as
// execvp does (but without execvp's fallback of running a file of no known format with
// /bin/sh: such a file is not_executable), and when nothing could be exec'ed, returns the
// report line that says why.
std::pair<std::string_view, std::string> exec_program(char** argv, char** envp) {
  const std::string name = argv[0];
  if (name.find('/') != std::string::npos) {
    ::execve(name.c_str(), argv, envp);
    const int error = errno;
    return diagnose(name, error);
  }
  const char* path_variable = variable(envp, "PATH");
  const std::string search = path_variable != nullptr ? path_variable : default_path;
  std::vector<std::string> tried;
  std::string refused;  // the first candidate that exists but was refused (EACCES), as execvp reports it
  std::size_t begin = 0;
  while (begin <= search.size()) {
    std::size_t end = search.find(':', begin);
    if (end == std::string::npos) end = search.size();
    std::string directory = search.substr(begin, end - begin);
    begin = end + 1;
    if (directory.empty()) directory = ".";  // POSIX: an empty entry is the working directory
    const std::string candidate = directory + "/" + name;
    ::execve(candidate.c_str(), argv, envp);
    const int error = errno;
    if (error == EACCES) {
      struct stat st {};
      if (::stat(candidate.c_str(), &st) == 0) {
        if (refused.empty()) refused = candidate;  // a file there, which may not be executed
      } else {
        tried.push_back(directory + " (not searchable by this user)");
      }
      continue;
    }
    if (error != ENOENT && error != ENOTDIR) return diagnose(candidate, error);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0) return diagnose(candidate, error);  // a missing interpreter
    tried.push_back(directory);
  }
  if (!refused.empty()) return diagnose(refused, EACCES);
  std::string message = quoted(name) + " was found in no directory of PATH (looked in";
  for (std::size_t i = 0; i < tried.size(); ++i) message += (i == 0 ? " " : ", ") + tried[i];
  message += path_variable != nullptr ? ")" : std::string(", the default, as PATH is not set)");
  message += "; give its absolute path, or add its directory to PATH (Command::environment)";
  return {"not_found", message};
}

[[noreturn]] void fail(std::string message) {
  const int error = errno;
  report(report_fd, "failed", std::move(message) + ": " + std::strerror(error));
  std::_Exit(0);
}

// Every descriptor from `first` on closes at exec: close_range where the kernel has it
// (5.11), else each one in /proc/self/fd.
void close_on_exec_from(int first) {
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  DIR* open_fds = ::opendir("/proc/self/fd");
  if (open_fds == nullptr) return;
  const int own = ::dirfd(open_fds);
  while (const dirent* entry = ::readdir(open_fds)) {
    const int fd = std::atoi(entry->d_name);
    if (entry->d_name[0] != '.' && fd >= first && fd != own) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::closedir(open_fds);
}

// After the program ended: kills and reaps everything it left, until nothing is left or
// `bound` passed (a process SIGKILLed on a loaded machine can take a while to go).
void clean_up_after(std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (true) {
    kill_descendants();
    if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) return;  // none left, reaped
    if (std::chrono::steady_clock::now() >= until) return;
    ::usleep(10'000);
  }
}

unsigned long long parse_number(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    report(report_fd, "failed", std::string("bad number on the keeper's command line: '") + text + "'");
    std::_Exit(isolator::wire::exit_usage);
  }
  return value;
}

std::int64_t microseconds(const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; }

}  // namespace

void keep_program(int argc, char** argv) {
  // pihost --keep-program PIHOST_PID CPU_LIMIT_MS COUNT NAME=VALUE... -- PROGRAM [ARG...]
  const auto usage = [] {
    report(report_fd, "failed",
           "the keeper's command line is not 'pihost --keep-program PID MS COUNT VARIABLES... -- PROGRAM...'");
    std::_Exit(isolator::wire::exit_usage);
  };
  if (argc < 6) usage();
  const auto pihost = static_cast<pid_t>(parse_number(argv[2]));
  const unsigned long long cpu_limit_ms = parse_number(argv[3]);
  const unsigned long long count = parse_number(argv[4]);
  if (count > static_cast<unsigned long long>(argc) - 6 || std::string_view(argv[5 + count]) != "--") usage();
  // The program's environment: the variables given, in a NULL-terminated array of their own
  // (the keeper itself runs with pihost's, so that nothing a Command sets, LD_PRELOAD say,
  // reaches pihost's code).
  std::vector<char*> environment(argv + 5, argv + 5 + count);
  environment.push_back(nullptr);
  char** program = argv + 6 + count;
  if (*program == nullptr) usage();

  // Its report must not kill it (pihost gone: the pipe has no reader) before it cleans up.
  std::signal(SIGPIPE, SIG_IGN);
  // Only 0, 1 and 2 reach the program: the report pipe and anything a plugin left open
  // without O_CLOEXEC close at its exec.
  ::fcntl(report_fd, F_SETFD, FD_CLOEXEC);
  close_on_exec_from(report_fd + 1);

  // SIGCHLD and the death signal are taken with sigwaitinfo, never by a handler; armed
  // before the program exists, so that neither its end nor pihost's is missed.
  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGCHLD);
  sigaddset(&watched, parent_gone_signal);
  sigprocmask(SIG_BLOCK, &watched, nullptr);
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("PR_SET_CHILD_SUBREAPER");
  ::prctl(PR_SET_PDEATHSIG, parent_gone_signal);
  if (::getppid() != pihost) std::_Exit(0);  // pihost died before the prctl: nobody to report to

  int exec_check[2];
  if (::pipe2(exec_check, O_CLOEXEC) != 0) fail("pipe2");
  const pid_t child = ::fork();
  if (child < 0) fail("fork (a process limit, Limits::max_pids?)");
  if (child == 0) {
    ::close(exec_check[0]);
    sigprocmask(SIG_UNBLOCK, &watched, nullptr);
    std::signal(SIGPIPE, SIG_DFL);       // an ignored signal would stay ignored across exec
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the keeper is its parent: no program without it
    if (cpu_limit_ms > 0) {
      const rlim_t seconds = (cpu_limit_ms + 999) / 1000;
      rlimit limit{seconds, seconds + 1};
      rlimit now{};
      // Never above what the box set (a hard RLIMIT_CPU of pihost's own would refuse it).
      if (::getrlimit(RLIMIT_CPU, &now) == 0 && now.rlim_max != RLIM_INFINITY && limit.rlim_max > now.rlim_max) {
        limit.rlim_max = now.rlim_max;
        if (limit.rlim_cur > limit.rlim_max) limit.rlim_cur = limit.rlim_max;
      }
      ::setrlimit(RLIMIT_CPU, &limit);
    }
    const auto [word, message] = exec_program(program, environment.data());
    report(exec_check[1], word, message);
    std::_Exit(127);
  }
  ::close(exec_check[1]);
  std::string refusal;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(exec_check[0], buffer, sizeof(buffer));
    if (n > 0) {
      refusal.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(exec_check[0]);
  if (!refusal.empty()) {  // the program's process says why it could not exec (a whole line)
    ::waitpid(child, nullptr, 0);
    write_all(report_fd, refusal);
    std::_Exit(0);
  }
  report(report_fd, "started", "");

  int status = 0;
  bool ended = false;
  while (!ended) {
    siginfo_t info{};
    if (::sigwaitinfo(&watched, &info) < 0) continue;  // EINTR
    if (info.si_signo == parent_gone_signal) {
      clean_up_after(cleanup_bound);  // pihost is gone: so must the program be, with all it started
      std::_Exit(0);
    }
    // SIGCHLD: the program, or an orphan of it that was reparented here; reap what ended.
    while (true) {
      int reaped_status = 0;
      const pid_t reaped = ::waitpid(-1, &reaped_status, WNOHANG);
      if (reaped <= 0) break;
      if (reaped == child) {
        status = reaped_status;
        ended = true;
      }
    }
  }
  // The program is done; what it started goes with it, before anyone hears of its end.
  clean_up_after(cleanup_bound);
  rusage used{};
  ::getrusage(RUSAGE_CHILDREN, &used);  // every process of the tree, all reaped now
  const std::string figures = std::to_string(microseconds(used.ru_utime)) + " " +
                              std::to_string(microseconds(used.ru_stime)) + " " +
                              std::to_string(std::int64_t{used.ru_maxrss} * 1024);
  if (WIFEXITED(status)) {
    report(report_fd, "exited", std::to_string(WEXITSTATUS(status)) + " " + figures);
  } else {
    report(report_fd, "signalled", std::to_string(WTERMSIG(status)) + " " + figures);
  }
  std::_Exit(0);
}

}  // namespace pihost
