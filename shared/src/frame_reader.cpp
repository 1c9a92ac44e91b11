#include <isolator/wire/codec.hpp>
#include <isolator/wire/frame_reader.hpp>

namespace isolator::wire {
namespace {

std::size_t read_length(const std::string& buffer, std::size_t at) {
  const auto byte = [&](std::size_t i) {
    return static_cast<std::size_t>(static_cast<unsigned char>(buffer[at + i]));
  };
  return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

}  // namespace

FrameReader::FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameReader::feed(const char* data, std::size_t size) {
  if (error_) throw ProtocolError(*error_);  // nothing more is buffered after a bad prefix
  // Drop what was handed out before growing, so the buffer holds at most the frames not yet
  // taken plus what this call brings.
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    validated_ -= consumed_;
    consumed_ = 0;
  }
  buffer_.append(data, size);
  validate_headers();
  if (error_ && consumed_ == validated_) throw ProtocolError(*error_);
}

void FrameReader::validate_headers() {
  // Every length prefix is checked as soon as its 4 bytes arrive, even behind frames not yet
  // taken. A bad one is remembered: the good frames before it are still handed out, then
  // next() reports it.
  while (buffer_.size() - validated_ >= frame_header_bytes) {
    const std::size_t length = read_length(buffer_, validated_);
    if (length == 0) {
      error_ = "frame with a length of zero";
      return;
    }
    if (length > max_frame_bytes_) {
      error_ = "frame of " + std::to_string(length) + " bytes exceeds the maximum of " +
               std::to_string(max_frame_bytes_) + " bytes";
      return;
    }
    if (buffer_.size() - validated_ - frame_header_bytes < length) {
      // Body incomplete: make room for all of it now (the length is sound), so a large frame
      // arriving in pieces is not copied at every doubling.
      buffer_.reserve(validated_ + frame_header_bytes + length);
      return;
    }
    validated_ += frame_header_bytes + length;
  }
}

std::optional<std::string> FrameReader::next() {
  auto body = next_view();
  if (!body) return std::nullopt;
  return std::string(*body);
}

std::optional<std::string_view> FrameReader::next_view() {
  // validate_headers() moves validated_ past a frame only once it is complete and sound.
  if (consumed_ == validated_) {
    if (error_) throw ProtocolError(*error_);
    return std::nullopt;
  }
  const std::size_t length = read_length(buffer_, consumed_);
  const std::string_view body(buffer_.data() + consumed_ + frame_header_bytes, length);
  consumed_ += frame_header_bytes + length;
  return body;
}

}  // namespace isolator::wire
