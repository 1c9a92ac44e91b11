// pihost's end of the channel: a connected Unix stream socket carrying frames, used with
// blocking calls. One thread at a time receives; any thread may send (sends are serialized).
#pragma once

#include <isolator/wire/frame_reader.hpp>
#include <isolator/wire/protocol.hpp>

#include <mutex>
#include <optional>
#include <string>

namespace pihost {

class Channel {
 public:
  /// Connects to the host's socket at `path`. Throws std::system_error naming the path.
  /// The socket gets a descriptor number of 100 or more when the fd limit allows.
  Channel(const std::string& path, std::size_t max_frame_bytes);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Sends one message whole. Throws std::system_error when the host is gone.
  void send(const isolator::wire::Message& message);

  /// Blocks for the next message; nothing at a clean end-of-file. Throws ProtocolError on a
  /// malformed frame or an end-of-file inside one, std::system_error on a read error.
  std::optional<isolator::wire::Message> receive();

  /// The socket, for poll(2). Receive only through receive().
  int fd() const { return fd_; }

  /// True when receive() would return without reading the socket: a frame read with an
  /// earlier one is waiting (poll(2) on fd() would not see it).
  bool has_buffered() const { return reader_.has_next(); }

  /// The largest frame either side accepts.
  std::size_t max_frame_bytes() const { return reader_.max_frame_bytes(); }

 private:
  int fd_ = -1;
  std::mutex send_mutex_;
  isolator::wire::FrameReader reader_;
};

}  // namespace pihost
