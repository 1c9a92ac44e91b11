// What a plugin or a child does wrong must never reach the wrong caller, hang a call, or
// hurt the host; and misuse of the API is refused up front.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

namespace isolator {
namespace {

using test::plugin;

bool dies_within(int pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (test::process_alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return !test::process_alive(pid);
}

// A child that dies right after answering one call must not take the next call's caller
// with it: that call never started, so it runs on a new child.
TEST(Robustness, ACallTheDyingChildNeverStartedRunsOnTheNextChild) {
  auto isolator = ProcessIsolator::create(test::fake_options("reply_then_crash"));
  auto first = isolator->async_invoke(Invocation{plugin("args"), "echo", {"1"}, {}}, boost::asio::use_future);
  auto second = isolator->async_invoke(Invocation{plugin("args"), "echo", {"2"}, {}},
                                       boost::asio::use_future);
  const auto a = first.get();
  const auto b = second.get();
  ASSERT_TRUE(a.ok()) << a.failure->message;
  ASSERT_TRUE(b.ok()) << b.failure->message;
  EXPECT_NE(a.pid, b.pid) << "the second call ran on a fresh child";
}

TEST(Robustness, APluginClosingLowDescriptorsDoesNotCutTheChannel) {
  auto isolator = ProcessIsolator::create(test::options());
  for (const char* fd : {"3", "4", "5"}) {
    ASSERT_TRUE(isolator->invoke(plugin("inspect"), "close_fd", {fd}).ok());
  }
  const auto r = isolator->invoke(plugin("args"), "echo", {"8"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 8);
}

TEST(Robustness, DestroyingTheIsolatorInItsOwnHandlerIsSafe) {
  auto isolator = std::shared_ptr<ProcessIsolator>(ProcessIsolator::create(test::options()));
  const int pid = isolator->pid();
  std::promise<void> done;
  auto* raw = isolator.get();
  auto holder = std::make_shared<std::shared_ptr<ProcessIsolator>>(std::move(isolator));
  raw->async_invoke(Invocation{plugin("args"), "echo", {"1"}, {}}, [holder, &done](CallResult) {
    holder->reset();  // the last owner: the destructor runs on the isolator's own thread
    done.set_value();
  });
  done.get_future().get();
  EXPECT_TRUE(dies_within(pid, std::chrono::seconds(3))) << "the child was stopped anyway";
  // The I/O thread finishes the shutdown after the child's death (cgroup and directory
  // removed), then frees the isolator; the suite's invariant check must not race it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!test::things_named_for(::getpid()).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(test::things_named_for(::getpid()), std::vector<std::string>{}) << "left behind";
}

TEST(Robustness, LitterInThePrivateDirectoryNeitherBreaksRestartsNorEscapesCleanup) {
  test::TempDir tmp;
  test::TempDir outside;
  const auto canary = outside.path() / "canary";
  std::ofstream(canary) << "still here\n";
  std::optional<test::ScopedTmpdir> in_tmp(std::in_place, tmp.path());
  auto isolator = ProcessIsolator::create(test::options());
  in_tmp.reset();
  ASSERT_EQ(*isolator->invoke(plugin("inspect"), "litter", {outside.path().string()}).code, 0);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok()) << "a new child started";
  isolator->shutdown();
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  EXPECT_TRUE(std::filesystem::exists(canary)) << "cleanup did not follow the planted links";
}

TEST(Robustness, AWorkingDirectoryReplacedByASymlinkIsNeverEntered) {
  test::TempDir outside;
  auto isolator = ProcessIsolator::create(test::options());
  ASSERT_EQ(*isolator->invoke(plugin("inspect"), "replace_workdir", {outside.path().string()}).code, 0);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  const auto r = isolator->invoke(plugin("inspect"), "get_cwd", {});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  ASSERT_EQ(r.output.size(), 1u);
  EXPECT_NE(r.output[0].text, outside.path().string()) << "the new child followed the planted symlink";
  EXPECT_EQ(std::filesystem::path(r.output[0].text).filename(), "work");
  EXPECT_FALSE(std::filesystem::is_symlink(std::filesystem::path(r.output[0].text)));
  isolator->shutdown();
  EXPECT_TRUE(std::filesystem::is_directory(outside.path())) << "cleanup did not follow the symlink";
}

TEST(Robustness, OversizeDataIsRefusedAndTheIsolatorKeepsWorking) {
  Options options = test::options();
  options.max_frame_bytes = 64 * 1024;
  auto isolator = ProcessIsolator::create(options);
  EXPECT_THROW(isolator->set_data("big", std::string(100 * 1024, 'x')), Error);
  EXPECT_THROW(isolator->invoke(plugin("args"), "echo", {std::string(100 * 1024, 'x')}), Error);
  EXPECT_THROW(isolator->invoke(plugin("args"), "method", std::vector<std::string>(65537, "")), Error);
  const auto r = isolator->invoke(plugin("args"), "echo", {"3"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(isolator->pid(), r.pid);
}

TEST(Robustness, APluginValueTooLargeToSendIsNotFoundAndTheChildLivesOn) {
  Options options = test::options();
  options.max_frame_bytes = 64 * 1024;
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  ASSERT_EQ(*isolator->invoke(plugin("data"), "data_write_huge", {"big", "1"}).code, 0);
  EXPECT_EQ(isolator->get_data("big"), std::nullopt);
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  EXPECT_EQ(isolator->pid(), pid);
}

TEST(Robustness, AHugeExceptionMessageIsCutNotAProtocolError) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto r = isolator->invoke(plugin("throw"), "throw_huge", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::threw);
  EXPECT_LT(r.failure->message.size(), 100'000u);
  EXPECT_NE(r.failure->message.find("cut by pihost"), std::string::npos);
}

// Under the smallest frame a host may choose (4 KiB), a message is cut to what the frame
// holds, not to pihost's usual 64 KiB.
TEST(Robustness, AHugeExceptionMessageIsCutToTheFrameTheHostChose) {
  Options options = test::options();
  options.max_frame_bytes = 4096;
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  const auto r = isolator->invoke(plugin("throw"), "throw_huge", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::threw) << r.failure->message;
  EXPECT_LT(r.failure->message.size(), 4096u);
  EXPECT_NE(r.failure->message.find("cut by pihost"), std::string::npos);
  EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  EXPECT_EQ(isolator->pid(), pid);
}

TEST(Robustness, WithSigchldIgnoredADeathIsReportedAsUnreadableNotAsSuccess) {
  auto isolator = ProcessIsolator::create(test::options());
  auto* previous = std::signal(SIGCHLD, SIG_IGN);
  const auto r = isolator->invoke(plugin("segv"), "method", {});
  std::signal(SIGCHLD, previous);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::crashed);
  EXPECT_NE(r.failure->message.find("exit status could not be read"), std::string::npos)
      << r.failure->message;
}

TEST(Robustness, WhatAPluginLeftInPihostsProcessGroupDiesWithPihost) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto spawned = isolator->invoke(plugin("inspect"), "spawn_sleeper", {});
  ASSERT_TRUE(spawned.ok());
  // The plugin sees its PID namespace's numbers.
  const int sleeper = test::outer_pid(isolator->pid(), std::stoi(spawned.output.at(0).text));
  ASSERT_GT(sleeper, 0);
  ASSERT_TRUE(test::process_alive(sleeper));
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  EXPECT_TRUE(dies_within(sleeper, std::chrono::seconds(2)));

  const auto again = isolator->invoke(plugin("inspect"), "spawn_sleeper", {});
  const int second = test::outer_pid(isolator->pid(), std::stoi(again.output.at(0).text));
  ASSERT_GT(second, 0);
  isolator->shutdown();
  EXPECT_TRUE(dies_within(second, std::chrono::seconds(2)));
}

TEST(Robustness, HandlersBoundToAnotherContextKeepItRunningUntilTheyRun) {
  auto isolator = ProcessIsolator::create(test::options());
  boost::asio::io_context app;
  int code = -1;
  isolator->async_invoke(
      Invocation{plugin("sleep"), "method", {"50"}, {}},
      boost::asio::bind_executor(app, [&code](CallResult r) { code = r.code.value_or(-2); }));
  app.run();  // returns only once the handler has run: the call counts as work for `app`
  EXPECT_EQ(code, 7);
}

}  // namespace
}  // namespace isolator

namespace isolator {
namespace {

std::atomic<int> application_sigchld_count{0};
std::atomic<char> hammer_sink{0};  // keeps the hammering allocations from being optimised out

// An application with its own SIGCHLD handler and its own children: the library neither
// replaces the handler nor reaps children it did not start.
TEST(Robustness, AnApplicationsSigchldHandlerAndChildrenAreLeftAlone) {
  struct sigaction mine {};
  mine.sa_handler = [](int) { ++application_sigchld_count; };
  sigemptyset(&mine.sa_mask);
  mine.sa_flags = SA_RESTART;
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGCHLD, &mine, &previous), 0);

