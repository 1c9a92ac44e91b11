// Events and output lines: where they are delivered (Options::callback_executor), in what
// order, and the cause each ExitedEvent names.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <csignal>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

// What reached the callbacks, in order, and on which threads.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> order;  // "started", "exited", "out:<line>", ...
  std::vector<ExitedEvent> exits;
  std::set<std::thread::id> threads;

  void install(Options& options) {
    options.on_event = [this](const Event& e) {
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
      if (std::holds_alternative<StartedEvent>(e)) order.push_back("started");
      if (const auto* exited = std::get_if<ExitedEvent>(&e)) {
        order.push_back("exited");
        exits.push_back(*exited);
      }
      if (std::holds_alternative<RestartedEvent>(e)) order.push_back("restarted");
    };
    options.on_output = [this](OutputStream, std::string_view line) {
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
      order.push_back("out:" + std::string(line));
    };
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return order.size();
  }
  // Exits are reported on the isolator's thread, possibly just after a call's result.
  std::optional<ExitedEvent> wait_for_exit(std::size_t index) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mutex);
        if (exits.size() > index) return exits[index];
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }
};

TEST(Events, ACallbackExecutorReceivesEveryEventAndLineInOrderAndNothingWaitsForIt) {
  boost::asio::io_context callbacks;  // not run until the calls are done
  Seen seen;
  Options options = test::options();
  options.supervision.backoff_initial = 1ms;
  options.callback_executor = callbacks.get_executor();
  seen.install(options);
  auto isolator = ProcessIsolator::create(options);
  // The isolator goes on while nobody runs the callbacks: they are posted, not awaited.
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"2"}).ok());
  isolator->shutdown();
  EXPECT_EQ(seen.size(), 0u) << "a callback ran outside the callback executor";

  std::thread::id runner_id;
  std::thread runner([&] {
    runner_id = std::this_thread::get_id();
    callbacks.run();
  });
  runner.join();
  const std::vector<std::string> expected{"started",   "out:echo 1", "exited", "started",
                                          "restarted", "out:echo 2", "exited"};
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.order, expected);
  EXPECT_EQ(seen.threads, std::set<std::thread::id>{runner_id});
}

TEST(Events, CallbacksPostedToAnExecutorStillRunAfterTheIsolatorIsGone) {
  boost::asio::io_context callbacks;
  Seen seen;
  Options options = test::options();
  options.callback_executor = callbacks.get_executor();
  seen.install(options);
  ProcessIsolator::create(options).reset();  // started and shut down
  callbacks.run();
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.order, (std::vector<std::string>{"started", "exited"}));
}

TEST(Events, ACallbackThatThrowsOnTheExecutorBreaksNeitherTheExecutorNorTheIsolator) {
  boost::asio::io_context callbacks;
  Options options = test::options();
  options.callback_executor = callbacks.get_executor();
  int delivered = 0;
  options.on_event = [&](const Event&) {
    ++delivered;
    throw std::runtime_error("callback bug");
  };
  auto isolator = ProcessIsolator::create(options);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  isolator->shutdown();
  EXPECT_NO_THROW(callbacks.run());
  EXPECT_GE(delivered, 5) << "started, exited, attempt, started, restarted, exited";
}

// The same without an executor: the callback throws on the isolator's own I/O thread.
TEST(Events, ACallbackThatThrowsOnTheIsolatorsThreadDoesNotBreakIt) {
  Options options = test::options();
  std::atomic<int> delivered{0};
  options.on_event = [&](const Event&) {
    ++delivered;
    throw std::runtime_error("callback bug");
  };
  auto isolator = ProcessIsolator::create(options);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  const auto r = isolator->invoke(plugin("args"), "echo", {"1"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_GE(delivered.load(), 5) << "started, exited, attempt, started, restarted";
}

TEST(Events, WithoutAnExecutorCallbacksRunOnTheIsolatorsThreadBeforeTheCallCompletes) {
  Seen seen;
  Options options = test::options();
  seen.install(options);
  auto isolator = ProcessIsolator::create(options);
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"7"}).ok());
  std::lock_guard lock(seen.mutex);
  EXPECT_EQ(seen.order, (std::vector<std::string>{"started", "out:echo 7"}));
  ASSERT_EQ(seen.threads.size(), 1u);
  EXPECT_NE(*seen.threads.begin(), std::this_thread::get_id());
}

