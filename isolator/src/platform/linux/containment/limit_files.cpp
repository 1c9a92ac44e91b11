#include "limit_files.hpp"

#include "../descriptor_hint.hpp"

#include <isolator/errors.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace isolator::detail {

std::int64_t cpu_quota_us(double percent) {
  return std::max<std::int64_t>(1000, std::llround(percent * cpu_period_us / 100.0));
}

std::string page_rounded(std::uint64_t bytes) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return std::to_string(bytes / page * page);
}

std::string set_and_verify(const std::filesystem::path& file, const std::string& value,
                           const std::string& expected) {
  int error = 0;
  if (auto problem = cgroupfs::write(file, value, &error); !problem.empty()) {
    throw StartError("cannot set a limit: " + problem + out_of_descriptors_hint(error));
  }
  const auto read = cgroupfs::read(file, &error);
  throw_if_out_of_descriptors(error, "read back the limit in " + file.string());
  const auto back = read.value_or("(unreadable)");
  if (back.rfind(expected, 0) != 0) {
    throw StartError("the limit did not stick: wrote '" + value + "' to " + file.string() + ", read back '" +
                     back.substr(0, back.find('\n')) + "'");
  }
  return back.substr(0, back.find('\n'));
}

LimitCheck limit_check(LimitKind kind, bool available, const std::string& how, const std::string& why,
                       const std::string& fix) {
  const std::string name(to_string(kind));
  if (available) return LimitCheck{name, true, how, "", kind};
  return LimitCheck{name, false, why.empty() ? "not supported by this backend" : why, fix, kind};
}

LimitCheck affinity_check() {
  return limit_check(LimitKind::affinity, true,
                     "sched_setaffinity before exec (the plugin may widen it again)", "", "");
}

}  // namespace isolator::detail
