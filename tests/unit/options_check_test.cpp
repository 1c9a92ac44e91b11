// The checks create() makes on Options before it starts anything (options_check.hpp):
// validated(), child_environment() and enforceable_limits(). No process is started; the
// backend checks are made up.
#include "options_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/limits.hpp>
#include <isolator/logging.hpp>
#include <isolator/options.hpp>
#include <isolator/probe.hpp>

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <sched.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace isolator::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Success when validated(options) throws OptionsError (not another exception) whose message
// holds every one of `needles`.
testing::AssertionResult RefusedNaming(const Options& options, std::initializer_list<std::string> needles) {
  try {
    validated(options);
  } catch (const OptionsError& e) {
    const std::string message = e.what();
    for (const auto& needle : needles) {
      if (message.find(needle) == std::string::npos) {
        return testing::AssertionFailure() << "the message does not name '" << needle << "': " << message;
      }
    }
    return testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw something other than OptionsError: " << e.what();
  }
  return testing::AssertionFailure() << "the options were accepted";
}

testing::AssertionResult Accepted(const Options& options) {
  try {
    if (&validated(options) != &options) return testing::AssertionFailure() << "returned another object";
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "refused: " << e.what();
  }
  return testing::AssertionSuccess();
}

// --- validated ---------------------------------------------------------------------------

TEST(OptionsValidated, DefaultsAreValidAndReturnedAsIs) { EXPECT_TRUE(Accepted(Options{})); }

struct Timeout {
  const char* field;  // as the message names it
  std::function<void(Options&, milliseconds)> set;
};

const Timeout positive_timeouts[] = {
    {"Options::start_timeout", [](Options& o, milliseconds d) { o.start_timeout = d; }},
    {"Options::call_timeout", [](Options& o, milliseconds d) { o.call_timeout = d; }},
    {"Options::shutdown.graceful_timeout",
     [](Options& o, milliseconds d) { o.shutdown.graceful_timeout = d; }},
    {"Options::shutdown.terminate_timeout",
     [](Options& o, milliseconds d) { o.shutdown.terminate_timeout = d; }},
    {"Options::supervision.heartbeat_timeout",
     [](Options& o, milliseconds d) { o.supervision.heartbeat_timeout = d; }},
    {"Options::supervision.restart_window",
     [](Options& o, milliseconds d) { o.supervision.restart_window = d; }},
};

TEST(OptionsValidated, EveryTimeoutMustBePositiveAndTheMessageNamesIt) {
  for (const auto& timeout : positive_timeouts) {
    for (const auto value : {0ms, -1ms, milliseconds::min()}) {
      SCOPED_TRACE(std::string(timeout.field) + " = " + std::to_string(value.count()) + " ms");
      Options options;
      timeout.set(options, value);
      EXPECT_TRUE(RefusedNaming(options, {timeout.field, "must be positive"}));
    }
  }
}

TEST(OptionsValidated, ASmallPositiveTimeoutIsAccepted) {
  for (const auto& timeout : positive_timeouts) {
    if (std::string(timeout.field) == "Options::supervision.heartbeat_timeout") continue;  // below
    SCOPED_TRACE(timeout.field);
    Options options;
    timeout.set(options, 1ms);
    EXPECT_TRUE(Accepted(options));
  }
}

