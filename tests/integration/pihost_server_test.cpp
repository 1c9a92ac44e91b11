// pihost against a scripted host speaking raw frames: what the protocol allows but the host
// library never does, such as a second call sent while one runs (docs/protocol.md), and how
// pihost's threads share the channel (pihost/src/server.hpp).
#include "test_support.hpp"

#include <isolator/wire/codec.hpp>
#include <isolator/wire/frame_reader.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;
namespace wire = isolator::wire;

constexpr int io_timeout_ms = 10'000;

// A listening socket, a real pihost connected to it, and the frames it sends.
class ScriptedHost {
 public:
  // `extra`: more of pihost's flags (pihost_contract.hpp) after the required ones.
  explicit ScriptedHost(std::vector<std::string> extra = {}) {
    const std::string path = (dir_.path() / "channel.sock").string();
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    const std::string host_pid = std::to_string(::getpid());
    const std::string pihost = test::pihost();
    std::vector<const char*> argv = {pihost.c_str(), "--channel", path.c_str(), "--host-pid", host_pid.c_str()};
    for (const auto& flag : extra) argv.push_back(flag.c_str());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    EXPECT_EQ(::posix_spawn(&pid_, argv[0], &actions, nullptr, const_cast<char**>(argv.data()), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    pollfd ready{listener_, POLLIN, 0};
    EXPECT_EQ(::poll(&ready, 1, io_timeout_ms), 1) << "pihost did not connect";
    connection_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(connection_, 0);
    EXPECT_TRUE(std::holds_alternative<wire::Hello>(receive()));
  }

  ~ScriptedHost() {
    close_channel();
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);  // our own child
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(listener_);
  }

  void send(const wire::Message& message) {
    const std::string frame = wire::encode_frame(message);
    ASSERT_EQ(::send(connection_, frame.data(), frame.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(frame.size()));
  }

  wire::Message receive() {
    while (true) {
      if (auto body = reader_.next()) return wire::decode(*body);
      pollfd readable{connection_, POLLIN, 0};
      if (::poll(&readable, 1, io_timeout_ms) != 1) {
        ADD_FAILURE() << "pihost sent nothing for " << io_timeout_ms << " ms";
        return wire::Hello{};
      }
      char buffer[4096];
      const ssize_t n = ::recv(connection_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        ADD_FAILURE() << "the channel closed";
        return wire::Hello{};
      }
      reader_.feed(buffer, static_cast<std::size_t>(n));
    }
  }

  // The next whole message already in the channel (read without blocking); none when there
  // is none.
  std::optional<wire::Message> pending_message() {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(connection_, buffer, sizeof(buffer), MSG_DONTWAIT)) > 0) {
      reader_.feed(buffer, static_cast<std::size_t>(n));
    }
    if (auto body = reader_.next()) return wire::decode(*body);
    return std::nullopt;
  }

  void close_channel() {
    if (connection_ >= 0) ::close(connection_);
    connection_ = -1;
  }

  // pihost's exit status, waiting at most `limit`; -1 when it has not exited by then.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return status;
      }
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }

 private:
  test::TempDir dir_;
  int listener_ = -1;
  int connection_ = -1;
  pid_t pid_ = 0;
  bool exited_ = false;
  wire::FrameReader reader_;
};

TEST(PihostServer, ACallSentWhileOneRunsWaitsForItAndPingsAreAnsweredMeanwhile) {
  ScriptedHost host;
  host.send(wire::Invoke{1, plugin("sleep"), "method", {"300"}});
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{1}));
  std::this_thread::sleep_for(50ms);  // the relief thread has the channel now
  host.send(wire::Invoke{2, plugin("args"), "echo", {"7"}});
  host.send(wire::Ping{1});
  EXPECT_EQ(host.receive(), wire::Message(wire::Pong{1})) << "answered while call 1 ran";
  const auto first = host.receive();
  ASSERT_TRUE(std::holds_alternative<wire::Result>(first)) << wire::message_name(first);
  EXPECT_EQ(std::get<wire::Result>(first).id, 1u);
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{2})) << "call 2 ran after call 1, not beside it";
  const auto second = host.receive();
  ASSERT_TRUE(std::holds_alternative<wire::Result>(second)) << wire::message_name(second);
  EXPECT_EQ(std::get<wire::Result>(second).id, 2u);
  EXPECT_EQ(std::get<wire::Result>(second).code, 7);
  host.send(wire::Ping{2});
  EXPECT_EQ(host.receive(), wire::Message(wire::Pong{2})) << "and the main thread reads again";
}

TEST(PihostServer, ShortCallsBackToBackKeepTheirOrderAndTheirReplies) {
  ScriptedHost host;
  for (std::uint64_t id = 1; id <= 200; ++id) {
    host.send(wire::Invoke{id, plugin("args"), "echo", {std::to_string(id % 100)}});
    EXPECT_EQ(host.receive(), wire::Message(wire::Started{id}));
    const auto reply = host.receive();
    ASSERT_TRUE(std::holds_alternative<wire::Result>(reply)) << wire::message_name(reply);
    EXPECT_EQ(std::get<wire::Result>(reply).id, id);
    EXPECT_EQ(std::get<wire::Result>(reply).code, static_cast<int>(id % 100));
  }
}

