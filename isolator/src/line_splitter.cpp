#include "line_splitter.hpp"

#include <algorithm>

namespace isolator::detail {

void LineSplitter::feed(const char* data, std::size_t size, const Emit& emit) {
  const char* end = data + size;
  while (data < end) {
    const char* newline = std::find(data, end, '\n');
    const std::size_t room = max_line_bytes_ - pending_.size();
    const auto take = std::min(static_cast<std::size_t>(newline - data), room);
    pending_.append(data, take);
    data += take;
    if (pending_.size() == max_line_bytes_ && data < end && *data != '\n') {
      emit(std::move(pending_));  // a piece of an overlong line
      pending_.clear();
    } else if (data < end && *data == '\n') {
      emit(std::move(pending_));
      pending_.clear();
      ++data;
    }
  }
}

void LineSplitter::flush(const Emit& emit) {
  if (pending_.empty()) return;
  emit(std::move(pending_));
  pending_.clear();
}

}  // namespace isolator::detail
