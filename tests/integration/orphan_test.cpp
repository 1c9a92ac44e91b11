// Nothing started for an isolate outlives its host, whatever killed the host and however
// the plugin's processes tried to get away; and what a dead host left is swept by the next.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;

// A samplehost process (the host) running `args`, with its stdout readable line by line.
class HostProcess {
 public:
  explicit HostProcess(std::vector<std::string> args, const std::string& tmpdir = "") {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    args.insert(args.begin(), test::samplehost());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (tmpdir.empty() ||
          (std::strncmp(*e, "TMPDIR=", 7) != 0 && std::strncmp(*e, "XDG_RUNTIME_DIR=", 16) != 0)) {
        env_strings.emplace_back(*e);
      }
    }
    if (!tmpdir.empty()) env_strings.push_back("TMPDIR=" + tmpdir);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    lines_ = ::fdopen(out[0], "r");
  }
  ~HostProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (lines_ != nullptr) std::fclose(lines_);
  }
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  /// The next stdout line containing `needle` (empty at end of output).
  std::string line_with(const std::string& needle) {
    char line[4096];
    while (std::fgets(line, sizeof(line), lines_) != nullptr) {
      if (std::string(line).find(needle) != std::string::npos) return line;
    }
    return {};
  }
  int pid() const { return pid_; }
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int wait_exit() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  std::FILE* lines_ = nullptr;
};

int number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  return at == std::string::npos ? 0 : std::atoi(text.c_str() + at + key.size());
}