TEST(PihostServer, ClosingTheChannelDuringACallEndsPihostAtOnce) {
  ScriptedHost host;
  host.send(wire::Invoke{1, plugin("sleep"), "method", {"10000"}});
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{1}));
  std::this_thread::sleep_for(50ms);
  host.close_channel();
  const int status = host.wait_exit(3s);
  ASSERT_NE(status, -1) << "pihost kept running the call after the host closed the channel";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(PihostServer, AMessageOnlyPihostMaySendEndsItWithTheProtocolErrorCodeBetweenCalls) {
  ScriptedHost host;
  host.send(wire::Pong{1});
  const int status = host.wait_exit(3s);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == wire::exit_protocol) << "status " << status;
}

TEST(PihostServer, AMessageOnlyPihostMaySendEndsItWithTheProtocolErrorCodeEvenDuringACall) {
  ScriptedHost host;
  host.send(wire::Invoke{1, plugin("sleep"), "method", {"10000"}});
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{1}));
  std::this_thread::sleep_for(50ms);
  host.send(wire::Pong{1});
  const int status = host.wait_exit(3s);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == wire::exit_protocol) << "status " << status;
}

}  // namespace
TEST(PihostServer, ALibraryThatCannotBeLoadedIsAnsweredWithFailedAndNoStarted) {
  ScriptedHost host;
  host.send(wire::Invoke{1, "/nonexistent/libnothing.so", "method", {}});
  const auto reply = host.receive();
  ASSERT_TRUE(std::holds_alternative<wire::Failed>(reply)) << wire::message_name(reply);
  EXPECT_EQ(std::get<wire::Failed>(reply).reason, wire::FailureReason::library_not_found);
  host.send(wire::Invoke{2, plugin("args"), "echo", {"3"}});
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{2})) << "the next call runs as usual";
}

TEST(PihostServer, StartedComesAfterTheLibraryLoadsSoACrashingInitializerSendsNone) {
  ScriptedHost host;
  host.send(wire::Invoke{1, plugin("crash_at_load"), "method", {}});
  const int status = host.wait_exit(5s);
  ASSERT_NE(status, -1) << "pihost survived a static initializer that dereferences null";
  // Killed by SIGSEGV; an AddressSanitizer build's pihost reports the crash and exits 1.
  EXPECT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) << "status " << status;
  // What it sent is its crash report, never a Started. The initializer crashed inside
  // dlopen, holding the loader's lock: the report came all the same.
  bool reported = false;
  while (const auto message = host.pending_message()) {
    ASSERT_TRUE(std::holds_alternative<wire::Crash>(*message))
        << "pihost said " << wire::message_name(*message) << " before its library was loaded";
    const auto& frames = std::get<wire::Crash>(*message).frames;
    reported = !frames.empty() && frames.front().library == plugin("crash_at_load");
  }
  EXPECT_TRUE(reported || !WIFSIGNALED(status)) << "no crash report from the initializer's crash";
}

// The crash reporter stops naming functions after --crash-report-ms: the host then has the
// first report, libraries and offsets, with a note saying why there are no names; pihost
// still dies of the plugin's signal. (1 ms is far less than loading libdw takes.)
TEST(PihostServer, ACrashReporterOutOfTimeLeavesTheFirstReportWithLibrariesAndOffsets) {
  ScriptedHost host({"--crash-report-ms", "1"});
  host.send(wire::Invoke{1, plugin("crashes"), "three_deep", {}});
  EXPECT_EQ(host.receive(), wire::Message(wire::Started{1}));
  const int status = host.wait_exit(5s);
  ASSERT_NE(status, -1) << "pihost survived its crash";
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV) << "the plugin's signal, not the reporter's alarm";
  std::vector<wire::Crash> reports;
  while (const auto message = host.pending_message()) {
    ASSERT_TRUE(std::holds_alternative<wire::Crash>(*message)) << wire::message_name(*message);
    reports.push_back(std::get<wire::Crash>(*message));
  }
  ASSERT_EQ(reports.size(), 1U) << "the second report, with names, never came";
  const wire::Crash& report = reports[0];
  EXPECT_EQ(report.signal, SIGSEGV);
  ASSERT_GE(report.frames.size(), 4U);
  EXPECT_EQ(report.frames[0].library, plugin("crashes"));
  EXPECT_GT(report.frames[0].offset, 0U);
  EXPECT_EQ(report.frames[0].function, "");
  EXPECT_NE(report.note.find("did not finish reading them within 1 ms"), std::string::npos) << report.note;
}

}  // namespace isolator
