// Programs (ProcessIsolator::run, IsolatorPool::run): a whole command line in the child's
// box, its exit code as the result, its failures typed, its output captured, and nothing it
// started left behind. The limits run on every backend this machine has.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <random>
#include <unistd.h>

namespace isolator {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> stdout_lines(const CallResult& r) {
  std::vector<std::string> lines;
  for (const auto& line : r.output) {
    if (line.stream == OutputStream::out) lines.push_back(line.text);
  }
  return lines;
}

std::string describe(const CallResult& r) {
  if (r.ok()) return "code " + std::to_string(*r.code);
  return std::string(to_string(r.failure->kind)) + ": " + r.failure->message;
}

// A number no other process on the machine has in its command line: `sleep TOKEN` marks the
// processes a test's program started, so that the test can look for them in /proc.
std::string unique_sleep_seconds() {
  std::random_device random;
  return std::to_string(100000 + random() % 800000) + "." + std::to_string(random() % 1000000);
}

// The processes (host pids) whose command line is exactly `sleep SECONDS`. A zombie's is empty.
std::vector<int> sleepers(const std::string& seconds) {
  std::vector<int> found;
  const std::string wanted = std::string("sleep") + '\0' + seconds + '\0';
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "cmdline", std::ios::binary);
    const std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (cmdline == wanted) found.push_back(std::stoi(name));
  }
  return found;
}

// Waits up to `limit` for no `sleep SECONDS` to be left; returns what is left then.
std::vector<int> sleepers_left(const std::string& seconds, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  auto left = sleepers(seconds);
  while (!left.empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    left = sleepers(seconds);
  }
  return left;
}

void write_file(const std::filesystem::path& path, const std::string& text, std::filesystem::perms mode) {
  std::ofstream(path, std::ios::binary) << text;
  std::filesystem::permissions(path, mode);
}

class Programs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { isolator_ = ProcessIsolator::create(test::options()).release(); }
  static void TearDownTestSuite() {
    delete isolator_;
    isolator_ = nullptr;
  }
  static ProcessIsolator* isolator_;
};
ProcessIsolator* Programs::isolator_ = nullptr;

