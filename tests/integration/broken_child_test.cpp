// A child that breaks the protocol costs one call (protocol_error), never the host.
#include "test_support.hpp"

#include <gtest/gtest.h>

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

TEST(BrokenChild, ClosingTheChannelWithoutExitingIsAProtocolError) {
  expect_protocol_error(one_call("close_without_exit"), "closed the channel but did not exit");
}

TEST(BrokenChild, TheNextCallGetsAFreshChild) {
  auto isolator = ProcessIsolator::create(test::fake_options("wrong_id"));
  const int first = isolator->pid();
  ASSERT_FALSE(isolator->invoke(test::plugin("args"), "echo", {"1"}).ok());
  EXPECT_FALSE(test::process_exists(first)) << "the broken child was killed and reaped";
}

}  // namespace
}  // namespace isolator
