#include "proc_usage.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace isolator::detail {
namespace {

std::chrono::microseconds ticks_to_micros(long long ticks) {
  static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  return std::chrono::microseconds(ticks * 1'000'000 / ticks_per_second);
}

// "VmRSS:    1234 kB" -> 1234 * 1024
std::int64_t status_bytes(const std::string& status, const std::string& field) {
  const auto at = status.find("\n" + field + ":");
  if (at == std::string::npos) return 0;
  std::istringstream in(status.substr(at + field.size() + 2));
  long long kib = 0;
  in >> kib;
  return static_cast<std::int64_t>(kib) * 1024;
}

}  // namespace

ResourceUsage read_process_usage(int pid) {
  ResourceUsage usage;
  if (pid <= 0) return usage;
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  std::ifstream stat_file(dir + "stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
  // The command name may hold spaces and parentheses; the fields start after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return usage;
  std::istringstream fields(stat.substr(close + 2));
  std::string skip;
  for (int i = 3; i <= 13; ++i) fields >> skip;  // state .. cmajflt
  long long utime = 0;
  long long stime = 0;
  fields >> utime >> stime;
  usage.cpu_user = ticks_to_micros(utime);
  usage.cpu_sys = ticks_to_micros(stime);
  std::ifstream status_file(dir + "status");
  std::string status = "\n";  // every field then follows a newline
  status.append(std::istreambuf_iterator<char>(status_file), {});
  usage.rss_bytes = status_bytes(status, "VmRSS");
  usage.peak_rss_bytes = status_bytes(status, "VmHWM");
  return usage;
}

}  // namespace isolator::detail
