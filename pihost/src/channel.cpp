#include "channel.hpp"

#include "crash_capture.hpp"

#include <isolator/wire/codec.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace pihost {
namespace {

constexpr int channel_fd_floor = 100;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

Channel::Channel(const std::string& path, std::size_t max_frame_bytes) : reader_(max_frame_bytes) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(), "channel path " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw_errno("socket");
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "connect to " + path);
  }
  // Out of the way of the low numbers a plugin may close or reuse (a plugin that does
  // close(3) must not take the channel with it, nor have replies written into its file).
  if (const int high = ::fcntl(fd_, F_DUPFD_CLOEXEC, channel_fd_floor); high >= 0) {
    ::close(fd_);
    fd_ = high;
  }
}

Channel::~Channel() {
  // Under the send lock: another thread may still be replying, and must find the channel
  // closed (and throw) rather than write to a closed, perhaps reused, descriptor.
  std::lock_guard lock(send_mutex_);
  ::close(fd_);
  fd_ = -1;
}

void Channel::send(const isolator::wire::Message& message) {
  const std::string frame = isolator::wire::encode_frame(message);
  std::lock_guard lock(send_mutex_);
  if (fd_ < 0) throw std::runtime_error("send to host: the channel is closed");
  // The crash handler takes the channel only between frames.
  crash::enter_send();
  struct LeaveSend {
    ~LeaveSend() { crash::leave_send(); }
  } leave_send;
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("send to host");
    }
    sent += static_cast<std::size_t>(n);
  }
}

std::optional<isolator::wire::Message> Channel::receive() {
  while (true) {
    if (auto body = reader_.next_view()) return isolator::wire::decode(*body);
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("receive from host");
    }
    if (n == 0) {
      if (reader_.mid_frame()) {
        throw isolator::wire::ProtocolError("the host closed the channel inside a frame");
      }
      return std::nullopt;
    }
    reader_.feed(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace pihost
