// A plugin rebuilt at the same path runs its new code at the next call: the child that loaded
// the old file is replaced first, with a LibraryChangedEvent, and the data the host set is
// replayed into the new one. Options::reload_changed_libraries = false keeps the old code.
//
// libplugin_version_one.so's `method` returns 1, libplugin_version_two.so's returns 2 (and
// the file is larger).
#include "../support/temp_dir.hpp"
#include "../support/test_support.hpp"

#include <isolator/isolator.hpp>

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

namespace isolator {
namespace {

namespace fs = std::filesystem;
using test::plugin;
using test::TempDir;

// Puts a copy of `from` at `to` the way a linker does: written aside, renamed over (a new file).
void replace_by_rename(const std::string& from, const fs::path& to) {
  const fs::path aside = to.string() + ".new";
  fs::copy_file(from, aside, fs::copy_options::overwrite_existing);
  fs::rename(aside, to);
}

struct SeenEvents {
  std::mutex mutex;
  std::vector<LibraryChangedEvent> changed;
  std::vector<ExitedEvent> exited;
};

Options watched(SeenEvents& seen) {
  Options options = test::options();
  options.on_event = [&seen](const Event& event) {
    std::lock_guard lock(seen.mutex);
    if (const auto* changed = std::get_if<LibraryChangedEvent>(&event)) seen.changed.push_back(*changed);
    if (const auto* exited = std::get_if<ExitedEvent>(&event)) seen.exited.push_back(*exited);
  };
  return options;
}

TEST(Reload, APluginReplacedBetweenTwoCallsRunsItsNewCodeWithTheHostsDataReplayed) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  SeenEvents seen;
  auto isolator = ProcessIsolator::create(watched(seen));
  isolator->set_data("kept", "across the reload");
  const auto first = isolator->invoke(library.string(), "method", {});
  ASSERT_EQ(first.code, 1) << (first.failure ? first.failure->message : "");

  replace_by_rename(plugin("version_two"), library);
  const auto second = isolator->invoke(library.string(), "method", {});
  ASSERT_EQ(second.code, 2) << (second.failure ? second.failure->message : "");
  EXPECT_NE(second.pid, first.pid) << "the child that loaded the old file was replaced";
  EXPECT_EQ(isolator->get_data("kept"), std::optional<std::string>("across the reload"));

  // The old child is stopped gracefully (its channel closed): its exit may come after the call.
  std::optional<ExitCause> old_child_ended;
  for (int waited_ms = 0; !old_child_ended && waited_ms < 10'000; waited_ms += 10) {
    {
      std::lock_guard lock(seen.mutex);
      for (const auto& exited : seen.exited) {
        if (exited.pid == first.pid) old_child_ended = exited.cause;
      }
    }
    if (!old_child_ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(old_child_ended, ExitCause::library_changed);
  std::lock_guard lock(seen.mutex);
  ASSERT_EQ(seen.changed.size(), 1u);
  EXPECT_EQ(seen.changed[0].pid, first.pid);
  EXPECT_EQ(seen.changed[0].library, library.string());
}

TEST(Reload, AFileOverwrittenInPlaceWithADifferentSizeIsNewCodeToo) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  auto isolator = ProcessIsolator::create(test::options());
  ASSERT_EQ(isolator->invoke(library.string(), "method", {}).code, 1);
  // Same inode: cp over the file.
  fs::copy_file(plugin("version_two"), library, fs::copy_options::overwrite_existing);
  EXPECT_EQ(isolator->invoke(library.string(), "method", {}).code, 2);
}

TEST(Reload, UnchangedLibrariesKeepTheirChild) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  SeenEvents seen;
  auto isolator = ProcessIsolator::create(watched(seen));
  const auto first = isolator->invoke(library.string(), "method", {});
  const auto second = isolator->invoke(library.string(), "method", {});
  const auto other = isolator->invoke(plugin("args"), "method", {});
  const auto third = isolator->invoke(library.string(), "method", {});
  EXPECT_EQ(first.pid, third.pid);
  EXPECT_EQ(second.pid, third.pid);
  EXPECT_EQ(other.pid, third.pid);
  std::lock_guard lock(seen.mutex);
  EXPECT_TRUE(seen.changed.empty());
}

TEST(Reload, ALibraryRemovedAfterItsFirstCallIsNotFound) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  auto isolator = ProcessIsolator::create(test::options());
  ASSERT_EQ(isolator->invoke(library.string(), "method", {}).code, 1);
  fs::remove(library);
  const auto gone = isolator->invoke(library.string(), "method", {});
  ASSERT_FALSE(gone.ok()) << "the old code ran from a file that is no longer there";
  EXPECT_EQ(gone.failure->kind, FailureKind::library_not_found) << gone.failure->message;
}

TEST(Reload, TurnedOffTheOldCodeKeepsRunning) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  Options options = test::options();
  options.reload_changed_libraries = false;
  auto isolator = ProcessIsolator::create(options);
  const auto first = isolator->invoke(library.string(), "method", {});
  ASSERT_EQ(first.code, 1);
  replace_by_rename(plugin("version_two"), library);
  const auto second = isolator->invoke(library.string(), "method", {});
  EXPECT_EQ(second.code, 1) << "the library is cached per path for the child's life";
  EXPECT_EQ(second.pid, first.pid);
}

TEST(Reload, EveryChildOfAPoolRunsTheNewCode) {
  TempDir dir;
  const fs::path library = dir.path() / "libplugin.so";
  fs::copy_file(plugin("version_one"), library);
  PoolOptions options;
  options.isolator = test::options();
  options.size = 2;
  auto pool = IsolatorPool::create(options);
  std::vector<std::future<CallResult>> before;
  for (int i = 0; i < 8; ++i) before.push_back(pool->async_invoke(Invocation{library.string(), "method", {}, {}}, boost::asio::use_future));
  for (auto& call : before) ASSERT_EQ(call.get().code, 1);
  replace_by_rename(plugin("version_two"), library);
  std::vector<std::future<CallResult>> after;
  for (int i = 0; i < 8; ++i) after.push_back(pool->async_invoke(Invocation{library.string(), "method", {}, {}}, boost::asio::use_future));
  for (auto& call : after) EXPECT_EQ(call.get().code, 2);
}

}  // namespace
}  // namespace isolator
