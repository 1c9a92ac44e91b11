// What a hostile plugin can do to its host (issue 17, point 6), each attack run against a
// decoy host started for it (tests/decoy/sandbox_decoy_host.cpp), never against this test
// process: the attack plugin (tests/plugins/attack.c) names its target by the pid the decoy
// gives it and refuses any process not named sandbox_decoy_host.
//
// Three suites:
//   AttackIsReal.*    with Options::protection.trusted_plugin (no sandbox): each attack WORKS,
//                     which proves it is a real attack. Where one cannot work here even so
//                     (it needs rights this host lacks), the test skips and says why.
//   SandboxRefuses.*  each attack is REFUSED, with the default Options::protection
//                     (.../default) and with the strict profile, Options::hardening.strict
//                     (.../strict). (As an unprivileged host, those whose attack needs rights
//                     the host lacks (its cgroups, /etc, /root, pihost's directory, setns)
//                     pass without proving anything; AttackIsReal skips them there.)
//   SandboxAllows.*   ordinary work (64 MiB, files in the working directory and /tmp, a child
//                     process, a data file beside the plugin) succeeds trusted, by default
//                     and strict.
//
// Every test checks that the decoy ended as it should (killed by SIGTERM exactly when
// kill_host worked, else exited 0 after its report) and left nothing behind.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <map>
#include <sstream>

namespace isolator {
namespace {

using namespace std::chrono_literals;

enum class Mode { trusted, sandboxed, strict };

std::string mode_name(Mode mode) {
  return mode == Mode::trusted ? "trusted" : mode == Mode::sandboxed ? "default" : "strict";
}

std::string decoy() { return test::built(ISOLATOR_TEST_DECOY); }

// The cgroup directories an isolator of host `pid` made, deepest first, removed (after the
// processes in them are gone; a killed decoy's children die of their death signal).
void remove_cgroups_of(int pid) {
  for (const auto& dir : test::things_named_for(pid)) {
    if (dir.rfind("/sys/fs/cgroup/", 0) != 0) continue;
    std::vector<std::filesystem::path> tree;
    std::error_code error;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, error)) {
      if (entry.is_directory(error)) tree.push_back(entry.path());
    }
    std::sort(tree.begin(), tree.end(),
              [](const auto& a, const auto& b) { return a.native().size() > b.native().size(); });
    tree.emplace_back(dir);
    for (const auto& d : tree) {
      for (int i = 0; i < 500 && ::rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(10ms);
    }
  }
}

// One run of the decoy: how it ended and what it reported.
struct DecoyRun {
  int pid = -1;
  int status = -1;         // as waitpid reports it
  std::string transcript;  // stdout and stderr
  std::map<std::string, std::string> fields;

  bool killed_by(int signal) const { return WIFSIGNALED(status) && WTERMSIG(status) == signal; }
  bool reported() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0 && field("alive") == "1"; }
  std::string field(const std::string& key) const {
    const auto found = fields.find(key);
    return found == fields.end() ? "" : found->second;
  }
  // The method's return code, or -1000 when the call failed or nothing was reported.
  int code() const { return field("result") == "code" ? std::stoi(field("code")) : -1000; }
  bool cgroups() const { return field("containment").rfind("cgroup", 0) == 0; }
  std::string ending() const {
    std::ostringstream out;
    if (WIFEXITED(status)) out << "exited " << WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) out << "killed by " << signal_name(WTERMSIG(status));
    else out << "status " << status;
    return out.str();
  }
  std::string describe() const {
    return "decoy pid " + std::to_string(pid) + " " + ending() + ":\n" + transcript;
  }
};

