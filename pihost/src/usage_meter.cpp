#include "usage_meter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace pihost {
namespace {

std::int64_t micros(const timeval& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec; }

// /proc/self/clear_refs is opened once, at start, while pihost is still dumpable: once it
// is not, the file belongs to root and a non-root pihost (a sandboxed one among them) could no
// longer open it. The open descriptor stays usable. /proc/self/status is opened per call.
int clear_refs_fd() {
  static const int fd = [] {
    const int opened = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (opened < 0) return -1;
    const int high = ::fcntl(opened, F_DUPFD_CLOEXEC, 100);  // out of the plugin's way
    if (high < 0) return opened;
    ::close(opened);
    return high;
  }();
  return fd;
}

void reset_peak_rss() {
  // "5" resets VmHWM to the current RSS (Documentation/filesystems/proc.rst, clear_refs).
  if (const int fd = clear_refs_fd(); fd >= 0) {
    [[maybe_unused]] const ssize_t n = ::write(fd, "5", 1);
  }
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

void UsageMeter::prepare() { clear_refs_fd(); }

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