TEST(OptionsValidated, NoCallTimeoutIsValid) {
  Options options;
  options.call_timeout.reset();
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, HeartbeatIntervalMustNotBeNegativeAndZeroDisablesTheHeartbeat) {
  Options options;
  options.supervision.heartbeat_interval = -1ms;
  EXPECT_TRUE(RefusedNaming(options, {"Options::supervision.heartbeat_interval", "must not be negative"}));

  // Disabled: the timeout is then not compared with the interval.
  options.supervision.heartbeat_interval = 0ms;
  options.supervision.heartbeat_timeout = 1ms;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, HeartbeatTimeoutMustBeLongerThanTheInterval) {
  Options options;
  options.supervision.heartbeat_interval = 1000ms;
  options.supervision.heartbeat_timeout = 500ms;
  EXPECT_TRUE(RefusedNaming(
      options, {"Options::supervision.heartbeat_timeout", "heartbeat_interval", "500 ms", "1000 ms"}));
  options.supervision.heartbeat_timeout = 1000ms;  // equal is not longer
  EXPECT_TRUE(RefusedNaming(options, {"Options::supervision.heartbeat_timeout", "heartbeat_interval"}));
  options.supervision.heartbeat_timeout = 1001ms;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, BackoffInitialMustNotBeNegativeButMayBeZero) {
  Options options;
  options.supervision.backoff_initial = -1ms;
  EXPECT_TRUE(RefusedNaming(options, {"Options::supervision.backoff_initial", "must not be negative"}));
  options.supervision.backoff_initial = 0ms;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, BackoffMaxMustNotBeShorterThanBackoffInitial) {
  Options options;
  options.supervision.backoff_initial = 10ms;
  options.supervision.backoff_max = 5ms;
  EXPECT_TRUE(
      RefusedNaming(options, {"Options::supervision.backoff_max", "backoff_initial", "5 ms", "10 ms"}));
  options.supervision.backoff_max = 10ms;  // equal is fine
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, ASpareChildNeedsARestartPolicyThatReplacesChildren) {
  Options options;
  options.supervision.spare_child = true;
  EXPECT_TRUE(Accepted(options)) << "with the default on_failure";
  options.supervision.restart = RestartPolicy::always;
  EXPECT_TRUE(Accepted(options));
  options.supervision.restart = RestartPolicy::never;
  EXPECT_TRUE(RefusedNaming(options, {"Options::supervision.spare_child", "restart is never"}));
  options.supervision.spare_child = false;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, MaxFrameBytesMustBeWithin4KiBAnd1GiB) {
  constexpr std::size_t kib4 = 4096;
  constexpr std::size_t gib1 = std::size_t{1} << 30;
  for (const std::size_t refused : {std::size_t{0}, kib4 - 1, gib1 + 1, ~std::size_t{0}}) {
    SCOPED_TRACE(refused);
    Options options;
    options.max_frame_bytes = refused;
    EXPECT_TRUE(RefusedNaming(options, {"Options::max_frame_bytes", std::to_string(refused),
                                        std::to_string(kib4), std::to_string(gib1)}));
  }
  for (const std::size_t accepted : {kib4, gib1}) {
    SCOPED_TRACE(accepted);
    Options options;
    options.max_frame_bytes = accepted;
    EXPECT_TRUE(Accepted(options));
  }
}

TEST(OptionsValidated, MaxLineBytesMustBePositive) {
  Options options;
  options.max_line_bytes = 0;
  EXPECT_TRUE(RefusedNaming(options, {"Options::max_line_bytes", "must be positive"}));
  options.max_line_bytes = 1;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, RecordsDirectoryMustBeAbsolute) {
  Options options;
  options.records_directory = "records";
  EXPECT_TRUE(RefusedNaming(options, {"Options::records_directory", "relative", "absolute"}));
  options.records_directory = "/run/user/1000/isolator";
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, MemoryLimitMustBeAtLeast1MiB) {
  Options options;
  options.limits.memory_bytes = (std::uint64_t{1} << 20) - 1;
  EXPECT_TRUE(
      RefusedNaming(options, {"Options::limits.memory_bytes", std::to_string((1 << 20) - 1), "1 MiB"}));
  options.limits.memory_bytes = 0;
  EXPECT_TRUE(RefusedNaming(options, {"Options::limits.memory_bytes"}));
  options.limits.memory_bytes = std::uint64_t{1} << 20;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, CpuPercentMustBePositive) {
  for (const double refused : {0.0, -5.0, std::nan("")}) {
    SCOPED_TRACE(refused);
    Options options;
    options.limits.cpu_percent = refused;
    EXPECT_TRUE(RefusedNaming(options, {"Options::limits.cpu_percent", "must be positive"}));
  }
  Options options;
  options.limits.cpu_percent = 0.5;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, MaxPidsMustBePositive) {
  Options options;
  options.limits.max_pids = 0;
  EXPECT_TRUE(RefusedNaming(options, {"Options::limits.max_pids", "must be positive"}));
  options.limits.max_pids = 1;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, CpuTimePerCallMustBePositive) {
  Options options;
  for (const auto refused : {0ms, -1ms}) {
    options.limits.cpu_time_per_call = refused;
    EXPECT_TRUE(RefusedNaming(options, {"Options::limits.cpu_time_per_call", "must be positive"}));
  }
  options.limits.cpu_time_per_call = 1ms;
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, CpuAffinityMustNameCpusWithinTheCpuSet) {
  for (const int refused : {-1, CPU_SETSIZE}) {
    SCOPED_TRACE(refused);
    Options options;
    options.limits.cpu_affinity = {0, refused};
    EXPECT_TRUE(RefusedNaming(options, {"Options::limits.cpu_affinity", "CPU " + std::to_string(refused),
                                        std::to_string(CPU_SETSIZE - 1)}));
  }
  Options options;
  options.limits.cpu_affinity = {0, CPU_SETSIZE - 1};
  EXPECT_TRUE(Accepted(options));
}