// Runs the decoy on `method` in `mode`, with its private directories in a directory of the
// test's own, and checks that it left nothing behind.
DecoyRun run_decoy(const std::string& method, Mode mode) {
  test::TempDir temp;
  const auto workdir = temp.path() / "work";
  const auto tmpdir = temp.path() / "tmp";
  std::filesystem::create_directories(workdir);
  std::filesystem::create_directories(tmpdir);
  // Reachable as /tmp is, for a child that runs as another user than the host (a root
  // host's, by Options::protection.root_host_uid).
  using std::filesystem::perms;
  const auto traversable = perms::owner_all | perms::group_read | perms::group_exec | perms::others_read |
                           perms::others_exec;
  std::filesystem::permissions(temp.path(), traversable);
  std::filesystem::permissions(workdir, traversable);
  std::filesystem::permissions(tmpdir, perms::all | perms::sticky_bit);

  std::vector<std::string> args{
      decoy(), "--pihost", test::pihost(), "--plugin", test::plugin("attack"), "--workdir", workdir.string()};
  if (mode == Mode::trusted) args.emplace_back("--trusted-plugin");
  if (mode == Mode::strict) args.emplace_back("--sandbox");
  args.push_back(method);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TMPDIR=", 7) != 0 && std::strncmp(*e, "XDG_RUNTIME_DIR=", 16) != 0 &&
        std::strncmp(*e, "ISOLATOR_DECOY_SECRET=", 22) != 0) {
      env_strings.emplace_back(*e);
    }
  }
  env_strings.push_back("TMPDIR=" + tmpdir.string());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  DecoyRun run;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigset_t empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attributes, &defaults);  // SIGTERM must be able to kill it
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const int spawned = ::posix_spawn(&run.pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out[1]);
  if (spawned != 0) {
    ::close(out[0]);
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(spawned);
    run.pid = -1;
    return run;
  }

  // Its output until it closes its end, for at most a minute (then it is killed: it is ours).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  char buffer[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      ADD_FAILURE() << "the decoy did not finish within 60 s; killing it";
      ::kill(run.pid, SIGKILL);
      break;
    }
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.transcript.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  while (::waitpid(run.pid, &run.status, 0) < 0 && errno == EINTR) {
  }

  std::istringstream lines(run.transcript);
  std::string line;
  while (std::getline(lines, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos || equals == 0) continue;
    const std::string key = line.substr(0, equals);
    if (key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) continue;
    auto& value = run.fields[key];
    value = value.empty() || key.rfind("plugin_", 0) != 0 ? line.substr(equals + 1)
                                                          : value + "\n" + line.substr(equals + 1);
  }

  // Nothing left behind: a decoy that reported shut its isolators down; a killed one could
  // not, so what it left is removed here (and is no fault of the test).
  if (!run.reported()) remove_cgroups_of(run.pid);
  EXPECT_EQ(test::things_named_for(run.pid), std::vector<std::string>{}) << "cgroups left behind";
  std::vector<std::string> private_dirs;
  for (const auto& entry : std::filesystem::directory_iterator(tmpdir))
    private_dirs.push_back(entry.path().string());
  if (run.reported()) {
    EXPECT_EQ(private_dirs, std::vector<std::string>{}) << "private directories left behind";
  }
  std::vector<std::string> in_workdir;
  for (const auto& entry : std::filesystem::directory_iterator(workdir))
    in_workdir.push_back(entry.path().string());
  if (run.reported()) {
    EXPECT_EQ(in_workdir, std::vector<std::string>{}) << "files left in the work directory";
  }
  return run;
}

// Why an attack that needs the host's own rights cannot work here even trusted, or "".
std::string host_cannot_write(const std::filesystem::path& dir) {
  if (::access(dir.c_str(), W_OK) == 0) return "";
  return "this host (uid " + std::to_string(::geteuid()) + ") cannot write " + dir.string() + " (" +
         std::strerror(errno) + ") itself, so neither can a plugin it trusts";
}

std::string not_root() {
  if (::geteuid() == 0) return "";
  return "the host is not root: Options::hardening.no_network then gives pihost a user namespace of its own, "
         "which holds no capability over the host's network namespace, so setns fails even trusted";
}

// --- the attacks, trusted: each works -----------------------------------------------------

// The attack worked: the method returned 0 and the decoy outlived it.
void expect_worked(const DecoyRun& run) {
  ASSERT_TRUE(run.reported()) << run.describe();
  EXPECT_EQ(run.code(), 0) << run.describe();
}

