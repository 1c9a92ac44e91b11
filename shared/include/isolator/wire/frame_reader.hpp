// Splits a byte stream into frames (4-byte big-endian length + body).
#pragma once

#include <isolator/wire/protocol.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace isolator::wire {

/// Accumulates bytes read from a stream and hands out complete frame bodies.
///
/// Memory is bounded: the buffer only ever holds bytes actually received, and a length
/// prefix above `max_frame_bytes` (or of zero) is rejected as soon as its 4 bytes arrive,
/// before the body is buffered. Not thread-safe; one reader per stream.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_bytes = default_max_frame_bytes);

  /// Appends `size` bytes. A length prefix of zero or above the maximum is a protocol error
  /// as soon as its 4 bytes arrive: feed() throws ProtocolError at once when no complete
  /// frame precedes the bad prefix, otherwise next() throws it after handing out those
  /// frames. After the error, feed() buffers nothing more and throws again.
  void feed(const char* data, std::size_t size);

  /// Removes and returns the next complete frame body, or nothing if none is complete.
  /// Throws ProtocolError once the frames before a bad length prefix are all taken.
  std::optional<std::string> next();

  /// next() without the copy: the body stays in the reader's buffer and the view is valid
  /// until the next feed() (for a body decoded at once, such as a megabyte of arguments).
  std::optional<std::string_view> next_view();

  /// True when some bytes of an incomplete frame are buffered (so an end-of-stream now would
  /// truncate a frame).
  bool mid_frame() const { return buffer_.size() > consumed_; }

  /// True when next() has something to hand out without more bytes: a complete frame, or
  /// the protocol error it would throw.
  bool has_next() const { return consumed_ < validated_ || error_.has_value(); }

  std::size_t max_frame_bytes() const { return max_frame_bytes_; }

 private:
  void validate_headers();

  std::size_t max_frame_bytes_;
  std::string buffer_;
  std::size_t consumed_ = 0;          // bytes at the front of buffer_ already handed out
  std::size_t validated_ = 0;         // bytes at the front of buffer_ holding complete, sound frames
  std::optional<std::string> error_;  // the bad length prefix seen, if any
};

}  // namespace isolator::wire
