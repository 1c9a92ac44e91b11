// Supervision::spare_child: a second child waits, started and idle, and takes over when the
// one in service dies; a new spare then starts in the background.
#include "event_recorder.hpp"
#include "test_support.hpp"

#include <isolator/isolator_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

// An EventRecorder that also picks out the spares' StartedEvents.
struct Events : test::EventRecorder {
  std::vector<StartedEvent> started(bool spare) {
    std::vector<StartedEvent> found;
    for (const auto& s : all<StartedEvent>()) {
      if (s.spare == spare) found.push_back(s);
    }
    return found;
  }
  // The pid of spare number `n` (1 for the first) once it is ready; 0 after 20 s (a spawn on
  // a loaded 2-CPU machine takes milliseconds, not seconds).
  int spare(std::size_t n) {
    if (!wait_until([&] { return started(true).size() >= n; }, 20s)) return 0;
    return started(true)[n - 1].pid;
  }
  // Whether the exit of `pid` was reported within 20 s.
  bool exited(int pid) {
    return wait_until(
        [&] {
          const auto exits = all<ExitedEvent>();
          return std::any_of(exits.begin(), exits.end(), [&](const ExitedEvent& e) { return e.pid == pid; });
        },
        20s);
  }
};

Options with_spare(Events& events) {
  Options options = test::options();
  options.supervision.spare_child = true;
  options.supervision.backoff_initial = 0ms;
  options.on_event = events.callback();
  return options;
}

TEST(SpareChild, TakesOverWhenTheChildCrashesAndANewSpareStarts) {
  Events events;
  auto isolator = ProcessIsolator::create(with_spare(events));
  const auto first = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(first.ok()) << first.failure->message;
  const int spare = events.spare(1);
  ASSERT_NE(spare, 0) << "no spare started";
  EXPECT_NE(spare, first.pid);

  const auto crash = isolator->invoke(plugin("segv"), "method", {});
  ASSERT_FALSE(crash.ok());
  EXPECT_EQ(crash.failure->kind, FailureKind::crashed) << crash.failure->message;

  const auto next = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.pid, spare) << "the spare serves the call after the crash";
  const auto restarts = events.all<RestartedEvent>();
  ASSERT_EQ(restarts.size(), 1u);
  EXPECT_EQ(restarts[0].old_pid, first.pid);
  EXPECT_EQ(restarts[0].new_pid, spare);

  const int second_spare = events.spare(2);
  ASSERT_NE(second_spare, 0) << "no new spare after the swap";
  EXPECT_NE(second_spare, spare);
  EXPECT_EQ(events.started(false).size(), 1u) << "a spare entering service is not started again";
}

TEST(SpareChild, HasTheDataSetBeforeAndAfterItStarted) {
  Events events;
  auto isolator = ProcessIsolator::create(with_spare(events));
  isolator->set_data("before", "1");
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  ASSERT_NE(events.spare(1), 0);
  isolator->set_data("after", "22");
  ASSERT_EQ(isolator->invoke(plugin("segv"), "method", {}).failure->kind, FailureKind::crashed);
  const auto before = isolator->invoke(plugin("data"), "data_read", {"before"});
  const auto after = isolator->invoke(plugin("data"), "data_read", {"after"});
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before.pid, events.spare(1));
  EXPECT_EQ(*before.code, 1);
  EXPECT_EQ(*after.code, 2) << "set_data reached the spare while it waited";
}

TEST(SpareChild, IsStoppedWithTheIsolator) {
  Events events;
  auto isolator = ProcessIsolator::create(with_spare(events));
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  const int spare = events.spare(1);
  ASSERT_NE(spare, 0);
  isolator.reset();
  const auto exits = events.all<ExitedEvent>();
  const auto it = std::find_if(exits.begin(), exits.end(), [&](const ExitedEvent& e) { return e.pid == spare; });
  ASSERT_NE(it, exits.end()) << "the spare's exit was reported before the isolator was gone";
  EXPECT_EQ(it->cause, ExitCause::requested);
}

TEST(SpareChild, ASpareKilledUnusedIsReplacedWithTheNextChild) {
  Events events;
  auto isolator = ProcessIsolator::create(with_spare(events));
  const auto first = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(first.ok());
  const int spare = events.spare(1);
  ASSERT_NE(spare, 0);
  ASSERT_EQ(::kill(spare, SIGKILL), 0);  // a child this test's isolator started
  ASSERT_TRUE(events.exited(spare));
  // Calls answered by the same child start no new spare (a spare that cannot live would
  // otherwise be spawned after every reply).
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(events.started(true).size(), 1u) << "no spare is started for one that died until a new child";

  ASSERT_EQ(isolator->invoke(plugin("segv"), "method", {}).failure->kind, FailureKind::crashed);
  const auto next = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_NE(next.pid, spare);
  EXPECT_NE(next.pid, first.pid);
  const int second_spare = events.spare(2);
  ASSERT_NE(second_spare, 0) << "the next child in service brings a new spare";
  EXPECT_NE(second_spare, next.pid);
}

TEST(SpareChild, ServesAPoolSlot) {
  Events events;
  PoolOptions pool_options;
  pool_options.size = 1;
  pool_options.isolator = with_spare(events);
  auto pool = IsolatorPool::create(pool_options);
  const auto first = pool->invoke(Invocation{plugin("args"), "echo", {"1"}, {}});
  ASSERT_TRUE(first.ok()) << first.failure->message;
  const int spare = events.spare(1);
  ASSERT_NE(spare, 0);
  ASSERT_EQ(pool->invoke(Invocation{plugin("segv"), "method", {}, {}}).failure->kind, FailureKind::crashed);
  const auto next = pool->invoke(Invocation{plugin("args"), "echo", {"2"}, {}});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.pid, spare);
}

}  // namespace
}  // namespace isolator
