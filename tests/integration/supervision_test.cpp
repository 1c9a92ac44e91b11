// The supervisor: a dead child is replaced after a backoff, within a restart limit; past
// it the isolator is failed until reset(); calls can opt in to retries.
#include "event_recorder.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/use_future.hpp>

#include <csignal>
#include <ctime>
#include <future>
#include <mutex>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

using Recorder = test::EventRecorder;

Options quick_restarts(Recorder& recorder, unsigned max_restarts = 3) {
  Options options = test::options();
  options.supervision.max_restarts = max_restarts;
  options.supervision.restart_window = 10s;
  options.supervision.backoff_initial = 5ms;
  options.supervision.backoff_max = 40ms;
  options.on_event = recorder.callback();
  return options;
}

TEST(Supervision, ACrashIsFollowedByARestartWithItsEvents) {
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder));
  const int first = isolator->pid();
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  const auto r = isolator->invoke(plugin("args"), "echo", {"3"});
  ASSERT_TRUE(r.ok());
  const auto attempts = recorder.all<RestartAttemptEvent>();
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].attempt, 1u);
  EXPECT_GE(attempts[0].delay, 4ms);  // 5 ms with 20 % jitter
  EXPECT_LE(attempts[0].delay, 6ms);
  const auto restarted = recorder.all<RestartedEvent>();
  ASSERT_EQ(restarted.size(), 1u);
  EXPECT_EQ(restarted[0].old_pid, first);
  EXPECT_EQ(restarted[0].new_pid, r.pid);
  EXPECT_EQ(restarted[0].attempt, attempts[0].attempt) << "a restart names the attempt it followed";
  EXPECT_EQ(restarted[0].delay, attempts[0].delay);
}

// A library whose static initializer crashes kills every child that loads it before its
// method runs: a restart storm. Each call is sent to a second child (the method never ran),
// so every call costs two deaths; the death after max_restarts restarts gives up.
TEST(Supervision, ARestartStormReachesTheLimitThenCallsFailFastUntilReset) {
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder, 3));
  const auto first = isolator->invoke(plugin("crash_at_load"), "method", {});
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.failure->kind, FailureKind::crashed) << first.failure->message;
  EXPECT_NE(first.failure->message.find("loading"), std::string::npos) << first.failure->message;
  const auto second = isolator->invoke(plugin("crash_at_load"), "method", {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.failure->kind, FailureKind::crashed) << "its fourth death gave up, after the call failed";
  const auto failed_fast = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_FALSE(failed_fast.ok());
  EXPECT_EQ(failed_fast.failure->kind, FailureKind::restart_limit) << failed_fast.failure->message;
  EXPECT_EQ(isolator->state(), State::failed);
  EXPECT_EQ(recorder.all<StartedEvent>().size(), 4u) << "the first child and three restarts";
  ASSERT_TRUE(recorder.wait_for<RestartLimitEvent>(1));
  EXPECT_EQ(recorder.all<RestartLimitEvent>()[0].attempts, 3u);

  isolator->reset();
  EXPECT_NE(isolator->state(), State::failed) << "left at once";
  const auto after_reset = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(after_reset.ok()) << after_reset.failure->message;
  EXPECT_EQ(*after_reset.code, 2);
}