  const pid_t own = ::fork();  // the application's child: exits 7 at once
  ASSERT_GE(own, 0);
  if (own == 0) ::_exit(7);
  {
    auto isolator = ProcessIsolator::create(test::options());
    ASSERT_FALSE(isolator->invoke(test::plugin("segv"), "method", {}).ok());  // a child dies
    ASSERT_TRUE(isolator->invoke(test::plugin("args"), "echo", {"1"}).ok());
  }
  struct sigaction now {};
  ::sigaction(SIGCHLD, nullptr, &now);
  EXPECT_EQ(now.sa_handler, mine.sa_handler) << "the library replaced the application's handler";
  int status = 0;
  ASSERT_EQ(::waitpid(own, &status, 0), own) << "the library reaped the application's child";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
  EXPECT_GE(application_sigchld_count.load(), 1) << "the application's handler ran";
  ::sigaction(SIGCHLD, &previous, nullptr);
}

// Spawning from a host whose other threads hold malloc's and their own locks all the time:
// the child between clone and exec takes no lock, so nothing can deadlock. Bounded by the
// test's timeout; each spawn here takes milliseconds.
TEST(Robustness, SpawningWhileSixteenThreadsHammerMallocAndAMutexNeverDeadlocks) {
  std::atomic<bool> stop{false};
  std::mutex shared;
  std::vector<std::thread> hammers;
  for (int i = 0; i < 16; ++i) {
    hammers.emplace_back([&, i] {
      for (std::size_t round = 0; !stop; ++round) {
        std::unique_ptr<char[]> block(new char[1 + (round * 131 + static_cast<std::size_t>(i)) % 8192]);
        block[0] = static_cast<char>(i);
        std::lock_guard lock(shared);  // a lock of the application's, taken all the time
        hammer_sink = block[0];
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    auto isolator = ProcessIsolator::create(test::options());
    const auto r = isolator->invoke(test::plugin("args"), "echo", {std::to_string(i)});
    ASSERT_TRUE(r.ok()) << r.failure->message;
  }
  stop = true;
  for (auto& t : hammers) t.join();
}

}  // namespace
}  // namespace isolator
