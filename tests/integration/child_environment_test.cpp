// What the child inherits from the host: descriptors, environment, working directory,
// signal state, umask, terminal, privileges and core dumps.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace isolator {
namespace {

using test::plugin;

// Below 100 the child holds exactly stdio; above, pihost's own: the channel, the
// clear_refs file through which it resets the peak RSS per call and the status file from
// which it reads it, the relief thread's timer,
// and, outside the sandbox only, the pidfd through which its watchdog watches the host (a
// sandboxed pihost cannot see the host). Nothing of the host's.
void expect_only_stdio_and_pihosts_own(bool trusted) {
  // A descriptor the host opened without close-on-exec must not reach the child.
  const int leaked = ::dup(0);
  ASSERT_GE(leaked, 0);
  auto options = test::options();
  options.protection.trusted_plugin = trusted;
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("inspect"), "list_fds", {});
  ::close(leaked);
  ASSERT_TRUE(r.ok()) << r.failure->message;
  std::vector<std::string> lines;
  for (const auto& line : r.output) lines.push_back(line.text);
  // The channel, /proc/self/clear_refs and status, the relief timer, pihost's own executable
  // (its crash handler execs the crash reporter from it), and when trusted the host's pidfd.
  const std::size_t own = trusted ? 6 : 5;
  ASSERT_EQ(lines.size(), 3 + own);
  EXPECT_EQ(lines[0], "fd 0 -> /dev/null");
  EXPECT_EQ(lines[1].rfind("fd 1 -> pipe:", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("fd 2 -> pipe:", 0), 0u) << lines[2];
  std::string kinds;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    int fd = 0;
    char kind[256] = {};
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "fd %d -> %255s", &fd, kind), 2) << lines[i];
    EXPECT_GE(fd, 100) << lines[i];
    kinds += std::string(kind) + " ";
  }
  EXPECT_NE(kinds.find("socket:"), std::string::npos) << kinds;
  EXPECT_NE(kinds.find("clear_refs"), std::string::npos) << kinds;
  EXPECT_NE(kinds.find("/status "), std::string::npos) << kinds;
  EXPECT_NE(kinds.find("timerfd"), std::string::npos) << kinds;
  EXPECT_NE(kinds.find(std::filesystem::path(test::pihost()).filename().string()), std::string::npos) << kinds;
  EXPECT_EQ(kinds.find("pidfd") != std::string::npos, trusted) << kinds;
}

TEST(ChildEnvironment, ChildHasOnlyStdioAndPihostsOwnFive) { expect_only_stdio_and_pihosts_own(false); }

TEST(ChildEnvironment, TrustedChildHasOnlyStdioAndPihostsOwnSix) { expect_only_stdio_and_pihosts_own(true); }

TEST(ChildEnvironment, HostSecretsAreInvisibleUnlessAllowed) {
  ::setenv("ISOLATOR_TEST_SECRET", "hunter2", 1);
  {
    auto isolator = ProcessIsolator::create(test::options());
    const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_SECRET"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r.code, 0);
    EXPECT_EQ(r.output.at(0).text, "(unset)");
  }
  {
    Options options = test::options();
    options.inherit_environment.push_back("ISOLATOR_TEST_SECRET");
    auto isolator = ProcessIsolator::create(options);
    const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_SECRET"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.output.at(0).text, "hunter2");
  }
  ::unsetenv("ISOLATOR_TEST_SECRET");
}

TEST(ChildEnvironment, ExplicitVariablesAreSet) {
  Options options = test::options();
  options.environment.emplace_back("ISOLATOR_TEST_GIVEN", "given value");
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_GIVEN"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output.at(0).text, "given value");
}

TEST(ChildEnvironment, WorkingDirectoryIsPrivateAndRemovedAtShutdown) {
  test::TempDir tmp;
  std::optional<test::ScopedTmpdir> in_tmp(std::in_place, tmp.path());
  auto isolator = ProcessIsolator::create(test::options());
  in_tmp.reset();
  const auto r = isolator->invoke(plugin("inspect"), "get_cwd", {});
  ASSERT_TRUE(r.ok());
  const std::filesystem::path cwd = r.output.at(0).text;
  EXPECT_EQ(cwd.parent_path().parent_path(), tmp.path()) << cwd;
  const auto status = std::filesystem::status(cwd.parent_path());
  EXPECT_EQ(status.permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  isolator->shutdown();
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "the private directory was removed";
}

}  // namespace
}  // namespace isolator

