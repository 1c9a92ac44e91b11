#include "call_output.hpp"

#include <string>

namespace isolator::detail {

void CallOutput::add(OutputStream stream, std::string line) {
  // Once a line is dropped, later lines are dropped too, so the kept output has no holes.
  if (dropped_lines_ == 0 && kept_bytes_ + line.size() <= max_bytes_) {
    kept_bytes_ += line.size();
    lines_.push_back(OutputLine{stream, std::move(line)});
  } else {
    dropped_bytes_ += line.size();
    ++dropped_lines_;
  }
}

void CallOutput::move_into(CallResult& result) {
  result.output = std::move(lines_);
  result.output_truncated = dropped_lines_ > 0;
  if (result.output_truncated) {
    result.output.push_back(
        OutputLine{OutputStream::err, "[isolator: output truncated: " + std::to_string(dropped_lines_) +
                                          " more lines (" + std::to_string(dropped_bytes_) +
                                          " bytes) not kept; the limit is " + std::to_string(max_bytes_) +
                                          " bytes per call]"});
  }
}

}  // namespace isolator::detail