bool all_dead_within(const std::vector<int>& pids, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (int pid : pids) any = any || test::process_alive(pid);
    if (!any) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

// Cgroups and private directories named for one of `hosts` (pids of hosts that are gone).
std::vector<std::string> leftovers_of(const std::vector<int>& hosts) {
  std::vector<std::string> found;
  for (int host : hosts) {
    for (auto& thing : test::things_named_for(host)) found.push_back(std::move(thing));
  }
  return found;
}

// Which way the child runs: sandboxed (the default) or trusted.
struct OrphanCase {
  Containment containment;
  bool trusted;
};

class OrphanTest : public ::testing::TestWithParam<OrphanCase> {};

// The host (a samplehost) is SIGKILLed in the middle of a call whose plugin left a
// grandchild that started its own session, double-forked, cleared its death signal and
// changed its process group. Seven rounds per backend, sandboxed and trusted.
TEST_P(OrphanTest, EscapingGrandchildrenDieWithAKilledHost) {
  const Containment containment = GetParam().containment;
  if (const auto why = test::cannot(containment); !why.empty()) {
    GTEST_SKIP() << to_string(containment) << " cannot run here: " << why;
  }
  std::vector<int> killed_hosts;
  for (int round = 0; round < 7; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::string> args{"--json", "--containment", std::string(to_string(containment))};
    if (GetParam().trusted) args.emplace_back("--trusted-plugin");
    args.insert(args.end(), {"-l", test::plugin("escape"), "--", "20000"});
    HostProcess host(args);
    killed_hosts.push_back(host.pid());
    const int pihost = number_after(host.line_with("\"started\""), "\"pid\":");
    const int reported = number_after(host.line_with("escaped "), "escaped ");
    // Sandboxed, the plugin's pid is its PID namespace's number, not ours.
    const int escaped = GetParam().trusted ? reported : test::outer_pid(pihost, reported);
    ASSERT_GT(pihost, 0);
    ASSERT_GT(escaped, 0);
    ASSERT_TRUE(test::process_alive(escaped));
    host.kill_hard();
    EXPECT_TRUE(all_dead_within({pihost, escaped}, 2000ms))
        << "pihost " << pihost << " or the escaped grandchild " << escaped << " outlived the host";
  }
  // The killed hosts could not remove their cgroups and directories; the next host's start
  // does.
  HostProcess next({"--json", "--", "sweep"});
  EXPECT_EQ(next.wait_exit(), 0);
  EXPECT_EQ(leftovers_of(killed_hosts), std::vector<std::string>{});
}

// With Supervision::spare_child the host has two children, one idle: both die with it.
TEST(SpareChildOrphans, TheSpareDiesWithAKilledHostToo) {
  HostProcess host({"--json", "--spare-child", "-l", test::plugin("sleep"), "--", "20000"});
  const int pihost = number_after(host.line_with("\"started\""), "\"pid\":");
  const int spare = number_after(host.line_with("\"spare\":true"), "\"pid\":");
  ASSERT_GT(pihost, 0);
  ASSERT_GT(spare, 0);
  ASSERT_TRUE(test::process_alive(spare));
  const int killed = host.pid();
  host.kill_hard();
  EXPECT_TRUE(all_dead_within({pihost, spare}, 2000ms))
      << "pihost " << pihost << " or the spare " << spare << " outlived the host";
  HostProcess next({"--json", "--", "sweep"});
  EXPECT_EQ(next.wait_exit(), 0);
  EXPECT_EQ(leftovers_of({killed}), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(
    Backends, OrphanTest,
    ::testing::Values(OrphanCase{Containment::cgroup_v2, false}, OrphanCase{Containment::cgroup_v1, false},
                      OrphanCase{Containment::rlimit, false}, OrphanCase{Containment::cgroup_v2, true},
                      OrphanCase{Containment::cgroup_v1, true}, OrphanCase{Containment::rlimit, true}),
    [](const auto& param) {
      return test::identifier(param.param.containment) + (param.param.trusted ? "_trusted" : "_sandboxed");
    });

// A pid that ran and is gone (ours, reaped), for names of dead hosts.
int dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// This process's start time in clock ticks since boot (field 22 of /proc/self/stat), as
// the directory names of a host carry it.
unsigned long long own_start_time() {
  std::ifstream in("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3 on
  std::string field;
  for (int i = 3; i < 22; ++i) fields >> field;
  unsigned long long start = 0;
  fields >> start;
  return start;
}

TEST(Sweep, TheNextHostRemovesWhatDeadHostsLeftAndKeepsWhatLiveOnesUse) {
  test::TempDir tmp;
  const std::string dead = "isolator-" + std::to_string(dead_pid()) + "-12345";
  // Our own pid with a start time that is not ours: a reused pid must not keep it alive.
  const std::string reused = "isolator-" + std::to_string(::getpid()) + "-1";
  std::vector<std::filesystem::path> stale{tmp.path() / (dead + "-AbCdEf"),
                                           tmp.path() / (reused + "-GhIjKl")};
  if (auto memory = std::filesystem::path("/sys/fs/cgroup/memory"); ::access(memory.c_str(), W_OK) == 0) {
    // Under this process's own memory cgroup, where a host puts its cgroups.
    std::ifstream own("/proc/self/cgroup");
    std::string line;
    while (std::getline(own, line)) {
      if (line.find(":memory:") != std::string::npos) {
        const auto base = memory /
                          std::filesystem::path(line.substr(line.find(":memory:") + 8)).relative_path();
        stale.push_back(base / dead);
        stale.push_back(base / dead / "child-0");
      }
    }
  }
  for (const auto& dir : stale) std::filesystem::create_directories(dir);
  std::ofstream(stale[0] / "left-behind") << "x";
  // This test process is a live host: a directory named with its pid and its real start
  // time must be kept.
  const auto live = tmp.path() / ("isolator-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(own_start_time()) + "-LiVeDr");
  std::filesystem::create_directories(live);
  const auto mine = tmp.path() / "not-an-isolator-dir";
  std::filesystem::create_directories(mine);

  HostProcess next({"--json", "--", "hello"}, tmp.path().string());
  EXPECT_EQ(next.wait_exit(), 0);
  for (const auto& dir : stale) EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " survived the sweep";
  EXPECT_TRUE(std::filesystem::exists(mine)) << "the sweep touches only isolator directories";
  EXPECT_TRUE(std::filesystem::exists(live)) << "the sweep removed a live host's directory";
}

}  // namespace
}  // namespace isolator