TEST(AttackIsReal, KillHost) {
  const auto run = run_decoy("kill_host", Mode::trusted);
  EXPECT_TRUE(run.killed_by(SIGTERM)) << run.describe();
}

TEST(AttackIsReal, ReadAndWriteHostMemory) {
  const auto run = run_decoy("host_memory", Mode::trusted);
  expect_worked(run);
  EXPECT_EQ(run.field("memory_secret_seen"), "1") << run.describe();
  EXPECT_EQ(run.field("flag_changed"), "1") << run.describe();
}

TEST(AttackIsReal, ReadHostEnvironment) {
  const auto run = run_decoy("host_environ", Mode::trusted);
  expect_worked(run);
  EXPECT_EQ(run.field("environ_secret_seen"), "1") << run.describe();
}

TEST(AttackIsReal, ReopenHostFile) {
  const auto run = run_decoy("host_fd", Mode::trusted);
  expect_worked(run);
  EXPECT_EQ(run.field("file_secret_seen"), "1") << run.describe();
}

TEST(AttackIsReal, StealAnotherIsolatorsChannel) {
  const auto run = run_decoy("steal_channel", Mode::trusted);
  expect_worked(run);
  EXPECT_EQ(run.field("victim_leaked"), "1") << run.describe();
}

TEST(AttackIsReal, EscapeToHostCgroup) {
  const auto run = run_decoy("escape_cgroup", Mode::trusted);
  ASSERT_TRUE(run.reported()) << run.describe();
  if (!run.cgroups())
    GTEST_SKIP() << "the child has no cgroup here (" << run.field("containment") << "): nothing to escape";
  EXPECT_EQ(run.code(), 0) << run.describe();
  EXPECT_LT(std::stoi(run.field("attacker_cgroups_after")), std::stoi(run.field("attacker_cgroups_before")))
      << run.describe();
}

TEST(AttackIsReal, RaiseOwnLimits) {
  const auto run = run_decoy("raise_limits", Mode::trusted);
  ASSERT_TRUE(run.reported()) << run.describe();
  if (!run.cgroups())
    GTEST_SKIP() << "the child has no cgroup here (" << run.field("containment") << "): no limit to raise";
  EXPECT_GE(std::stoi(run.field("limits_raised")), 3) << "memory, pids and CPU" << run.describe();
  // The host rereads the limits at the call's end: the call fails, its child is replaced.
  EXPECT_EQ(run.field("failure").rfind("limits_changed", 0), 0u) << run.describe();
}

TEST(AttackIsReal, JoinHostNetworkNamespace) {
  if (const auto why = not_root(); !why.empty()) GTEST_SKIP() << why;
  const auto run = run_decoy("join_host_netns", Mode::trusted);
  if (run.field("start_error") != "")
    GTEST_SKIP() << "no_network is not available here: " << run.field("start_error");
  expect_worked(run);
}

TEST(AttackIsReal, CreateFileInEtc) {
  if (const auto why = host_cannot_write("/etc"); !why.empty()) GTEST_SKIP() << why;
  expect_worked(run_decoy("create_in_etc", Mode::trusted));
}

TEST(AttackIsReal, CreateFileInRoot) {
  if (const auto why = host_cannot_write("/root"); !why.empty()) GTEST_SKIP() << why;
  expect_worked(run_decoy("create_in_root", Mode::trusted));
}

TEST(AttackIsReal, ReplacePihost) {
  if (const auto why = host_cannot_write(std::filesystem::path(test::pihost()).parent_path()); !why.empty())
    GTEST_SKIP() << why;
  expect_worked(run_decoy("replace_pihost", Mode::trusted));
}

