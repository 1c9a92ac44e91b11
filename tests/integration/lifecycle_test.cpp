// Start, events, state and shutdown: nothing left behind.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>
#include <spdlog/logger.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include <mutex>

namespace isolator {
namespace {

using test::plugin;

TEST(Lifecycle, ShutdownReapsTheChildAndRemovesTheDirectory) {
  test::TempDir tmp;
  std::optional<test::ScopedTmpdir> in_tmp(std::in_place, tmp.path());
  auto isolator = ProcessIsolator::create(test::options());
  in_tmp.reset();

  const int pid = isolator->pid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(isolator->state(), State::ready);
  // One private directory, mode 0700, and its socket path already unlinked.
  std::vector<std::filesystem::path> dirs(std::filesystem::directory_iterator(tmp.path()), {});
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_EQ(std::filesystem::status(dirs[0]).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  for (const auto& entry : std::filesystem::directory_iterator(dirs[0])) {
    EXPECT_FALSE(entry.is_socket()) << entry.path() << ": nobody else can connect once the child has";
  }

  isolator->shutdown();
  EXPECT_EQ(isolator->state(), State::shut_down);
  EXPECT_EQ(isolator->pid(), 0);
  EXPECT_FALSE(test::process_exists(pid)) << "no zombie: the child was reaped";
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  isolator->shutdown();  // idempotent
}

TEST(Lifecycle, DestructorShutsDownToo) {
  int pid = 0;
  {
    auto isolator = ProcessIsolator::create(test::options());
    pid = isolator->pid();
  }
  EXPECT_FALSE(test::process_exists(pid));
}

TEST(Lifecycle, EventsReportStartAndExit) {
  std::mutex mutex;
  std::vector<Event> events;
  Options options = test::options();
  options.on_event = [&](const Event& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  };
  auto isolator = ProcessIsolator::create(options);
  const int first = isolator->pid();
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  ASSERT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  const int second = isolator->pid();
  isolator->shutdown();

  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(std::get<StartedEvent>(events[0]).pid, first);
  EXPECT_EQ(std::get<StartedEvent>(events[0]).containment, isolator->containment());
  EXPECT_EQ(std::get<ExitedEvent>(events[1]).pid, first);
  EXPECT_EQ(std::get<ExitedEvent>(events[1]).signal, SIGSEGV);
  EXPECT_EQ(std::get<ExitedEvent>(events[1]).cause, ExitCause::crashed);
  EXPECT_EQ(std::get<RestartAttemptEvent>(events[2]).attempt, 1u);
  EXPECT_EQ(std::get<StartedEvent>(events[3]).pid, second);
  EXPECT_EQ(std::get<RestartedEvent>(events[4]).new_pid, second);
  EXPECT_EQ(std::get<ExitedEvent>(events[5]).pid, second);
  EXPECT_EQ(std::get<ExitedEvent>(events[5]).exit_code, 0) << "a graceful quit, not a kill";
  EXPECT_EQ(std::get<ExitedEvent>(events[5]).cause, ExitCause::requested);
}

TEST(Lifecycle, PendingCallsCompleteWithShutdown) {
  Options options = test::options();
  options.shutdown.graceful_timeout = std::chrono::milliseconds(200);
  auto isolator = ProcessIsolator::create(options);
  auto running = isolator->async_invoke(Invocation{plugin("sleep"), "method", {"10000"}, {}},
                                        boost::asio::use_future);
  std::vector<std::future<CallResult>> queued;
  for (int i = 0; i < 3; ++i) {
    queued.push_back(
        isolator->async_invoke(Invocation{plugin("args"), "echo", {"1"}, {}}, boost::asio::use_future));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the sleep start
  isolator->shutdown();
  const auto r = running.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::shutdown) << r.failure->message;
  for (auto& f : queued) {
    const auto q = f.get();
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.failure->kind, FailureKind::shutdown);
  }
}

// The bound of issue 4: with a child that ignores both the channel closing and SIGTERM,
// every pending call completes with `shutdown` within the grace period (graceful plus
// terminate timeouts) plus 200 ms.
TEST(Lifecycle, PendingCallsCompleteWithinTheGracePeriodPlus200ms) {
  Options options = test::fake_options("stubborn");  // never answers a call, ignores SIGTERM
  options.shutdown.graceful_timeout = std::chrono::milliseconds(300);
  options.shutdown.terminate_timeout = std::chrono::milliseconds(300);
  auto isolator = ProcessIsolator::create(options);
  std::vector<std::future<CallResult>> pending;
  for (int i = 0; i < 4; ++i) {
    pending.push_back(
        isolator->async_invoke(Invocation{plugin("args"), "echo", {"1"}, {}}, boost::asio::use_future));
  }
  const auto outcome = test::stop_with_calls_in_flight([&] { isolator->shutdown(); }, pending);
  EXPECT_EQ(outcome.completed_with_shutdown, pending.size());
  EXPECT_LE(outcome.until_all_completed, std::chrono::milliseconds(300 + 300 + 200));
}

// Shutdown escalates: channel closed, then SIGTERM, then SIGKILL. Returns the signal that
// ended the fake child in `mode` (0 when it exited).
int exit_signal_of_shutdown(const std::string& mode) {
  std::mutex mutex;
  std::optional<int> signal;
  Options options = test::fake_options(mode);
  options.shutdown.graceful_timeout = std::chrono::milliseconds(100);
  options.shutdown.terminate_timeout = std::chrono::milliseconds(100);
  options.on_event = [&](const Event& e) {
    if (const auto* exited = std::get_if<ExitedEvent>(&e)) {
      std::lock_guard lock(mutex);
      signal = exited->signal;
    }
  };
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  isolator->shutdown();
  EXPECT_FALSE(test::process_exists(pid));
  std::lock_guard lock(mutex);
  return signal.value_or(0);
}

TEST(Lifecycle, ShutdownSendsSigtermToAChildThatOutstaysTheChannel) {
  EXPECT_EQ(exit_signal_of_shutdown("linger"), SIGTERM);
}

TEST(Lifecycle, ShutdownSendsSigkillToAChildThatIgnoresSigterm) {
  EXPECT_EQ(exit_signal_of_shutdown("stubborn"), SIGKILL);
}

// The host is a separate samplehost process here, killed with SIGKILL in the middle of a
// call: its pihost must die with it (PR_SET_PDEATHSIG), not linger as an orphan.
TEST(Lifecycle, ChildDiesWhenTheHostIsKilled) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> args{test::samplehost(), "--json", "-l", test::plugin("sleep"), "--", "20000"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t host = -1;
  ASSERT_EQ(::posix_spawn(&host, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  std::FILE* lines = ::fdopen(out[0], "r");
  char line[4096];
  int child = 0;
  while (child == 0 && std::fgets(line, sizeof(line), lines) != nullptr) {
    const std::string text = line;
    const auto pid_at = text.find("\"pid\":");
    if (text.find("\"event\":\"started\"") != std::string::npos && pid_at != std::string::npos) {
      child = std::atoi(text.c_str() + pid_at + 6);
    }
  }
  std::fclose(lines);
  ASSERT_GT(child, 0) << "samplehost reported no started child";
  ASSERT_TRUE(test::process_alive(child));

  ::kill(host, SIGKILL);
  ::waitpid(host, nullptr, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (test::process_alive(child) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(test::process_alive(child)) << "pihost " << child << " outlived its host";
}

TEST(Lifecycle, CallsAfterShutdownThrow) {
  auto isolator = ProcessIsolator::create(test::options());
  isolator->shutdown();
  EXPECT_THROW(isolator->invoke(plugin("args"), "echo", {"1"}), ShutDownError);
  EXPECT_THROW(isolator->set_data("k", "v"), ShutDownError);
  EXPECT_THROW(isolator->get_data("k"), ShutDownError);
}

TEST(Lifecycle, LoggerIsReplaceable) {
  auto mine = std::make_shared<spdlog::logger>("mine");
  set_logger(mine);
  EXPECT_EQ(logger(), mine);
  set_logger(nullptr);
  EXPECT_EQ(logger()->name(), "isolator");
}

// A ProcessIsolator runs one thread of its own (named "isolator-io"), gone with it.
TEST(Lifecycle, AnIsolatorRunsOneThreadOfItsOwn) {
  const std::size_t before = test::library_threads();
  {
    auto isolator = ProcessIsolator::create(test::options());
    EXPECT_EQ(test::library_threads() - before, 1u);
    EXPECT_TRUE(isolator->invoke(plugin("args"), "echo", {"1"}).ok());
  }
  EXPECT_EQ(test::library_threads(), before);
}

}  // namespace
}  // namespace isolator
