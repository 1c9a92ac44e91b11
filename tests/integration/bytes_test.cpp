// A call carries bytes both ways beside argv and the int: Invocation::input, read by the
// method with isolator_input(), and the result bytes it sets with isolator_result_set(),
// delivered in CallResult::bytes under Options::max_result_bytes. isolator/values.hpp reads
// and builds them as msgpack values. The plugin is libplugin_bytes.so (tests/plugins/bytes.c).
#include "test_support.hpp"

#include <isolator/isolator.hpp>
#include <isolator/values.hpp>

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace isolator {
namespace {

using test::plugin;

CallResult call(ProcessIsolator& isolator, const std::string& symbol, std::vector<std::string> args = {},
                std::string input = {}) {
  Invocation invocation{plugin("bytes"), symbol, std::move(args), {}, std::move(input)};
  return isolator.invoke(std::move(invocation));
}

TEST(Bytes, InputWithNulBytesReachesTheMethodAndComesBackAsItsResultBytes) {
  auto isolator = ProcessIsolator::create(test::options());
  const std::string input("a\0b\xff\0", 5);
  const CallResult r = call(*isolator, "echo_input", {}, input);
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 5);
  ASSERT_TRUE(r.bytes.has_value());
  EXPECT_EQ(*r.bytes, input);
}

TEST(Bytes, ACallWithoutInputReadsEmptyInputAndAnEmptyResultIsToldFromNone) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult echoed = call(*isolator, "echo_input");
  ASSERT_TRUE(echoed.ok()) << echoed.failure->message;
  EXPECT_EQ(*echoed.code, 0);  // isolator_input gave a pointer (not NULL) and size 0
  ASSERT_TRUE(echoed.bytes.has_value());
  EXPECT_EQ(*echoed.bytes, "");

  const CallResult none = call(*isolator, "no_result");
  ASSERT_TRUE(none.ok()) << none.failure->message;
  EXPECT_EQ(*none.code, 7);
  EXPECT_FALSE(none.bytes.has_value());

  const CallResult empty = call(*isolator, "empty_result");
  ASSERT_TRUE(empty.ok()) << empty.failure->message;
  EXPECT_EQ(*empty.code, 0);
  ASSERT_TRUE(empty.bytes.has_value());
  EXPECT_EQ(*empty.bytes, "");
}

// Result bytes belong to one call: the next call that sets none has none.
TEST(Bytes, ResultBytesDoNotCarryOverToTheNextCall) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult first = call(*isolator, "set_text", {"first"});
  ASSERT_TRUE(first.ok()) << first.failure->message;
  EXPECT_EQ(first.bytes.value_or("(none)"), "first");
  const CallResult second = call(*isolator, "no_result");
  ASSERT_TRUE(second.ok()) << second.failure->message;
  EXPECT_FALSE(second.bytes.has_value());
}

struct Answer {
  int answer = 0;
  std::string name;
  MSGPACK_DEFINE_MAP(answer, name)
};

TEST(Bytes, AMsgpackMapTheMethodReturnsReadsAsAStructAndAsAnObject) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult r = call(*isolator, "msgpack_map");
  ASSERT_TRUE(r.ok()) << r.failure->message;
  ASSERT_TRUE(r.bytes.has_value());
  const auto value = from_bytes<Answer>(*r.bytes);
  EXPECT_EQ(value.answer, 42);
  EXPECT_EQ(value.name, "isolator");
  const msgpack::object_handle object = unpack_bytes(*r.bytes);
  ASSERT_EQ(object.get().type, msgpack::type::MAP);
  EXPECT_EQ(object.get().via.map.size, 2u);
  // Not an int: a clear error, not a wrong number.
  EXPECT_THROW(from_bytes<int>(*r.bytes), Error);
}

TEST(Bytes, InputBuiltFromACppValueIsReadByTheMethod) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult r = call(*isolator, "sum_fixints", {}, to_bytes(std::vector<int>{1, 2, 3, 4}));
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 10);
}

TEST(Bytes, AResultOverTheCapFailsResultTooLargeNamingBothSizesAndTheChildStays) {
  Options options = test::options();
  options.max_result_bytes = 1024;
  auto isolator = ProcessIsolator::create(options);
  const CallResult at_cap = call(*isolator, "oversize", {"1024"});
  ASSERT_TRUE(at_cap.ok()) << at_cap.failure->message;
  EXPECT_EQ(*at_cap.code, 0);
  EXPECT_EQ(at_cap.bytes.value_or("").size(), 1024u);

  const CallResult over = call(*isolator, "oversize", {"1025"});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.failure->kind, FailureKind::result_too_large);
  EXPECT_NE(over.failure->message.find("'oversize' returned 1025 result bytes"), std::string::npos)
      << over.failure->message;
  EXPECT_NE(over.failure->message.find("cap of 1024 bytes"), std::string::npos) << over.failure->message;
  EXPECT_NE(over.failure->message.find("Options::max_result_bytes"), std::string::npos) << over.failure->message;
  EXPECT_FALSE(over.bytes.has_value());

  const CallResult next = call(*isolator, "set_text", {"after"});
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.pid, over.pid);  // the same child: an oversize result is not a crash
  EXPECT_EQ(next.bytes.value_or(""), "after");
}

