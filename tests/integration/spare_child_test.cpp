// Supervision::spare_child: a second child waits, started and idle, and takes over when the
// one in service dies; a new spare then starts in the background.
#include "test_support.hpp"

#include <isolator/isolator_pool.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <mutex>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

struct Events {
  std::mutex mutex;
  std::vector<Event> all;
  std::function<void(const Event&)> callback() {
    return [this](const Event& e) {
      std::lock_guard lock(mutex);
      all.push_back(e);
    };
  }
  std::vector<StartedEvent> started(bool spare) {
    std::lock_guard lock(mutex);
    std::vector<StartedEvent> found;
    for (const auto& e : all) {
      if (const auto* s = std::get_if<StartedEvent>(&e); s && s->spare == spare) found.push_back(*s);
    }
    return found;
  }
  template <class T>
  std::vector<T> of() {
    std::lock_guard lock(mutex);
    std::vector<T> found;
    for (const auto& e : all) {
      if (const auto* t = std::get_if<T>(&e)) found.push_back(*t);
    }
    return found;
  }
  // The pid of spare number `n` (1 for the first) once it is ready; 0 after 20 s (a spawn on
  // a loaded 2-CPU machine takes milliseconds, not seconds).
  int spare(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (const auto spares = started(true); spares.size() >= n) return spares[n - 1].pid;
      std::this_thread::sleep_for(2ms);
    }
    return 0;
  }
  bool exited(int pid) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& e : of<ExitedEvent>()) {
        if (e.pid == pid) return true;
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
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
  const auto restarts = events.of<RestartedEvent>();
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
  const auto exits = events.of<ExitedEvent>();
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

TEST(SpareChild, NeedsARestartPolicyThatReplacesChildren) {
  Options options = test::options();
  options.supervision.spare_child = true;
  options.supervision.restart = RestartPolicy::never;
  try {
    ProcessIsolator::create(options);
    FAIL() << "created";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("spare_child"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace isolator
