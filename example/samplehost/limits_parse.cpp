#include "limits_parse.hpp"

#include <sstream>
#include <stdexcept>

namespace samplehost {

std::uint64_t parse_bytes(const std::string& text) {
  const auto digits_end = text.find_first_not_of("0123456789");
  const std::string number = text.substr(0, digits_end);
  const std::string unit = digits_end == std::string::npos ? "" : text.substr(digits_end);
  int shift = -1;
  if (unit.empty()) shift = 0;
  // KB, MB and GB are read as KiB, MiB and GiB, as Docker reads them (--memory 128MB).
  else if (unit == "K" || unit == "KiB" || unit == "KB" || unit == "k" || unit == "kb") shift = 10;
  else if (unit == "M" || unit == "MiB" || unit == "MB" || unit == "m" || unit == "mb") shift = 20;
  else if (unit == "G" || unit == "GiB" || unit == "GB" || unit == "g" || unit == "gb") shift = 30;
  if (number.empty() || number.size() > 12 || shift < 0 || std::stoull(number) == 0) {
    throw std::invalid_argument("invalid size '" + text +
                                "': write a positive number, optionally with K, M, G (or KiB, MiB, GiB; KB, MB "
                                "and GB are read as those, as Docker reads them), e.g. 64M or 128MB");
  }
  return std::stoull(number) << shift;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::istringstream items(text);
  std::string item;
  const auto bad = [&] {
    return std::invalid_argument("invalid CPU list '" + text + "': write CPUs and ranges, e.g. 0,2-3");
  };
  while (std::getline(items, item, ',')) {
    const auto dash = item.find('-');
    const std::string first = item.substr(0, dash);
    const std::string last = dash == std::string::npos ? first : item.substr(dash + 1);
    if (first.empty() || last.empty() || first.find_first_not_of("0123456789") != std::string::npos ||
        last.find_first_not_of("0123456789") != std::string::npos || first.size() > 4 || last.size() > 4) {
      throw bad();
    }
    const int from = std::stoi(first);
    const int to = std::stoi(last);
    if (from > to || to >= 1024) throw bad();
    for (int cpu = from; cpu <= to; ++cpu) cpus.push_back(cpu);
  }
  if (cpus.empty()) throw bad();
  return cpus;
}

}  // namespace samplehost
