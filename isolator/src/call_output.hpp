// The output kept for one call's CallResult, bounded in bytes.
#pragma once

#include <isolator/call_result.hpp>

#include <cstddef>
#include <vector>

namespace isolator::detail {

class CallOutput {
 public:
  explicit CallOutput(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  /// Keeps the line while the call's budget lasts; counts it as dropped after that.
  void add(OutputStream stream, std::string line);

  /// Moves the kept lines into `result`, ending with a marker line when some were dropped.
  void move_into(CallResult& result);

 private:
  std::size_t max_bytes_;
  std::size_t kept_bytes_ = 0;
  std::size_t dropped_bytes_ = 0;
  std::size_t dropped_lines_ = 0;
  std::vector<OutputLine> lines_;
};

}  // namespace isolator::detail