namespace isolator {
namespace {

// The lines of `process_state` (tests/plugins/inspect.c), by their first word.
std::map<std::string, std::string> process_state(const Options& options) {
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(test::plugin("inspect"), "process_state", {});
  EXPECT_TRUE(r.ok()) << r.failure->message;
  std::map<std::string, std::string> state;
  for (const auto& line : r.output) {
    const auto space = line.text.find_first_of(" \t");
    if (space == std::string::npos) continue;
    state[line.text.substr(0, space)] = line.text.substr(line.text.find_first_not_of(" \t", space));
  }
  return state;
}

// Sets the host's signal state and umask for a test's duration, as an application might.
class HostSignalState {
 public:
  HostSignalState() {
    previous_usr1_ = std::signal(SIGUSR1, SIG_IGN);
    previous_usr2_ = std::signal(SIGUSR2, [](int) {});
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, &previous_mask_);
    previous_umask_ = ::umask(077);
  }
  ~HostSignalState() {
    std::signal(SIGUSR1, previous_usr1_);
    std::signal(SIGUSR2, previous_usr2_);
    pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
    ::umask(previous_umask_);
  }
  HostSignalState(const HostSignalState&) = delete;
  HostSignalState& operator=(const HostSignalState&) = delete;

 private:
  void (*previous_usr1_)(int) = SIG_DFL;
  void (*previous_usr2_)(int) = SIG_DFL;
  sigset_t previous_mask_{};
  mode_t previous_umask_ = 022;
};

std::uint64_t bit(int signal) { return std::uint64_t{1} << (signal - 1); }

TEST(ChildEnvironment, NoSignalStateOrUmaskOfTheHostReachesThePlugin) {
  HostSignalState host;  // SIGUSR1 ignored, a SIGUSR2 handler, SIGHUP blocked, umask 077
  const auto state = process_state(test::options());
  EXPECT_EQ(state.at("umask"), "022") << "a fixed umask, not the host's";
  const auto blocked = std::stoull(state.at("SigBlk:"), nullptr, 16);
  const auto ignored = std::stoull(state.at("SigIgn:"), nullptr, 16);
  const auto caught = std::stoull(state.at("SigCgt:"), nullptr, 16);
  // pihost blocks only its own parent-death signal (SIGRTMAX-3), which its watchdog takes.
  EXPECT_EQ(blocked, bit(SIGRTMAX - 3)) << state.at("SigBlk:");
  EXPECT_EQ(ignored, 0u) << "no signal ignored: " << state.at("SigIgn:");
  // No standard signal (1..31) has a handler but pihost's crash handler's (the host's SIGUSR2
  // handler is not there); glibc keeps its internal ones (32, 33).
  const std::uint64_t crash_handler = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGFPE) | bit(SIGABRT);
  EXPECT_EQ(caught & (bit(32) - 1), crash_handler) << state.at("SigCgt:");
  Options without_reports = test::options();
  without_reports.crash_reports = false;
  EXPECT_EQ(std::stoull(process_state(without_reports).at("SigCgt:"), nullptr, 16) & (bit(32) - 1), 0u)
      << "without crash reports, no handler at all";
}

TEST(ChildEnvironment, ThePluginHasNoControllingTerminalAndCannotGainPrivileges) {
  const auto state = process_state(test::options());
  // pihost leads a session of its own (setsid before exec), so no terminal of the host's
  // session can be its controlling terminal; this holds even where the test has no terminal.
  EXPECT_EQ(state.at("session_leader"), "1");
  EXPECT_NE(state.at("tty_open"), "ok") << "the child's session has no terminal";
  EXPECT_EQ(state.at("no_new_privs"), "1");
}

TEST(ChildEnvironment, NoCoreDumpsUnlessAskedFor) {
  // A host whose own core limit is not 0, or both checks below would pass by accident.
  struct rlimit saved {};
  ::getrlimit(RLIMIT_CORE, &saved);
  struct rlimit raised = saved;
  raised.rlim_cur = std::min<rlim_t>(saved.rlim_max, rlim_t{1} << 20);
  ASSERT_GT(raised.rlim_cur, 0u) << "the hard core limit is 0 here: nothing to tell apart";
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &raised), 0);
  struct Restore {
    rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_CORE, &limit); }
  } restore{saved};
  const auto state = process_state(test::options());
  EXPECT_EQ(state.at("core_limit"), "0");
  EXPECT_EQ(state.at("dumpable"), "0");

  Options allowed = test::options();
  allowed.allow_core_dumps = true;
  struct rlimit host_core {};
  ::getrlimit(RLIMIT_CORE, &host_core);
  const auto debug = process_state(allowed);
  EXPECT_EQ(debug.at("core_limit"), std::to_string(host_core.rlim_cur)) << "the host's own limit";
  EXPECT_EQ(debug.at("dumpable"), "1");
}

}  // namespace
}  // namespace isolator
