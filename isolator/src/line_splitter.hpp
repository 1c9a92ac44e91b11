// Cuts a byte stream into lines, bounding the length of each.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace isolator::detail {

class LineSplitter {
 public:
  using Emit = std::function<void(std::string line)>;

  explicit LineSplitter(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  /// Emits every line completed by these bytes, without its '\n'. A line that grows past the
  /// maximum is emitted in pieces of the maximum size.
  void feed(const char* data, std::size_t size, const Emit& emit);

  /// Emits the pending incomplete line, if any (the stream ended, or a call did).
  void flush(const Emit& emit);

 private:
  std::size_t max_line_bytes_;
  std::string pending_;
};

}  // namespace isolator::detail
