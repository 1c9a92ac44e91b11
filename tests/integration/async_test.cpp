// async_invoke with each kind of Asio completion token.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <future>

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

}  // namespace
}  // namespace isolator
