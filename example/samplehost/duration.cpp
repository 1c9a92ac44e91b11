#include "duration.hpp"

#include <stdexcept>

namespace samplehost {

std::chrono::milliseconds parse_duration(const std::string& text) {
  const auto digits_end = text.find_first_not_of("0123456789");
  const std::string number = text.substr(0, digits_end);
  const std::string unit = digits_end == std::string::npos ? "" : text.substr(digits_end);
  long long multiplier = 0;
  if (unit == "ms") multiplier = 1;
  else if (unit == "s") multiplier = 1000;
  else if (unit == "m") multiplier = 60'000;
  if (number.empty() || number.size() > 9 || multiplier == 0 || std::stoll(number) == 0) {
    throw std::invalid_argument("invalid duration '" + text +
                                "': write a positive number with a unit, e.g. 250ms, 5s, 1m");
  }
  return std::chrono::milliseconds(std::stoll(number) * multiplier);
}

}  // namespace samplehost
