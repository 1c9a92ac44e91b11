// A plugin calls the host's services (Options::services) by name during a call, from any of
// its threads, and blocks until the answer: unknown names, a throwing service, too many at
// once, a call that is over and a host that shuts down all come back as a code, never a hang.
// The plugin is libplugin_services.so (tests/plugins/services.c).
#include "test_support.hpp"

#include <isolator/isolator.hpp>

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

// The plugin's return codes (isolator/plugin.hpp).
constexpr int host_ok = 0;
constexpr int host_unknown_service = -2;
constexpr int host_threw = -3;
constexpr int host_ended = -5;

CallResult call(ProcessIsolator& isolator, const std::string& symbol, std::vector<std::string> args,
                std::string input = {}, CallOptions options = {}) {
  return isolator.invoke(Invocation{plugin("services"), symbol, std::move(args), options, std::move(input)});
}

std::string thread_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// Something to wait for, for at most a bound, from any thread.
class Latch {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, bound, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

TEST(HostServices, APluginCallsAServiceWithBytesAndGetsItsAnswer) {
  Options options = test::options();
  std::string ran_on;
  options.services["echo"].function = [&ran_on](std::string_view bytes) {
    ran_on = thread_name();
    return "echo: " + std::string(bytes);
  };
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "call", {"echo"}, std::string("a\0b", 3));
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, host_ok);
  EXPECT_EQ(r.bytes.value_or(""), std::string("echo: a\0b", 9));
  EXPECT_EQ(ran_on, "isolator-svc");  // the library's service threads, not its I/O thread
}

TEST(HostServices, AServiceRunsOnTheExecutorTheHostChose) {
  boost::asio::io_context context;
  auto work = boost::asio::make_work_guard(context);
  std::thread runner([&] { context.run(); });
  const auto runner_id = runner.get_id();
  std::atomic<bool> on_runner{false};
  Options options = test::options();
  options.services["where"] = HostService{[&](std::string_view) {
                                            on_runner = std::this_thread::get_id() == runner_id;
                                            return std::string("here");
                                          },
                                          context.get_executor()};
  {
    auto isolator = ProcessIsolator::create(options);
    const CallResult r = call(*isolator, "call", {"where"});
    ASSERT_TRUE(r.ok()) << r.failure->message;
    EXPECT_EQ(*r.code, host_ok);
    EXPECT_EQ(r.bytes.value_or(""), "here");
  }
  EXPECT_TRUE(on_runner);
  work.reset();
  runner.join();
}

// Two plugin threads call at once, and the service runs for both at once: each waits (up to
// 5 s) for the other to arrive before it answers.
TEST(HostServices, TwoPluginThreadsCallAServiceAtOnce) {
  Options options = test::options();
  std::mutex mutex;
  std::condition_variable arrived;
  int inside = 0;
  int met = 0;
  options.services["meet"].function = [&](std::string_view bytes) {
    std::unique_lock lock(mutex);
    ++inside;
    arrived.notify_all();
    if (arrived.wait_for(lock, 5s, [&] { return inside >= 2; })) ++met;
    return std::string(bytes);
  };
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "call_at_once", {"meet", "2"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 2);
  EXPECT_EQ(r.bytes.value_or(""), "ok=2 busy=0 other=0");
  std::lock_guard lock(mutex);
  EXPECT_EQ(inside, 2);
  EXPECT_EQ(met, 2);  // each saw the other inside: they ran at once
}

TEST(HostServices, AnUnknownServiceIsACodeNamingTheServicesThereAre) {
  Options options = test::options();
  options.services["log"].function = [](std::string_view) { return std::string(); };
  options.services["time"].function = [](std::string_view) { return std::string(); };
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "call", {"nonesuch"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, host_unknown_service);
  EXPECT_EQ(r.bytes.value_or(""), "the host has no service 'nonesuch'; it offers 'log', 'time'");

  auto bare = ProcessIsolator::create(test::options());
  const CallResult none = call(*bare, "call", {"log"});
  ASSERT_TRUE(none.ok()) << none.failure->message;
  EXPECT_EQ(*none.code, host_unknown_service);
  EXPECT_EQ(none.bytes.value_or(""), "the host has no service 'log'; it offers none (Options::services is empty)");
}

TEST(HostServices, AServiceThatThrowsIsACodeWithItsMessageAndTheChildStays) {
  Options options = test::options();
  options.services["fail"].function = [](std::string_view) -> std::string {
    throw std::runtime_error("no such record");
  };
  options.services["echo"].function = [](std::string_view bytes) { return std::string(bytes); };
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  const CallResult r = call(*isolator, "call", {"fail"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, host_threw);
  EXPECT_EQ(r.bytes.value_or(""), "no such record");
  const CallResult next = call(*isolator, "call", {"echo"}, "again");
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.bytes.value_or(""), "again");
  EXPECT_EQ(isolator->pid(), pid);
}

