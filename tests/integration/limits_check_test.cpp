// The limits a child's containment set are read again at every call boundary: a plugin that
// raises its own (as root it can write its cgroup's limit files, or raise a hard rlimit)
// fails its call with limits_changed, its child is killed (ExitCause::limits_changed) and
// replaced, and the next call runs on a fresh child whose limits read as set again.
//
// Run against every backend. A backend or limit this machine cannot provide, or a plugin
// without the privilege to change the limit (an unprivileged run), is skipped with the
// reason. The plugins are trusted (Options::protection): the default sandbox is to hide the
// cgroup file system from plugins, and these tests need a plugin that can reach it.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <mutex>
#include <thread>
#include <variant>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

constexpr std::uint64_t mib = 1ull << 20;

// The limits under test, enforced by `backend`: RLIMIT_AS counts address space, so pihost
// needs room for its libraries and stacks there.
Limits memory_limit(Containment backend) {
  Limits limits;
  limits.memory_bytes = backend == Containment::rlimit ? 512 * mib : 64 * mib;
  return limits;
}
Limits pids_limit() {
  Limits limits;
  limits.max_pids = 64;
  return limits;
}
Limits cpu_limit() {
  Limits limits;
  limits.cpu_percent = 50;
  return limits;
}

// The component of a v1 directory that names its hierarchy's controllers ("cpu,cpuacct").
bool in_hierarchy(const std::filesystem::path& dir, const std::string& controller) {
  const std::string text = dir.string();
  const std::string prefix = "/sys/fs/cgroup/";
  if (text.rfind(prefix, 0) != 0) return false;
  const std::string list = "," + text.substr(prefix.size(), text.find('/', prefix.size()) - prefix.size()) +
                           ",";
  return list.find("," + controller + ",") != std::string::npos;
}

// What limit `what` ("memory", "pids", "cpu") of child `pid` reads now under `backend`: the
// first line of its cgroup file, or its hard rlimit. Read here, not by the plugin.
std::string limit_now(Containment backend, int pid, const std::string& what) {
  if (backend == Containment::rlimit) {
    rlimit now{};
    if (::prlimit(pid, RLIMIT_AS, nullptr, &now) != 0) return "(unreadable)";
    return std::to_string(now.rlim_max);
  }
  const bool v2 = backend == Containment::cgroup_v2;
  const std::string file = what == "memory" ? (v2 ? "memory.max" : "memory.limit_in_bytes")
                           : what == "pids" ? "pids.max"
                                            : (v2 ? "cpu.max" : "cpu.cfs_quota_us");
  for (const auto& dir : test::cgroup_dirs_of(pid)) {
    // The v2 backend's child has one isolator cgroup (its v1 ones are the host's).
    if (!v2 && !in_hierarchy(dir, what)) continue;
    std::ifstream in(dir / file);
    std::string line;
    std::getline(in, line);
    return line;
  }
  return "(no cgroup)";
}

// What the backend set for the test's limit `what`, as its file (or hard rlimit) reads.
std::string value_set(Containment backend, const std::string& what) {
  if (what == "memory") return std::to_string(*memory_limit(backend).memory_bytes);  // whole pages
  if (what == "pids") return "64";
  return backend == Containment::cgroup_v2 ? "50000 100000" : "50000";  // 50 % of a 100 ms period
}

// The file the failure message must name for `what`.
std::string file_named(Containment backend, const std::string& what) {
  if (backend == Containment::rlimit) return "RLIMIT_AS (hard) of pid";
  const bool v2 = backend == Containment::cgroup_v2;
  if (what == "memory") return v2 ? "memory.max" : "memory.limit_in_bytes";
  if (what == "pids") return "pids.max";
  return v2 ? "cpu.max" : "cpu.cfs_quota_us";
}

class LimitsCheckTest : public ::testing::TestWithParam<Containment> {
 protected:
  // An isolator confined by the backend under test with `limits`, its plugins trusted, every
  // child's exit recorded.
  std::unique_ptr<ProcessIsolator> make(const Limits& limits) {
    Options options = test::confined(GetParam(), limits);
    options.protection.trusted_plugin = true;
    options.on_event = [this](const Event& event) {
      if (const auto* exited = std::get_if<ExitedEvent>(&event)) {
        std::lock_guard lock(mutex_);
        exits_.push_back(*exited);
      }
    };
    return ProcessIsolator::create(options);
  }