// A method that crashes fails its own call, never the isolator: a plugin that crashes on
// some inputs keeps serving the others, however often it crashes. (Before the engine issue,
// three such crashes within the window made the isolator fail every later call.)
TEST(Supervision, CrashesInsideTheMethodNeverMakeTheIsolatorGiveUp) {
  Recorder recorder;
  Options options = quick_restarts(recorder, 2);
  options.supervision.backoff_initial = 1ms;
  options.supervision.backoff_max = 4ms;
  auto isolator = ProcessIsolator::create(options);
  for (int i = 0; i < 8; ++i) {
    const auto r = isolator->invoke(plugin("segv"), "method", {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, FailureKind::crashed) << "call " << i << ": " << r.failure->message;
  }
  const auto after = isolator->invoke(plugin("args"), "echo", {"5"});
  ASSERT_TRUE(after.ok()) << after.failure->message;
  EXPECT_EQ(*after.code, 5);
  EXPECT_TRUE(recorder.all<RestartLimitEvent>().empty());
  // Consecutive crashes with no success between them back off longer and longer (to the cap).
  const auto attempts = recorder.all<RestartAttemptEvent>();
  ASSERT_EQ(attempts.size(), 8u);
  for (std::size_t i = 0; i < attempts.size(); ++i) EXPECT_EQ(attempts[i].attempt, i + 1);
  EXPECT_LE(attempts.back().delay.count(), 4 * 12 / 10) << "capped at backoff_max";
}

// A successful call ends the streak of crashes: the next crash waits the shortest backoff.
TEST(Supervision, ASuccessfulCallEndsTheStreakOfCrashes) {
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder));
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"2"}).ok());
  const auto attempts = recorder.all<RestartAttemptEvent>();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].attempt, 1u);
  EXPECT_EQ(attempts[1].attempt, 2u);
  EXPECT_EQ(attempts[2].attempt, 1u) << "the success ended the streak";
  EXPECT_LE(attempts[2].delay, 6ms) << "the shortest backoff again";
}

// Each restart within the window waits twice as long as the one before, up to backoff_max,
// give or take 20 % of jitter.
TEST(Supervision, TheBackoffDoublesUpToItsCapWithJitter) {
  Recorder recorder;
  Options options = quick_restarts(recorder, 5);
  options.supervision.backoff_initial = 5ms;
  options.supervision.backoff_max = 20ms;
  auto isolator = ProcessIsolator::create(options);
  for (int i = 0; i < 6; ++i) ASSERT_FALSE(isolator->invoke(plugin("crash_at_load"), "method", {}).ok());
  ASSERT_TRUE(recorder.wait_for<RestartLimitEvent>(1));
  const auto attempts = recorder.all<RestartAttemptEvent>();
  ASSERT_EQ(attempts.size(), 5u);
  const long long unjittered[] = {5, 10, 20, 20, 20};
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    EXPECT_EQ(attempts[i].attempt, i + 1);
    const auto delay = attempts[i].delay.count();
    EXPECT_GE(delay, unjittered[i] * 8 / 10) << "attempt " << i + 1;
    EXPECT_LE(delay, unjittered[i] * 12 / 10) << "attempt " << i + 1;
  }
}

// Storm restarts older than the window are forgotten (a successful call does not forgive
// them): the next storm starts over at attempt 1, after the shortest backoff.
TEST(Supervision, RestartsOlderThanTheWindowAreForgotten) {
  Recorder recorder;
  Options options = quick_restarts(recorder, 3);
  options.supervision.restart_window = 300ms;
  // Two deaths must fall in one window: a crash report takes longer than that under the
  // sanitizers (about 390 ms a crash under ASan), and this test is about the window.
  options.crash_reports = false;
  auto isolator = ProcessIsolator::create(options);
  ASSERT_FALSE(isolator->invoke(plugin("crash_at_load"), "method", {}).ok());  // two deaths
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  std::this_thread::sleep_for(400ms);
  ASSERT_FALSE(isolator->invoke(plugin("crash_at_load"), "method", {}).ok());  // two more
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"2"}).ok())
      << "four storm deaths, but not in one window";
  const auto attempts = recorder.all<RestartAttemptEvent>();
  ASSERT_EQ(attempts.size(), 4u);
  EXPECT_EQ(attempts[0].attempt, 1u);
  EXPECT_EQ(attempts[1].attempt, 2u);
  EXPECT_EQ(attempts[2].attempt, 1u) << "the two restarts before were forgotten";
  EXPECT_EQ(attempts[3].attempt, 2u);
  EXPECT_LE(attempts[2].delay, 6ms) << "the shortest backoff again";
}

TEST(Supervision, WithRestartNeverTheIsolatorFailsAfterItsChildDies) {
  Recorder recorder;
  Options options = quick_restarts(recorder);
  options.supervision.restart = RestartPolicy::never;
  auto isolator = ProcessIsolator::create(options);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  const auto r = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::restart_limit);
  EXPECT_NE(r.failure->message.find("never"), std::string::npos) << r.failure->message;
  EXPECT_TRUE(recorder.all<RestartAttemptEvent>().empty());
  EXPECT_EQ(isolator->state(), State::failed);
  isolator->reset();
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
}