TEST(OptionsValidated, EnvironmentNamesMustBeNonEmptyAndWithoutEquals) {
  for (const std::string bad : {"", "A=B", "=", "PATH="}) {
    SCOPED_TRACE("'" + bad + "'");
    Options options;
    options.environment = {{"GOOD", "1"}, {bad, "value"}};
    EXPECT_TRUE(RefusedNaming(options, {"Options::environment", "'" + bad + "'"}));

    options = Options{};
    options.inherit_environment.push_back(bad);
    EXPECT_TRUE(RefusedNaming(options, {"Options::inherit_environment", "'" + bad + "'"}));
  }
}

TEST(OptionsValidated, EnvironmentValuesMayHoldAnything) {
  Options options;
  options.environment = {{"A", ""}, {"B", "x=y=z"}, {"C", "with spaces\tand tabs"}};
  EXPECT_TRUE(Accepted(options));
}

// --- child_environment -------------------------------------------------------------------

// Sets a host variable for one test and restores the previous state.
class ScopedHostVariable {
 public:
  ScopedHostVariable(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = ::getenv(name_.c_str())) old_ = old;
    if (value != nullptr) {
      ::setenv(name_.c_str(), value, 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ~ScopedHostVariable() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedHostVariable(const ScopedHostVariable&) = delete;
  ScopedHostVariable& operator=(const ScopedHostVariable&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST(OptionsChildEnvironment, OnlyInheritedHostVariablesThatAreSetThenTheExplicitOnesSortedByName) {
  const ScopedHostVariable inherited("ISOLATOR_TEST_INHERITED", "from host");
  const ScopedHostVariable unset("ISOLATOR_TEST_UNSET", nullptr);
  const ScopedHostVariable other("ISOLATOR_TEST_NOT_INHERITED", "secret");
  Options options;
  options.inherit_environment = {"ISOLATOR_TEST_UNSET", "ISOLATOR_TEST_INHERITED"};
  options.environment = {{"ZED", "last"}, {"ALPHA", "a=b"}};
  EXPECT_EQ(child_environment(options),
            (std::vector<std::string>{"ALPHA=a=b", "ISOLATOR_TEST_INHERITED=from host", "ZED=last"}));
}

TEST(OptionsChildEnvironment, ExplicitVariablesOverrideInheritedOnesAndTheLastExplicitOneWins) {
  const ScopedHostVariable inherited("ISOLATOR_TEST_INHERITED", "from host");
  Options options;
  options.inherit_environment = {"ISOLATOR_TEST_INHERITED"};
  options.environment = {{"ISOLATOR_TEST_INHERITED", "first"}, {"ISOLATOR_TEST_INHERITED", "second"}};
  EXPECT_EQ(child_environment(options), std::vector<std::string>{"ISOLATOR_TEST_INHERITED=second"});
}

TEST(OptionsChildEnvironment, NothingInheritedAndNothingSetIsAnEmptyEnvironment) {
  Options options;
  options.inherit_environment.clear();
  EXPECT_TRUE(child_environment(options).empty());
}

TEST(OptionsChildEnvironment, AnInheritedVariableSetToEmptyIsPassedEmpty) {
  const ScopedHostVariable empty("ISOLATOR_TEST_EMPTY", "");
  Options options;
  options.inherit_environment = {"ISOLATOR_TEST_EMPTY"};
  EXPECT_EQ(child_environment(options), std::vector<std::string>{"ISOLATOR_TEST_EMPTY="});
}

// --- enforceable_limits ------------------------------------------------------------------

// Keeps what is logged to it; owned by the logger, so it lives as long as any holder of it.
class StringSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

// Captures what the library logs for the duration of one test.
class CapturedLog {
 public:
  CapturedLog() {
    auto logger = std::make_shared<spdlog::logger>("isolator", sink_);
    logger->set_level(spdlog::level::trace);
    set_logger(std::move(logger));
  }
  ~CapturedLog() { set_logger(nullptr); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  std::string text() const { return sink_->text(); }

 private:
  std::shared_ptr<StringSink> sink_ = std::make_shared<StringSink>();
};

LimitCheck enforced(LimitKind kind) {
  return LimitCheck{std::string(to_string(kind)), true, "enforced", "", kind};
}

LimitCheck not_enforced(LimitKind kind, std::string how, std::string fix) {
  return LimitCheck{std::string(to_string(kind)), false, std::move(how), std::move(fix), kind};
}

BackendCheck usable(Containment backend, std::vector<LimitCheck> limits) {
  return BackendCheck{backend, true, "works", "", std::move(limits)};
}

// Every limit set.
Options all_limits(bool require_limits) {
  Options options;
  options.limits.memory_bytes = std::uint64_t{64} << 20;
  options.limits.cpu_percent = 50;
  options.limits.max_pids = 32;
  options.limits.cpu_affinity = {0};
  options.limits.cpu_time_per_call = 2000ms;
  options.require_limits = require_limits;
  return options;
}

TEST(OptionsEnforceableLimits, EveryLimitEnforceableKeepsThemAllAndSaysNothing) {
  CapturedLog log;
  BackendCheck check = usable(Containment::cgroup_v2, {});
  for (const auto kind :
       {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}) {
    check.limits.push_back(enforced(kind));
  }
  const Options options = all_limits(true);
  const Limits limits = enforceable_limits(options, check);
  EXPECT_EQ(limits.memory_bytes, options.limits.memory_bytes);
  EXPECT_EQ(limits.cpu_percent, options.limits.cpu_percent);
  EXPECT_EQ(limits.max_pids, options.limits.max_pids);
  EXPECT_EQ(limits.cpu_affinity, options.limits.cpu_affinity);
  EXPECT_EQ(limits.cpu_time_per_call, options.limits.cpu_time_per_call);
  EXPECT_EQ(log.text(), "");
}

TEST(OptionsEnforceableLimits, WithoutRequireLimitsAnUnenforceableRequestedLimitIsDroppedWithAWarning) {
  CapturedLog log;
  const BackendCheck check = usable(
      Containment::rlimit,
      {enforced(LimitKind::memory),
       not_enforced(LimitKind::cpu, "a CPU share needs the cgroup cpu controller", "use a cgroup backend"),
       enforced(LimitKind::pids), enforced(LimitKind::affinity),
       not_enforced(LimitKind::cpu_time, "no counter", "")});
  const Options options = all_limits(false);
  const Limits limits = enforceable_limits(options, check);
  EXPECT_FALSE(limits.cpu_percent);
  EXPECT_FALSE(limits.cpu_time_per_call);
  EXPECT_EQ(limits.memory_bytes, options.limits.memory_bytes);
  EXPECT_EQ(limits.max_pids, options.limits.max_pids);
  EXPECT_EQ(limits.cpu_affinity, options.limits.cpu_affinity);

  const std::string warning = log.text();
  EXPECT_NE(warning.find("rlimit cannot enforce these requested limits"), std::string::npos) << warning;
  EXPECT_NE(warning.find("cpu: a CPU share needs the cgroup cpu controller; fix: use a cgroup backend"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("cpu-time: no counter"), std::string::npos) << warning;
  EXPECT_EQ(warning.find("cpu-time: no counter; fix:"), std::string::npos) << "no fix, no 'fix:'";
  EXPECT_NE(warning.find("Options::require_limits"), std::string::npos) << warning;
  EXPECT_EQ(warning.find("memory"), std::string::npos) << "an enforced limit is not named\n" << warning;
}

TEST(OptionsEnforceableLimits, WithRequireLimitsAnUnenforceableRequestedLimitIsAStartError) {
  CapturedLog log;
  const BackendCheck check = usable(
      Containment::cgroup_v1,
      {not_enforced(LimitKind::memory, "no memory hierarchy", "mount it"), enforced(LimitKind::cpu),
       enforced(LimitKind::pids), enforced(LimitKind::affinity), enforced(LimitKind::cpu_time)});
  try {
    enforceable_limits(all_limits(true), check);
    ADD_FAILURE() << "no StartError";
  } catch (const StartError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cgroup-v1 cannot enforce these requested limits"), std::string::npos) << message;
    EXPECT_NE(message.find("memory: no memory hierarchy; fix: mount it"), std::string::npos) << message;
    EXPECT_NE(message.find("Options::require_limits is set"), std::string::npos) << message;
  }
  EXPECT_EQ(log.text(), "") << "refused, not warned";
}

TEST(OptionsEnforceableLimits, AnUnenforceableLimitThatWasNotRequestedDoesNotMatter) {
  CapturedLog log;
  BackendCheck check = usable(Containment::rlimit, {});
  for (const auto kind :
       {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}) {
    check.limits.push_back(not_enforced(kind, "cannot", "fix it"));
  }
  Options options;  // no limit requested
  options.require_limits = true;
  const Limits limits = enforceable_limits(options, check);
  EXPECT_FALSE(limits.any());
  EXPECT_EQ(log.text(), "");
}

TEST(OptionsEnforceableLimits, EachKindDropsItsOwnField) {
  CapturedLog log;
  const Options options = all_limits(false);
  for (const auto kind :
       {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const BackendCheck check = usable(Containment::rlimit, {not_enforced(kind, "cannot", "")});
    const Limits limits = enforceable_limits(options, check);
    EXPECT_FALSE(limits.is_set(kind));
    for (const auto other :
         {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}) {
      if (other != kind) {
        EXPECT_TRUE(limits.is_set(other)) << to_string(other) << " was dropped too";
      }
    }
  }
}

}  // namespace
}  // namespace isolator::detail