TEST_F(Programs, AProgramsExitCodeIsTheResultWhateverItIs) {
  const auto r = isolator_->run({{"sh", "-c", "echo to stdout; echo to stderr >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(*r.code, 3);
  // Two pipes: the order of lines across them is the order they were read in.
  ASSERT_EQ(r.output.size(), 2u);
  EXPECT_EQ(stdout_lines(r), std::vector<std::string>{"to stdout"});
  const auto& err = r.output[r.output[0].stream == OutputStream::err ? 0 : 1];
  EXPECT_EQ(err.stream, OutputStream::err);
  EXPECT_EQ(err.text, "to stderr");
  EXPECT_EQ(r.pid, isolator_->pid());
  EXPECT_GT(r.usage.wall.count(), 0);
}

TEST_F(Programs, ItsStdinIsTheCommandsInputAndEmptyInputIsDevNull) {
  Command command{{"cat"}};
  constexpr char input[] = "first line\nsecond\0line\nno newline";
  command.input = std::string(input, sizeof(input) - 1);
  const auto r = isolator_->run(command);
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(*r.code, 0);
  EXPECT_EQ(stdout_lines(r), (std::vector<std::string>{"first line", std::string("second\0line", 11), "no newline"}));
  const auto empty = isolator_->run({{"sh", "-c", "cat; echo end"}});
  ASSERT_TRUE(empty.ok()) << describe(empty);
  EXPECT_EQ(stdout_lines(empty), std::vector<std::string>{"end"});
}

TEST_F(Programs, ItsEnvironmentAndWorkingDirectoryAreTheCommands) {
  test::TempDir directory;
  Command command{{"sh", "-c", "echo \"$GREETING\"; pwd"}};
  command.environment = {{"GREETING", "hello there"}};
  command.working_directory = directory.path().string();
  const auto r = isolator_->run(command);
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(stdout_lines(r), (std::vector<std::string>{"hello there", directory.path().string()}));
  // A working directory that cannot be used fails the call, naming it; the child stays.
  Command in_a_file{{"true"}};
  in_a_file.working_directory = (directory.path() / "file").string();
  std::ofstream(in_a_file.working_directory) << "x";
  const auto refused = isolator_->run(in_a_file);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.failure->kind, FailureKind::start_failed);
  EXPECT_NE(refused.failure->message.find("it is not a directory"), std::string::npos) << refused.failure->message;
  // By default it runs where a method's call runs: the child's private working directory.
  const auto where = isolator_->run({{"pwd"}});
  ASSERT_TRUE(where.ok()) << describe(where);
  ASSERT_EQ(stdout_lines(where).size(), 1u);
  EXPECT_NE(stdout_lines(where)[0], directory.path().string());
}

TEST_F(Programs, AProgramKilledByASignalIsCrashedAndTheChildStays) {
  const int pid = isolator_->pid();
  const auto r = isolator_->run({{"sh", "-c", "echo before; kill -SEGV $$"}});
  ASSERT_FALSE(r.ok()) << describe(r);
  EXPECT_EQ(r.failure->kind, FailureKind::crashed) << r.failure->message;
  ASSERT_TRUE(r.failure->signal.has_value());
  EXPECT_EQ(*r.failure->signal, SIGSEGV);
  EXPECT_NE(r.failure->message.find("SIGSEGV"), std::string::npos) << r.failure->message;
  EXPECT_FALSE(r.failure->crash.has_value()) << "a crash report is pihost's, not a program's";
  EXPECT_EQ(stdout_lines(r), std::vector<std::string>{"before"});
  EXPECT_EQ(isolator_->pid(), pid) << "pihost lives on";
  const auto next = isolator_->run({{"true"}});
  ASSERT_TRUE(next.ok()) << describe(next);
  EXPECT_EQ(next.pid, pid);
}

TEST_F(Programs, AMissingProgramIsProgramNotFoundWithThePlacesTried) {
  const auto absolute = isolator_->run({{"/nonexistent-isolator-dir/tool", "x"}});
  ASSERT_FALSE(absolute.ok());
  EXPECT_EQ(absolute.failure->kind, FailureKind::program_not_found) << absolute.failure->message;
  EXPECT_NE(absolute.failure->message.find("/nonexistent-isolator-dir/tool"), std::string::npos)
      << absolute.failure->message;

  Command by_name{{"isolator-no-such-program"}};
  by_name.environment = {{"PATH", "/nonexistent-a:/usr/bin"}};
  const auto searched = isolator_->run(by_name);
  ASSERT_FALSE(searched.ok());
  EXPECT_EQ(searched.failure->kind, FailureKind::program_not_found) << searched.failure->message;
  EXPECT_NE(searched.failure->message.find("looked in /nonexistent-a, /usr/bin"), std::string::npos)
      << searched.failure->message;
  EXPECT_EQ(isolator_->run({{"true"}}).pid, absolute.pid) << "the child stays";
}

TEST_F(Programs, AFileThatCannotBeExecutedIsNotExecutableAndSaysWhy) {
  test::TempDir directory;
  const auto& dir = directory.path();
  using std::filesystem::perms;
  write_file(dir / "no-permission", "#!/bin/sh\necho hi\n", perms::owner_read | perms::owner_write | perms::others_read);
  write_file(dir / "no-interpreter", "#!/nonexistent-isolator/interp\n", perms::owner_all | perms::others_read |
                                                                           perms::others_exec);
  write_file(dir / "no-format", std::string("\x01\x02 not a program\n"), perms::owner_all | perms::others_read |
                                                                            perms::others_exec);
  struct Case {
    std::string file;
    std::string says;
  };
  for (const auto& [file, says] : {Case{"no-permission", "no execute permission"},
                                   Case{"no-interpreter", "'/nonexistent-isolator/interp'"},
                                   Case{"no-format", "not a format this machine can run"}}) {
    SCOPED_TRACE(file);
    const auto r = isolator_->run({{(dir / file).string()}});
    ASSERT_FALSE(r.ok()) << describe(r);
    EXPECT_EQ(r.failure->kind, FailureKind::not_executable) << r.failure->message;
    EXPECT_NE(r.failure->message.find(says), std::string::npos) << r.failure->message;
  }
  const auto directory_as_program = isolator_->run({{dir.string()}});
  ASSERT_FALSE(directory_as_program.ok());
  EXPECT_EQ(directory_as_program.failure->kind, FailureKind::not_executable);
  EXPECT_NE(directory_as_program.failure->message.find("is a directory"), std::string::npos)
      << directory_as_program.failure->message;
}

TEST_F(Programs, WhatAProgramLeftRunningIsKilledBeforeItsResult) {
  const std::string seconds = unique_sleep_seconds();
  // One child in the background, one detached into a session of its own (double fork).
  const auto r = isolator_->run(
      {{"sh", "-c", "sleep " + seconds + " & (setsid sleep " + seconds + " &); sleep 0.2; echo started; exit 0"}});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(stdout_lines(r), std::vector<std::string>{"started"});
  EXPECT_EQ(sleepers(seconds), std::vector<int>{}) << "nothing the program started outlives its call";
}

TEST_F(Programs, AProgramPastItsDeadlineIsKilledWithWhatItStarted) {
  const std::string seconds = unique_sleep_seconds();
  Command command{{"sh", "-c", "sleep " + seconds + " & (setsid sleep " + seconds + " &); echo started; sleep " +
                                   seconds}};
  command.options.timeout = 3000ms;
  const auto r = isolator_->run(command);
  ASSERT_FALSE(r.ok()) << describe(r);
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
  EXPECT_NE(r.failure->message.find("program 'sh'"), std::string::npos) << r.failure->message;
  EXPECT_EQ(stdout_lines(r), std::vector<std::string>{"started"});
  EXPECT_EQ(sleepers_left(seconds, 5s), std::vector<int>{});
  const auto next = isolator_->run({{"true"}});
  ASSERT_TRUE(next.ok()) << describe(next);
}

TEST_F(Programs, ACancelledProgramIsKilledAndTheNextCallRuns) {
  const std::string seconds = unique_sleep_seconds();
  boost::asio::cancellation_signal cancel;
  auto future = isolator_->async_run(
      Command{{"sleep", seconds}},
      boost::asio::bind_cancellation_slot(cancel.slot(), boost::asio::use_future));
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (sleepers(seconds).empty() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  ASSERT_FALSE(sleepers(seconds).empty()) << "the program never started";
  cancel.emit(boost::asio::cancellation_type::terminal);
  const auto r = future.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::cancelled);
  EXPECT_EQ(sleepers_left(seconds, 5s), std::vector<int>{});
  EXPECT_TRUE(isolator_->run({{"true"}}).ok());
}

TEST_F(Programs, CallsAndProgramsQueueInOrderOnOneChild) {
  auto first = isolator_->async_run(Command{{"sh", "-c", "echo one"}}, boost::asio::use_future);
  auto second = isolator_->async_invoke(Invocation{test::plugin("args"), "echo", {"two"}}, boost::asio::use_future);
  auto third = isolator_->async_run(Command{{"sh", "-c", "echo three"}}, boost::asio::use_future);
  const auto a = first.get();
  const auto b = second.get();
  const auto c = third.get();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << describe(a) << " / " << describe(b) << " / " << describe(c);
  EXPECT_EQ(stdout_lines(a), std::vector<std::string>{"one"});
  EXPECT_EQ(stdout_lines(c), std::vector<std::string>{"three"});
}

TEST(ProgramCommands, ACommandThatCannotBeRunIsRefusedWhenMadeNamingTheField) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto refused = [&](Command command, const std::string& says) {
    try {
      isolator->run(std::move(command));
      ADD_FAILURE() << "not refused: " << says;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused(Command{}, "Command::argv is empty");
  refused(Command{{""}}, "Command::argv[0] is empty");
  refused(Command{{"bin/tool"}}, "a relative path");
  refused(Command{{"sh", std::string("a\0b", 3)}}, "Command::argv[1] holds a NUL byte");
  Command bad_variable{{"true"}};
  bad_variable.environment = {{"A=B", "c"}};
  refused(bad_variable, "the variable 'A=B'");
  Command bad_directory{{"true"}};
  bad_directory.working_directory = "relative/dir";
  refused(bad_directory, "Command::working_directory is 'relative/dir'");
  // A method's call needs a symbol: an empty one would be taken for a program's.
  EXPECT_THROW(isolator->invoke(test::plugin("args"), "", {}), Error);
  EXPECT_TRUE(isolator->run({{"true"}}).ok()) << "nothing was lost";
}

TEST(ProgramCommands, APoolRunsProgramsOnItsChildren) {
  PoolOptions options;
  options.isolator = test::options();
  options.size = 2;
  auto pool = IsolatorPool::create(options);
  auto first = pool->async_run(Command{{"sh", "-c", "sleep 0.2; echo first"}}, boost::asio::use_future);
  auto second = pool->async_run(Command{{"sh", "-c", "echo second; exit 5"}}, boost::asio::use_future);
  const auto a = first.get();
  const auto b = second.get();
  ASSERT_TRUE(a.ok() && b.ok()) << describe(a) << " / " << describe(b);
  EXPECT_EQ(stdout_lines(a), std::vector<std::string>{"first"});
  EXPECT_EQ(*b.code, 5);
  EXPECT_NE(a.pid, b.pid) << "two children ran them side by side";
  const auto missing = pool->run({{"/nonexistent-isolator/tool"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.failure->kind, FailureKind::program_not_found);
}

// ---- limits, on every backend ------------------------------------------------------------

class ProgramLimits : public ::testing::TestWithParam<Containment> {};

#define SKIP_UNLESS_POSSIBLE(limits)                                                     \
  if (const auto why = test::cannot(GetParam(), limits); !why.empty()) {                 \
    GTEST_SKIP() << to_string(GetParam()) << " cannot do this on this machine: " << why; \
  }

TEST_P(ProgramLimits, AProgramOverTheMemoryLimitFailsAndTheNextCallRuns) {
  // Room for a sanitized pihost and its keeper beside the program.
  Limits limits;
  limits.memory_bytes = 256 << 20;
  SKIP_UNLESS_POSSIBLE(limits);
  if (const auto why = test::sanitizer_forbids_memory_limit(test::confined(GetParam(), limits)); !why.empty()) {
    GTEST_SKIP() << why;
  }
  auto isolator = ProcessIsolator::create(test::confined(GetParam(), limits));
  // It asks for 2 GiB, 8 times the limit.
  const auto r = isolator->run({{test::built(ISOLATOR_TEST_MEMORY_HOG), "2048"}});
  if (GetParam() == Containment::rlimit) {
    // An address-space limit makes its allocation fail; what it does then is its own: this
    // one exits 42.
    ASSERT_TRUE(r.ok()) << describe(r);
    EXPECT_EQ(*r.code, 42);
  } else {
    ASSERT_FALSE(r.ok()) << describe(r);
    EXPECT_EQ(r.failure->kind, FailureKind::memory_limit) << r.failure->message;
  }
  const auto small = isolator->run({{test::built(ISOLATOR_TEST_MEMORY_HOG), "8"}});
  ASSERT_TRUE(small.ok()) << describe(small);
  EXPECT_EQ(*small.code, 0);
}

// The case: a program over its own, tighter memory limit, then one that needs more
// than that under the isolator's.
TEST_P(ProgramLimits, AProgramOverItsOwnMemoryLimitFailsAndTheNextHasTheIsolatorsLimit) {
  Limits limits;
  limits.memory_bytes = 1024ull << 20;
  SKIP_UNLESS_POSSIBLE(limits);
  if (const auto why = test::sanitizer_forbids_memory_limit(test::confined(GetParam(), limits)); !why.empty()) {
    GTEST_SKIP() << why;
  }
  Options options = test::confined(GetParam(), limits);
  if (GetParam() == Containment::rlimit && ::geteuid() == 0 && !test::has_cap_sys_resource()) {
    // A root host's sandboxed pihost is another user's, whose rlimits take CAP_SYS_RESOURCE
    // to set (containment_test.cpp tests that refusal); without the sandbox it is this user's.
    options.protection.trusted_plugin = true;
  }
  auto isolator = ProcessIsolator::create(options);
  // 384 MiB: over the call's 256 MiB (room for pihost's address space under rlimit), well
  // under the isolator's 1 GiB.
  Command hog{{test::built(ISOLATOR_TEST_MEMORY_HOG), "384"}};
  hog.options.limits.memory_bytes = 256ull << 20;
  const auto r = isolator->run(hog);
  EXPECT_EQ(r.limits.memory_bytes, 256ull << 20) << "the result says which limit applied";
  if (GetParam() == Containment::rlimit) {
    ASSERT_TRUE(r.ok()) << describe(r);
    EXPECT_EQ(*r.code, 42) << "its allocation failed under the call's address-space limit";
  } else {
    ASSERT_FALSE(r.ok()) << describe(r);
    EXPECT_EQ(r.failure->kind, FailureKind::memory_limit) << r.failure->message;
    EXPECT_NE(r.failure->message.find("CallOptions::limits.memory_bytes"), std::string::npos) << r.failure->message;
  }
  hog.options.limits = {};
  const auto next = isolator->run(hog);
  ASSERT_TRUE(next.ok()) << describe(next);
  EXPECT_EQ(*next.code, 0) << "384 MiB fit under the isolator's 1 GiB again";
  EXPECT_EQ(next.limits.memory_bytes, 1024ull << 20);
}

TEST_P(ProgramLimits, AProgramPastItsCpuTimeFailsWithCpuLimit) {
  Limits limits;
  limits.cpu_time_per_call = 1000ms;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = ProcessIsolator::create(test::confined(GetParam(), limits));
  Command spin{{"sh", "-c", "while :; do :; done"}};
  spin.options.timeout = 20s;  // a bound for the test; the CPU limit must come first
  const auto r = isolator->run(spin);
  ASSERT_FALSE(r.ok()) << describe(r);
  EXPECT_EQ(r.failure->kind, FailureKind::cpu_limit) << r.failure->message;
  if (GetParam() == Containment::rlimit) {
    // The host's watch reads pihost's own CPU time there, which a program's is not part of:
    // the program's keeper set RLIMIT_CPU, and the kernel stopped it.
    EXPECT_NE(r.failure->message.find("RLIMIT_CPU"), std::string::npos) << r.failure->message;
    EXPECT_TRUE(r.failure->signal == SIGXCPU || r.failure->signal == SIGKILL);
  }
  EXPECT_TRUE(isolator->run({{"true"}}).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ProgramLimits,
                         ::testing::Values(Containment::cgroup_v2, Containment::cgroup_v1, Containment::rlimit),
                         [](const auto& param) { return test::identifier(param.param); });

}  // namespace
}  // namespace isolator