TEST(Supervision, ACallWithRetriesRunsAgainOnANewChildAfterACrash) {
  // In the child's working directory, which every child of the isolator shares and may
  // write (a directory of the test's is read-only to a sandboxed child).
  const std::string marker = "crashed-once";
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder));
  const int first = isolator->pid();
  Invocation call{plugin("crash_once"), "method", {marker}, {}};
  call.options.retries = 1;
  const auto r = isolator->invoke(call);
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 42);
  EXPECT_NE(r.pid, first);
}

// A call that keeps crashing runs 1 + N times, then fails with its last crash.
TEST(Supervision, RetriesRunOutAfterNMoreAttempts) {
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder, 5));
  Invocation call{plugin("segv"), "method", {}, {}};
  call.options.retries = 2;
  const auto r = isolator->invoke(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::crashed);
  std::size_t crashes = 0;
  for (const auto& exited : recorder.all<ExitedEvent>()) crashes += exited.cause == ExitCause::crashed;
  EXPECT_EQ(crashes, 3u) << "the first run and two retries";
}

TEST(Supervision, WithoutRetriesTheSameCallFailsWithTheCrash) {
  test::TempDir dir;
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder));
  const auto r = isolator->invoke(plugin("crash_once"), "method", {(dir.path() / "m").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->signal, SIGSEGV);
}

// An isolator whose child crashed and whose restart now waits out a 10 s backoff.
std::unique_ptr<ProcessIsolator> waiting_for_a_restart(Recorder& recorder) {
  Options options = quick_restarts(recorder);
  options.supervision.backoff_initial = 10s;
  options.supervision.backoff_max = 10s;
  auto isolator = ProcessIsolator::create(options);
  EXPECT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  EXPECT_TRUE(recorder.wait_for<RestartAttemptEvent>(1)) << "a restart is waiting for its backoff";
  return isolator;
}

