// A call that crashes carries where: Failure::crash holds the crashed thread's stack, read by
// pihost's crash handler and named by its crash reporter inside the child, and a call that
// throws carries the exception's type. The plugin is libplugin_crashes.so
// (tests/plugins/crashes.cpp, built with -g -O0) and its stripped twin.
#include "test_support.hpp"

#include <isolator/isolator.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace isolator {
namespace {

using test::plugin;

CallResult call(ProcessIsolator& isolator, const std::string& symbol, const std::string& library = plugin("crashes")) {
  return isolator.invoke(Invocation{library, symbol});
}

// The report of a call that must have crashed of `signal`.
CrashReport crash_of(const CallResult& result, int signal) {
  EXPECT_FALSE(result.ok());
  if (result.ok()) return {};
  const Failure& failure = *result.failure;
  EXPECT_EQ(failure.kind, FailureKind::crashed) << failure.message;
  EXPECT_EQ(failure.signal, signal) << failure.message;
  EXPECT_TRUE(failure.crash.has_value()) << failure.message;
  return failure.crash.value_or(CrashReport{});
}

// The index of the first frame whose function contains `name`; none when no frame's does.
std::optional<std::size_t> frame_named(const CrashReport& report, const std::string& name) {
  for (std::size_t i = 0; i < report.stack.size(); ++i) {
    if (report.stack[i].function.find(name) != std::string::npos) return i;
  }
  return std::nullopt;
}

TEST(CrashReport, ANullWriteThreeFramesDeepNamesEachFunctionItsFileAndLine) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult line = call(*isolator, "null_line");
  ASSERT_TRUE(line.ok()) << line.failure->message;

  const CallResult result = call(*isolator, "three_deep");
  const CrashReport report = crash_of(result, SIGSEGV);
  ASSERT_GE(report.stack.size(), 4U) << to_string(report);
  EXPECT_EQ(report.code, SEGV_MAPERR);
  EXPECT_EQ(report.address, 0U);
  EXPECT_EQ(report.thread, "pihost");
  const std::vector<std::string> expected = {"crashes::level_three", "crashes::level_two", "crashes::level_one",
                                             "three_deep"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const StackFrame& frame = report.stack[i];
    EXPECT_EQ(frame.function.rfind(expected[i], 0), 0U) << "frame " << i << ":\n" << to_string(report);
    EXPECT_EQ(frame.library, plugin("crashes")) << i;
    EXPECT_TRUE(frame.file.ends_with("tests/plugins/crashes.cpp")) << frame.file;
    EXPECT_GT(frame.offset, 0U);
  }
  EXPECT_EQ(report.stack[0].line, *line.code) << to_string(report);
  EXPECT_TRUE(report.note.empty()) << report.note;
  // The message alone says where, and the next call runs on a fresh child.
  EXPECT_NE(result.failure->message.find("crashes::level_three"), std::string::npos) << result.failure->message;
  EXPECT_TRUE(call(*isolator, "null_line").ok());
}

struct Fault {
  const char* method;
  int signal;
  int code;
  const char* function;  // the innermost frame
};

class CrashReportOfEachSignal : public testing::TestWithParam<Fault> {};

TEST_P(CrashReportOfEachSignal, NamesTheSignalItsCodeAndTheFunctionWhereItCame) {
  const Fault fault = GetParam();
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, fault.method), fault.signal);
  EXPECT_EQ(report.code, fault.code) << to_string(report);
  EXPECT_TRUE(report.address.has_value());
  ASSERT_FALSE(report.stack.empty());
  EXPECT_EQ(report.stack[0].function.rfind(fault.function, 0), 0U) << to_string(report);
  EXPECT_GT(report.stack[0].line, 0) << to_string(report);
}

INSTANTIATE_TEST_SUITE_P(Faults, CrashReportOfEachSignal,
                         testing::Values(Fault{"divides_by_zero", SIGFPE, FPE_INTDIV, "crashes::divide"},
                                         Fault{"traps", SIGILL, ILL_ILLOPN, "crashes::trap"},
                                         Fault{"bus_error", SIGBUS, BUS_ADRERR, "crashes::read_past_the_file"}),
                         [](const testing::TestParamInfo<Fault>& each) { return std::string(each.param.method); });

TEST(CrashReport, AnAbortIsReportedAsASignalSentWithTheFramesThatCalledIt) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, "aborts"), SIGABRT);
  ASSERT_TRUE(report.code.has_value());
  EXPECT_LE(*report.code, 0) << "abort() sends its signal: SI_TKILL";
  EXPECT_FALSE(report.address.has_value());
  const auto aborts = frame_named(report, "aborts");
  ASSERT_TRUE(aborts.has_value()) << to_string(report);
  EXPECT_EQ(report.stack[*aborts].library, plugin("crashes"));
  EXPECT_TRUE(frame_named(report, "abort").value_or(*aborts) < *aborts) << "abort() itself is a frame inside it:\n"
                                                                        << to_string(report);
}