// True when `path` is there (false also when this user cannot look: a plugin of its could
// not have created it either).
bool present(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

// --- the attacks, default protection and the strict profile: each is refused ----------------

// The attack was refused: the decoy lived to report, the method ran (a plugin that failed to
// load or crashed proves nothing) and said no (any code but 0; 91 would be a bad call of the
// test's own).
void expect_refused(const DecoyRun& run) {
  ASSERT_TRUE(run.reported()) << run.describe();
  ASSERT_EQ(run.field("result"), "code") << "the attack did not run to its end\n" << run.describe();
  EXPECT_NE(run.code(), 0) << "the attack worked\n" << run.describe();
  EXPECT_NE(run.code(), 91) << "the plugin was called wrongly\n" << run.describe();
}

class SandboxRefuses : public ::testing::TestWithParam<Mode> {};

TEST_P(SandboxRefuses, KillHost) {
  const auto run = run_decoy("kill_host", GetParam());
  EXPECT_FALSE(run.killed_by(SIGTERM)) << "the plugin killed its host\n" << run.describe();
  expect_refused(run);
}

TEST_P(SandboxRefuses, ReadAndWriteHostMemory) {
  const auto run = run_decoy("host_memory", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("memory_secret_seen"), "0") << run.describe();
  EXPECT_EQ(run.field("flag_changed"), "0") << run.describe();
}

TEST_P(SandboxRefuses, ReadHostEnvironment) {
  const auto run = run_decoy("host_environ", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("environ_secret_seen"), "0") << run.describe();
}

TEST_P(SandboxRefuses, ReopenHostFile) {
  const auto run = run_decoy("host_fd", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("file_secret_seen"), "0") << run.describe();
}

TEST_P(SandboxRefuses, StealAnotherIsolatorsChannel) {
  const auto run = run_decoy("steal_channel", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("victim_leaked"), "0") << run.describe();
}

TEST_P(SandboxRefuses, EscapeToHostCgroup) {
  const auto run = run_decoy("escape_cgroup", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("attacker_cgroups_after"), run.field("attacker_cgroups_before")) << run.describe();
}

TEST_P(SandboxRefuses, RaiseOwnLimits) {
  const auto run = run_decoy("raise_limits", GetParam());
  expect_refused(run);
  EXPECT_EQ(run.field("limits_raised"), "0") << run.describe();
}

TEST_P(SandboxRefuses, JoinHostNetworkNamespace) {
  const auto run = run_decoy("join_host_netns", GetParam());
  if (run.field("start_error") != "")
    GTEST_SKIP() << "no_network is not available here: " << run.field("start_error");
  expect_refused(run);
}

TEST_P(SandboxRefuses, CreateFileInEtc) {
  const auto run = run_decoy("create_in_etc", GetParam());
  expect_refused(run);
  EXPECT_FALSE(present("/etc/isolator-attack-" + run.field("attacker_pid")));
}

TEST_P(SandboxRefuses, CreateFileInRoot) {
  const auto run = run_decoy("create_in_root", GetParam());
  expect_refused(run);
  EXPECT_FALSE(present("/root/isolator-attack-" + run.field("attacker_pid")));
}

TEST_P(SandboxRefuses, ReplacePihost) {
  const auto run = run_decoy("replace_pihost", GetParam());
  expect_refused(run);
  EXPECT_FALSE(present(std::filesystem::path(test::pihost()).parent_path() /
                       (".isolator-attack-" + run.field("attacker_pid"))));
}

INSTANTIATE_TEST_SUITE_P(Profiles, SandboxRefuses, ::testing::Values(Mode::sandboxed, Mode::strict),
                         [](const auto& param) { return mode_name(param.param); });

// --- ordinary work: allowed in every mode ----------------------------------------------------

void expect_allowed(const std::string& method) {
  for (const auto mode : {Mode::trusted, Mode::sandboxed, Mode::strict}) {
    SCOPED_TRACE(mode_name(mode));
    const auto run = run_decoy(method, mode);
    ASSERT_TRUE(run.reported()) << run.describe();
    EXPECT_EQ(run.code(), 0) << run.describe();
  }
}

TEST(SandboxAllows, Touch64MiB) { expect_allowed("touch_64mib"); }
TEST(SandboxAllows, WriteFilesInTheWorkingDirectoryAndTmp) { expect_allowed("write_files"); }
TEST(SandboxAllows, RunAChildProcess) { expect_allowed("run_child"); }
TEST(SandboxAllows, ReadADataFileBesideThePlugin) { expect_allowed("read_beside"); }

}  // namespace
}  // namespace isolator