TEST(Supervision, ShutdownDuringABackoffReturnsPromptly) {
  Recorder recorder;
  auto isolator = waiting_for_a_restart(recorder);
  const auto started = std::chrono::steady_clock::now();
  isolator->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST(Supervision, TheDestructorDuringABackoffReturnsPromptly) {
  Recorder recorder;
  auto isolator = waiting_for_a_restart(recorder);
  const auto started = std::chrono::steady_clock::now();
  isolator.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

// The restarted child takes two seconds to start; destroying the isolator meanwhile neither
// waits for it nor leaves it behind (the suite's invariant checks that nothing is left).
TEST(Supervision, TheDestructorWhileARestartedChildStartsReturnsPromptly) {
  Recorder recorder;
  test::SwitchedPihost pihost;
  Options options = quick_restarts(recorder);
  options.pihost_path = pihost.path();
  auto isolator = ProcessIsolator::create(options);
  pihost.slow(true);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(recorder.wait_for<RestartAttemptEvent>(1));
  std::this_thread::sleep_for(100ms);  // past the 5 ms backoff: the new child is starting
  EXPECT_EQ(isolator->state(), State::no_child);
  const auto started = std::chrono::steady_clock::now();
  isolator.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_TRUE(recorder.all<RestartedEvent>().empty()) << "the restart never finished";
}

// A restart whose child cannot start is reported (StartFailedEvent) and counts against the
// limit like any other: restarts that keep failing end in the failed state.
TEST(Supervision, ARestartThatCannotStartIsReportedAndCountsAsARestart) {
  Recorder recorder;
  test::SwitchedPihost pihost;
  Options options = quick_restarts(recorder, 2);
  options.pihost_path = pihost.path();
  auto isolator = ProcessIsolator::create(options);
  pihost.failing(true);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(recorder.wait_for<RestartLimitEvent>(1));
  // The crash in the method is the call's and does not count; the two restarts that could
  // not start do, and the third failure gives up.
  EXPECT_EQ(recorder.all<RestartAttemptEvent>().size(), 3u);
  EXPECT_EQ(recorder.all<StartFailedEvent>().size(), 3u);
  EXPECT_EQ(recorder.all<RestartLimitEvent>()[0].attempts, 2u);
  EXPECT_EQ(isolator->state(), State::failed);
  const auto r = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::restart_limit);

  pihost.failing(false);
  isolator->reset();
  const auto after = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(after.ok()) << after.failure->message;
}

// CPU time this whole test process has used.
std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

TEST(Supervision, TheHostIsIdleAndSpawnsNothingDuringABackoff) {
  Recorder recorder;
  auto isolator = waiting_for_a_restart(recorder);
  const auto cpu_before = process_cpu_time();
  std::this_thread::sleep_for(500ms);
  const auto cpu_used = process_cpu_time() - cpu_before;
  // A waiting timer costs nothing; polling or an early respawn would show here. The bound
  // leaves room for the sanitizers' own threads.
  EXPECT_LT(cpu_used, 50ms) << "the host used CPU while it waited for the backoff";
  EXPECT_EQ(recorder.all<StartedEvent>().size(), 1u) << "no child was spawned during the backoff";
  EXPECT_EQ(isolator->pid(), 0);
  EXPECT_EQ(isolator->state(), State::no_child);
}

TEST(Supervision, CancellingARunningCallKillsAndReplacesTheChildAndTheQueueGoesOn) {
  Recorder recorder;
  auto isolator = ProcessIsolator::create(quick_restarts(recorder));
  const int first = isolator->pid();
  boost::asio::cancellation_signal cancel_running;
  boost::asio::cancellation_signal cancel_queued;
  std::promise<CallResult> running;
  std::promise<CallResult> queued;
  isolator->async_invoke(Invocation{plugin("sleep"), "method", {"10000"}, {}},
                         boost::asio::bind_cancellation_slot(
                             cancel_running.slot(), [&](CallResult r) { running.set_value(std::move(r)); }));
  isolator->async_invoke(Invocation{plugin("args"), "echo", {"1"}, {}},
                         boost::asio::bind_cancellation_slot(
                             cancel_queued.slot(), [&](CallResult r) { queued.set_value(std::move(r)); }));
  auto after = isolator->async_invoke(Invocation{plugin("args"), "echo", {"9"}, {}}, boost::asio::use_future);
  std::this_thread::sleep_for(100ms);
  cancel_queued.emit(boost::asio::cancellation_type::terminal);
  cancel_running.emit(boost::asio::cancellation_type::terminal);

  const auto r = running.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::cancelled) << r.failure->message;
  const auto q = queued.get_future().get();
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.failure->kind, FailureKind::cancelled) << q.failure->message;
  const auto next = after.get();
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(*next.code, 9);
  EXPECT_NE(next.pid, first) << "the cancelled call's child was replaced";
}

TEST(Supervision, AStoppedChildMissesItsHeartbeatAndIsReplaced) {
  Recorder recorder;
  Options options = quick_restarts(recorder);
  options.supervision.heartbeat_interval = 50ms;
  options.supervision.heartbeat_timeout = 300ms;
  auto isolator = ProcessIsolator::create(options);
  const int stopped = isolator->pid();
  ::kill(stopped, SIGSTOP);  // our own child: wedged between calls
  ASSERT_TRUE(recorder.wait_for<RestartedEvent>(1)) << "the wedged child was not replaced";
  EXPECT_EQ(recorder.all<RestartedEvent>()[0].old_pid, stopped);
  EXPECT_FALSE(test::process_exists(stopped)) << "killed and reaped";
  const auto r = isolator->invoke(plugin("args"), "echo", {"6"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_NE(r.pid, stopped);
}

TEST(Supervision, ALongCallIsNotMistakenForAWedgedChild) {
  Recorder recorder;
  Options options = quick_restarts(recorder);
  // The call lasts five heartbeat timeouts; a timeout of 300 ms leaves room for a loaded
  // 2-CPU machine (at 100 ms a heartbeat answered late once under a parallel ctest).
  options.supervision.heartbeat_interval = 20ms;
  options.supervision.heartbeat_timeout = 300ms;
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("sleep"), "method", {"1500"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_TRUE(recorder.all<RestartAttemptEvent>().empty());
}

}  // namespace
}  // namespace isolator
