#include <isolator/call_result.hpp>
#include <isolator/events.hpp>

#include <gtest/gtest.h>

#include <csignal>

namespace isolator {
namespace {

TEST(Names, FailureKindsAreSpelledAsInTheEnum) {
  EXPECT_EQ(to_string(FailureKind::library_not_found), "library_not_found");
  EXPECT_EQ(to_string(FailureKind::not_a_library), "not_a_library");
  EXPECT_EQ(to_string(FailureKind::symbol_not_found), "symbol_not_found");
  EXPECT_EQ(to_string(FailureKind::crashed), "crashed");
  EXPECT_EQ(to_string(FailureKind::exited), "exited");
  EXPECT_EQ(to_string(FailureKind::threw), "threw");
  EXPECT_EQ(to_string(FailureKind::timeout), "timeout");
  EXPECT_EQ(to_string(FailureKind::memory_limit), "memory_limit");
  EXPECT_EQ(to_string(FailureKind::cpu_limit), "cpu_limit");
  EXPECT_EQ(to_string(FailureKind::protocol_error), "protocol_error");
  EXPECT_EQ(to_string(FailureKind::start_failed), "start_failed");
  EXPECT_EQ(to_string(FailureKind::restart_limit), "restart_limit");
  EXPECT_EQ(to_string(FailureKind::cancelled), "cancelled");
  EXPECT_EQ(to_string(FailureKind::shutdown), "shutdown");
  EXPECT_EQ(to_string(FailureKind::limits_changed), "limits_changed");
  EXPECT_EQ(to_string(FailureKind::dependency_not_found), "dependency_not_found");
  EXPECT_EQ(to_string(FailureKind::result_too_large), "result_too_large");
}

TEST(Names, ExitCausesAreSpelledAsInTheEnum) {
  EXPECT_EQ(to_string(ExitCause::requested), "requested");
  EXPECT_EQ(to_string(ExitCause::exited), "exited");
  EXPECT_EQ(to_string(ExitCause::crashed), "crashed");
  EXPECT_EQ(to_string(ExitCause::memory_limit), "memory_limit");
  EXPECT_EQ(to_string(ExitCause::timeout), "timeout");
  EXPECT_EQ(to_string(ExitCause::cpu_limit), "cpu_limit");
  EXPECT_EQ(to_string(ExitCause::heartbeat), "heartbeat");
  EXPECT_EQ(to_string(ExitCause::cancelled), "cancelled");
  EXPECT_EQ(to_string(ExitCause::protocol_error), "protocol_error");
  EXPECT_EQ(to_string(ExitCause::limits_changed), "limits_changed");
  EXPECT_EQ(to_string(ExitCause::library_changed), "library_changed");
}

TEST(Names, SignalsHaveTheirNames) {
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "signal " + std::to_string(SIGRTMIN + 3));
}

TEST(Names, StreamsAreStdoutAndStderr) {
  EXPECT_EQ(to_string(OutputStream::out), "stdout");
  EXPECT_EQ(to_string(OutputStream::err), "stderr");
}

}  // namespace
}  // namespace isolator