TEST(CrashReport, AStackOverflowFromEndlessRecursionIsReportedFromTheAlternateStack) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, "overflows"), SIGSEGV);
  ASSERT_EQ(report.stack.size(), 256U) << "the innermost 256 frames of thousands:\n" << to_string(report);
  EXPECT_EQ(report.stack.front().function.rfind("crashes::recurse", 0), 0U) << to_string(report);
  EXPECT_EQ(report.stack.back().function.rfind("crashes::recurse", 0), 0U);
  EXPECT_NE(report.note.find("deeper than 256 frames"), std::string::npos) << report.note;
}

TEST(CrashReport, ACrashInAThreadThePluginStartedNamesThatThread) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, "crash_in_thread"), SIGSEGV);
  EXPECT_EQ(report.thread, "crasher");
  ASSERT_FALSE(report.stack.empty());
  EXPECT_EQ(report.stack[0].function.rfind("crashes::level_three", 0), 0U) << to_string(report);
  EXPECT_TRUE(frame_named(report, "crashes::level_one").has_value()) << to_string(report);
  EXPECT_FALSE(frame_named(report, "three_deep").has_value()) << "the thread's stack, not the method's";
}

// glibc finds the heap corrupt inside free(), holding the arena's lock, and aborts: a handler
// that allocated would wait for that lock for ever (the call would end by the heartbeat, as
// a timeout, after seconds), and one that used the loader's lock could too.
TEST(CrashReport, ACrashWhileMallocsLockIsHeldIsStillReported) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, "corrupts_the_heap"), SIGABRT);
  const auto culprit = frame_named(report, "crashes::corrupt_and_free");
  ASSERT_TRUE(culprit.has_value()) << to_string(report);
  ASSERT_GE(*culprit, 1U);
  EXPECT_NE(report.stack[*culprit - 1].function.find("free"), std::string::npos)
      << "the frame inside it is free():\n" << to_string(report);
}

TEST(CrashReport, AStrippedPluginsFramesHaveItsPathAndOffsetsButNoNamesOrLines) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport with_symbols = crash_of(call(*isolator, "three_deep"), SIGSEGV);
  const CrashReport stripped = crash_of(call(*isolator, "three_deep", plugin("crashes_stripped")), SIGSEGV);
  ASSERT_GE(stripped.stack.size(), 4U) << to_string(stripped);
  ASSERT_GE(with_symbols.stack.size(), 4U);
  for (std::size_t i = 0; i < 3; ++i) {
    const StackFrame& frame = stripped.stack[i];
    EXPECT_EQ(frame.library, plugin("crashes_stripped")) << i;
    EXPECT_EQ(frame.function, "") << "a hidden function has no symbol left: " << i;
    EXPECT_EQ(frame.file, "") << i;
    EXPECT_EQ(frame.line, 0) << i;
    // The same code at the same addresses: stripping changes no offset.
    EXPECT_EQ(frame.offset, with_symbols.stack[i].offset) << i;
  }
  // An exported function keeps its dynamic symbol.
  EXPECT_EQ(stripped.stack[3].function, "three_deep") << to_string(stripped);
}

TEST(CrashReport, AnExceptionCarriesItsDemangledTypeTheLibrarysOwnOrTheStandards) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult own = call(*isolator, "throws_its_own");
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.failure->kind, FailureKind::threw);
  EXPECT_EQ(own.failure->exception_type, "crashes::ParseError");
  EXPECT_NE(own.failure->message.find("unexpected token ')'"), std::string::npos) << own.failure->message;
  EXPECT_FALSE(own.failure->crash.has_value());

  const CallResult standard = isolator->invoke(Invocation{plugin("throw"), "method"});
  ASSERT_FALSE(standard.ok());
  EXPECT_EQ(standard.failure->exception_type, "std::runtime_error");
  const CallResult integer = isolator->invoke(Invocation{plugin("throw"), "throw_int"});
  ASSERT_FALSE(integer.ok());
  EXPECT_EQ(integer.failure->exception_type, "int");
  EXPECT_NE(integer.failure->message.find("(int)"), std::string::npos) << integer.failure->message;
}