TEST(Bytes, ASetThatFitsAfterAnOversizeOneIsTheResult) {
  Options options = test::options();
  options.max_result_bytes = 1024;
  auto isolator = ProcessIsolator::create(options);
  const CallResult r = call(*isolator, "oversize_then_fit", {"4096"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 0);
  EXPECT_EQ(r.bytes.value_or(""), "fits");
}

TEST(Bytes, TheMethodsThreadsMaySetTheResultAndTheLastSetWins) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult r = call(*isolator, "from_two_threads");
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(r.bytes.value_or(""), "two");
}

TEST(Bytes, EightThreadsSettingAtOnceLeaveOneOfTheirResultsWhole) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult r = call(*isolator, "from_threads_at_once", {}, "input");
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 8);  // each read the input whole
  const std::string result = r.bytes.value_or("(none)");
  EXPECT_TRUE(result.size() == 8 && result.rfind("thread ", 0) == 0 && result[7] >= '0' && result[7] <= '7') << result;
}

// A thread the method left running reads no input and cannot set a result once the method
// returned and while no other call runs; nor does anything it set show in the next call's
// result. (While a later call runs it would reach that call's: plugin.hpp says so.)
TEST(Bytes, AfterTheMethodReturnedInputIsNullAndSettingAResultIsRefused) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult r = call(*isolator, "late_set");
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_FALSE(r.bytes.has_value());
  std::optional<std::string> late;
  for (int i = 0; i < 200 && !late; ++i) {
    late = isolator->get_data("late");
    if (!late) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(late.has_value()) << "the late thread did not report within 5 s";
  EXPECT_EQ(*late, "input=0 set=-1");
  const CallResult next = call(*isolator, "no_result");
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_FALSE(next.bytes.has_value());
}

TEST(Bytes, TheCapIsOneMiBOrWhatTheFrameLeavesOrTheOption) {
  Options options = test::options();
  EXPECT_EQ(result_bytes_cap(options), std::size_t{1} << 20);
  EXPECT_EQ(*call(*ProcessIsolator::create(options), "limit").code, 1024);  // KiB, as pihost sees it

  options.max_frame_bytes = 64 << 10;
  EXPECT_EQ(result_bytes_cap(options), (64u << 10) - 128);
  EXPECT_EQ(*call(*ProcessIsolator::create(options), "limit").code, 63);

  options.max_result_bytes = 4096;
  EXPECT_EQ(result_bytes_cap(options), 4096u);
  EXPECT_EQ(*call(*ProcessIsolator::create(options), "limit").code, 4);
}

TEST(Bytes, AResultCapOfZeroOrBeyondTheFrameIsAnOptionsErrorNamingIt) {
  Options zero = test::options();
  zero.max_result_bytes = 0;
  try {
    ProcessIsolator::create(zero);
    FAIL() << "a cap of 0 was accepted";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("Options::max_result_bytes is 0"), std::string::npos) << e.what();
  }
  Options beyond = test::options();
  beyond.max_frame_bytes = 64 << 10;
  beyond.max_result_bytes = 64 << 10;
  try {
    ProcessIsolator::create(beyond);
    FAIL() << "a cap as large as the frame was accepted";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("between 1 and 65408"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_frame_bytes"), std::string::npos) << e.what();
  }
}

TEST(Bytes, InputTooLargeForAFrameIsRefusedWhenTheCallIsMadeAndNothingRuns) {
  Options options = test::options();
  options.max_frame_bytes = 64 << 10;
  auto isolator = ProcessIsolator::create(options);
  try {
    call(*isolator, "echo_input", {}, std::string((64 << 10) + 1, 'i'));
    FAIL() << "the call was sent";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the call's input is 65537 bytes, more than Options::max_frame_bytes"),
              std::string::npos)
        << e.what();
  }
  // Input that fits alone, but not with the rest of the message.
  try {
    call(*isolator, "echo_input", {}, std::string((64 << 10) - 16, 'i'));
    FAIL() << "the call was sent";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arguments, library search path and input make a message of"),
              std::string::npos)
        << e.what();
  }
  const CallResult after = call(*isolator, "echo_input", {}, "ok");
  ASSERT_TRUE(after.ok()) << after.failure->message;
  EXPECT_EQ(after.bytes.value_or(""), "ok");
}

TEST(Bytes, APoolCarriesInputAndResultBytes) {
  PoolOptions options;
  options.isolator = test::options();
  options.size = 2;
  auto pool = IsolatorPool::create(options);
  std::vector<std::future<CallResult>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(pool->async_invoke(
        Invocation{plugin("bytes"), "echo_input", {}, {}, "call " + std::to_string(i)}, boost::asio::use_future));
  }
  for (int i = 0; i < 6; ++i) {
    const CallResult r = calls[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.ok()) << r.failure->message;
    EXPECT_EQ(r.bytes.value_or(""), "call " + std::to_string(i));
  }
}

// A call retried on a new child (its first attempt crashed) carries its input again.
TEST(Bytes, ARetriedCallCarriesItsInputAgain) {
  auto isolator = ProcessIsolator::create(test::options());
  const int first = isolator->pid();
  // The marker goes in the child's working directory, which every child of the isolator
  // shares and may write (a directory of the test's is read-only to a sandboxed child).
  Invocation invocation{plugin("bytes"), "crash_once_then_echo", {"crashed-once"}, {}, std::string("again\0", 6)};
  invocation.options.retries = 1;
  const CallResult r = isolator->invoke(std::move(invocation));
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_NE(r.pid, first);  // the first attempt crashed its child
  EXPECT_EQ(r.bytes.value_or(""), std::string("again\0", 6));
}

}  // namespace
}  // namespace isolator
