// A child that breaks the protocol costs one call (protocol_error), never the host.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace isolator {
namespace {

CallResult one_call(const std::string& mode) {
  auto isolator = ProcessIsolator::create(test::fake_options(mode));
  return isolator->invoke(test::plugin("args"), "echo", {"1"});
}

void expect_protocol_error(const CallResult& r, const std::string& part) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::protocol_error) << r.failure->message;
  EXPECT_NE(r.failure->message.find(part), std::string::npos) << r.failure->message;
}

TEST(BrokenChild, Array32BombIsAProtocolError) {
  expect_protocol_error(one_call("garbage_reply"), "msgpack size limit exceeded");
}

TEST(BrokenChild, OversizeFrameIsAProtocolError) {
  expect_protocol_error(one_call("oversize_reply"), "exceeds the maximum");
}

TEST(BrokenChild, ReplyForAnotherCallIsAProtocolError) {
  expect_protocol_error(one_call("wrong_id"), "sent Result for call 1001, but call 1 is running");
}

// pihost refuses result bytes over the cap itself; a child that sends them anyway (a plugin
// writing to the channel) fails the call as pihost would, and the bytes are dropped.
TEST(BrokenChild, ResultBytesOverTheCapFromTheChildAreResultTooLarge) {
  const CallResult r = one_call("oversize_result");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::result_too_large) << r.failure->message;
  EXPECT_NE(r.failure->message.find("sent 1048577 result bytes, more than the cap of 1048576"), std::string::npos)
      << r.failure->message;
  EXPECT_FALSE(r.bytes.has_value());
}

TEST(BrokenChild, ClosingTheChannelWithoutExitingIsAProtocolError) {
  expect_protocol_error(one_call("close_without_exit"), "closed the channel but did not exit");
}

TEST(BrokenChild, AMessageOnlyTheHostMaySendIsAProtocolError) {
  expect_protocol_error(one_call("wrong_sender"), "sent Invoke, which only the host may send");
}

// The first reply completes the call; the duplicate is a protocol error that costs the child,
// never a second completion nor a result for another caller.
TEST(BrokenChild, ADuplicateReplyKillsTheChildAndReachesNobody) {
  auto isolator = ProcessIsolator::create(test::fake_options("duplicate_reply"));
  const int first = isolator->pid();
  const auto r = isolator->invoke(test::plugin("args"), "echo", {"1"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 5);
  const auto next = isolator->invoke(test::plugin("args"), "echo", {"2"});
  EXPECT_NE(next.pid, first) << "the child that sent the duplicate was replaced";
  EXPECT_FALSE(test::process_exists(first));
}

// A reply that comes after the deadline is never delivered: the call got `timeout`, its
// child was killed, and the next call gets its own child's answer.
TEST(BrokenChild, AReplyAfterTheDeadlineIsNeverDelivered) {
  Options options = test::fake_options("late_reply");
  options.call_timeout = std::chrono::milliseconds(100);
  auto isolator = ProcessIsolator::create(options);
  const auto late = isolator->invoke(test::plugin("args"), "echo", {"1"});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.failure->kind, FailureKind::timeout) << late.failure->message;
  const auto next = isolator->invoke(test::plugin("args"), "echo", {"2"});
  ASSERT_FALSE(next.ok()) << "the late reply (5) reached the next caller";
  EXPECT_EQ(next.failure->kind, FailureKind::timeout) << "the next child is as late";
  EXPECT_NE(next.pid, late.pid);
}

// A child that trickles a frame a byte at a time answers no heartbeat meanwhile: it is
// killed within the heartbeat timeout, so a slow frame holds nothing for long.
TEST(BrokenChild, ASlowLorisChildIsKilledAtTheHeartbeatTimeout) {
  Options options = test::fake_options("slow_loris");
  options.supervision.heartbeat_interval = std::chrono::milliseconds(50);
  options.supervision.heartbeat_timeout = std::chrono::milliseconds(300);
  auto isolator = ProcessIsolator::create(options);
  const auto started = std::chrono::steady_clock::now();
  const auto r = isolator->invoke(test::plugin("args"), "echo", {"1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
  EXPECT_NE(r.failure->message.find("heartbeat"), std::string::npos) << r.failure->message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1))
      << "its frame would have taken about 2 s";
}

// A child that sends frames without pause, faster than the host decodes them, cannot hold
// the I/O thread in one read: the call's timeout still fires (the host takes Pongs at any
// time, so nothing else would end the call).
TEST(BrokenChild, AChildFloodingTheChannelCannotHoldTheIoThreadPastTheTimeout) {
  auto isolator = ProcessIsolator::create(test::fake_options("pong_flood"));
  const auto r = isolator->invoke(
      Invocation{test::plugin("args"), "echo", {"1"}, CallOptions{std::chrono::milliseconds(500)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
}

TEST(BrokenChild, ShuttingTheSocketDownInsideAFrameIsAProtocolError) {
  expect_protocol_error(one_call("half_frame_shutdown"), "closed the channel inside a frame");
}

TEST(BrokenChild, ExitingInsideAFrameFailsTheCallNeverWithAHalfResult) {
  const auto r = one_call("half_frame_exit");
  ASSERT_FALSE(r.ok());
  // Whichever the host notices first, the call fails with a cause, never a half result.
  EXPECT_TRUE(r.failure->kind == FailureKind::protocol_error || r.failure->kind == FailureKind::exited)
      << to_string(r.failure->kind) << ": " << r.failure->message;
}

TEST(BrokenChild, StoppingInsideAFrameIsCaughtByTheHeartbeat) {
  Options options = test::fake_options("half_frame_stop");
  options.supervision.heartbeat_interval = std::chrono::milliseconds(50);
  options.supervision.heartbeat_timeout = std::chrono::milliseconds(300);
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  const auto r = isolator->invoke(test::plugin("args"), "echo", {"1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure->kind, FailureKind::timeout) << r.failure->message;
  EXPECT_FALSE(test::process_exists(pid)) << "the stopped child was killed and reaped";
}

// Writing to a child that has closed its end must fail with EPIPE, never raise SIGPIPE in
// the host (whose disposition here is the default: terminate).
TEST(BrokenChild, WritingToAClosedChannelNeverRaisesSigpipe) {
  struct sigaction current {};
  ::sigaction(SIGPIPE, nullptr, &current);
  ASSERT_EQ(current.sa_handler, SIG_DFL) << "the test needs SIGPIPE's default disposition";
  Options options = test::fake_options("close_without_exit");
  options.supervision.heartbeat_interval = std::chrono::milliseconds(5);  // pings into the closed socket
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(test::plugin("args"), "echo", {"1"});
  ASSERT_FALSE(r.ok());
  // The pings went on into the closed socket for the 2 s the host gives a child to exit
  // after end-of-file: a SIGPIPE would have ended this process.
  SUCCEED() << "the host is still alive";
}

TEST(BrokenChild, TheNextCallGetsAFreshChild) {
  auto isolator = ProcessIsolator::create(test::fake_options("wrong_id"));
  const int first = isolator->pid();
  ASSERT_FALSE(isolator->invoke(test::plugin("args"), "echo", {"1"}).ok());
  EXPECT_FALSE(test::process_exists(first)) << "the broken child was killed and reaped";
}

}  // namespace
}  // namespace isolator