  // Why the plugin could not raise `what` here ("" when it could), asked of the plugin on
  // `isolator`'s child without changing anything.
  std::string cannot_raise(ProcessIsolator& isolator, const std::string& what) {
    const auto r = isolator.invoke(plugin("raise_limits"), "can_raise", {backend(), what});
    if (!r.ok()) return "can_raise failed: " + r.failure->message;
    if (*r.code == 0) return "";
    std::string why = "the plugin cannot change it (code " + std::to_string(*r.code) + ")";
    for (const auto& line : r.output) why += ": " + line.text;
    return why;
  }

  // The cause of child `pid`'s ExitedEvent, once it arrives (events come on the isolator's
  // thread, possibly just after a result).
  std::optional<ExitCause> exit_cause_of(int pid) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mutex_);
        for (const auto& exited : exits_) {
          if (exited.pid == pid) return exited.cause;
        }
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

  std::size_t exit_count() {
    std::lock_guard lock(mutex_);
    return exits_.size();
  }

  std::string backend() const { return std::string(to_string(GetParam())); }

  // The plugin changes `what` in its call (`method`: raise_now, by default): the call fails
  // with limits_changed, naming the file, the value set and the value found; the child is
  // killed and replaced, and the next call runs on a fresh child whose limit reads as set.
  void expect_a_change_fails_its_call_and_is_undone(ProcessIsolator& isolator, const std::string& what,
                                                    const std::string& method = "raise_now") {
    const int pid = isolator.pid();
    const std::string set = value_set(GetParam(), what);
    ASSERT_EQ(limit_now(GetParam(), pid, what), set) << "the limit as the backend set it";

    const auto r = isolator.invoke(plugin("raise_limits"), method, {backend(), what});
    ASSERT_FALSE(r.ok()) << "the plugin changed its " << what << " limit and the call returned " << *r.code;
    EXPECT_EQ(r.failure->kind, FailureKind::limits_changed) << r.failure->message;
    EXPECT_NE(r.failure->message.find(file_named(GetParam(), what)), std::string::npos) << r.failure->message;
    EXPECT_NE(r.failure->message.find("was set to '" + set + "' and now reads '"), std::string::npos)
        << r.failure->message;
    EXPECT_EQ(r.pid, pid);
    EXPECT_EQ(exit_cause_of(pid), ExitCause::limits_changed);

    const auto next = isolator.invoke(plugin("args"), "echo", {"7"});
    ASSERT_TRUE(next.ok()) << next.failure->message;
    EXPECT_EQ(*next.code, 7);
    EXPECT_NE(next.pid, pid) << "the next call ran on the child whose limits changed";
    EXPECT_EQ(limit_now(GetParam(), next.pid, what), set) << "the fresh child's limit";
  }

  std::mutex mutex_;
  std::vector<ExitedEvent> exits_;
};

#define SKIP_UNLESS_ENFORCEABLE(limits)                                                  \
  if (const auto why = test::cannot(GetParam(), limits); !why.empty()) {                 \
    GTEST_SKIP() << to_string(GetParam()) << " cannot do this on this machine: " << why; \
  }

#define SKIP_UNLESS_RAISABLE(isolator, what)                                                           \
  if (const auto why = cannot_raise(isolator, what); !why.empty()) {                                   \
    GTEST_SKIP() << "the plugin cannot raise its " << what << " limit under " << to_string(GetParam()) \
                 << " here: " << why;                                                                  \
  }

