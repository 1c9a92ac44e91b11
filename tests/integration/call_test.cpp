// What a call returns, for a method that returns and for every way one can fail.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>

#include <csignal>
#include <fstream>
#include <future>

#include <unistd.h>

namespace isolator {
namespace {

using test::plugin;

class CallTest : public ::testing::Test {
 protected:
  CallResult call(const std::string& library, const std::string& symbol = "method",
                  std::vector<std::string> args = {}) {
    return isolator_->invoke(library, symbol, std::move(args));
  }
  void expect_failure(const CallResult& r, FailureKind kind, const std::string& text) {
    ASSERT_FALSE(r.ok()) << "code " << r.code.value_or(-999);
    EXPECT_FALSE(r.code.has_value());
    EXPECT_EQ(to_string(r.failure->kind), to_string(kind)) << r.failure->message;
    EXPECT_NE(r.failure->message.find(text), std::string::npos)
        << "message: " << r.failure->message << "\nexpected to contain: " << text;
  }

  std::unique_ptr<ProcessIsolator> isolator_ = ProcessIsolator::create(test::options());
};

TEST_F(CallTest, PassesArgumentsAndReturnsTheMethodsCode) {
  const auto r = call(plugin("args"), "method", {"one", "two words", ""});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 4 * 10 + 2) << "argc is 4: the library path and three arguments";
  ASSERT_EQ(r.output.size(), 4u);
  EXPECT_EQ(r.output[0].text, "argv[0]=" + plugin("args"));
  EXPECT_EQ(r.output[1].text, "argv[1]=one");
  EXPECT_EQ(r.output[2].text, "argv[2]=two words");
  EXPECT_EQ(r.output[3].text, "argv[3]=");
  EXPECT_EQ(r.pid, isolator_->pid());
  EXPECT_GT(r.usage.peak_rss_bytes, 0);
}

TEST_F(CallTest, NegativeCodesComeBackIntact) {
  const auto r = call(plugin("args"), "echo", {"-123"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, -123);
}

TEST_F(CallTest, SegfaultIsCrashedWithSigsegv) {
  const int pid = isolator_->pid();
  const auto r = call(plugin("segv"));
  expect_failure(r, FailureKind::crashed, "SIGSEGV");
  EXPECT_EQ(r.failure->signal, SIGSEGV);
  EXPECT_FALSE(r.failure->exit_code.has_value());
  EXPECT_EQ(r.pid, pid);
}

TEST_F(CallTest, AbortIsCrashedWithSigabrt) {
  const auto r = call(plugin("abort"));
  expect_failure(r, FailureKind::crashed, "SIGABRT");
  EXPECT_EQ(r.failure->signal, SIGABRT);
}

TEST_F(CallTest, ExitWithACodeIsExitedNeverSuccess) {
  const auto r = call(plugin("exit_code"), "method", {"3"});
  expect_failure(r, FailureKind::exited, "exited with code 3");
  EXPECT_EQ(r.failure->exit_code, 3);
  EXPECT_FALSE(r.failure->signal.has_value());
  // exit() flushes stdio: the unterminated line still reaches the call's output.
  ASSERT_FALSE(r.output.empty());
  EXPECT_EQ(r.output.back().text, "about to exit");
}

TEST_F(CallTest, ExitZeroIsStillExited) {
  const auto r = call(plugin("exit_code"), "method", {"0"});
  expect_failure(r, FailureKind::exited, "exited with code 0");
  EXPECT_EQ(r.failure->exit_code, 0);
}

TEST_F(CallTest, UnderscoreExitIsExited) {
  const auto r = call(plugin("underscore_exit"), "method", {"5"});
  expect_failure(r, FailureKind::exited, "exited with code 5");
  EXPECT_EQ(r.failure->exit_code, 5);
}

TEST_F(CallTest, CppExceptionIsThrewWithItsWhat) {
  const auto r = call(plugin("throw"));
  expect_failure(r, FailureKind::threw, "boom from plugin");
  // The child survives a throw: the next call runs in the same process.
  const int pid = isolator_->pid();
  EXPECT_TRUE(call(plugin("args"), "echo", {"1"}).ok());
  EXPECT_EQ(isolator_->pid(), pid);
}

// A C++ plugin's exception escaping into pihost must leave the plugin's runtime healthy for
// the next calls. This guards against linking pihost with -static-libstdc++ (two copies of
// the runtime), which breaks it; see pihost/CMakeLists.txt.
TEST_F(CallTest, APluginStillThrowsAndCatchesItselfAfterAnExceptionEscaped) {
  expect_failure(call(plugin("throw")), FailureKind::threw, "boom from plugin");
  expect_failure(call(plugin("throw"), "throw_int"), FailureKind::threw, "not a std::exception");
  const auto r = call(plugin("throw"), "catch_inside");
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 7) << "the plugin's runtime counts exceptions still in flight";
}

TEST_F(CallTest, NonStdExceptionIsThrew) {
  expect_failure(call(plugin("throw"), "throw_int"), FailureKind::threw, "not a std::exception");
}

TEST_F(CallTest, StaticInitializerCrashingAtLoadIsCrashed) {
  expect_failure(call(plugin("crash_at_load")), FailureKind::crashed, "SIGSEGV");
}

TEST_F(CallTest, MissingSymbolIsSymbolNotFound) {
  expect_failure(call(plugin("args"), "no_such_method"), FailureKind::symbol_not_found, "no_such_method");
}

TEST_F(CallTest, MissingFileIsLibraryNotFound) {
  expect_failure(call("/nonexistent/libnothing.so"), FailureKind::library_not_found,
                 "no such file: '/nonexistent/libnothing.so'");
}

TEST_F(CallTest, RelativePathIsRefusedWithTheFix) {
  expect_failure(call("libplugin_args.so"), FailureKind::library_not_found,
                 "is not absolute; pass an absolute path");
}

TEST_F(CallTest, TextFileIsNotALibrary) {
  test::TempDir dir;
  const auto path = dir.path() / "notes.txt";
  std::ofstream(path) << "just some text\n";
  expect_failure(call(path.string()), FailureKind::not_a_library, "ELF magic");
}

TEST_F(CallTest, EmptyFileIsNotALibrary) {
  test::TempDir dir;
  const auto path = dir.path() / "empty.so";
  std::ofstream{path};
  expect_failure(call(path.string()), FailureKind::not_a_library, "the file is empty");
}

TEST_F(CallTest, DirectoryIsNotALibrary) {
  test::TempDir dir;
  expect_failure(call(dir.path().string()), FailureKind::not_a_library, "is a directory");
}

TEST_F(CallTest, UnresolvedSymbolAtLoadNamesTheSymbol) {
  expect_failure(call(plugin("unresolved_symbol")), FailureKind::not_a_library,
                 "isolator_test_function_that_does_not_exist");
}

TEST_F(CallTest, PathWithSpacesAndNonAsciiWorks) {
  test::TempDir dir;
  const auto folder = dir.path() / "a folder with spaces";
  std::filesystem::create_directory(folder);
  const auto path = folder / "plügin ünïcode ✓.so";
  std::filesystem::copy_file(plugin("args"), path);
  const auto r = call(path.string(), "echo", {"17"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 17);
}

TEST_F(CallTest, TheChildIsReplacedAfterACrash) {
  const int first = isolator_->pid();
  ASSERT_FALSE(call(plugin("segv")).ok());
  const auto r = call(plugin("args"), "echo", {"9"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 9);
  EXPECT_NE(r.pid, first);
  EXPECT_FALSE(test::process_exists(first)) << "the crashed child was reaped";
}

TEST_F(CallTest, PluginsShareTheDataStoreWithTheHost) {
  isolator_->set_data("greeting", "hello");
  auto r = call(plugin("data"), "data_read", {"greeting"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 5);
  EXPECT_EQ(r.output.at(0).text, "hello");

  ASSERT_TRUE(call(plugin("data"), "data_write", {"answer", "forty-two"}).ok());
  EXPECT_EQ(isolator_->get_data("answer"), "forty-two");
  EXPECT_EQ(isolator_->get_data("missing"), std::nullopt);
  EXPECT_EQ(*call(plugin("data"), "data_read", {"missing"}).code, -1);
}

// pihost runs a call on the thread that reads the channel; past a moment, its relief
// thread answers the host in its stead (pihost/src/server.hpp).
TEST_F(CallTest, DataRequestsAreAnsweredWhileACallRuns) {
  using namespace std::chrono_literals;
  auto running = isolator_->async_invoke(Invocation{plugin("sleep"), "method", {"3000"}, {}},
                                         boost::asio::use_future);
  std::this_thread::sleep_for(200ms);  // the call has begun
  isolator_->set_data("during", "the call");
  EXPECT_EQ(isolator_->get_data("during"), "the call");
  EXPECT_EQ(running.wait_for(0s), std::future_status::timeout) << "get_data waited for the call to end";
  auto queued = isolator_->async_invoke(Invocation{plugin("data"), "data_read", {"during"}, {}},
                                        boost::asio::use_future);
  const auto r = running.get();
  ASSERT_TRUE(r.ok()) << r.failure->message;
  const auto q = queued.get();
  ASSERT_TRUE(q.ok()) << q.failure->message;
  EXPECT_EQ(q.output.at(0).text, "the call");
  EXPECT_EQ(q.pid, r.pid);
}

TEST_F(CallTest, DataValuesAreBytesNotStrings) {
  const std::string bytes("a\0b\xff", 4);
  isolator_->set_data("bin", bytes);
  EXPECT_EQ(isolator_->get_data("bin"), bytes);
}

TEST_F(CallTest, HostDataIsReplayedIntoAReplacementChild) {
  isolator_->set_data("kept", "yes");
  ASSERT_FALSE(call(plugin("segv")).ok());
  const auto r = call(plugin("data"), "data_read", {"kept"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output.at(0).text, "yes");
}

TEST_F(CallTest, TimeoutKillsTheChildAndSaysSo) {
  const auto r = isolator_->invoke(
      Invocation{plugin("sleep"), "method", {"10000"}, CallOptions{std::chrono::milliseconds(200)}});
  expect_failure(r, FailureKind::timeout, "timeout of 200 ms");
  EXPECT_EQ(r.failure->signal, SIGKILL);
  EXPECT_TRUE(call(plugin("args"), "echo", {"1"}).ok()) << "the next call gets a fresh child";
}

TEST_F(CallTest, CallsQueuedBehindATimedOutCallRunOnTheNextChild) {
  const int first = isolator_->pid();
  auto slow = isolator_->async_invoke(
      Invocation{plugin("sleep"), "method", {"10000"}, CallOptions{std::chrono::milliseconds(200)}},
      boost::asio::use_future);
  std::vector<std::future<CallResult>> queued;
  for (int i = 0; i < 3; ++i) {
    queued.push_back(isolator_->async_invoke(Invocation{plugin("args"), "echo", {std::to_string(i)}, {}},
                                             boost::asio::use_future));
  }
  EXPECT_EQ(slow.get().failure->kind, FailureKind::timeout);
  for (int i = 0; i < 3; ++i) {
    const auto r = queued[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.ok()) << r.failure->message;
    EXPECT_EQ(*r.code, i);
    EXPECT_NE(r.pid, first);
  }
}

TEST_F(CallTest, PeakResidentSetBelongsToTheCall) {
  Options options = test::options();
  // A non-root pihost that is not dumpable cannot reset its VmHWM (/proc/self/clear_refs
  // becomes root's): the peak is then the peak since start (docs/limits.md).
  if (::geteuid() != 0) options.allow_core_dumps = true;
#ifdef ISOLATOR_TEST_SANITIZED
  // ASan keeps freed memory resident in its quarantine: the 64 MiB must really go back.
  for (auto& [name, value] : options.environment) {
    if (name == "ASAN_OPTIONS") value += ":quarantine_size_mb=0";
  }
#endif
  auto isolator = ProcessIsolator::create(options);
  const auto big = isolator->invoke(Invocation{plugin("memory_bomb"), "method", {"64"}, {}});
  ASSERT_TRUE(big.ok()) << big.failure->message;
  ASSERT_EQ(*big.code, 64);
  EXPECT_GE(big.usage.peak_rss_bytes, std::int64_t{64} << 20);
  for (int i = 0; i < 2; ++i) {  // the second: after a call that found nothing to reset
    const auto small = isolator->invoke(Invocation{plugin("args"), "echo", {"1"}, {}});
    ASSERT_TRUE(small.ok()) << small.failure->message;
    EXPECT_GT(small.usage.peak_rss_bytes, 0);
    EXPECT_LT(small.usage.peak_rss_bytes, std::int64_t{32} << 20)
        << "call " << i << " after the 64 MiB one reports that call's peak as its own";
  }
}

TEST_F(CallTest, APluginThatTakesPihostsHeldProcFilesGetsNothingWrittenAndCallsAreStillMeasured) {
  // pihost holds /proc/self/clear_refs and /proc/self/status open for every call. A plugin
  // that puts its own file at those numbers must not have "5" written into it, and the
  // peak must still be read (status is opened again).
  Options options = test::options();
  if (::geteuid() != 0) options.allow_core_dumps = true;  // clear_refs held at all (above)
  auto isolator = ProcessIsolator::create(options);
  const auto squat = isolator->invoke(Invocation{plugin("inspect"), "squat_proc_fds", {}, {}});
  ASSERT_TRUE(squat.ok()) << squat.failure->message;
  ASSERT_GE(*squat.code, 2) << "pihost holds clear_refs and status from descriptor 100 up";
  const auto big = isolator->invoke(Invocation{plugin("memory_bomb"), "method", {"64"}, {}});
  ASSERT_TRUE(big.ok()) << big.failure->message;
  EXPECT_GE(big.usage.peak_rss_bytes, std::int64_t{64} << 20);
  const auto size = isolator->invoke(Invocation{plugin("inspect"), "squatter_size", {}, {}});
  ASSERT_TRUE(size.ok()) << size.failure->message;
  EXPECT_EQ(*size.code, 0) << "pihost wrote into the plugin's file";
  EXPECT_GT(size.usage.peak_rss_bytes, 0);
  EXPECT_EQ(size.pid, squat.pid);
}

TEST_F(CallTest, ResourceUsageOfTheChildIsReadable) {
  ASSERT_TRUE(call(plugin("args"), "echo", {"1"}).ok());
  const auto usage = isolator_->resource_usage();
  EXPECT_GT(usage.rss_bytes, 0);
  EXPECT_GE(usage.peak_rss_bytes, usage.rss_bytes);
}

}  // namespace
}  // namespace isolator
