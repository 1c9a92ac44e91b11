// Parses samplehost's limit flags: byte sizes ("64M", "1GiB") and CPU lists ("0,2-3").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace samplehost {

/// "4096", "64K", "64M", "1G", "64KiB", "64MiB", "1GiB" (K/M/G and KiB/MiB/GiB are all
/// powers of 1024). Throws std::invalid_argument naming the text and the accepted forms.
std::uint64_t parse_bytes(const std::string& text);

/// "0", "0,2", "0-3", "0,2-3". Throws std::invalid_argument.
std::vector<int> parse_cpu_list(const std::string& text);

}  // namespace samplehost
