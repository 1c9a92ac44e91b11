// async_invoke with each kind of Asio completion token.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <optional>

namespace isolator {
namespace {

namespace asio = boost::asio;
using test::plugin;

Invocation echo(int value) { return Invocation{plugin("args"), "echo", {std::to_string(value)}, {}}; }

TEST(Async, CallbackTokenReceivesTheResult) {
  auto isolator = ProcessIsolator::create(test::options());
  std::promise<CallResult> got;
  isolator->async_invoke(echo(5), [&got](CallResult r) { got.set_value(std::move(r)); });
  const auto r = got.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 5);
}

TEST(Async, UseFutureToken) {
  auto isolator = ProcessIsolator::create(test::options());
  std::vector<std::future<CallResult>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(isolator->async_invoke(echo(i), asio::use_future));
  for (int i = 0; i < 20; ++i) {
    const auto r = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r.code, i) << "calls run in the order they were made";
  }
}

TEST(Async, UseAwaitableTokenResumesOnTheCallersExecutor) {
  auto isolator = ProcessIsolator::create(test::options());
  asio::io_context app;
  int code = -1;
  bool on_app_thread = false;
  asio::co_spawn(
      app,
      [&]() -> asio::awaitable<void> {
        const CallResult r = co_await isolator->async_invoke(echo(33), asio::use_awaitable);
        on_app_thread = app.get_executor().running_in_this_thread();
        code = r.code.value_or(-2);
      },
      asio::detached);
  app.run();
  EXPECT_EQ(code, 33);
  EXPECT_TRUE(on_app_thread);
}

TEST(Async, AThrowingCompletionHandlerDoesNotBreakTheIsolator) {
  auto isolator = ProcessIsolator::create(test::options());
  isolator->async_invoke(echo(1), [](CallResult) { throw std::runtime_error("handler bug"); });
  const auto r = isolator->invoke(plugin("args"), "echo", {"2"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 2);
}

TEST(Async, BlockingInvokeFromACallbackIsRefused) {
  auto isolator = ProcessIsolator::create(test::options());
  std::promise<std::string> error;
  isolator->async_invoke(echo(1), [&](CallResult) {
    try {
      isolator->invoke(plugin("args"), "echo", {"1"});
      error.set_value("no exception");
    } catch (const Error& e) {
      error.set_value(e.what());
    }
  });
  EXPECT_NE(error.get_future().get().find("own I/O thread"), std::string::npos);
}

// A caller may emit its cancellation signal at any time, also after the isolator is gone:
// while the completion still waits for the caller's executor, and after a refused call.
// Neither reaches the destroyed isolator (ASan in CI would see it touch freed memory).
TEST(Async, ACancellationEmittedAfterTheIsolatorIsGoneGoesNowhere) {
  asio::io_context caller;  // run only at the end
  asio::cancellation_signal signal;
  std::optional<CallResult> got;
  auto handler = asio::bind_cancellation_slot(
      signal.slot(), asio::bind_executor(caller, [&got](CallResult r) { got = std::move(r); }));
  auto isolator = ProcessIsolator::create(test::options());
  isolator->async_invoke(Invocation{plugin("sleep"), "method", {"5000"}, {}}, handler);
  isolator.reset();  // the call completes with `shutdown`, posted to `caller`
  signal.emit(asio::cancellation_type::terminal);
  caller.run();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->failure->kind, FailureKind::shutdown);

  auto shut = ProcessIsolator::create(test::options());
  shut->shutdown();
  asio::cancellation_signal refused;
  EXPECT_THROW(shut->async_invoke(echo(1), asio::bind_cancellation_slot(refused.slot(), [](CallResult) {})),
               ShutDownError);
  shut.reset();
  refused.emit(asio::cancellation_type::terminal);
}

}  // namespace
}  // namespace isolator
