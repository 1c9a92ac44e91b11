// What the child writes to stdout and stderr: attributed to its call, capped, streamed.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string_view>
#include <thread>

namespace isolator {
namespace {

using test::plugin;
using namespace std::chrono_literals;

std::vector<std::string> texts(const CallResult& r) {
  std::vector<std::string> out;
  for (const auto& line : r.output) out.push_back(line.text);
  return out;
}

TEST(Output, EachCallGetsExactlyTheLinesItPrinted) {
  auto isolator = ProcessIsolator::create(test::options());
  for (int i = 0; i < 50; ++i) {
    const std::string text = "line " + std::to_string(i);
    const auto r = isolator->invoke(plugin("chatty"), "say", {text});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(texts(r), std::vector<std::string>{text});
  }
}

TEST(Output, StdoutAndStderrAreToldApart) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto r = isolator->invoke(plugin("chatty"), "method", {"2", "3"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.output.size(), 3u);
  EXPECT_EQ(r.output[0].stream, OutputStream::out);
  EXPECT_EQ(r.output[0].text, "xxx");
  EXPECT_EQ(r.output[2].stream, OutputStream::err);
  EXPECT_EQ(r.output[2].text, "done on stderr");
}

TEST(Output, AnUnterminatedLineBelongsToItsCall) {
  auto isolator = ProcessIsolator::create(test::options());
  const auto first = isolator->invoke(plugin("chatty"), "partial", {"no newline"});
  EXPECT_EQ(texts(first), std::vector<std::string>{"no newline"});
  const auto second = isolator->invoke(plugin("chatty"), "say", {"next"});
  EXPECT_EQ(texts(second), std::vector<std::string>{"next"});
}

TEST(Output, ResultKeepsOutputUpToTheCapThenAMarkerWhileOnOutputSeesEverything) {
  std::mutex mutex;
  std::size_t streamed = 0;
  Options options = test::options();
  options.max_output_bytes_per_call = 1000;
  options.on_output = [&](OutputStream stream, std::string_view line) {
    std::lock_guard lock(mutex);
    if (stream == OutputStream::out && line == std::string(100, 'x')) ++streamed;
  };
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("chatty"), "method", {"2000", "100"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 2000);
  EXPECT_TRUE(r.output_truncated);
  ASSERT_EQ(r.output.size(), 11u) << "10 lines of 100 bytes, then the marker";
  EXPECT_NE(r.output.back().text.find("output truncated: 1991 more lines"), std::string::npos)
      << r.output.back().text;
  std::lock_guard lock(mutex);
  EXPECT_EQ(streamed, 2000u);
}

TEST(Output, AnOverlongLineArrivesInPiecesOfTheMaximum) {
  Options options = test::options();
  options.max_line_bytes = 1000;
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("chatty"), "method", {"1", "2500"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.output.size(), 4u);
  EXPECT_EQ(r.output[0].text.size(), 1000u);
  EXPECT_EQ(r.output[1].text.size(), 1000u);
  EXPECT_EQ(r.output[2].text.size(), 500u);
}

TEST(Output, AThrowingOnOutputCallbackDoesNotBreakTheIsolator) {
  Options options = test::options();
  options.on_output = [](OutputStream, std::string_view) { throw std::runtime_error("callback bug"); };
  auto isolator = ProcessIsolator::create(options);
  for (int i = 0; i < 3; ++i) {
    const auto r = isolator->invoke(plugin("chatty"), "say", {"still fine"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(texts(r), std::vector<std::string>{"still fine"});
  }
}

// on_output runs on the I/O thread: a callback that sleeps makes this host read far slower
// than the flood plugin writes, as a loaded or instrumented host would.
Options slow_reader() {
  Options options = test::options();
  options.on_output = [](OutputStream, std::string_view) { std::this_thread::sleep_for(20us); };
  return options;
}

TEST(Output, AChildWritingFasterThanTheHostReadsCannotHoldTheIoThreadPastTheTimeout) {
  // Were the pipe read until empty in one go, the thread would never get to the call's
  // timer: 1000 MB at this pace takes many minutes.
  auto isolator = ProcessIsolator::create(slow_reader());
  const auto r = isolator->invoke(Invocation{plugin("flood"), "method", {"1000"}, CallOptions{1s}});
  ASSERT_FALSE(r.ok()) << "the flood ended with " << *r.code;
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
  const auto next = isolator->invoke(plugin("chatty"), "say", {"next"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(texts(next), std::vector<std::string>{"next"});
}

TEST(Output, AWriterLeftRunningByAReturnedCallDoesNotHoldItsResult) {
  // The reply proves that what the call wrote before it is in the pipe: that much is read
  // for the result, not what the thread left behind writes while it is read.
  auto isolator = ProcessIsolator::create(slow_reader());
  const auto r = isolator->invoke(Invocation{plugin("flood"), "background", {}, CallOptions{30s}});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 7);
}

}  // namespace
}  // namespace isolator
