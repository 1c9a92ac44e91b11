// Every backend against the same misbehaving plugins. A backend (or a limit) this machine
// cannot provide is skipped with the reason; every test ends with nothing left behind.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sys/syscall.h>
#include <unistd.h>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::cgroup_dirs_of;
using test::plugin;

#define SKIP_UNLESS_POSSIBLE(limits)                                                     \
  if (const auto why = test::cannot(GetParam(), limits); !why.empty()) {                 \
    GTEST_SKIP() << to_string(GetParam()) << " cannot do this on this machine: " << why; \
  }

class ContainmentTest : public ::testing::TestWithParam<Containment> {
 protected:
  std::unique_ptr<ProcessIsolator> make(const Limits& limits = {}) {
    return ProcessIsolator::create(test::confined(GetParam(), limits));
  }
};

TEST_P(ContainmentTest, ResultsAndEventsNameTheBackend) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  auto isolator = make();
  EXPECT_EQ(isolator->containment(), to_string(GetParam()));
  const auto r = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.containment, to_string(GetParam()));
}

TEST_P(ContainmentTest, ChildIsInItsOwnCgroupsAndTheyAreRemovedAfterShutdown) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  auto isolator = make();
  const auto dirs = cgroup_dirs_of(isolator->pid());
  if (GetParam() == Containment::rlimit) {
    EXPECT_TRUE(dirs.empty());
  } else {
    ASSERT_FALSE(dirs.empty()) << "pihost runs in a cgroup of its own";
    for (const auto& dir : dirs) EXPECT_TRUE(std::filesystem::exists(dir)) << dir;
  }
  isolator->shutdown();
  for (const auto& dir : dirs) EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

// Regression: every isolator of a process shares the host's cgroup directory, and the
// second one's first child once collided with the first one's.
TEST_P(ContainmentTest, IsolatorsAliveAtOnceEachGetTheirOwnCgroups) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  auto first = make();
  auto second = make();
  EXPECT_TRUE(first->invoke(plugin("args"), "echo", {"1"}).ok());
  EXPECT_TRUE(second->invoke(plugin("args"), "echo", {"2"}).ok());
  if (GetParam() != Containment::rlimit) {
    EXPECT_NE(cgroup_dirs_of(first->pid()), cgroup_dirs_of(second->pid()));
  }
}