// RLIMIT_AS under AddressSanitizer: it reserves terabytes of address space.
#ifdef ISOLATOR_TEST_SANITIZED
#define SKIP_RLIMIT_AS_UNDER_SANITIZERS()                                               \
  if (GetParam() == Containment::rlimit) {                                              \
    GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space (RLIMIT_AS)"; \
  }
#else
#define SKIP_RLIMIT_AS_UNDER_SANITIZERS()
#endif

TEST_P(LimitsCheckTest, RaisingItsMemoryLimitFailsTheCallAndTheNextRunsOnAFreshChildWithTheLimitSet) {
  SKIP_RLIMIT_AS_UNDER_SANITIZERS();
  const Limits limits = memory_limit(GetParam());
  SKIP_UNLESS_ENFORCEABLE(limits);
  auto isolator = make(limits);
  SKIP_UNLESS_RAISABLE(*isolator, "memory");
  expect_a_change_fails_its_call_and_is_undone(*isolator, "memory");
}

TEST_P(LimitsCheckTest, RaisingItsPidsLimitFailsTheCallAndTheNextRunsOnAFreshChildWithTheLimitSet) {
  if (GetParam() == Containment::rlimit) {
    GTEST_SKIP() << "RLIMIT_NPROC binds only a user without CAP_SYS_RESOURCE, who cannot raise it";
  }
  SKIP_UNLESS_ENFORCEABLE(pids_limit());
  auto isolator = make(pids_limit());
  SKIP_UNLESS_RAISABLE(*isolator, "pids");
  expect_a_change_fails_its_call_and_is_undone(*isolator, "pids");
}

TEST_P(LimitsCheckTest, RaisingItsCpuQuotaFailsTheCallAndTheNextRunsOnAFreshChildWithTheQuotaSet) {
  SKIP_UNLESS_ENFORCEABLE(cpu_limit());
  auto isolator = make(cpu_limit());
  SKIP_UNLESS_RAISABLE(*isolator, "cpu");
  expect_a_change_fails_its_call_and_is_undone(*isolator, "cpu");
}

// During a call with its own memory limit (CallOptions::limits), the watch expects that one:
// a plugin raising it is found when the call returns, as it would be for the isolator's.
TEST_P(LimitsCheckTest, RaisingItsOwnPerCallMemoryLimitFailsTheCallAndTheNextHasTheIsolatorsLimit) {
  if (GetParam() == Containment::rlimit) {
    GTEST_SKIP() << "a call's own memory limit under rlimit is the soft RLIMIT_AS, the plugin's to move up to the "
                    "hard one (docs/limits.md, Per-call limits)";
  }
  const Limits limits = memory_limit(GetParam());
  SKIP_UNLESS_ENFORCEABLE(limits);
  auto isolator = make(limits);
  SKIP_UNLESS_RAISABLE(*isolator, "memory");
  const int pid = isolator->pid();
  const std::uint64_t own = 96ull << 20;  // whole pages, looser than the isolator's
  // A call with its own limit that leaves it alone: the limit reads as the isolator's after it.
  Invocation echo{plugin("args"), "echo", {"3"}};
  echo.options.limits.memory_bytes = own;
  const auto quiet = isolator->invoke(echo);
  ASSERT_TRUE(quiet.ok()) << quiet.failure->message;
  EXPECT_EQ(quiet.pid, pid);
  EXPECT_EQ(limit_now(GetParam(), pid, "memory"), value_set(GetParam(), "memory")) << "put back after the call";
  Invocation raise{plugin("raise_limits"), "raise_now", {backend(), "memory"}};
  raise.options.limits.memory_bytes = own;
  const auto r = isolator->invoke(raise);
  ASSERT_FALSE(r.ok()) << "the plugin raised its own per-call limit and the call returned " << *r.code;
  EXPECT_EQ(r.failure->kind, FailureKind::limits_changed) << r.failure->message;
  EXPECT_NE(r.failure->message.find("was set to '" + std::to_string(own) + "' and now reads '"), std::string::npos)
      << r.failure->message;
  EXPECT_EQ(exit_cause_of(pid), ExitCause::limits_changed);
  const auto next = isolator->invoke(plugin("args"), "echo", {"7"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_NE(next.pid, pid);
  EXPECT_EQ(limit_now(GetParam(), next.pid, "memory"), value_set(GetParam(), "memory")) << "the isolator's limit";
}

// A hard rlimit lowered is a change too (any process may lower its own; raising one takes
// CAP_SYS_RESOURCE, which root may lack: this machine's bounding set leaves it out). The
// cgroup backends' files are covered by the tests above.
TEST_P(LimitsCheckTest, LoweringItsHardRlimitFailsTheCallAndTheNextRunsOnAFreshChildWithTheLimitSet) {
  if (GetParam() != Containment::rlimit) GTEST_SKIP() << "a hard rlimit is the rlimit backend's";
  SKIP_RLIMIT_AS_UNDER_SANITIZERS();
  const Limits limits = memory_limit(GetParam());
  SKIP_UNLESS_ENFORCEABLE(limits);
  auto isolator = make(limits);
  expect_a_change_fails_its_call_and_is_undone(*isolator, "memory", "lower_hard_memory");
}

// A thread the call left behind raises the limit after the call returned: it is found before
// the next call is sent, so that call never runs under it. It fails nothing: it runs on the
// replacement.
TEST_P(LimitsCheckTest, ALimitRaisedBetweenCallsIsFoundBeforeTheNextCallWhichRunsOnAFreshChild) {
  SKIP_RLIMIT_AS_UNDER_SANITIZERS();
  const Limits limits = memory_limit(GetParam());
  SKIP_UNLESS_ENFORCEABLE(limits);
  auto isolator = make(limits);
  SKIP_UNLESS_RAISABLE(*isolator, "memory");
  const std::string set = value_set(GetParam(), "memory");
  const auto left = isolator->invoke(plugin("raise_limits"), "raise_later", {backend(), "memory", "50"});
  ASSERT_TRUE(left.ok()) << left.failure->message;
  ASSERT_EQ(*left.code, 0);
  const int pid = left.pid;
  // Until the thread has done it (a bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (limit_now(GetParam(), pid, "memory") == set && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_NE(limit_now(GetParam(), pid, "memory"), set) << "the thread did not raise the limit within 5 s";
  EXPECT_EQ(exit_count(), 0u) << "nothing reads the limits between calls";

  const auto next = isolator->invoke(plugin("args"), "echo", {"3"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(*next.code, 3);
  EXPECT_NE(next.pid, pid) << "the call ran on the child whose limit was raised";
  EXPECT_EQ(exit_cause_of(pid), ExitCause::limits_changed);
  EXPECT_EQ(limit_now(GetParam(), next.pid, "memory"), set);
}

// No false alarm: calls that leave the limits alone keep their child, with every limit the
// backend can enforce here set; and under rlimits, a soft limit lowered below the hard one
// (any process may) is not a change.
TEST_P(LimitsCheckTest, CallsThatLeaveTheLimitsAloneKeepTheirChild) {
  SKIP_RLIMIT_AS_UNDER_SANITIZERS();
  Limits limits = memory_limit(GetParam());
  if (GetParam() != Containment::rlimit) {
    limits.max_pids = pids_limit().max_pids;
    limits.cpu_percent = cpu_limit().cpu_percent;
  }
  SKIP_UNLESS_ENFORCEABLE(limits);
  auto isolator = make(limits);
  const int pid = isolator->pid();
  for (int i = 0; i < 20; ++i) {
    const auto r = isolator->invoke(plugin("args"), "echo", {std::to_string(i)});
    ASSERT_TRUE(r.ok()) << r.failure->message;
    EXPECT_EQ(r.pid, pid);
  }
  if (GetParam() == Containment::rlimit) {
    const auto lowered = isolator->invoke(plugin("raise_limits"), "lower_soft_memory", {});
    ASSERT_TRUE(lowered.ok()) << lowered.failure->message;
    EXPECT_EQ(*lowered.code, 0);
    EXPECT_EQ(lowered.pid, pid);
  }
  const auto last = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(last.ok()) << last.failure->message;
  EXPECT_EQ(last.pid, pid);
  EXPECT_EQ(exit_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, LimitsCheckTest,
                         ::testing::Values(Containment::cgroup_v2, Containment::cgroup_v1,
                                           Containment::rlimit),
                         [](const auto& param) { return test::identifier(param.param); });

}  // namespace
}  // namespace isolator
