// Many host threads on one isolator: every result reaches its own caller, nothing leaks.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace isolator {
namespace {

using test::plugin;

TEST(Concurrency, EightThreadsTimesTwoHundredCallsAllMatchTheirCallers) {
  auto isolator = ProcessIsolator::create(test::options());
  constexpr int threads = 8;
  constexpr int calls = 200;
  std::atomic<int> mismatches{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        const int expected = t * 1000 + i;
        const auto r = isolator->invoke(plugin("args"), "echo", {std::to_string(expected)});
        const bool matches = r.ok() && *r.code == expected && r.output.size() == 1 &&
                             r.output[0].text == "echo " + std::to_string(expected);
        if (!matches) ++mismatches;
        ++completed;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(completed.load(), threads * calls);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, HostFdCountIsUnchangedAfterAThousandCalls) {
  const int before_create = test::count_open_fds();
  {
    auto isolator = ProcessIsolator::create(test::options());
    ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
    const int warm = test::count_open_fds();
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
    }
    EXPECT_EQ(test::count_open_fds(), warm);
  }
  EXPECT_EQ(test::count_open_fds(), before_create) << "shutdown closed everything it opened";
}

TEST(Concurrency, RestartsDoNotLeakFds) {
  Options options = test::options();
  options.supervision.max_restarts = 100;
  options.supervision.backoff_max = std::chrono::milliseconds(20);
  auto isolator = ProcessIsolator::create(options);
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  const int warm = test::count_open_fds();
  for (int i = 0; i < 20; ++i) {
    ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
    ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  }
  EXPECT_EQ(test::count_open_fds(), warm);
}

}  // namespace
}  // namespace isolator