// Sixteen threads, released together, call a service that holds on for 3 s, under a bound of
// 2: the host never runs more than 2, and the 14 others are told at once that it is busy (all
// of them within the 3 s, which only a machine stalled for seconds could miss).
TEST(HostServices, APluginCallingPastTheBoundIsToldBusyAndTheHostRunsNoMore) {
  Options options = test::options();
  options.max_service_calls = 2;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  options.services["hold"].function = [&](std::string_view) {
    const int now = ++running;
    for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(3s);
    --running;
    return std::string("held");
  };
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "call_at_once", {"hold", "16"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(*r.code, 2) << r.bytes.value_or("");
  EXPECT_EQ(r.bytes.value_or(""), "ok=2 busy=14 other=0");
}

// A plugin whose call times out while its services run (the child is killed and replaced)
// gets no fresh allowance: the services still running count until they return.
TEST(HostServices, AChildReplacedWhileItsServicesRunGetsNoFreshAllowance) {
  Options options = test::options();
  options.max_service_calls = 2;
  auto release = std::make_shared<Latch>();
  std::atomic<int> returned{0};
  options.services["hold"].function = [release, &returned](std::string_view) {
    release->wait_for(10s);
    ++returned;
    return std::string("held");
  };
  {
    auto isolator = ProcessIsolator::create(options);
    const CallResult first = call(*isolator, "call_at_once", {"hold", "2"}, {}, CallOptions{500ms});
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.failure->kind, FailureKind::timeout) << first.failure->message;
    const CallResult second = call(*isolator, "call", {"hold"});  // on the replacement child
    ASSERT_TRUE(second.ok()) << second.failure->message;
    EXPECT_EQ(*second.code, -4);  // ISOLATOR_HOST_BUSY: the two held services still count
    release->open();
  }
  for (int i = 0; i < 200 && returned < 2; ++i) std::this_thread::sleep_for(25ms);
  EXPECT_EQ(returned, 2);
}

// The call's deadline runs while a service does: a service slower than the call's timeout
// makes the call fail with timeout; its late answer is dropped, and the next call works.
TEST(HostServices, AServiceCallThatOutlivesTheCallsDeadlineIsTheCallsTimeout) {
  Options options = test::options();
  auto done = std::make_shared<Latch>();
  auto release = std::make_shared<Latch>();
  options.services["slow"].function = [done, release](std::string_view) {
    release->wait_for(10s);
    done->open();
    return std::string("too late");
  };
  options.services["echo"].function = [](std::string_view bytes) { return std::string(bytes); };
  {
    auto isolator = ProcessIsolator::create(options);
    const auto started = std::chrono::steady_clock::now();
    const CallResult r = call(*isolator, "call", {"slow"}, {}, CallOptions{300ms});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    release->open();  // the service answers now, for a child that is gone
    ASSERT_TRUE(done->wait_for(5s));
    const CallResult next = call(*isolator, "call", {"echo"}, "next");
    ASSERT_TRUE(next.ok()) << next.failure->message;
    EXPECT_EQ(next.bytes.value_or(""), "next");
  }
}

// A host that shuts down while a plugin waits for a service answers it `ended` at once and
// closes the channel: the child ends without waiting for the service, before the graceful
// timeout. Whether the method's return (with the code) or the child's end on end-of-file
// comes first is a race: the call either returned ISOLATOR_HOST_ENDED or failed `shutdown`.
TEST(HostServices, AShutdownAnswersAWaitingServiceCallEndedAndDoesNotWaitForTheService) {
  Options options = test::options();
  options.shutdown.graceful_timeout = std::chrono::milliseconds(10'000);
  auto inside = std::make_shared<Latch>();
  auto release = std::make_shared<Latch>();
  options.services["stuck"].function = [inside, release](std::string_view) {
    inside->open();
    release->wait_for(20s);
    return std::string("never seen");
  };
  auto isolator = ProcessIsolator::create(options);
  auto result = isolator->async_invoke(Invocation{plugin("services"), "call", {"stuck"}, {}, {}},
                                       boost::asio::use_future);
  ASSERT_TRUE(inside->wait_for(10s));
  const auto started = std::chrono::steady_clock::now();
  isolator->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // not the 10 s graceful timeout
  const CallResult r = result.get();
  if (r.ok()) {
    EXPECT_EQ(*r.code, host_ended);
  } else {
    EXPECT_EQ(r.failure->kind, FailureKind::shutdown) << r.failure->message;
  }
  release->open();
}

// A thread the method left running calls a service after the method returned: `ended`.
TEST(HostServices, AServiceCallAfterTheMethodReturnedIsEnded) {
  Options options = test::options();
  std::atomic<int> ran{0};
  options.services["echo"].function = [&ran](std::string_view bytes) {
    ++ran;
    return std::string(bytes);
  };
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "call_late", {"echo"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  std::optional<std::string> late;
  for (int i = 0; i < 200 && !late; ++i) {
    late = isolator->get_data("late");
    if (!late) std::this_thread::sleep_for(25ms);
  }
  ASSERT_TRUE(late.has_value()) << "the late thread did not report within 5 s";
  EXPECT_EQ(*late, "code=" + std::to_string(host_ended));
  EXPECT_EQ(ran, 0);
}

TEST(HostServices, APoolsChildrenCallServicesToo) {
  PoolOptions options;
  options.isolator = test::options();
  options.isolator.services["echo"].function = [](std::string_view bytes) { return "pool " + std::string(bytes); };
  options.size = 2;
  auto pool = IsolatorPool::create(options);
  std::vector<std::future<CallResult>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(pool->async_invoke(
        Invocation{plugin("services"), "call", {"echo"}, {}, std::to_string(i)}, boost::asio::use_future));
  }
  for (int i = 0; i < 4; ++i) {
    const CallResult r = calls[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.ok()) << r.failure->message;
    EXPECT_EQ(r.bytes.value_or(""), "pool " + std::to_string(i));
  }
}

TEST(HostServices, AServiceWithoutAFunctionOrABoundOfZeroIsAnOptionsError) {
  Options empty = test::options();
  empty.services["log"] = HostService{};
  try {
    ProcessIsolator::create(empty);
    FAIL() << "a service without a function was accepted";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("Options::services[\"log\"] has no function"), std::string::npos) << e.what();
  }
  Options zero = test::options();
  zero.max_service_calls = 0;
  EXPECT_THROW(ProcessIsolator::create(zero), OptionsError);
}

}  // namespace
}  // namespace isolator