TEST(CrashReport, TheExitedEventOfTheCrashedChildCarriesTheReportToo) {
  std::mutex mutex;
  std::vector<ExitedEvent> exits;
  Options options = test::options();
  options.on_event = [&](const Event& event) {
    if (const auto* exited = std::get_if<ExitedEvent>(&event)) {
      std::lock_guard lock(mutex);
      exits.push_back(*exited);
    }
  };
  auto isolator = ProcessIsolator::create(options);
  const CallResult result = call(*isolator, "three_deep");
  ASSERT_TRUE(result.failure && result.failure->crash);
  std::lock_guard lock(mutex);
  ASSERT_EQ(exits.size(), 1U);
  ASSERT_TRUE(exits[0].crash.has_value());
  EXPECT_EQ(exits[0].pid, result.pid);
  EXPECT_EQ(exits[0].crash->stack.size(), result.failure->crash->stack.size());
  EXPECT_EQ(exits[0].crash->stack.at(0).function, result.failure->crash->stack.at(0).function);
}

TEST(CrashReport, WithCrashReportsOffACrashCarriesNone) {
  Options options = test::options();
  options.crash_reports = false;
  auto isolator = ProcessIsolator::create(options);
  const CallResult result = call(*isolator, "three_deep");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->kind, FailureKind::crashed);
  EXPECT_EQ(result.failure->signal, SIGSEGV);
  EXPECT_FALSE(result.failure->crash.has_value());
}

// A call through a null function pointer crashes at address 0, in no library: the report has
// that address and its caller, found at the stack pointer, and says why there is no more.
TEST(CrashReport, ACallThroughANullFunctionPointerShowsTheCallerAndSaysWhyNoMore) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(call(*isolator, "calls_null"), SIGSEGV);
  ASSERT_EQ(report.stack.size(), 2U) << to_string(report);
  EXPECT_EQ(report.stack[0].offset, 0U);
  EXPECT_EQ(report.stack[0].library, "");
  EXPECT_EQ(report.stack[1].function.rfind("crashes::call_through_null", 0), 0U) << to_string(report);
  EXPECT_NE(report.note.find("in no library"), std::string::npos) << report.note;
}

// A process the plugin forked has pihost's handler and channel, but is not pihost: its crash
// must not write into the channel. It dies of its signal, and the call goes on.
TEST(CrashReport, ACrashInAProcessThePluginForkedLeavesTheChannelAlone) {
  auto isolator = ProcessIsolator::create(test::options());
  const CallResult forked = call(*isolator, "crash_in_forked_child");
  ASSERT_TRUE(forked.ok()) << forked.failure->message;
  EXPECT_EQ(*forked.code, SIGSEGV);
  const CallResult next = call(*isolator, "null_line");
  ASSERT_TRUE(next.ok()) << next.failure->message;
  EXPECT_EQ(next.pid, forked.pid) << "the same child, its channel intact";
}

// With core dumps on, the crashed process's core is what the host asked for: no handler, and
// the report says where the stack is.
TEST(CrashReport, WithCoreDumpsAllowedTheReportSaysTheCoreHoldsTheStack) {
  Options options = test::options();
  options.allow_core_dumps = true;
  auto isolator = ProcessIsolator::create(options);
  const CrashReport report = crash_of(call(*isolator, "three_deep"), SIGSEGV);
  EXPECT_TRUE(report.stack.empty());
  EXPECT_NE(report.note.find("allow_core_dumps"), std::string::npos) << report.note;
}

// A kill the isolator did not send, of a crash signal the handler never saw (SIGKILL cannot
// be caught): no report, and the note says why one can be missing. Here: a plugin that
// replaces pihost's handler with the default action.
TEST(CrashReport, ACrashWithoutAReportSaysWhyThereIsNoStack) {
  auto isolator = ProcessIsolator::create(test::options());
  const CrashReport report = crash_of(isolator->invoke(Invocation{plugin("segv"), "without_handler"}), SIGSEGV);
  EXPECT_TRUE(report.stack.empty());
  EXPECT_FALSE(report.code.has_value());
  EXPECT_EQ(report.note.rfind("no stack: ", 0), 0U) << report.note;
}

// Under the strict profile (a root of its own, a seccomp allow-list, namespaces) the reporter
// runs inside the same box, and still names the plugin's functions.
TEST(CrashReport, UnderTheStrictProfileTheReportStillNamesTheFunctions) {
  for (const auto& check : probe(test::options()).hardening) {
    if (check.limit == "strict" && !check.enforceable) GTEST_SKIP() << "no strict profile here: " << check.how;
  }
  Options options = test::options();
  options.hardening.strict = true;
  options.hardening.plugin_directories = {std::filesystem::path(plugin("crashes")).parent_path()};
  auto isolator = ProcessIsolator::create(options);
  const CrashReport report = crash_of(call(*isolator, "three_deep"), SIGSEGV);
  ASSERT_GE(report.stack.size(), 4U) << to_string(report);
  EXPECT_EQ(report.stack[0].function.rfind("crashes::level_three", 0), 0U) << to_string(report);
  EXPECT_TRUE(report.stack[0].file.ends_with("tests/plugins/crashes.cpp")) << to_string(report);
}

}  // namespace
}  // namespace isolator
