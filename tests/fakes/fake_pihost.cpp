// A stand-in for pihost that misbehaves on purpose, to test the host's side of the start
// and the channel. It accepts pihost's arguments; FAKE_PIHOST_MODE (in its environment,
// set through Options::environment) picks the misbehaviour:
//
//   wrong_version        Hello with protocol version 999
//   silent               connects, never says Hello
//   impostor             a forked grandchild connects and says Hello in its own name
//   exit_early           prints a line to stderr and exits 7 before connecting
//   garbage_reply        on Invoke, replies with a frame holding the array32 bomb
//   oversize_reply       on Invoke, replies with a length prefix of 0xffffffff
//   wrong_id             on Invoke, replies with a Result for another id
//   close_without_exit   on Invoke, closes the channel and stays alive
//   reply_then_crash     answers the first Invoke (Started, Result 5), then dies of SIGSEGV
//   duplicate_reply      answers the first Invoke twice (Started, Result 5, Result 5)
//   late_reply           on Invoke, sends Started, then Result 5 only after 2 s
//   wrong_sender         on Invoke, replies with an Invoke (which only the host may send)
//   slow_loris           on Invoke, sends Started, then a Result one byte every 100 ms, and
//                        reads nothing more (no Pong)
//   half_frame_shutdown  on Invoke, sends Started and half a Result, shuts the socket down
//                        for writing and stays alive
//   half_frame_exit      on Invoke, sends Started and half a Result, then exits 0
//   half_frame_stop      on Invoke, sends Started and half a Result, then stops (SIGSTOP)
//   pong_flood           on Invoke, sends Started, then Pong frames without pause, 64 KiB
//                        at a time (the host takes a Pong at any time)
//   oversize_result      on Invoke, sends Started and a Result with default_max_result_bytes + 1
//                        result bytes (what pihost itself refuses to send), then waits
//   linger               stays alive after the channel closes (dies of SIGTERM)
//   stubborn             stays alive after the channel closes and ignores SIGTERM
#include "src/pid_namespace_init.hpp"

#include <isolator/wire/codec.hpp>
#include <isolator/wire/frame_reader.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using namespace isolator::wire;

int connect_to(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::perror("fake_pihost: connect");
    std::exit(exit_host_gone);
  }
  return fd;
}

void send_bytes(int fd, const std::string& bytes) {
  if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    std::perror("fake_pihost: send");
    std::exit(exit_internal_error);
  }
}

// Blocks for the next Invoke; exits on end-of-file.
Invoke next_invoke(int fd, FrameReader& reader) {
  while (true) {
    while (auto body = reader.next()) {
      Message message = decode(*body);
      if (auto* invoke = std::get_if<Invoke>(&message)) return *invoke;
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) std::exit(0);
    reader.feed(buffer, static_cast<std::size_t>(n));
  }
}

void sleep_forever() {
  // Bounded, so that a broken test never leaves this process behind for long.
  for (int i = 0; i < 600; ++i) ::sleep(1);
  std::exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && argv[1] == isolator::wire::flag_pid_namespace_init) pihost::be_pid_namespace_init();
  std::string channel;
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag_channel) channel = argv[i + 1];
  }
  const char* mode_env = std::getenv("FAKE_PIHOST_MODE");
  const std::string mode = mode_env != nullptr ? mode_env : "";
  if (mode == "exit_early") {
    std::fprintf(stderr, "fake_pihost: exiting early on purpose\n");
    return 7;
  }
  if (mode == "impostor") {
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      const int fd = connect_to(channel);
      send_bytes(fd, encode_frame(Hello{protocol_version, ::getpid()}));
      ::sleep(5);
      std::_Exit(0);
    }
    ::waitpid(grandchild, nullptr, 0);
    sleep_forever();
  }
  const int fd = connect_to(channel);
  if (mode == "silent") sleep_forever();
  send_bytes(fd, encode_frame(Hello{mode == "wrong_version" ? 999u : protocol_version, ::getpid()}));
  if (mode == "linger" || mode == "stubborn") {
    if (mode == "stubborn") std::signal(SIGTERM, SIG_IGN);
    char byte;
    while (::recv(fd, &byte, 1, 0) > 0) {
    }
    sleep_forever();
  }
  FrameReader reader;
  const Invoke invoke = next_invoke(fd, reader);
  if (mode == "garbage_reply") {
    send_bytes(fd, std::string("\x00\x00\x00\x05\xdd\xff\xff\xff\xff", 9));
  } else if (mode == "oversize_reply") {
    send_bytes(fd, std::string("\xff\xff\xff\xff", 4));
  } else if (mode == "wrong_id") {
    send_bytes(fd, encode_frame(Result{invoke.id + 1000, 0, {}, {}}));
  } else if (mode == "oversize_result") {
    send_bytes(fd, encode_frame(Started{invoke.id}) +
                       encode_frame(Result{invoke.id, 5, {}, std::string(default_max_result_bytes + 1, 'x')}));
  } else if (mode == "close_without_exit") {
    ::close(fd);
  } else if (mode == "reply_then_crash") {
    send_bytes(fd, encode_frame(Started{invoke.id}) + encode_frame(Result{invoke.id, 5, {}, {}}));
    ::raise(SIGSEGV);
  } else if (mode == "duplicate_reply") {
    const std::string result = encode_frame(Result{invoke.id, 5, {}, {}});
    send_bytes(fd, encode_frame(Started{invoke.id}) + result + result);
  } else if (mode == "late_reply") {
    send_bytes(fd, encode_frame(Started{invoke.id}));
    ::sleep(2);
    send_bytes(fd, encode_frame(Result{invoke.id, 5, {}, {}}));
  } else if (mode == "wrong_sender") {
    send_bytes(fd, encode_frame(Invoke{invoke.id, "/x.so", "method", {}, {}, {}}));
  } else if (mode == "slow_loris") {
    send_bytes(fd, encode_frame(Started{invoke.id}));
    for (const char byte : encode_frame(Result{invoke.id, 5, {}, {}})) {
      send_bytes(fd, std::string(1, byte));
      ::usleep(100'000);
    }
  } else if (mode == "pong_flood") {
    send_bytes(fd, encode_frame(Started{invoke.id}));
    std::string batch;
    for (std::uint64_t seq = 1; batch.size() < 65536; ++seq) batch += encode_frame(Pong{seq});
    while (true) send_bytes(fd, batch);
  } else if (mode.rfind("half_frame_", 0) == 0) {
    const std::string result = encode_frame(Result{invoke.id, 5, {}, {}});
    send_bytes(fd, encode_frame(Started{invoke.id}) + result.substr(0, result.size() / 2));
    if (mode == "half_frame_shutdown") ::shutdown(fd, SHUT_WR);
    if (mode == "half_frame_exit") std::exit(0);
    if (mode == "half_frame_stop") ::raise(SIGSTOP);
  }
  sleep_forever();
}
