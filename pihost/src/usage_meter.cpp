#include "usage_meter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace pihost {
namespace {

std::int64_t micros(const timeval& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec;
}

void reset_peak_rss() {
  // "5" resets VmHWM to the current RSS (Documentation/filesystems/proc.rst, clear_refs).
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = ::write(fd, "5", 1);
  ::close(fd);
}

std::int64_t peak_rss_bytes() {
  std::FILE* status = std::fopen("/proc/self/status", "re");
  if (status == nullptr) return 0;
  char line[256];
  long long kib = 0;
  while (std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
  }
  std::fclose(status);
  return static_cast<std::int64_t>(kib) * 1024;
}

}  // namespace

void UsageMeter::start() {
  reset_peak_rss();
  ::getrusage(RUSAGE_SELF, &before_);
  started_ = std::chrono::steady_clock::now();
}

isolator::wire::Usage UsageMeter::stop() const {
  const auto wall = std::chrono::steady_clock::now() - started_;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  return isolator::wire::Usage{
      std::chrono::duration_cast<std::chrono::microseconds>(wall).count(),
      micros(after.ru_utime) - micros(before_.ru_utime),
      micros(after.ru_stime) - micros(before_.ru_stime),
      peak_rss_bytes(),
  };
}

}  // namespace pihost
