// Options::hardening: no network, and a system-call deny list. Off by default; each test
// skips, saying why, where this machine cannot provide the measure.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <isolator/probe.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace isolator {
namespace {

using test::plugin;

// A TCP listener on the host's loopback, on a port the kernel picks.
class LoopbackListener {
 public:
  LoopbackListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~LoopbackListener() { ::close(fd_); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// The reason a measure is unavailable here, or empty when it is available.
std::string unavailable(const std::string& measure) {
  for (const auto& check : probe(test::options()).hardening) {
    if (check.limit == measure) return check.enforceable ? "" : check.how;
  }
  return "probe() does not report " + measure;
}

int code_of(ProcessIsolator& isolator, const char* method, std::vector<std::string> args = {}) {
  const auto r = isolator.invoke(plugin("hardened"), method, std::move(args));
  EXPECT_TRUE(r.ok()) << r.failure->message;
  return r.code.value_or(-1);
}

TEST(Hardening, ProbeReportsEveryMeasure) {
  const auto report = probe(test::options());
  ASSERT_EQ(report.hardening.size(), 3u);
  EXPECT_EQ(report.hardening[0].limit, "no-network");
  EXPECT_EQ(report.hardening[1].limit, "deny-syscalls");
  EXPECT_EQ(report.hardening[2].limit, "strict");
  EXPECT_NE(report.to_text().find("hardening"), std::string::npos) << report.to_text();
}

TEST(Hardening, OffByDefaultThePluginReachesTheLoopbackAndPtraceAnswersNormally) {
  LoopbackListener listener;
  ASSERT_NE(listener.port(), 0);
  auto isolator = ProcessIsolator::create(test::options());
  EXPECT_EQ(code_of(*isolator, "try_connect", {std::to_string(listener.port())}), 0);
  EXPECT_EQ(code_of(*isolator, "try_ptrace"), ESRCH) << "not denied, just nothing traced";
}

TEST(Hardening, NoNetworkLeavesThePluginWithoutEvenTheHostsLoopback) {
  if (const auto why = unavailable("no-network"); !why.empty()) GTEST_SKIP() << why;
  LoopbackListener listener;
  ASSERT_NE(listener.port(), 0);
  Options options = test::options();
  options.hardening.no_network = true;
  auto isolator = ProcessIsolator::create(options);
  const int error = code_of(*isolator, "try_connect", {std::to_string(listener.port())});
  EXPECT_NE(error, 0) << "the plugin reached the host's loopback";
  EXPECT_EQ(error, ENETUNREACH) << "its own loopback is down";
  EXPECT_EQ(code_of(*isolator, "try_ptrace"), ESRCH) << "only the network is taken away";
}

TEST(Hardening, TheDenyListMakesPtraceAndKeyctlFailWithEpermAndCallsStillWork) {
  if (const auto why = unavailable("deny-syscalls"); !why.empty()) GTEST_SKIP() << why;
  Options options = test::options();
  options.hardening.deny_syscalls = true;
  options.supervision.heartbeat_interval = std::chrono::milliseconds(20);  // pihost keeps working
  auto isolator = ProcessIsolator::create(options);
  EXPECT_EQ(code_of(*isolator, "try_ptrace"), EPERM);
  EXPECT_EQ(code_of(*isolator, "try_keyctl"), EPERM);
  const auto r = isolator->invoke(plugin("args"), "echo", {"5"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 5);
  const int pid = isolator->pid();
  isolator->shutdown();
  EXPECT_FALSE(test::process_exists(pid));
}

TEST(Hardening, BothTogetherAndAcrossARestart) {
  if (const auto why = unavailable("no-network") + unavailable("deny-syscalls"); !why.empty())
    GTEST_SKIP() << why;
  Options options = test::options();
  options.hardening.no_network = true;
  options.hardening.deny_syscalls = true;
  auto isolator = ProcessIsolator::create(options);
  ASSERT_FALSE(isolator->invoke(plugin("segv"), "method", {}).ok());
  EXPECT_EQ(code_of(*isolator, "try_ptrace"), EPERM) << "the replacement child is hardened too";
  LoopbackListener listener;
  ASSERT_NE(listener.port(), 0);
  EXPECT_NE(code_of(*isolator, "try_connect", {std::to_string(listener.port())}), 0);
}

}  // namespace
}  // namespace isolator
