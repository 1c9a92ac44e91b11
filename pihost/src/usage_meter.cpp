#include "usage_meter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace pihost {
namespace {

std::int64_t micros(const timeval& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec; }

// Both files are opened per call, not kept open: a plugin sees no descriptors of pihost's
// but the channel and the host watch (docs/architecture.md). Plain system calls, no stdio.
void reset_peak_rss() {
  // "5" resets VmHWM to the current RSS (Documentation/filesystems/proc.rst, clear_refs).
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = ::write(fd, "5", 1);
  ::close(fd);
}

struct ResidentSet {
  std::int64_t peak_bytes = 0;     // VmHWM
  std::int64_t current_bytes = 0;  // VmRSS
};

std::int64_t status_kib(const char* text, const char* field) {
  const char* line = std::strstr(text, field);
  long long kib = 0;
  if (line == nullptr || std::sscanf(line + std::strlen(field), " %lld kB", &kib) != 1) return 0;
  return static_cast<std::int64_t>(kib) * 1024;
}

ResidentSet resident_set() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char text[4096];
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return {};
  text[n] = '\0';
  return {status_kib(text, "\nVmHWM:"), status_kib(text, "\nVmRSS:")};
}

}  // namespace

void UsageMeter::start() {
  if (peak_above_current_) reset_peak_rss();
  ::getrusage(RUSAGE_SELF, &before_);
  started_ = std::chrono::steady_clock::now();
}

isolator::wire::Usage UsageMeter::stop() {
  const auto wall = std::chrono::steady_clock::now() - started_;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  const ResidentSet rss = resident_set();
  peak_above_current_ = rss.peak_bytes == 0 || rss.peak_bytes > rss.current_bytes;
  return isolator::wire::Usage{
      std::chrono::duration_cast<std::chrono::microseconds>(wall).count(),
      micros(after.ru_utime) - micros(before_.ru_utime),
      micros(after.ru_stime) - micros(before_.ru_stime),
      rss.peak_bytes,
  };
}

}  // namespace pihost