// ---- ExitedEvent::cause ------------------------------------------------------------------

// Runs `act` on a fresh isolator and returns the first ExitedEvent it caused.
ExitedEvent first_exit(Options options, const std::function<void(ProcessIsolator&)>& act) {
  Seen seen;
  seen.install(options);
  auto isolator = ProcessIsolator::create(options);
  act(*isolator);
  const auto exit = seen.wait_for_exit(0);
  EXPECT_TRUE(exit) << "no ExitedEvent";
  return exit.value_or(ExitedEvent{});
}

TEST(Events, ExitCauseOfAShutdownIsRequested) {
  const auto exit = first_exit(test::options(), [](ProcessIsolator& i) { i.shutdown(); });
  EXPECT_EQ(exit.cause, ExitCause::requested);
  EXPECT_EQ(exit.exit_code, 0);
}

TEST(Events, ExitCauseOfACrashIsCrashed) {
  const auto exit = first_exit(
      test::options(), [](ProcessIsolator& i) { EXPECT_FALSE(i.invoke(plugin("segv"), "method", {}).ok()); });
  EXPECT_EQ(exit.cause, ExitCause::crashed);
  EXPECT_EQ(exit.signal, SIGSEGV);
}

TEST(Events, ExitCauseOfAnExitIsExited) {
  const auto exit = first_exit(test::options(), [](ProcessIsolator& i) {
    EXPECT_FALSE(i.invoke(plugin("exit_code"), "method", {"3"}).ok());
  });
  EXPECT_EQ(exit.cause, ExitCause::exited);
  EXPECT_EQ(exit.exit_code, 3);
}

TEST(Events, ExitCauseOfADeadlineKillIsTimeout) {
  const auto exit = first_exit(test::options(), [](ProcessIsolator& i) {
    EXPECT_FALSE(i.invoke(Invocation{plugin("sleep"), "method", {"10000"}, CallOptions{50ms}}).ok());
  });
  EXPECT_EQ(exit.cause, ExitCause::timeout);
  EXPECT_EQ(exit.signal, SIGKILL);
}

TEST(Events, ExitCauseOfACancellationIsCancelled) {
  const auto exit = first_exit(test::options(), [](ProcessIsolator& i) {
    boost::asio::cancellation_signal cancel;
    auto running = i.async_invoke(
        Invocation{plugin("sleep"), "method", {"10000"}, {}},
        boost::asio::bind_cancellation_slot(cancel.slot(), boost::asio::use_future));
    std::this_thread::sleep_for(100ms);  // let it start
    cancel.emit(boost::asio::cancellation_type::terminal);
    EXPECT_EQ(running.get().failure->kind, FailureKind::cancelled);
  });
  EXPECT_EQ(exit.cause, ExitCause::cancelled);
}

TEST(Events, ExitCauseOfAMissedHeartbeatIsHeartbeat) {
  Options options = test::options();
  options.supervision.heartbeat_interval = 20ms;
  options.supervision.heartbeat_timeout = 200ms;
  const auto exit = first_exit(options, [](ProcessIsolator& i) {
    ::kill(i.pid(), SIGSTOP);  // our own child
  });
  EXPECT_EQ(exit.cause, ExitCause::heartbeat);
}

TEST(Events, ExitCauseOfABrokenProtocolIsProtocolError) {
  const auto exit = first_exit(test::fake_options("garbage_reply"), [](ProcessIsolator& i) {
    const auto r = i.invoke(plugin("args"), "echo", {"1"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, FailureKind::protocol_error);
  });
  EXPECT_EQ(exit.cause, ExitCause::protocol_error);
}

}  // namespace
}  // namespace isolator