TEST_P(ContainmentTest, MemoryBombIsMemoryLimit) {
  // RLIMIT_AS counts address space, so pihost needs room for its libraries and stacks.
  const std::uint64_t limit = GetParam() == Containment::rlimit ? 512ull << 20 : 64ull << 20;
  Limits limits;
  limits.memory_bytes = limit;
  SKIP_UNLESS_POSSIBLE(limits);
#ifdef ISOLATOR_TEST_SANITIZED
  if (GetParam() == Containment::rlimit)
    GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space";
#endif
  auto isolator = make(limits);
  const auto r = isolator->invoke(plugin("memory_bomb"), "method", {"2048"});
  ASSERT_FALSE(r.ok()) << "the bomb got " << r.code.value_or(0) << " MiB";
  EXPECT_EQ(r.failure->kind, FailureKind::memory_limit) << r.failure->message;
  const auto next = isolator->invoke(plugin("args"), "echo", {"4"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
}

TEST_P(ContainmentTest, ForkBombIsContainedAndTheNextCallIsFine) {
  // 64, not fewer: under rlimit (an unprivileged run) RLIMIT_NPROC counts every task of the
  // user, the test process's threads included, and pihost's own start must fit under it.
  Limits limits;
  limits.max_pids = 64;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  const auto r = isolator->invoke(plugin("fork_bomb"), "method", {"128"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_LT(*r.code, 64) << "forks past the pids limit were refused";
  const auto next = isolator->invoke(plugin("args"), "echo", {"5"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(*next.code, 5);
}

TEST_P(ContainmentTest, SpinPastTheTimeoutIsTimeoutAndTheTreeDiesPromptly) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  auto isolator = make();
  const auto started = std::chrono::steady_clock::now();
  const auto r = isolator->invoke(Invocation{plugin("spin"), "method", {"10000"}, CallOptions{200ms}});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
  EXPECT_LT(elapsed, 500ms) << "the call ended long after its 200 ms deadline";
}

TEST_P(ContainmentTest, CpuTimePastTheLimitIsCpuLimit) {
  Limits limits;
  limits.cpu_time_per_call = 200ms;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  const auto r = isolator->invoke(plugin("spin"), "method", {"10000"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::cpu_limit) << r.failure->message;
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
}

// ---- per-call limits (CallOptions::limits) ----------------------------------------------

Invocation limited(const std::string& library, std::vector<std::string> args, const CallLimits& limits) {
  Invocation invocation{plugin(library), "method", std::move(args)};
  invocation.options.limits = limits;
  return invocation;
}

// A spin without end under `limits`, bounded by a 20 s deadline: the CPU limit must come first.
Invocation endless_spin(const CallLimits& limits) {
  Invocation spin = limited("spin", {"10000"}, limits);
  spin.options.timeout = 20s;
  return spin;
}

// The isolator's limits generous: a sanitized pihost's shadow memory counts in a cgroup too.
TEST_P(ContainmentTest, ACallOverItsOwnTighterMemoryLimitFailsAndTheNextHasTheIsolators) {
  // RLIMIT_AS counts address space: pihost needs room for its libraries and stacks.
  const bool rlimit = GetParam() == Containment::rlimit;
  const std::uint64_t isolator_limit = rlimit ? 2048ull << 20 : 1536ull << 20;
  const std::uint64_t call_limit = rlimit ? 512ull << 20 : 64ull << 20;
  const std::string bomb = rlimit ? "1024" : "128";  // MiB: between the two
  Limits limits;
  limits.memory_bytes = isolator_limit;
  SKIP_UNLESS_POSSIBLE(limits);
#ifdef ISOLATOR_TEST_SANITIZED
  if (rlimit) GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space";
#endif
  Options options = test::confined(GetParam(), limits);
  if (rlimit && ::geteuid() == 0 && !test::has_cap_sys_resource()) {
    // A root host's sandboxed pihost runs as another user, whose rlimits only a host with
    // CAP_SYS_RESOURCE may set (refused: AnRlimitOverrideOfAnotherUsersPihost...). Without
    // the sandbox pihost is this user's, as a non-root host's always is.
    options.protection.trusted_plugin = true;
  }
  auto isolator = ProcessIsolator::create(options);
  CallLimits tighter;
  tighter.memory_bytes = call_limit;
  // A call that stays under its own limit, then one over it without an override, on the same
  // child: the isolator's limit was put back, not left to a fresh child to have.
  Invocation echo{plugin("args"), "echo", {"1"}};
  echo.options.limits = tighter;
  const auto small = isolator->invoke(echo);
  ASSERT_TRUE(small.ok()) << small.failure->message;
  EXPECT_EQ(small.limits.memory_bytes, call_limit) << "the result says which limit applied";
  const auto large = isolator->invoke(plugin("memory_bomb"), "method", {bomb});
  ASSERT_TRUE(large.ok()) << large.failure->message;
  EXPECT_GE(*large.code, std::stoi(bomb));
  EXPECT_EQ(large.pid, small.pid) << "the same child, under the isolator's limit again";
  EXPECT_EQ(large.limits.memory_bytes, isolator_limit);
  const auto r = isolator->invoke(limited("memory_bomb", {bomb}, tighter));
  ASSERT_FALSE(r.ok()) << "the bomb got " << r.code.value_or(0) << " MiB";
#ifdef ISOLATOR_TEST_SANITIZED
  if (!rlimit && r.failure->kind == FailureKind::limit_unavailable) {
    // A sanitizer keeps what the large call freed (ASan's quarantine, TSan's shadow): the
    // child holds more than the call's limit already, which is refused, not OOM-killed.
    EXPECT_NE(r.failure->message.find("already"), std::string::npos) << r.failure->message;
    return;
  }
#endif
  EXPECT_EQ(r.failure->kind, FailureKind::memory_limit) << r.failure->message;
  EXPECT_EQ(r.limits.memory_bytes, call_limit);
  if (!rlimit) {
    // Under rlimit the message is pihost's report of the std::bad_alloc.
    EXPECT_NE(r.failure->message.find("CallOptions::limits.memory_bytes"), std::string::npos) << r.failure->message;
  }
  const auto next = isolator->invoke(plugin("memory_bomb"), "method", {bomb});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.limits.memory_bytes, isolator_limit);
}

TEST_P(ContainmentTest, ACallUnderItsOwnLooserMemoryLimitRunsAndTheNextHasTheIsolators) {
  const bool rlimit = GetParam() == Containment::rlimit;
  const std::uint64_t isolator_limit = rlimit ? 512ull << 20 : 64ull << 20;
  const std::uint64_t call_limit = rlimit ? 2048ull << 20 : 1536ull << 20;
  const std::string bomb = rlimit ? "1024" : "128";
  Limits limits;
  limits.memory_bytes = isolator_limit;
  SKIP_UNLESS_POSSIBLE(limits);
#ifdef ISOLATOR_TEST_SANITIZED
  if (rlimit) GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space";
#endif
  auto isolator = make(limits);
  CallLimits looser;
  looser.memory_bytes = call_limit;
  const auto r = isolator->invoke(limited("memory_bomb", {bomb}, looser));
  if (rlimit && !test::has_cap_sys_resource()) {
    // Raising a hard rlimit takes CAP_SYS_RESOURCE (so does reading another user's, a root
    // host's sandboxed pihost's): refused, not run.
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, FailureKind::limit_unavailable) << r.failure->message;
    EXPECT_NE(r.failure->message.find("CAP_SYS_RESOURCE"), std::string::npos) << r.failure->message;
    return;
  }
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_GE(*r.code, std::stoi(bomb));
  EXPECT_EQ(r.limits.memory_bytes, call_limit);
  // The same child (the looser call left it alive) has the isolator's limit again.
  const auto next = isolator->invoke(plugin("memory_bomb"), "method", {bomb});
  ASSERT_FALSE(next.ok()) << "the isolator's limit holds again, yet the bomb got " << next.code.value_or(0) << " MiB";
  EXPECT_EQ(next.failure->kind, FailureKind::memory_limit) << next.failure->message;
#ifndef ISOLATOR_TEST_SANITIZED
  // Under a sanitizer the child keeps what the call freed (ASan's quarantine, TSan's shadow),
  // more than the isolator's limit: it is replaced rather than OOM-killed between calls.
  EXPECT_EQ(next.pid, r.pid);
#endif
  EXPECT_EQ(next.limits.memory_bytes, isolator_limit);
}

TEST_P(ContainmentTest, ACallsOwnCpuTimeIsWatchedAndTheNextHasTheIsolators) {
  Limits limits;
  limits.cpu_time_per_call = 200ms;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  CallLimits looser;
  looser.cpu_time = 10s;
  // A 500 ms spin: past the isolator's 200 ms, under the call's own 10 s.
  auto spin = limited("spin", {"500"}, looser);
  spin.options.timeout = 20s;
  const auto r = isolator->invoke(spin);
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(r.limits.cpu_time, 10s);
  CallLimits tighter;
  tighter.cpu_time = 100ms;
  const auto over = isolator->invoke(endless_spin(tighter));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.failure->kind, FailureKind::cpu_limit) << over.failure->message;
  EXPECT_NE(over.failure->message.find("CallOptions::limits.cpu_time"), std::string::npos) << over.failure->message;
  EXPECT_EQ(over.limits.cpu_time, 100ms);
  const auto next = isolator->invoke(Invocation{plugin("spin"), "method", {"10000"}, CallOptions{20s}});
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.failure->kind, FailureKind::cpu_limit) << next.failure->message;
  EXPECT_EQ(next.limits.cpu_time, 200ms) << "the isolator's limit again";
}

TEST_P(ContainmentTest, ACallsOwnCpuTimeWorksWithoutAnIsolatorLimit) {
  Limits can_watch;
  can_watch.cpu_time_per_call = 1s;  // only asks whether the backend can watch CPU time
  SKIP_UNLESS_POSSIBLE(can_watch);
  auto isolator = make();
  CallLimits own;
  own.cpu_time = 150ms;
  const auto r = isolator->invoke(endless_spin(own));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::cpu_limit) << r.failure->message;
  const auto next = isolator->invoke(plugin("spin"), "method", {"300"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_FALSE(next.limits.cpu_time.has_value()) << "no limit applied to it";
}

TEST_P(ContainmentTest, ACallsOwnProcessCountHoldsForItAlone) {
  Limits limits;
  limits.max_pids = 64;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  CallLimits few;
  few.max_pids = 8;
  const auto r = isolator->invoke(limited("fork_bomb", {"24"}, few));
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_LT(*r.code, 8) << "forks past the call's own limit were refused";
  EXPECT_EQ(r.limits.max_pids, 8u);
  const auto next = isolator->invoke(plugin("fork_bomb"), "method", {"24"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  if (GetParam() == Containment::rlimit) {
    // RLIMIT_NPROC counts every process of the user, other tests' included.
    EXPECT_GE(*next.code, 8) << "under the isolator's 64 again";
  } else {
    EXPECT_EQ(*next.code, 24) << "under the isolator's 64 again";
  }
  EXPECT_EQ(next.pid, r.pid);
  EXPECT_EQ(next.limits.max_pids, 64u);
}

TEST_P(ContainmentTest, AnOverrideTheBackendCannotEnforceIsLimitUnavailableAndTheChildStays) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  Limits pids;
  pids.max_pids = 16;
  if (test::cannot(GetParam(), pids).empty()) {
    GTEST_SKIP() << to_string(GetParam()) << " can enforce a process count here: nothing to refuse";
  }
  auto isolator = make();
  const auto before = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(before.ok());
  CallLimits few;
  few.max_pids = 8;
  const auto r = isolator->invoke(limited("fork_bomb", {"4"}, few));
  ASSERT_FALSE(r.ok()) << "it ran, forking " << r.code.value_or(0) << " times";
  EXPECT_EQ(r.failure->kind, FailureKind::limit_unavailable) << r.failure->message;
  EXPECT_NE(r.failure->message.find("CallOptions::limits.max_pids"), std::string::npos) << r.failure->message;
  EXPECT_EQ(r.pid, before.pid) << "the child stays";
  const auto next = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.pid, before.pid);
}

TEST(CallLimitChecks, AnRlimitOverrideOfAnotherUsersPihostIsRefusedWithoutCapSysResource) {
  if (::geteuid() != 0 || test::has_cap_sys_resource()) {
    GTEST_SKIP() << "needs a root host without CAP_SYS_RESOURCE (its sandboxed pihost is another user's); this "
                    "host is "
                 << (::geteuid() != 0 ? "not root" : "root with CAP_SYS_RESOURCE");
  }
  auto isolator = ProcessIsolator::create(test::confined(Containment::rlimit));
  const auto before = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(before.ok());
  // The sandbox runs pihost as root itself when the sandbox user cannot reach pihost (a
  // build tree in a directory of mode 0700, as mktemp makes): then it is this user's.
  std::ifstream status("/proc/" + std::to_string(before.pid) + "/status");
  std::string line;
  unsigned real_uid = 0;
  while (std::getline(status, line)) {
    if (std::sscanf(line.c_str(), "Uid: %u", &real_uid) == 1) break;
  }
  if (real_uid == ::geteuid()) {
    GTEST_SKIP() << "pihost runs as this user here (the sandbox user cannot reach it): no other user's limits";
  }
  CallLimits tighter;
  tighter.memory_bytes = 512ull << 20;
  const auto r = isolator->invoke(limited("memory_bomb", {"8"}, tighter));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::limit_unavailable) << r.failure->message;
  EXPECT_NE(r.failure->message.find("CAP_SYS_RESOURCE"), std::string::npos) << r.failure->message;
  EXPECT_EQ(r.pid, before.pid) << "the child stays";
}

TEST(CallLimitChecks, ALimitThatCannotBeALimitThrowsNamingTheField) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto refused = [&](CallLimits limits, const std::string& field) {
    Invocation invocation{plugin("args"), "echo", {"1"}};
    invocation.options.limits = limits;
    try {
      isolator->invoke(invocation);
      ADD_FAILURE() << field << ": not refused";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
    Command command{{"true"}};
    command.options.limits = limits;
    EXPECT_THROW(isolator->run(command), Error) << field;
  };
  CallLimits tiny;
  tiny.memory_bytes = 4096;
  refused(tiny, "CallOptions::limits.memory_bytes");
  CallLimits no_time;
  no_time.cpu_time = 0ms;
  refused(no_time, "CallOptions::limits.cpu_time");
  CallLimits no_pids;
  no_pids.max_pids = 0;
  refused(no_pids, "CallOptions::limits.max_pids");
}

TEST_P(ContainmentTest, CpuShareSlowsASpinDown) {
  Limits limits;
  limits.cpu_percent = 20;
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  const auto r = isolator->invoke(plugin("spin"), "method", {"1000"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  const auto cpu = r.usage.cpu_user + r.usage.cpu_sys;
  EXPECT_LT(cpu, 500ms) << "a 1 s spin at 20% of a CPU used " << cpu.count() << " us of CPU";
}

TEST_P(ContainmentTest, AffinityIsApplied) {
  Limits limits;
  limits.cpu_affinity = {0};
  SKIP_UNLESS_POSSIBLE(limits);
  auto isolator = make(limits);
  const auto r = isolator->invoke(plugin("inspect"), "cpus", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 1);
  EXPECT_EQ(r.output.at(0).text, "0");
}

TEST_P(ContainmentTest, OutputFloodIsTruncatedAndTheHostStaysSmall) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  Options options = test::confined(GetParam());
  options.max_output_bytes_per_call = 64 * 1024;
  auto isolator = ProcessIsolator::create(options);
  const auto before = test::resident_bytes();
  const auto r = isolator->invoke(plugin("flood"), "method", {"100"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_TRUE(r.output_truncated);
  EXPECT_LT(test::resident_bytes(), before + (32ll << 20)) << "100 MB of output did not stay in the host";
}

TEST_P(ContainmentTest, PihostKilledFromOutsideIsCrashedSigkillNotTimeout) {
  SKIP_UNLESS_POSSIBLE(Limits{});
  auto isolator = make();
  const int pid = isolator->pid();
  auto call = isolator->async_invoke(Invocation{plugin("sleep"), "method", {"10000"}, CallOptions{20s}},
                                     boost::asio::use_future);
  std::this_thread::sleep_for(100ms);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  ::close(pidfd);
  const auto r = call.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::crashed) << r.failure->message;
  EXPECT_EQ(r.failure->signal, SIGKILL);
  EXPECT_EQ(r.failure->message.find("timeout"), std::string::npos) << r.failure->message;
}

INSTANTIATE_TEST_SUITE_P(Backends, ContainmentTest,
                         ::testing::Values(Containment::cgroup_v2, Containment::cgroup_v1,
                                           Containment::rlimit),
                         [](const auto& param) { return test::identifier(param.param); });

TEST(Limits, RequireLimitsRefusesWhatTheBackendCannotEnforceAndSaysTheFix) {
  Limits limits;
  limits.cpu_percent = 50;
  try {
    ProcessIsolator::create(test::confined(Containment::rlimit, limits));
    FAIL() << "a CPU share cannot be enforced with rlimits";
  } catch (const StartError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cpu"), std::string::npos) << message;
    EXPECT_NE(message.find("use a cgroup backend"), std::string::npos) << message;
  }
}

TEST(Limits, WithoutRequireLimitsTheChildRunsWithoutTheLimit) {
  Options options = test::confined(Containment::rlimit);
  options.limits.cpu_percent = 50;
  options.require_limits = false;
  auto isolator = ProcessIsolator::create(options);
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
}

TEST(Limits, CgroupV1LimitsAreReadBackFromTheKernel) {
  Limits limits;
  limits.memory_bytes = 64ull << 20;
  limits.max_pids = 16;
  limits.cpu_percent = 50;
  if (const auto why = test::cannot(Containment::cgroup_v1, limits); !why.empty()) {
    GTEST_SKIP() << "cgroup-v1 cannot do this here: " << why;
  }
  auto isolator = ProcessIsolator::create(test::confined(Containment::cgroup_v1, limits));
  std::map<std::string, std::string> found;
  for (const auto& dir : cgroup_dirs_of(isolator->pid())) {
    for (const char* file : {"memory.limit_in_bytes", "pids.max", "cpu.cfs_quota_us"}) {
      std::ifstream in(dir / file);
      std::string value;
      if (in >> value) found[file] = value;
    }
  }
  EXPECT_EQ(found["memory.limit_in_bytes"], std::to_string(64ull << 20));
  EXPECT_EQ(found["pids.max"], "16");
  EXPECT_EQ(found["cpu.cfs_quota_us"], "50000");
}

TEST(Limits, AChildSpawnedForAShortLivedThreadLivesOn) {
  // PR_SET_PDEATHSIG follows the spawning thread: the isolator spawns from its own
  // long-lived I/O thread, never from the caller's.
  std::unique_ptr<ProcessIsolator> isolator;
  std::thread([&] { isolator = ProcessIsolator::create(test::options()); }).join();
  const int pid = isolator->pid();
  std::this_thread::sleep_for(300ms);
  const auto r = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(r.pid, pid) << "the first child survived its creator thread";
}

TEST(Limits, ProbeReportsEveryBackendAndItsChoice) {
  const auto report = probe(test::options());
  ASSERT_EQ(report.backends.size(), 3u);
  const auto text = report.to_text();
  for (const char* name : {"cgroup-v2:", "cgroup-v1:", "rlimit:", "chosen:"}) {
    EXPECT_NE(text.find(name), std::string::npos) << text;
  }
  EXPECT_TRUE(report.backends[2].usable) << "rlimits work everywhere";
}

}  // namespace
}  // namespace isolator
