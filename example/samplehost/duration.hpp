// Parses durations written as a number and a unit: "250ms", "5s", "1m".
#pragma once

#include <chrono>
#include <string>

namespace samplehost {

/// Throws std::invalid_argument naming the text and the accepted forms.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace samplehost
